# Everything runs from a virtual environment this Makefile creates (.venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/common/requirements.txt | cksum | cut -d' ' -f1)
PORT ?= 3000
USER ?= demo-user
# The AWS SAM CLI lives in its own environment: it pins boto3 to another release
# than the tests do.
SAM_VENV ?= .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed-$(shell cat requirements-sam.txt | cksum | cut -d' ' -f1)
export SAM_CLI_TELEMETRY ?= 0

.PHONY: help venv sam browser lint test test-fast dev demo token adopt-session openapi bench lock build deploy delete user clean

help:
	@echo "make demo    run one campaign end to end on the local stack (dry run)"
	@echo "make test    install what is needed, lint, check the template, run every test"
	@echo "make dev     serve the API and dashboard on http://127.0.0.1:$(PORT)"
	@echo "make token USER=alice   print a local JWT for alice"
	@echo "make adopt-session NAME=default USER=<sub>   hand an existing WAHA session to one user"
	@echo "make openapi write docs/openapi.json"
	@echo "make bench   run the benchmarks and write BENCHMARKS.md"
	@echo "make build   sam build (finds a Python 3.12, or builds in a container)"
	@echo "make deploy  build, deploy the stack, publish the dashboard (guided the first time)"
	@echo "make user EMAIL=you@example.com   invite a user to the deployed dashboard"
	@echo "make delete  delete the stack (the tables and the user pool are kept)"

$(STAMP): requirements-dev.txt layers/common/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

$(SAM_STAMP): requirements-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-sam.txt
	@rm -f $(SAM_VENV)/.installed-* && touch $(SAM_STAMP)

sam: $(SAM_STAMP)

# Debian's Chromium for the browser tests; they skip with a reason when it is missing.
browser:
	@bash scripts/install-browser.sh || echo "Chromium not installed: browser tests will be skipped"

lint: venv sam
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint
	$(PY) scripts/export_openapi.py --check

test: venv browser lint
	@if command -v node >/dev/null 2>&1; then cd web && node --test tests/; else echo "node not found: skipping the dashboard's unit tests"; fi
	bash scripts/pytest_in_two.sh $(PY)

test-fast: venv
	$(PY) -m pytest -m "not browser" -x -q

dev: venv
	PORT=$(PORT) $(PY) -m devstack dev

demo: venv
	$(PY) -m devstack demo

token: venv
	@$(PY) -m devstack token $(USER)

# An existing WAHA session (e.g. WAHA Core's only one, `default`) becomes USER's.
adopt-session: venv
	@test -n "$(NAME)" || { echo "usage: make adopt-session NAME=<WAHA session> USER=<user's sub>"; exit 2; }
	$(PY) scripts/adopt_session.py --name "$(NAME)" --user "$(USER)"

openapi: venv
	$(PY) scripts/export_openapi.py

bench: venv
	$(PY) -m bench

# The layer's dependencies pinned for python3.12 on arm64 (layers/common/constraints.txt).
lock: venv
	$(PY) scripts/lock_layer.py

build: venv sam
	SAM=$(SAM) $(PY) scripts/deploy.py build

deploy: venv sam
	SAM=$(SAM) $(PY) scripts/deploy.py deploy

delete: venv sam
	SAM=$(SAM) $(PY) scripts/deploy.py delete

user: venv
	@test -n "$(EMAIL)" || { echo "usage: make user EMAIL=you@example.com"; exit 2; }
	$(PY) scripts/deploy.py user "$(EMAIL)"

clean:
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .ruff_cache .aws-sam artifacts
