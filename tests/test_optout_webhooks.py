"""Inbound WhatsApp messages reach the opt-out rules: the API installs them as the
hook of `campaigns.inbound`, and a STOP or START that WAHA's signed `message` webhook
carries changes the session owner's list."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaigns.api.optouts import OptOutKeywords
from campaigns.data.session_keys import session_keys
from campaigns.inbound import InboundMessage, opt_out_hook, set_opt_out_hook

ROOT = Path(__file__).resolve().parent.parent


def listed(client) -> list[str]:
    answer = client.get("/opt-outs")
    assert answer.status == 200
    return [item["phoneNumber"] for item in answer.json["items"]]


def test_the_api_installs_the_keyword_rules_as_the_inbound_hook():
    # A fresh process, as Lambda starts one: importing the API installs the rules.
    code = (
        "import functions.api.app; from campaigns.inbound import opt_out_hook; "
        "print(type(opt_out_hook()).__name__)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")])}

    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "OptOutKeywords"


@pytest.fixture
def keyword_rules() -> Iterator[None]:
    """The opt-out rules as the inbound hook, whatever another test left installed."""
    previous = opt_out_hook()
    set_opt_out_hook(OptOutKeywords())
    yield
    set_opt_out_hook(previous)


def test_the_hook_takes_campaigns_inbound_messages(build, alice):
    OptOutKeywords().inbound(InboundMessage("user-a", "wa_9", "+15550000001", "Stop."))

    (item,) = alice.get("/opt-outs").json["items"]
    assert (item["phoneNumber"], item["whatsappSessionId"]) == ("+15550000001", "wa_9")


# ------------------------------------------------- through POST /webhooks/waha


def _signed_webhook(client, session_name: str, payload: dict, event_id: str):
    body = json.dumps({"id": event_id, "event": "message", "session": session_name, "payload": payload})
    key = session_keys().get(session_name) or ""
    headers = {
        "x-webhook-hmac": hmac.new(key.encode(), body.encode(), hashlib.sha512).hexdigest(),
        "x-webhook-timestamp": str(int(time.time() * 1000)),
    }
    return client.post(
        "/webhooks/waha", raw_body=body, headers=headers, query={"session": session_name}, user=None
    )


def test_a_stop_sent_to_a_session_lands_on_its_owners_list_and_start_removes_it(
    build, alice, bob, keyword_rules
):
    session = build.session("alice-number", user_id="user-a")
    stop = {"from": "15550000001@c.us", "fromMe": False, "body": "STOP!"}
    mine = {"from": "15550000002@c.us", "fromMe": True, "body": "STOP"}
    group = {"from": "120363025246125486@g.us", "fromMe": False, "body": "STOP"}

    answers = [
        _signed_webhook(alice, session.name, stop, "evt-1"),
        _signed_webhook(alice, session.name, mine, "evt-2"),
        _signed_webhook(alice, session.name, group, "evt-3"),
    ]

    assert [a.status for a in answers] == [200, 200, 200]
    (item,) = alice.get("/opt-outs").json["items"]
    assert (item["phoneNumber"], item["source"], item["whatsappSessionId"]) == (
        "+15550000001",
        "keyword",
        session.id,
    )
    assert listed(bob) == []
    start = {"from": "15550000001@c.us", "fromMe": False, "body": "start"}
    assert _signed_webhook(alice, session.name, start, "evt-4").status == 200
    assert listed(alice) == []
