"""POST /webhooks/waha: WAHA's signed webhooks, fed to the API handler by the fake
WAHA as API Gateway would hand them over. A signature that is bad, missing or stale
changes nothing; acks count once whatever their order and repetition; a session that
leaves WORKING pauses its running campaigns; contacts' messages reach the opt-out hook."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from campaigns.data.models import Campaign, Delivery, WhatsAppSession
from campaigns.domain.statuses import CampaignStatus
from campaigns.inbound import InboundMessage, set_opt_out_hook
from campaigns.timeutil import utcnow
from tests import waha_world
from tests.api_events import http_event, invoke
from tests.builders import Builder
from tests.fakewaha import FakeWaha
from tests.waha_world import connect

waha_api = waha_world.waha_api  # the fixture, used by name


def sent_campaign(
    build: Builder, session_id: str, name: str, count: int = 3, status=CampaignStatus.COMPLETED
):
    """A campaign on the session whose `count` contacts were sent, with WAHA's message ids."""
    campaign = build.campaign(count, status=status, register_session=False)
    Campaign(campaign.id).update(
        actions=[
            Campaign.whatsapp_session_id.set(session_id),
            Campaign.waha_session.set(name),
            Campaign.sent_count.set(count),
        ]
    )
    ids = []
    for index in range(count):
        message_id = f"true_1555000{index:04d}@c.us_3EB0{index:012X}"
        Delivery(
            campaign_id=campaign.id,
            contact_index=index,
            phone_number=f"+1555000{index:04d}",
            status="Sent",
            message_id=message_id,
            at=utcnow(),
        ).save()
        ids.append(message_id)
    return Campaign.get(campaign.id), ids


def counts(campaign: Campaign) -> tuple[int, int]:
    fresh = Campaign.get(campaign.id, consistent_read=True)
    return int(fresh.delivered_count or 0), int(fresh.read_count or 0)


def acks(campaign: Campaign) -> list[str | None]:
    return [d.ack for d in Delivery.query(campaign.id, consistent_read=True)]


# ---------------------------------------------------------------------- acks


def test_acks_count_once_whatever_their_order_and_repetition(waha_api: FakeWaha, alice, build: Builder):
    session_id, name = connect(alice, waha_api)
    campaign, (first, second, third) = sent_campaign(build, session_id, name)

    # Read before Delivered, Delivered late, Server last; the same ack twice; a WAHA retry
    statuses = [
        waha_api.ack(name, first, "READ"),
        waha_api.ack(name, first, "DEVICE"),
        waha_api.ack(name, first, "SERVER"),
        waha_api.ack(name, second, "DEVICE"),
        waha_api.ack(name, second, "DEVICE"),
        waha_api.replay(),
        waha_api.ack(name, third, "SERVER"),
        waha_api.ack(name, third, "PLAYED"),
        waha_api.ack(name, third, "READ"),
    ]

    assert statuses == [200] * 9
    assert acks(campaign) == ["Read", "Delivered", "Played"]
    assert counts(campaign) == (3, 2)
    shown = alice.get(f"/campaigns/{campaign.id}").json
    assert (shown["deliveredCount"], shown["readCount"]) == (3, 2)
    assert [d["ack"] for d in alice.get(f"/campaigns/{campaign.id}/deliveries").json["items"]] == [
        "Read",
        "Delivered",
        "Played",
    ]


def test_a_repeated_event_is_acted_on_once(waha_api: FakeWaha, alice, build: Builder):
    session_id, name = connect(alice, waha_api)
    campaign, (first, *_) = sent_campaign(build, session_id, name)
    waha_api.ack(name, first, "DEVICE")

    again = waha_api.replay()

    assert again == 200 and counts(campaign) == (1, 0)
    assert json.loads(invoke(_event(waha_api.webhooks[-1])).text)["message"] == "Already handled"


def test_an_error_ack_does_not_count_and_a_later_delivery_wins(waha_api: FakeWaha, alice, build: Builder):
    session_id, name = connect(alice, waha_api)
    campaign, (first, second, _) = sent_campaign(build, session_id, name)

    waha_api.ack(name, first, "ERROR")
    waha_api.ack(name, second, "DEVICE")
    waha_api.ack(name, second, "ERROR")
    waha_api.ack(name, first, "DEVICE")

    assert acks(campaign)[:2] == ["Delivered", "Delivered"]
    assert counts(campaign) == (2, 0)


