"""WhatsApp sessions through the API: the server names and starts each WAHA session,
pairs it with a QR code or a pairing code, shows its number, deletes it; another
user's session is 404 on every route; listing costs no WAHA request."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from botocore.awsrequest import AWSResponse

from campaigns.data.models import Campaign, WhatsAppSession
from campaigns.data.session_keys import session_keys
from campaigns.domain.statuses import CampaignStatus
from tests import waha_world
from tests.api_events import ApiClient, http_event
from tests.builders import Builder
from tests.fakewaha import FakeWaha
from tests.waha_world import WEBHOOK_URL, connect

# ---------------------------------------------------------------------- create

waha_api = waha_world.waha_api  # the fixture, used by name


def test_creating_a_session_names_and_starts_it_on_waha_with_a_signed_webhook(waha_api: FakeWaha, alice):
    answer = alice.post("/whatsapp-sessions", {"label": "Shop", "dailyLimit": 500})

    assert answer.status == 201
    session = answer.json
    assert session["id"].startswith("wa_") and session["label"] == "Shop" and session["dailyLimit"] == 500
    assert session["status"] == "SCAN_QR_CODE" and session["phoneNumber"] is None
    [request] = waha_api.request_log("create-session")
    name = request["body"]["name"]
    assert name.startswith("wcr-") and len(name) >= 30 and session["id"] not in name
    [hook] = request["body"]["config"]["webhooks"]
    assert hook["url"] == f"{WEBHOOK_URL}?session={name}"
    assert hook["hmac"]["key"] == session_keys().get(name)
    assert WhatsAppSession.get(name).user_id == "user-a"


def test_two_users_never_get_the_same_waha_name(waha_api: FakeWaha, alice, bob):
    for user in (alice, bob, alice):
        assert user.post("/whatsapp-sessions", {}).status == 201

    names = [r["body"]["name"] for r in waha_api.request_log("create-session")]
    assert len(set(names)) == 3
    assert names[0][:12] == names[2][:12] != names[1][:12]  # the owner's part of the name


def test_the_daily_limit_defaults_to_1000_and_is_bounded(waha_api: FakeWaha, alice):
    assert alice.post("/whatsapp-sessions", {}).json["dailyLimit"] == 1000
    for bad in ({"dailyLimit": 0}, {"dailyLimit": "10"}, {"label": ""}, {"name": "default"}):
        assert alice.post("/whatsapp-sessions", bad).status == 422, bad


def test_a_user_may_have_ten_sessions_and_listing_them_costs_no_waha_request(waha_api: FakeWaha, alice):
    for index in range(10):
        assert alice.post("/whatsapp-sessions", {"label": f"n{index}"}).status == 201
    before = len(waha_api.requests)

    listed = alice.get("/whatsapp-sessions", query={"limit": "50"})
    eleventh = alice.post("/whatsapp-sessions", {"label": "one too many"})

    assert [s["label"] for s in listed.json["items"]] == [f"n{index}" for index in range(10)]
    assert len(waha_api.requests) == before  # not one WAHA call to list ten sessions
    assert eleventh.status == 429
    assert waha_api.count_requests("create-session") == 10


def test_when_waha_refuses_the_create_nothing_is_kept(waha_api: FakeWaha, alice):
    waha_api.fail_next(1, status=503, endpoints={"create-session"})

    answer = alice.post("/whatsapp-sessions", {"label": "Shop"})

    assert answer.status == 409
    assert "WAHA" in answer.message and "127.0.0.1" not in answer.message
    assert alice.get("/whatsapp-sessions").json["items"] == []


# ---------------------------------------------------------------------- pairing


def test_qr_then_pairing_then_the_session_shows_its_number(waha_api: FakeWaha, alice):
    session_id, name = connect(alice, waha_api, pair=False)

    as_json = alice.get(f"/whatsapp-sessions/{session_id}/qr", headers={"accept": "application/json"})
    as_png = _qr_png(alice, session_id)
    waha_api.pair(name, phone_digits="34600000009", push_name="Ana's shop")
    shown = alice.get(f"/whatsapp-sessions/{session_id}")
    listed = alice.get("/whatsapp-sessions")
    qr_after = alice.get(f"/whatsapp-sessions/{session_id}/qr")

    assert as_json.status == 200 and as_json.json == {"value": f"2@fake-qr-{name}"}
    assert as_png.startswith(b"\x89PNG\r\n\x1a\n")
    assert (shown.json["status"], shown.json["phoneNumber"], shown.json["pushName"]) == (
        "WORKING",
        "+34600000009",
        "Ana's shop",
    )
    assert listed.json["items"][0]["phoneNumber"] == "+34600000009"
    assert qr_after.status == 409


def _qr_png(user: ApiClient, session_id: str) -> bytes:
    from devstack.context import SimulatedContext
    from functions.api.app import lambda_handler

    event = http_event(
        "GET", f"/whatsapp-sessions/{session_id}/qr", user=user.user, headers={"accept": "image/png"}
    )
    raw = lambda_handler(event, SimulatedContext(function_name="api", timeout_ms=29_000))
    assert raw["statusCode"] == 200 and raw["headers"]["Content-Type"] == "image/png", raw
    return base64.b64decode(raw["body"]) if raw.get("isBase64Encoded") else raw["body"].encode("latin-1")


def test_a_pairing_code_while_waiting_for_a_scan(waha_api: FakeWaha, alice):
    session_id, name = connect(alice, waha_api, pair=False)

    code = alice.post(f"/whatsapp-sessions/{session_id}/pairing-code", {"phoneNumber": "+34 600 000 009"})
    bad = alice.post(f"/whatsapp-sessions/{session_id}/pairing-code", {"phoneNumber": "hello"})
    waha_api.pair(name)
    paired = alice.post(f"/whatsapp-sessions/{session_id}/pairing-code", {"phoneNumber": "+34600000009"})

    assert code.status == 200 and code.json["code"].startswith("FAKE-")
    assert waha_api.request_log("request-code")[0]["body"] == {"phoneNumber": "34600000009"}
    assert bad.status == 422
    assert paired.status == 409


def test_dry_run_sessions_pair_at_once(alice):
    created = alice.post("/whatsapp-sessions", {"label": "Dry"})

    assert created.status == 201 and created.json["status"] == "WORKING"
    assert alice.get(f"/whatsapp-sessions/{created.json['id']}/qr").status == 409


# ---------------------------------------------------------------------- change and delete


def test_label_and_daily_limit_change(waha_api: FakeWaha, alice):
    session_id, _ = connect(alice, waha_api)

    changed = alice.call("PATCH", f"/whatsapp-sessions/{session_id}", body={"dailyLimit": 250})
    both = alice.call(
        "PATCH", f"/whatsapp-sessions/{session_id}", body={"label": "Madrid", "dailyLimit": 300}
    )
    bad = alice.call("PATCH", f"/whatsapp-sessions/{session_id}", body={"dailyLimit": -1})

    assert (changed.json["label"], changed.json["dailyLimit"]) == ("Shop", 250)
    assert (both.json["label"], both.json["dailyLimit"]) == ("Madrid", 300)
    assert bad.status == 422


def test_deleting_logs_the_number_out_and_deletes_the_waha_session(waha_api: FakeWaha, alice, build: Builder):
    session_id, name = connect(alice, waha_api)
    scheduled = build.campaign(2, register_session=False)
    Campaign(scheduled.id).update(actions=[Campaign.whatsapp_session_id.set(session_id)])

    answer = alice.call("DELETE", f"/whatsapp-sessions/{session_id}")

    assert answer.status == 204
    assert waha_api.logged_out == [name] and name not in waha_api.sessions
    assert [r["endpoint"] for r in waha_api.requests[-2:]] == ["logout", "delete-session"]
    assert alice.get(f"/whatsapp-sessions/{session_id}").status == 404
    assert alice.get("/whatsapp-sessions").json["items"] == []
    paused = Campaign.get(scheduled.id)
    assert paused.status == CampaignStatus.PAUSED.value and "deleted" in paused.pause_reason
    assert (
        alice.post(
            "/campaigns",
            {
                "name": "x",
                "contactListId": "l",
                "messageTemplateId": "t",
                "defaultNameValue": "f",
                "whatsappSessionId": session_id,
            },
        ).status
        == 422
    )


def test_a_session_with_a_running_campaign_cannot_be_deleted(waha_api: FakeWaha, alice, build: Builder):
    session_id, name = connect(alice, waha_api)
    running = build.campaign(2, status=CampaignStatus.RUNNING, register_session=False)
    Campaign(running.id).update(actions=[Campaign.whatsapp_session_id.set(session_id)])

    answer = alice.call("DELETE", f"/whatsapp-sessions/{session_id}")

    assert answer.status == 409 and "running" in answer.message
    assert waha_api.logged_out == [] and name in waha_api.sessions


# ---------------------------------------------------------------------- another user's


def test_another_users_session_is_404_on_every_route_and_changes_nothing(waha_api: FakeWaha, alice, bob):
    session_id, name = connect(alice, waha_api)
    before = len(waha_api.requests)

    answers = [
        bob.get(f"/whatsapp-sessions/{session_id}"),
        bob.get(f"/whatsapp-sessions/{session_id}/qr"),
        bob.post(f"/whatsapp-sessions/{session_id}/pairing-code", {"phoneNumber": "+34600000009"}),
        bob.call("PATCH", f"/whatsapp-sessions/{session_id}", body={"label": "mine now"}),
        bob.call("DELETE", f"/whatsapp-sessions/{session_id}"),
    ]

    assert [a.status for a in answers] == [404] * 5
    assert all(session_id not in a.text and name not in a.text for a in answers)
    assert bob.get("/whatsapp-sessions").json["items"] == []
    assert len(waha_api.requests) == before  # bob reached nothing on WAHA
    mine = alice.get(f"/whatsapp-sessions/{session_id}").json
    assert (mine["label"], mine["status"]) == ("Shop", "WORKING")


# ---------------------------------------------------------------------- read-your-write


@pytest.fixture
def lagging_index(tables: str) -> Iterator[list[str]]:
    """The sessions table's byUser index has not caught up yet (a GSI is eventually
    consistent): every query of it answers an empty page, as it may for a moment after a
    write. Yields the queries it answered so."""
    client = WhatsAppSession._get_connection().connection.client
    answered: list[str] = []

    def empty_page(params, **_):
        body = json.loads(params.get("body") or b"{}")
        if body.get("TableName") != WhatsAppSession.Meta.table_name or body.get("IndexName") != "byUser":
            return None
        answered.append(body["IndexName"])
        return AWSResponse(params.get("url", ""), 200, {}, None), {"Items": [], "Count": 0, "ScannedCount": 0}

    client.meta.events.register("before-call.dynamodb.Query", empty_page, unique_id="lagging-index")
    yield answered
    client.meta.events.unregister("before-call.dynamodb.Query", unique_id="lagging-index")


def test_a_session_just_created_is_found_on_every_route_before_the_index_has_it(
    waha_api: FakeWaha, alice, lagging_index: list[str]
):
    created = alice.post("/whatsapp-sessions", {"label": "Shop"})
    session_id = created.json["id"]

    shown = alice.get(f"/whatsapp-sessions/{session_id}")
    qr = alice.get(f"/whatsapp-sessions/{session_id}/qr", headers={"accept": "application/json"})
    code = alice.post(f"/whatsapp-sessions/{session_id}/pairing-code", {"phoneNumber": "+34600000009"})
    changed = alice.call("PATCH", f"/whatsapp-sessions/{session_id}", body={"label": "Madrid"})
    deleted = alice.call("DELETE", f"/whatsapp-sessions/{session_id}")

    assert lagging_index  # the index really was asked, and lagged
    assert [a.status for a in (created, shown, qr, code, changed, deleted)] == [201, 200, 200, 200, 200, 204]
    assert (shown.json["id"], shown.json["label"], changed.json["label"]) == (session_id, "Shop", "Madrid")
    assert alice.get(f"/whatsapp-sessions/{session_id}").status == 404


def test_another_users_fresh_session_stays_404_without_the_index(
    waha_api: FakeWaha, alice, bob, lagging_index: list[str]
):
    session_id = alice.post("/whatsapp-sessions", {"label": "Shop"}).json["id"]
    before = len(waha_api.requests)

    answers = [
        bob.get(f"/whatsapp-sessions/{session_id}"),
        bob.get(f"/whatsapp-sessions/{session_id}/qr"),
        bob.call("PATCH", f"/whatsapp-sessions/{session_id}", body={"label": "mine now"}),
        bob.call("DELETE", f"/whatsapp-sessions/{session_id}"),
    ]

    assert [a.status for a in answers] == [404] * 4
    assert len(waha_api.requests) == before
    assert alice.get(f"/whatsapp-sessions/{session_id}").json["label"] == "Shop"
