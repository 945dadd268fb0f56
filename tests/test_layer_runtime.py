"""The shared layer as Lambda runs it: its dependencies pinned for python3.12 on
arm64 (layers/common/constraints.txt), the three handlers importable under Python
3.12, and `sam build` (with the Makefile's own Python discovery) installing exactly
the pinned versions, as arm64 binaries.

Tests that need a Python 3.12, the package index or the SAM CLI skip with the reason
when the machine lacks it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "common"
sys.path.insert(0, str(ROOT / "scripts"))

import deploy  # noqa: E402
import lock_layer  # noqa: E402

HANDLERS = ("functions.api.app", "functions.runner.app", "functions.scheduler.app")
SAM = ROOT / ".venv-sam" / "bin" / "sam"


def python312() -> Path:
    found = deploy.find_python312()
    if not found:
        pytest.skip("no Python 3.12 on PATH or under pyenv (pyenv install 3.12)")
    return Path(found) / "python3.12"


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (LAYER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[lock_layer.normalise(re.sub(r"\[.*\]", "", name))] = version
    return pins


def test_constraints_pin_every_requirement_at_its_version() -> None:
    locked = lock_layer.read_pins()

    for name, version in requirement_pins().items():
        assert locked.get(name) == version, (
            f"{name}: requirements.txt says {version}, constraints.txt {locked.get(name)}"
        )
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", version) for version in locked.values())


def test_constraints_are_what_pip_resolves_for_python312_on_arm64() -> None:
    try:
        resolved = lock_layer.resolve()
    except lock_layer.ResolveError as exc:
        pytest.skip(f"pip could not reach the package index: {str(exc)[:200]}")

    assert lock_layer.read_pins() == resolved, "constraints.txt is out of date: run `make lock`"


@pytest.fixture(scope="module")
def layer_python312() -> Path:
    """A Python 3.12 environment with the layer's pinned dependencies, kept under .venv
    between runs (rebuilt when the pins change)."""
    python = python312()
    digest = hashlib.sha256(
        (LAYER / "requirements.txt").read_bytes() + (LAYER / "constraints.txt").read_bytes()
    ).hexdigest()[:12]
    home = ROOT / ".venv" / f"layer-py312-{digest}"
    interpreter = home / "bin" / "python"
    if not (home / ".complete").exists():
        subprocess.run([str(python), "-m", "venv", "--clear", str(home)], check=True)
        done = subprocess.run(
            [
                str(interpreter),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-r",
                str(LAYER / "requirements.txt"),
                "-c",
                str(LAYER / "constraints.txt"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"could not install the layer under Python 3.12: {done.stderr.strip()[-300:]}")
        (home / ".complete").touch()
    return interpreter


def test_all_three_handlers_import_under_python312(layer_python312: Path) -> None:
    probe = (
        "import importlib, json, sys\n"
        "loaded = {name: callable(importlib.import_module(name).lambda_handler) for name in sys.argv[1:]}\n"
        "from campaigns import observability\n"
        "print(json.dumps({'version': list(sys.version_info[:2]), 'handlers': loaded,"
        " 'patched': list(observability.PATCH_MODULES)}))\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(LAYER), str(ROOT)]),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "TABLE_PREFIX": "import-check-",
        "RUNNER_FUNCTION_NAME": "import-check-runner",
        "POWERTOOLS_SERVICE_NAME": "whatsapp-campaigns",
        "POWERTOOLS_METRICS_NAMESPACE": "WhatsAppCampaigns",
        "TRACER_PATCH_MODULES": "botocore",
    }

    done = subprocess.run(
        [str(layer_python312), "-c", probe, *HANDLERS],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {"version": [3, 12], "handlers": dict.fromkeys(HANDLERS, True), "patched": ["botocore"]}


@pytest.mark.slow
def test_sam_build_installs_the_pinned_layer_for_arm64(tmp_path: Path) -> None:
    if not SAM.exists():
        pytest.skip("the SAM CLI is not installed: `make sam` installs it in .venv-sam")
    python312()
    command, env, _ = deploy.build_command(str(SAM))
    build_dir = tmp_path / "build"

    done = subprocess.run(
        [*command, "CommonLayer", "--build-dir", str(build_dir), "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    site = build_dir / "CommonLayer" / "python"
    installed = {}
    for info in site.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        installed[lock_layer.normalise(name)] = version
    assert installed == lock_layer.read_pins()
    (binary,) = (site / "pydantic_core").glob("_pydantic_core.*.so")
    assert "cpython-312-aarch64" in binary.name
    assert (site / "campaigns" / "observability.py").is_file()