def test_an_ack_for_a_message_no_campaign_sent_is_taken_and_ignored(waha_api: FakeWaha, alice):
    _, name = connect(alice, waha_api)

    assert waha_api.ack(name, "true_1555@c.us_FROMTHEPHONE", "READ") == 200


# ---------------------------------------------------------------------- signatures


def _event(sent: dict) -> dict:
    return http_event(
        "POST",
        "/webhooks/waha",
        user=None,
        raw_body=sent["raw"].decode(),
        query={"session": sent["url"].split("session=", 1)[1]},
        headers=sent["headers"],
    )


@pytest.mark.parametrize(
    "tamper",
    [
        "bad signature",
        "missing signature",
        "another session's key",
        "stale timestamp",
        "future timestamp",
        "missing timestamp",
        "body changed",
        "unknown session",
        "no session",
    ],
)
def test_a_bad_missing_or_stale_signature_is_401_and_changes_nothing(
    waha_api: FakeWaha, alice, build: Builder, tamper: str
):
    session_id, name = connect(alice, waha_api)
    _, other = connect(alice, waha_api, label="Other")
    campaign, (first, *_) = sent_campaign(build, session_id, name)
    waha_api.ack(name, first, "READ", event_id="evt_original")
    Delivery(campaign.id, 0).update(actions=[Delivery.ack.remove(), Delivery.ack_rank.remove()])
    Campaign(campaign.id).update(actions=[Campaign.delivered_count.set(0), Campaign.read_count.set(0)])
    sent = waha_api.webhooks[-1]
    raw, headers, url = sent["raw"], dict(sent["headers"]), sent["url"]
    now_ms = int(time.time() * 1000)

    if tamper == "bad signature":
        headers["X-Webhook-Hmac"] = "0" * 128
    elif tamper == "missing signature":
        del headers["X-Webhook-Hmac"]
    elif tamper == "another session's key":
        key = WhatsAppSession.get(other).name
        from campaigns.data.session_keys import session_keys

        headers["X-Webhook-Hmac"] = hmac.new(
            session_keys().get(key).encode(), raw, hashlib.sha512
        ).hexdigest()
    elif tamper in ("stale timestamp", "future timestamp"):
        headers["X-Webhook-Timestamp"] = str(now_ms + (-1 if tamper == "stale timestamp" else 1) * 301_000)
    elif tamper == "missing timestamp":
        del headers["X-Webhook-Timestamp"]
    elif tamper == "body changed":
        raw = raw.replace(b'"READ"', b'"PLAYED"')
    elif tamper == "unknown session":
        url = url.split("session=")[0] + "session=wcr-nobody"
    elif tamper == "no session":
        url = url.split("?")[0]

    status = waha_api._post(url, headers, raw)

    assert status == 401
    assert acks(campaign)[0] is None and counts(campaign) == (0, 0)


def test_a_signed_body_that_is_not_a_waha_event_is_400(waha_api: FakeWaha, alice):
    _, name = connect(alice, waha_api)
    key = _key(name)
    url = waha_api.webhooks[-1]["url"]

    for raw in (
        b"not json",
        b"[1, 2]",
        b'{"event": 3}',
        b'{"event": "message.ack", "session": "other"}',
        b"\xff\xfe",
    ):
        headers = _signed_headers(key, raw)
        assert waha_api._post(url, headers, raw) == 400, raw


def test_no_input_makes_the_webhook_answer_5xx(waha_api: FakeWaha, alice):
    _, name = connect(alice, waha_api)
    key = _key(name)
    url = waha_api.webhooks[-1]["url"]
    bodies = [
        {"id": None, "event": "message.ack", "session": name, "payload": {"id": 5, "ack": "x"}},
        {
            "id": "e" * 5000,
            "event": "session.status",
            "session": name,
            "payload": {"status": 7},
            "timestamp": "x",
        },
        {"event": "session.status", "session": name, "payload": {"status": "WORKING"}, "timestamp": 1e300},
        {"event": "message", "session": name, "payload": {"fromMe": False, "from": [], "body": {}}},
        {"event": "unheard.of", "session": name, "payload": {}},
    ]
    for body in bodies:
        raw = json.dumps(body).encode()
        assert waha_api._post(url, _signed_headers(key, raw), raw) in (200, 400), body
    assert invoke(http_event("POST", "/webhooks/waha", user=None, raw_body="{}")).status == 401


