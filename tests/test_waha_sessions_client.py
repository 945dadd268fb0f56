"""WahaSessions (connecting, pairing, removing numbers) against the fake WAHA: every
request it makes is an operation of WAHA's published OpenAPI document, and each body
validates against that operation's request schema (tests/data/waha_openapi_subset.json,
copied verbatim from the 2026.7.1 document)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from campaigns.sending.sender import SendNotAttempted
from campaigns.sending.waha_client import SessionNotFound, SessionNotWorking
from campaigns.sending.waha_sessions import WEBHOOK_EVENTS, WahaSessions, phone_from_me_id
from tests import fakewaha
from tests.fakewaha import FakeWaha
from tests.test_waha_client import FAST, SUBSET

fake_waha = fakewaha.fake_waha
HOOK = "https://api.example.com/webhooks/waha?session=wcr-1"

# One known error of the published document: WebhookConfig.events declares its items as
# objects, while its own example (["message", "session.status"]), WAHA's docs and WAHA's
# server take event names as strings. Everything else is checked as published.
COMPONENTS = copy.deepcopy(SUBSET["components"])
assert COMPONENTS["schemas"]["WebhookConfig"]["properties"]["events"]["items"] == {"type": "object"}
assert COMPONENTS["schemas"]["WebhookConfig"]["properties"]["events"]["example"] == [
    "message",
    "session.status",
]
COMPONENTS["schemas"]["WebhookConfig"]["properties"]["events"]["items"] = {"type": "string"}


def validate(instance: Any, schema_name: str) -> None:
    validator = Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema_name}", "components": COMPONENTS}
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, errors


def client(fake: FakeWaha) -> WahaSessions:
    return WahaSessions(fake.base_url, fake.api_key, connect_timeout_s=1.0, read_timeout_s=2.0, retry=FAST)


def spec_operation(method: str, path: str) -> dict[str, Any]:
    """The operation of WAHA's document that `method path` is, or a failed test."""
    for template, operations in SUBSET["paths"].items():
        pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return operations[method.lower()]
    raise AssertionError(f"{method} {path} is not an operation of WAHA's OpenAPI document")


def assert_every_request_follows_the_spec(fake: FakeWaha) -> None:
    assert fake.requests, "no request was made"
    for request in fake.requests:
        operation = spec_operation(request["method"], request["path"])
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            validate(request["body"], body["schema"]["$ref"].rsplit("/", 1)[-1])
        allowed = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert set(request["query"]) <= allowed, (request["path"], request["query"])


def test_a_whole_session_life_makes_only_requests_waha_documents(fake_waha: FakeWaha) -> None:
    waha = client(fake_waha)

    created = waha.create("wcr-1", HOOK, "k" * 64, {"session.id": "wa_1"})
    waha.qr("wcr-1", raw=True)
    waha.qr("wcr-1", raw=False)
    waha.request_code("wcr-1", "14155550100")
    waha.set_webhook("wcr-1", HOOK, "k" * 64, {"session.id": "wa_1"})
    fake_waha.set_session("wcr-1", "WORKING")
    info = waha.info("wcr-1")
    waha.me("wcr-1")
    waha.logout("wcr-1")
    waha.delete("wcr-1")

    assert created.status == "SCAN_QR_CODE"
    assert (info.status, info.phone_number) == ("WORKING", "+15550001111")
    assert_every_request_follows_the_spec(fake_waha)
    assert [r["endpoint"] for r in fake_waha.requests] == [
        "create-session",
        "qr",
        "qr",
        "request-code",
        "update-session",
        "session",
        "me",
        "logout",
        "delete-session",
    ]


def test_create_starts_the_session_with_its_signed_webhook(fake_waha: FakeWaha) -> None:
    client(fake_waha).create("wcr-2", HOOK, "secret-key", {"session.id": "wa_2"})

    [request] = fake_waha.request_log("create-session")
    body = request["body"]
    assert body["name"] == "wcr-2" and body["start"] is True
    [hook] = body["config"]["webhooks"]
    assert hook["url"] == HOOK
    assert hook["events"] == list(WEBHOOK_EVENTS)
    assert hook["hmac"] == {"key": "secret-key"}
    assert hook["retries"]["policy"] == "exponential" and hook["retries"]["attempts"] >= 3
    assert body["config"]["metadata"] == {"session.id": "wa_2"}


def test_a_create_is_made_once_even_when_waha_fails(fake_waha: FakeWaha) -> None:
    fake_waha.fail_next(1, status=503, endpoints={"create-session"})

    with pytest.raises(SendNotAttempted):
        client(fake_waha).create("wcr-3", HOOK, "k", {})

    assert fake_waha.count_requests("create-session") == 1


def test_the_qr_code_as_png_and_as_text(fake_waha: FakeWaha) -> None:
    waha = client(fake_waha)
    waha.create("wcr-4", HOOK, "k", {})

    png = waha.qr("wcr-4", raw=False).png
    value = waha.qr("wcr-4", raw=True).value

    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert value == "2@fake-qr-wcr-4"
    assert [r["query"] for r in fake_waha.request_log("qr")] == [{"format": "image"}, {"format": "raw"}]


def test_no_qr_code_once_paired(fake_waha: FakeWaha) -> None:
    waha = client(fake_waha)
    waha.create("wcr-5", HOOK, "k", {})
    fake_waha.set_session("wcr-5", "WORKING")

    with pytest.raises(SessionNotWorking) as caught:
        waha.qr("wcr-5", raw=True)

    assert caught.value.status == "WORKING"


def test_a_session_waha_does_not_have(fake_waha: FakeWaha) -> None:
    with pytest.raises(SessionNotFound):
        client(fake_waha).logout("wcr-gone")


@pytest.mark.parametrize(
    ("me_id", "phone"),
    [
        ("15550001111@c.us", "+15550001111"),
        ("34600000001:2@s.whatsapp.net", "+34600000001"),
        ("123@lid", "+123"),
        ("not-an-id", None),
        (None, None),
        ("abc@c.us", None),
    ],
)
def test_the_paired_number_from_wahas_me_id(me_id: Any, phone: str | None) -> None:
    assert phone_from_me_id(me_id) == phone
