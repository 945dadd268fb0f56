"""A number's whole life on the local stack, over HTTP, against the fake WAHA: the
user connects it and scans its QR code, the fake pairs it and its signed webhooks
reach the stack's own POST /webhooks/waha; a campaign sends through it and its acks
count once; a session drop pauses a running campaign before its next contact;
deleting the number logs it out on WAHA."""

from __future__ import annotations

import time

from tests import stack_fixtures
from tests.fakewaha import FakeWaha
from tests.stack_fixtures import ApiClient, contacts, wait_for

start_stack = stack_fixtures.start_stack
WAHA_ENV = {"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "6", "WAHA_MAX_ATTEMPTS": "2"}


def test_connect_pair_send_acks_drop_and_delete(start_stack, fake_waha: FakeWaha) -> None:
    stack = start_stack(waha_base_url=fake_waha.base_url, waha_api_key=fake_waha.api_key, env=WAHA_ENV)
    alice = ApiClient(stack, "alice")

    # A user connects a number and fetches its QR code; the phone scans it
    created = alice.ok("POST", "/whatsapp-sessions", {"label": "Shop"}, 201)
    name = fake_waha.request_log("create-session")[0]["body"]["name"]
    qr = alice.request("GET", f"/whatsapp-sessions/{created['id']}/qr")
    assert created["status"] == "SCAN_QR_CODE"
    assert qr.status_code == 200 and qr.headers["Content-Type"] == "image/png"
    assert qr.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert fake_waha.pair(name, phone_digits="34600000009", push_name="Ana's shop") == 200
    [shown] = alice.ok("GET", "/whatsapp-sessions")["items"]
    assert (shown["status"], shown["phoneNumber"], shown["pushName"]) == (
        "WORKING",
        "+34600000009",
        "Ana's shop",
    )

    # A campaign sends through it; WhatsApp's acks arrive late, twice and out of order
    listed = alice.contact_list(contacts(4))
    template = alice.template("Hi {Name}")
    campaign = alice.campaign(listed["id"], template["id"], whatsappSessionId=created["id"])
    assert alice.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
    assert alice.wait_status(campaign["id"], {"Completed", "Paused", "Failed"})["status"] == "Completed"
    ids = [d["messageId"] for d in alice.deliveries(campaign["id"])]
    for message_id, ack in [
        (ids[0], "READ"),
        (ids[0], "DEVICE"),
        (ids[1], "DEVICE"),
        (ids[1], "DEVICE"),
        (ids[2], "SERVER"),
        (ids[2], "PLAYED"),
        (ids[3], "SERVER"),
    ]:
        assert fake_waha.ack(name, message_id, ack) == 200
    assert fake_waha.replay(-2) == 200  # WAHA retrying the PLAYED

    done = alice.get_campaign(campaign["id"])
    assert (done["deliveredCount"], done["readCount"]) == (3, 2)
    assert [d["ack"] for d in alice.deliveries(campaign["id"])] == ["Read", "Delivered", "Played", "Server"]

    # A drop reported by WAHA's webhook pauses a running campaign before its next contact
    slow = alice.campaign(
        alice.contact_list(contacts(40, prefix="+1555021"))["id"],
        template["id"],
        whatsappSessionId=created["id"],
        minDelayMs=150,
        maxDelayMs=200,
    )
    assert alice.request("POST", f"/campaigns/{slow['id']}/run").status_code == 202
    wait_for(lambda: alice.get_campaign(slow["id"])["sentCount"] >= 2, 30, "two sends")
    assert fake_waha.emit(name, "session.status", {"name": name, "status": "SCAN_QR_CODE"}) == 200
    sent_at_drop = len(fake_waha.sent())
    paused = alice.wait_status(slow["id"], {"Paused"}, timeout=10)
    time.sleep(0.5)
    assert "scan its QR code again" in paused["pauseReason"]
    assert len(fake_waha.sent()) <= sent_at_drop + 1  # at most the send already under way
    assert alice.get_campaign(slow["id"])["sentCount"] == len(fake_waha.sent()) - 4

    # Deleting the number logs it out and deletes its WAHA session
    assert alice.request("DELETE", f"/whatsapp-sessions/{created['id']}").status_code == 204
    assert fake_waha.logged_out == [name] and name not in fake_waha.sessions
    assert alice.ok("GET", "/whatsapp-sessions")["items"] == []