def test_a_timestamp_in_seconds_is_read_as_seconds(waha_api: FakeWaha, alice):
    _, name = connect(alice, waha_api)
    url = waha_api.webhooks[-1]["url"]
    raw = json.dumps({"event": "session.status", "session": name, "payload": {"status": "WORKING"}}).encode()
    fresh = {**_signed_headers(_key(name), raw), "X-Webhook-Timestamp": str(int(time.time()))}
    stale = {**fresh, "X-Webhook-Timestamp": str(int(time.time()) - 301)}

    assert (waha_api._post(url, fresh, raw), waha_api._post(url, stale, raw)) == (200, 401)


def _key(name: str) -> str:
    from campaigns.data.session_keys import session_keys

    key = session_keys().get(name)
    assert key is not None
    return key


def _signed_headers(key: str, raw: bytes) -> dict[str, str]:
    return {
        "X-Webhook-Timestamp": str(int(time.time() * 1000)),
        "X-Webhook-Hmac": hmac.new(key.encode(), raw, hashlib.sha512).hexdigest(),
        "Content-Type": "application/json",
    }


# ---------------------------------------------------------------------- session status


def test_a_session_drop_pauses_its_running_campaigns_with_what_to_do(
    waha_api: FakeWaha, alice, build: Builder
):
    session_id, name = connect(alice, waha_api)
    running, _ = sent_campaign(build, session_id, name, status=CampaignStatus.RUNNING)
    other_id, other = connect(alice, waha_api, label="Other")
    elsewhere, _ = sent_campaign(build, other_id, other, status=CampaignStatus.RUNNING)

    assert waha_api.drop(name, "SCAN_QR_CODE") == 200

    paused = Campaign.get(running.id)
    assert paused.status == CampaignStatus.PAUSED.value
    assert "SCAN_QR_CODE" in paused.pause_reason and "scan its QR code again" in paused.pause_reason
    assert Campaign.get(elsewhere.id).status == CampaignStatus.RUNNING.value
    assert alice.get(f"/whatsapp-sessions/{session_id}").json["status"] == "SCAN_QR_CODE"


def test_a_late_status_does_not_undo_a_later_one(waha_api: FakeWaha, alice):
    _, name = connect(alice, waha_api)
    now_ms = int(time.time() * 1000)

    waha_api.drop(name, "FAILED", timestamp_ms=now_ms)
    late = waha_api.emit(
        name, "session.status", {"name": name, "status": "WORKING"}, timestamp_ms=now_ms - 1000
    )

    assert late == 200
    assert alice.get("/whatsapp-sessions").json["items"][0]["status"] == "FAILED"


# ---------------------------------------------------------------------- inbound messages


def test_a_contacts_message_reaches_the_opt_out_hook(waha_api: FakeWaha, alice):
    session_id, name = connect(alice, waha_api)
    received: list[InboundMessage] = []

    class Recorder:
        def inbound(self, message: InboundMessage) -> None:
            received.append(message)

    set_opt_out_hook(Recorder())
    try:
        waha_api.inbound(name, "34600000001", "STOP")
        waha_api.emit(
            name, "message", {"id": "x", "from": "15550001111@c.us", "fromMe": True, "body": "ours"}
        )
    finally:
        set_opt_out_hook(None)

    assert received == [InboundMessage("user-a", session_id, "+34600000001", "STOP")]


def test_an_ack_reported_by_another_users_number_moves_nothing(
    waha_api: FakeWaha, alice, bob, build: Builder
):
    # A contact of alice's is on this product too: bob's number sees alice's message
    # arrive and can write its id, signed with his own number's key.
    session_id, name = connect(alice, waha_api)
    _, bobs = connect(bob, waha_api, label="Bob's")
    campaign, (first, second, _) = sent_campaign(build, session_id, name)

    answers = [waha_api.ack(bobs, first, "READ"), waha_api.ack(bobs, second, "PLAYED")]

    assert answers == [200, 200]
    assert acks(campaign) == [None, None, None] and counts(campaign) == (0, 0)
    assert waha_api.ack(name, first, "READ") == 200  # alice's own number still counts
    assert acks(campaign)[0] == "Read" and counts(campaign) == (1, 1)


