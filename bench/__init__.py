"""Benchmarks of the campaign runner and the API on the local stack.

`make bench` (or `.venv/bin/python -m bench [--only NAME] [--quick]`) runs every
figure and writes BENCHMARKS.md. Importing this package prepares what the domain
package reads at import: its path and a test-like environment (no AWS account,
no WAHA), as tests/conftest.py does for the tests.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for _path in (REPO_ROOT / "layers" / "common", REPO_ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_SERVICE_NAME": "whatsapp-campaigns-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "WhatsAppCampaignsBench",
    "TABLE_PREFIX": "bench-",
}
# Settings the benchmarks choose themselves, never inherited from the shell.
_UNSET = (
    "WAHA_BASE_URL",
    "WAHA_API_KEY",
    "WAHA_API_KEY_PARAMETER",
    "DYNAMODB_ENDPOINT",
    "RUNNER_FUNCTION_NAME",
)


def prepare_environment() -> None:
    os.environ.update(BASE_ENV)
    for name in _UNSET:
        os.environ.pop(name, None)


prepare_environment()
