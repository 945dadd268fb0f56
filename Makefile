# Everything runs from a virtual environment this Makefile creates (.venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/common/requirements.txt | cksum | cut -d' ' -f1)
PORT ?= 3000
USER ?= demo-user

.PHONY: help venv browser lint test test-fast dev demo token openapi bench build deploy clean

help:
	@echo "make demo    run one campaign end to end on the local stack (dry run)"
	@echo "make test    install what is needed, lint, check the template, run every test"
	@echo "make dev     serve the API and dashboard on http://127.0.0.1:$(PORT)"
	@echo "make token USER=alice   print a local JWT for alice"
	@echo "make openapi write docs/openapi.json"
	@echo "make bench   run the benchmarks and write BENCHMARKS.md"
	@echo "make deploy  sam build && sam deploy --guided"

$(STAMP): requirements-dev.txt layers/common/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

# Debian's Chromium for the browser tests; they skip with a reason when it is missing.
browser:
	@bash scripts/install-browser.sh || echo "Chromium not installed: browser tests will be skipped"

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/cfn-lint template.yaml
	$(PY) scripts/export_openapi.py --check

test: venv browser lint
	@if command -v node >/dev/null 2>&1; then cd web && node --test tests/; else echo "node not found: skipping the dashboard's unit tests"; fi
	$(PY) -m pytest

test-fast: venv
	$(PY) -m pytest -m "not browser" -x -q

dev: venv
	PORT=$(PORT) $(PY) -m devstack dev

demo: venv
	$(PY) -m devstack demo

token: venv
	@$(PY) -m devstack token $(USER)

openapi: venv
	$(PY) scripts/export_openapi.py

bench: venv
	$(PY) -m bench

build:
	sam build

deploy: build
	sam deploy --guided

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .aws-sam artifacts
