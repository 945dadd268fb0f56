"""The API handler with the fake WAHA behind it: WAHA_BASE_URL points at the fake,
and the fake's webhooks are fed to the same handler as API Gateway would hand them
over (no JWT, the raw body, WAHA's headers)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from campaigns import config
from campaigns.data import sessions
from tests.api_events import ApiClient, http_event, invoke
from tests.fakewaha import FakeWaha

WEBHOOK_URL = "https://api.example.com/webhooks/waha"


def deliver_to_handler(url: str, headers: dict[str, str], raw: bytes) -> int:
    parts = urlsplit(url)
    try:
        body, binary = raw.decode("utf-8"), False
    except UnicodeDecodeError:  # API Gateway hands such a body over in base64
        body, binary = base64.b64encode(raw).decode("ascii"), True
    event = http_event(
        "POST", parts.path, user=None, raw_body=body, query=dict(parse_qsl(parts.query)), headers=headers
    )
    event["isBase64Encoded"] = binary
    return invoke(event).status


@pytest.fixture
def waha_api(fake_waha: FakeWaha, tables: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWaha]:
    """The API talks to the fake WAHA, whose webhooks come back to the API."""
    monkeypatch.setenv("WAHA_BASE_URL", fake_waha.base_url)
    monkeypatch.setenv("WAHA_API_KEY", fake_waha.api_key or "")
    monkeypatch.setenv("WAHA_WEBHOOK_URL", WEBHOOK_URL)
    monkeypatch.setenv("WAHA_READ_TIMEOUT_S", "6")
    config.reload_settings()
    fake_waha.deliver = deliver_to_handler
    yield fake_waha
    monkeypatch.delenv("WAHA_BASE_URL")
    monkeypatch.delenv("WAHA_API_KEY")
    monkeypatch.delenv("WAHA_WEBHOOK_URL")
    monkeypatch.delenv("WAHA_READ_TIMEOUT_S")
    config.reload_settings()


def connect(user: ApiClient, fake: FakeWaha, label: str = "Shop", pair: bool = True) -> tuple[str, str]:
    """A number connected through the API: (session id, WAHA name), paired by the fake."""
    answer = user.post("/whatsapp-sessions", {"label": label})
    assert answer.status == 201, answer.text
    item = sessions.find(str(user.user), answer.json["id"])
    assert item is not None
    if pair:
        assert fake.pair(item.name) == 200
    return answer.json["id"], item.name
