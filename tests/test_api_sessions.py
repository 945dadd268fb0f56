"""WhatsApp sessions: who holds which WAHA session name, and their live status."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from campaigns import config
from campaigns.api import library
from campaigns.data.models import Campaign, WhatsAppSession
from campaigns.sending import factory as senders
from campaigns.sending.sender import SessionState
from tests.builders import Builder


class StatusSender:
    """Answers session states from a table; a name mapped to an exception raises it."""

    def __init__(self, states: dict[str, str | Exception | float]) -> None:
        self.states = states

    def session_state(self, session: str) -> SessionState:
        state = self.states.get(session, "STOPPED")
        if isinstance(state, Exception):
            raise state
        if isinstance(state, float):
            time.sleep(state)
            return SessionState(session, "WORKING")
        return SessionState(session, state)


@pytest.fixture
def waha(monkeypatch) -> Iterator[dict[str, str | Exception | float]]:
    """WAHA configured, its sender replaced by one answering from a dict."""
    states: dict[str, str | Exception | float] = {}
    monkeypatch.setenv("WAHA_BASE_URL", "http://127.0.0.1:9")
    config.reload_settings()
    monkeypatch.setattr(senders, "build_sender", lambda: StatusSender(states))
    yield states
    monkeypatch.delenv("WAHA_BASE_URL")
    config.reload_settings()


def test_registering_a_free_name_answers_201(alice):
    answer = alice.post("/whatsapp-sessions", {"name": "sales-1"})

    assert answer.status == 201
    assert answer.json["name"] == "sales-1"
    assert answer.json["status"] == "unknown"  # dry run: no WAHA to ask
    assert WhatsAppSession.get("sales-1").user_id == "user-a"


def test_registering_ones_own_name_again_is_a_200_no_op(alice):
    first = alice.post("/whatsapp-sessions", {"name": "sales-1"})

    again = alice.post("/whatsapp-sessions", {"name": "sales-1"})

    assert again.status == 200
    assert again.json == first.json


def test_a_name_another_user_holds_is_409_and_stays_theirs(alice, bob):
    alice.post("/whatsapp-sessions", {"name": "sales-1"})

    answer = bob.post("/whatsapp-sessions", {"name": "sales-1"})

    assert answer.status == 409
    assert "another user" in answer.message
    assert WhatsAppSession.get("sales-1").user_id == "user-a"
    assert bob.get("/whatsapp-sessions").json["items"] == []


def test_another_user_cannot_create_a_campaign_on_a_held_session(build, alice, bob):
    alice.post("/whatsapp-sessions", {"name": "alices-number"})
    other = Builder(user_id="user-b", session_name="bobs-number")
    other.session()
    body = {
        "name": "Hijack",
        "contactListId": other.contact_list(1).id,
        "messageTemplateId": other.template().id,
        "defaultNameValue": "friend",
        "wahaSession": "alices-number",
    }

    answer = bob.post("/campaigns", body)

    assert answer.status == 422
    assert list(Campaign.scan()) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "has space"},
        {"name": "x" * 65},
        {"name": "-leading"},
        {"name": 7},
        {"name": "ok", "x": 1},
    ],
)
def test_invalid_session_names_are_422(refused, body):
    assert refused.post("/whatsapp-sessions", body).status == 422


def test_listing_answers_the_callers_sessions_in_registration_order(alice, bob):
    for name in ("first", "second", "third"):
        alice.post("/whatsapp-sessions", {"name": name})
    bob.post("/whatsapp-sessions", {"name": "bobs"})

    answer = alice.get("/whatsapp-sessions")

    assert answer.status == 200
    assert [s["name"] for s in answer.json["items"]] == ["first", "second", "third"]
    assert {s["status"] for s in answer.json["items"]} == {"unknown"}
    assert answer.json["nextToken"] is None


def test_listing_paginates(alice):
    for name in ("a1", "a2", "a3"):
        alice.post("/whatsapp-sessions", {"name": name})

    first = alice.get("/whatsapp-sessions", query={"limit": "2"}).json
    second = alice.get("/whatsapp-sessions", query={"limit": "2", "nextToken": first["nextToken"]}).json

    assert [s["name"] for s in first["items"] + second["items"]] == ["a1", "a2", "a3"]


def test_listing_shows_wahas_live_status(alice, waha):
    waha.update({"phone-1": "WORKING", "phone-2": "SCAN_QR_CODE"})
    for name in ("phone-1", "phone-2", "phone-3"):
        alice.post("/whatsapp-sessions", {"name": name})

    statuses = {s["name"]: s["status"] for s in alice.get("/whatsapp-sessions").json["items"]}

    assert statuses == {"phone-1": "WORKING", "phone-2": "SCAN_QR_CODE", "phone-3": "STOPPED"}


def test_a_failing_waha_makes_the_status_unknown_not_an_error(alice, waha):
    waha["phone-1"] = ConnectionError("WAHA down")
    alice.post("/whatsapp-sessions", {"name": "phone-1"})

    answer = alice.get("/whatsapp-sessions")

    assert answer.status == 200
    assert answer.json["items"][0]["status"] == "unknown"


def test_a_slow_waha_is_not_waited_for_beyond_the_deadline(tables, waha, monkeypatch):
    monkeypatch.setattr(library, "SESSION_STATUS_DEADLINE_S", 0.2)
    waha["slow"] = 2.0
    waha["fast"] = "WORKING"

    started = time.monotonic()
    statuses = library.session_statuses(["slow", "fast"])

    assert time.monotonic() - started < 1.5
    assert statuses == {"slow": "unknown", "fast": "WORKING"}
