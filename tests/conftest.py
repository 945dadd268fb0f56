"""Shared fixtures: a real DynamoDB-compatible endpoint (moto's server over HTTP on
127.0.0.1), fresh tables for every test, and builders for campaigns and contacts."""

from __future__ import annotations

import os

# The environment must be set before the domain package reads it.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_SERVICE_NAME": "whatsapp-campaigns-test",
        "POWERTOOLS_METRICS_NAMESPACE": "WhatsAppCampaignsTest",
        "TABLE_PREFIX": "test-",
    }
)
for _name in ("WAHA_BASE_URL", "WAHA_API_KEY", "DYNAMODB_ENDPOINT", "RUNNER_FUNCTION_NAME"):
    os.environ.pop(_name, None)

import logging  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import boto3  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402

from campaigns import config  # noqa: E402
from campaigns.api.media_urls import set_resolver  # noqa: E402
from campaigns.data import models  # noqa: E402
from campaigns.invoker import RecordingInvoker, set_default_invoker  # noqa: E402
from devstack.dynamodb import AtomicMotoServer  # noqa: E402
from tests.api_events import ApiClient  # noqa: E402
from tests.builders import Builder  # noqa: E402
from tests.fakewaha import fake_waha  # noqa: E402, F401

logging.getLogger("werkzeug").setLevel(logging.WARNING)

# Media URLs are resolved when they are accepted. No test depends on the network:
# every host name resolves to one public address (example.com's) unless a test pins
# its own answers (tests/test_media_urls.py).
PUBLIC_TEST_ADDRESS = "93.184.215.14"
set_resolver(lambda name, port: [PUBLIC_TEST_ADDRESS])


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    server = AtomicMotoServer()
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["DYNAMODB_ENDPOINT"] = endpoint
    models.configure_models(config.reload_settings())
    yield endpoint
    server.stop()
    os.environ.pop("DYNAMODB_ENDPOINT", None)


def _create_tables(endpoint: str) -> None:
    from devstack.tables import ensure_tables

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    ensure_tables(client, config.settings())


@pytest.fixture
def tables(dynamodb_endpoint: str) -> Iterator[str]:
    """Empty tables for one test: moto is reset, then the template's tables are created."""
    requests.post(f"{dynamodb_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    _create_tables(dynamodb_endpoint)
    yield dynamodb_endpoint


@pytest.fixture
def build(tables: str) -> Builder:
    return Builder()


@pytest.fixture
def invoker() -> Iterator[RecordingInvoker]:
    """The runner invocations made during a test, recorded instead of run."""
    recorder = RecordingInvoker()
    set_default_invoker(recorder)
    yield recorder
    set_default_invoker(None)


@pytest.fixture
def alice(tables) -> ApiClient:
    return ApiClient("user-a")


@pytest.fixture
def bob(tables) -> ApiClient:
    return ApiClient("user-b")


@pytest.fixture
def refused(dynamodb_endpoint) -> ApiClient:
    """For requests refused before any table is read: no fresh tables needed."""
    return ApiClient("user-a")