def test_an_early_ack_parked_by_another_users_number_is_never_applied(
    waha_api: FakeWaha, alice, bob, build: Builder
):
    from datetime import timedelta

    from campaigns.data.store import CampaignStore
    from campaigns.invoker import RecordingInvoker
    from campaigns.schedule.tick import ScheduleTick
    from tests.runner_harness import runner_settings

    session_id, name = connect(alice, waha_api)
    _, bobs = connect(bob, waha_api, label="Bob's")
    message_id = "true_15550000000@c.us_3EB0AAAAAAAAAAAA"
    waha_api.ack(bobs, message_id, "PLAYED")  # before alice's delivery exists: parked
    waha_api.ack(name, message_id, "DEVICE")  # alice's own, parked too
    campaign, _ = sent_campaign(build, session_id, name, count=0)
    Delivery(
        campaign_id=campaign.id,
        contact_index=0,
        phone_number="+15550000000",
        status="Sent",
        message_id=message_id,
        at=utcnow(),
    ).save()

    ScheduleTick(CampaignStore(), RecordingInvoker(), runner_settings()).run(utcnow() + timedelta(minutes=1))

    assert acks(campaign) == ["Delivered"] and counts(campaign) == (1, 0)


def test_a_deeply_nested_signed_body_is_400_not_500(waha_api: FakeWaha, alice):
    _, name = connect(alice, waha_api)
    url = waha_api.webhooks[-1]["url"]
    raw = b"[" * 50_000 + b"]" * 50_000

    assert waha_api._post(url, _signed_headers(_key(name), raw), raw) == 400


def test_a_campaign_known_by_its_session_id_alone_takes_acks_from_that_session_only(
    waha_api: FakeWaha, alice, bob, build: Builder
):
    session_id, name = connect(alice, waha_api)
    _, bobs = connect(bob, waha_api, label="Bob's")
    campaign, (first, *_) = sent_campaign(build, session_id, name)
    Campaign(campaign.id).update(actions=[Campaign.waha_session.remove()])

    waha_api.ack(bobs, first, "READ")
    ignored = (acks(campaign)[0], counts(campaign))
    waha_api.ack(name, first, "DEVICE")

    assert ignored == (None, (0, 0))
    assert acks(campaign)[0] == "Delivered" and counts(campaign) == (1, 0)


def test_a_captured_event_replayed_long_after_with_a_fresh_timestamp_header_is_401(
    waha_api: FakeWaha, alice, build: Builder
):
    # The signature covers the body only: a body captured today, its event id forgotten
    # after a week, could come back with a new X-Webhook-Timestamp. Its own timestamp
    # (WAHA's envelope carries one) says how old the event is.
    session_id, name = connect(alice, waha_api)
    campaign, (first, *_) = sent_campaign(build, session_id, name)
    url = waha_api.webhooks[-1]["url"]
    week_ago_ms = int(time.time() * 1000) - 8 * 24 * 3600 * 1000
    payload = {"id": first, "ack": 3, "ackName": "READ", "fromMe": True}
    old = {
        "id": "evt_old",
        "timestamp": week_ago_ms,
        "event": "message.ack",
        "session": name,
        "payload": payload,
    }
    raw = json.dumps(old).encode()

    assert waha_api._post(url, _signed_headers(_key(name), raw), raw) == 401
    assert acks(campaign)[0] is None and counts(campaign) == (0, 0)

    # the same event, a few minutes old (a WAHA retry), is taken
    fresh = {**old, "id": "evt_new", "timestamp": int(time.time() * 1000) - 4 * 60 * 1000}
    raw = json.dumps(fresh).encode()
    assert waha_api._post(url, _signed_headers(_key(name), raw), raw) == 200
    assert acks(campaign)[0] == "Read"


def test_an_ack_that_loses_its_condition_every_time_is_409_and_taken_when_waha_retries(
    waha_api: FakeWaha, alice, build: Builder, monkeypatch
):
    # Under heavy ack traffic for one delivery, its conditional transaction can lose five
    # times in a row; the ack must then be retried by WAHA, not answered 200 and lost.
    from campaigns.data import acks as stored_acks

    session_id, name = connect(alice, waha_api)
    campaign, (first, *_) = sent_campaign(build, session_id, name)
    original = stored_acks._move
    monkeypatch.setattr(stored_acks, "_move", lambda *args: False)

    assert waha_api.ack(name, first, "READ", event_id="evt_contended") == 409
    assert acks(campaign)[0] is None and counts(campaign) == (0, 0)

    monkeypatch.setattr(stored_acks, "_move", original)
    assert waha_api.replay() == 200  # WAHA's retry of the same event is not "already handled"
    assert acks(campaign)[0] == "Read" and counts(campaign) == (1, 1)
