"""Attacks on POST /webhooks/waha over HTTP, against the local stack and the fake WAHA
server, whose signing (HMAC-SHA512 of the raw body with each session's key) makes
the genuine events that the attacks start from.

Every attack is an event that would change something if it were taken: an ack for
one of the victim's sent messages that has none yet, a session.status that drops
her number, a contact's STOP that would put a number on her opt-out list. Each is
sent with a wrong, missing, truncated or extended signature, another session's or
another user's key, a changed body, a stale, future or missing timestamp, for an
unknown or missing session, replayed, 1 MB long or malformed. The tables the
webhook writes (campaigns, deliveries, sessions, opt-outs, webhook events) are read
whole before and after each one: a difference is an unsigned webhook accepted.
The same events correctly signed do change state, so the check can see a change.

Then acks out of order and repeated 5 times (byte-for-byte replays and re-sent
under new ids, one after another and at once): no ack moves backwards, and the
campaign's deliveredCount and readCount equal what its deliveries say.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
import requests

from campaigns import config
from campaigns.data.models import Campaign, Delivery
from devstack.stack import LocalStack
from tests.fakewaha import FakeWaha
from tests.reliability import invariants
from tests.reliability.figures import FIGURES
from tests.stack_fixtures import ApiClient, table_prefix

SUITE = "webhooks"
MB = 1_000_000
ACK_NUMBERS = {"ERROR": -1, "SERVER": 1, "DEVICE": 2, "READ": 3, "PLAYED": 4}
ACK_RANKS = {"Server": 10, "Error": 15, "Delivered": 20, "Read": 30, "Played": 40}
ACK_OF_NAME = {
    "SERVER": "Server",
    "ERROR": "Error",
    "DEVICE": "Delivered",
    "READ": "Read",
    "PLAYED": "Played",
}
STOPPER = "34600000077"  # digits of the contact whose STOP the attacks carry


@dataclass(frozen=True)
class Webhook:
    """One webhook request as WAHA makes it: URL (with ?session=), headers, raw body."""

    url: str
    headers: dict[str, str]
    raw: bytes

    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)

    def with_headers(self, **changes: str | None) -> Webhook:
        headers = dict(self.headers)
        for name, value in changes.items():
            header = name.replace("_", "-")
            if value is None:
                headers.pop(header, None)
            else:
                headers[header] = value
        return replace(self, headers=headers)


# --------------------------------------------------------------------------- the stack


@pytest.fixture(scope="module")
def stack(dynamodb_endpoint: str, waha: FakeWaha) -> Iterator[LocalStack]:
    local = LocalStack(
        port=0,
        table_prefix=table_prefix(),
        waha_base_url=waha.base_url,
        waha_api_key=waha.api_key,
        schedule_seconds=3600,  # no tick changes anything between two snapshots
        env={"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "2", "WAHA_MAX_ATTEMPTS": "2"},
        retry_delays_s=(0.05,),
        stop_timeout_s=10.0,
    ).start()
    try:
        yield local
    finally:
        local.stop()


class Tables:
    """The tables a webhook may write, read whole (the stack's own prefix)."""

    def __init__(self, stack: LocalStack) -> None:
        self.client = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint, region_name="us-east-1")
        names = config.settings().tables
        self.business = {
            "campaigns": names.campaigns,
            "deliveries": names.deliveries,
            "sessions": names.sessions,
            "opt-outs": names.optouts,
        }
        self.events = names.webhook_events

    def snapshot(self, with_events: bool = True) -> dict[str, list[str]]:
        tables = dict(self.business)
        if with_events:
            tables["webhook-events"] = self.events
        return {label: self._scan(name) for label, name in tables.items()}

    def _scan(self, table: str) -> list[str]:
        items: list[str] = []
        pages = self.client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
        for page in pages:
            items.extend(json.dumps(item, sort_keys=True) for item in page["Items"])
        return sorted(items)


def changes(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, int]:
    """Items added, removed or changed, by table."""
    found = {}
    for table, items in before.items():
        differ = len(set(items) ^ set(after[table]))
        if differ:
            found[table] = differ
    return found


@dataclass
class World:
    """A victim with two numbers and a sent campaign, an attacker with a number of her own."""

    stack: LocalStack
    waha: FakeWaha
    tables: Tables
    alice: ApiClient
    number: str  # alice's WAHA session that sent her campaign
    other_number: str  # alice's second session
    mallory: ApiClient
    attacker_number: str  # mallory's own session
    campaign_id: str
    message_ids: list[str]  # alice's sent messages, by contact index
    phones: list[str]

    def key(self, session: str) -> str:
        return self.waha.configs[session]["webhooks"][0]["hmac"]["key"]

    def forge(self, session: str, event: str, payload: dict[str, Any], **emit: Any) -> Webhook:
        """The webhook the fake WAHA would post for `session`, signed as it signs, not sent."""
        captured: list[Webhook] = []
        previous = self.waha.deliver
        self.waha.deliver = lambda url, headers, raw: captured.append(Webhook(url, dict(headers), raw)) or 0
        try:
            self.waha.emit(session, event, payload, **emit)
        finally:
            self.waha.deliver = previous
        (webhook,) = captured
        return webhook

    def resign(self, session: str, body: dict[str, Any]) -> Webhook:
        """`body` as a fresh webhook of `session`, signed with its key as WAHA signs."""
        url = self.forge(session, "message.ack", {}).url
        raw = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Timestamp": _now_ms(),
            "X-Webhook-Hmac": sign(self.key(session), raw),
            "X-Webhook-Hmac-Algorithm": "sha512",
        }
        return Webhook(url, headers, raw)

    def ack_payload(self, index: int, ack_name: str) -> dict[str, Any]:
        message_id = self.message_ids[index]
        return {
            "id": message_id,
            "from": "15550001111@c.us",
            "to": message_id.split("_")[1],
            "participant": None,
            "fromMe": True,
            "ack": ACK_NUMBERS[ack_name],
            "ackName": ack_name,
        }


def post(stack: LocalStack, webhook: Webhook) -> requests.Response:
    response = requests.post(webhook.url, data=webhook.raw, headers=webhook.headers, timeout=30)
    if response.status_code >= 500:
        FIGURES.server_error(SUITE)
    return response


def sign(key: str, raw: bytes, digest: Any = hashlib.sha512) -> str:
    return hmac.new(key.encode(), raw, digest).hexdigest()


@pytest.fixture(scope="module")
def world(stack: LocalStack, waha: FakeWaha) -> World:
    tag = uuid.uuid4().hex[:8]
    alice = ApiClient(stack, f"alice-{tag}")
    mallory = ApiClient(stack, f"mallory-{tag}")
    for client in (alice, mallory):
        client.http.hooks["response"].append(FIGURES.response_hook(SUITE))
    number = alice.register_session("Shop", fake_waha=waha)
    other = alice.register_session("Second shop", fake_waha=waha)
    attacker = mallory.register_session("Mallory's", fake_waha=waha)
    phones = [f"+1555061{index:04d}" for index in range(8)]
    listed = alice.contact_list(
        [{"phoneNumber": phone, "firstName": f"V{i}"} for i, phone in enumerate(phones)]
    )
    template = alice.template("Hello {Name}")
    campaign = alice.campaign(listed["id"], template["id"], whatsappSessionId=number["id"])
    assert alice.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
    done = alice.wait_status(campaign["id"], {"Completed", "Paused", "Failed"})
    assert done["status"] == "Completed", done
    log = alice.deliveries(campaign["id"])
    assert [d["status"] for d in log] == ["Sent"] * len(phones)
    # Mallory sends a campaign of her own: she has real message ids and acks too.
    theirs = mallory.contact_list([{"phoneNumber": "+15550629000"}], name="Mallory's list")
    own = mallory.campaign(theirs["id"], mallory.template("Hey")["id"], whatsappSessionId=attacker["id"])
    assert mallory.request("POST", f"/campaigns/{own['id']}/run").status_code == 202
    assert mallory.wait_status(own["id"], {"Completed", "Paused", "Failed"})["status"] == "Completed"
    return World(
        stack=stack,
        waha=waha,
        tables=Tables(stack),
        alice=alice,
        number=number["wahaName"],
        other_number=other["wahaName"],
        mallory=mallory,
        attacker_number=attacker["wahaName"],
        campaign_id=campaign["id"],
        message_ids=[d["messageId"] for d in log],
        phones=phones,
    )


# --------------------------------------------------------------------------- what the attacks carry

# Contact 7's message has no ack: an ack event for it would set one and count it.
ATTACKED = 7


def live_events(world: World) -> dict[str, Webhook]:
    """Genuinely signed events that would each change alice's state if taken."""
    return {
        "ack": world.forge(world.number, "message.ack", world.ack_payload(ATTACKED, "READ")),
        "session drop": world.forge(
            world.number, "session.status", {"name": world.number, "status": "FAILED"}
        ),
        "STOP": world.forge(
            world.number,
            "message",
            {
                "id": f"false_{STOPPER}@c.us_3EB0ABC",
                "from": f"{STOPPER}@c.us",
                "fromMe": False,
                "body": "STOP",
            },
        ),
    }


def _now_ms() -> str:
    return str(int(time.time() * 1000))


def _session_param(webhook: Webhook, value: str | None) -> Webhook:
    base = webhook.url.split("?", 1)[0]
    return replace(webhook, url=base if value is None else f"{base}?session={value}")


def _body_changed(webhook: Webhook) -> Webhook:
    body = webhook.body()
    body["payload"] = {**body["payload"], "tampered": True}
    return replace(webhook, raw=json.dumps(body).encode())


def _new_event_id(webhook: Webhook) -> Webhook:
    body = webhook.body()
    body["id"] = f"evt_{uuid.uuid4().hex}"
    return replace(webhook, raw=json.dumps(body).encode())


Tamper = Callable[[Webhook, World], Webhook]

TAMPERS: dict[str, Tamper] = {
    # The signature itself
    "zeros": lambda w, _: w.with_headers(X_Webhook_Hmac="0" * 128),
    "random hex": lambda w, _: w.with_headers(X_Webhook_Hmac=uuid.uuid4().hex * 4),
    "last digit flipped": lambda w, _: w.with_headers(
        X_Webhook_Hmac=w.headers["X-Webhook-Hmac"][:-1]
        + ("0" if w.headers["X-Webhook-Hmac"][-1] != "0" else "1")
    ),
    "missing": lambda w, _: w.with_headers(X_Webhook_Hmac=None),
    "empty": lambda w, _: w.with_headers(X_Webhook_Hmac=""),
    "truncated to 64": lambda w, _: w.with_headers(X_Webhook_Hmac=w.headers["X-Webhook-Hmac"][:64]),
    "truncated by one": lambda w, _: w.with_headers(X_Webhook_Hmac=w.headers["X-Webhook-Hmac"][:-1]),
    "extended": lambda w, _: w.with_headers(X_Webhook_Hmac=w.headers["X-Webhook-Hmac"] + "00"),
    "base64 of the right digest": lambda w, world: w.with_headers(
        X_Webhook_Hmac=base64.b64encode(bytes.fromhex(sign(world.key(world.number), w.raw))).decode()
    ),
    "sha256 with the right key": lambda w, world: w.with_headers(
        X_Webhook_Hmac=sign(world.key(world.number), w.raw, hashlib.sha256)
    ),
    "another of her sessions' key": lambda w, world: w.with_headers(
        X_Webhook_Hmac=sign(world.key(world.other_number), w.raw)
    ),
    "the attacker's own key": lambda w, world: w.with_headers(
        X_Webhook_Hmac=sign(world.key(world.attacker_number), w.raw)
    ),
    "signed, then the body changed": lambda w, _: _body_changed(w),
    "signed, then a new event id": lambda w, _: _new_event_id(w),
    # Whose webhook it is
    "unknown session": lambda w, _: _session_param(w, "wcr-00000000-nobody"),
    "no session": lambda w, _: _session_param(w, None),
    "empty session": lambda w, _: _session_param(w, ""),
    "the attacker's session, the victim's signature": lambda w, world: _session_param(
        w, world.attacker_number
    ),
    "the attacker's session and key, the victim's body": lambda w, world: _session_param(
        w, world.attacker_number
    ).with_headers(X_Webhook_Hmac=sign(world.key(world.attacker_number), w.raw)),
    # When it was sent (the timestamp is not signed: only its freshness is checked)
    "stale by 301 s": lambda w, _: w.with_headers(X_Webhook_Timestamp=str(int(time.time() * 1000) - 301_000)),
    "future by 301 s": lambda w, _: w.with_headers(
        X_Webhook_Timestamp=str(int(time.time() * 1000) + 301_000)
    ),
    "stale, in seconds": lambda w, _: w.with_headers(X_Webhook_Timestamp=str(int(time.time()) - 301)),
    "an hour old": lambda w, _: w.with_headers(X_Webhook_Timestamp=str(int(time.time() * 1000) - 3_600_000)),
    "timestamp missing": lambda w, _: w.with_headers(X_Webhook_Timestamp=None),
    "timestamp not a number": lambda w, _: w.with_headers(X_Webhook_Timestamp="yesterday"),
}

# A session that has no key (it was deleted) or another's: what each answer may be.
SIGNED_FOR_THE_ATTACKER = {"the attacker's session and key, the victim's body"}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_a_badly_signed_webhook_is_refused_and_changes_nothing(world: World, tamper: str) -> None:
    refused = 0
    for kind, genuine in live_events(world).items():
        attack = TAMPERS[tamper](genuine, world)
        FIGURES.case(SUITE)
        FIGURES.fault(SUITE)
        before = world.tables.snapshot()

        answer = post(world.stack, attack)

        changed = changes(before, world.tables.snapshot())
        if changed:
            FIGURES.unsigned_accepted(SUITE, 1)
        # Signed with the attacker's own key for her own session, the body names another
        # session: 400 (not her event). Anything else is not signed by the session's key.
        expected = {400} if tamper in SIGNED_FOR_THE_ATTACKER else {401}
        assert answer.status_code in expected, (tamper, kind, answer.status_code, answer.text)
        assert answer.json()["message"], answer.text
        assert not changed, (tamper, kind, changed)
        refused += 1
    assert refused == 3


def test_a_replayed_webhook_changes_nothing(world: World) -> None:
    """A genuine event taken once, then posted again: byte for byte (a WAHA retry, or an
    eavesdropper), with a fresh timestamp, and re-signed under a new id by WAHA itself."""
    genuine = world.forge(world.number, "message.ack", world.ack_payload(6, "DEVICE"))
    assert post(world.stack, genuine).status_code == 200
    assert _ack_of(world, 6) == "Delivered"
    replays = {
        "byte for byte": genuine,
        "with a fresh timestamp": genuine.with_headers(X_Webhook_Timestamp=_now_ms()),
        "with a new request id": genuine.with_headers(X_Webhook_Request_Id=uuid.uuid4().hex),
        # A new event id needs a new signature: without the key it is refused (401) ...
        "a new event id, the old signature": _new_event_id(genuine),
    }
    for name, replay in replays.items():
        FIGURES.case(SUITE)
        FIGURES.fault(SUITE)
        before = world.tables.snapshot()
        answer = post(world.stack, replay)
        changed = changes(before, world.tables.snapshot())
        if changed:
            FIGURES.unsigned_accepted(SUITE, 1)
        assert answer.status_code == (401 if "old signature" in name else 200), (name, answer.text)
        assert not changed, (name, changed)
    # ... and WAHA itself sending the same ack again under a new id is taken, but counts nothing.
    FIGURES.case(SUITE)
    before = world.tables.snapshot(with_events=False)
    again = world.forge(world.number, "message.ack", world.ack_payload(6, "DEVICE"))
    assert post(world.stack, again).status_code == 200
    assert not changes(before, world.tables.snapshot(with_events=False))


def _padded_event(world: World, size: int) -> bytes:
    body = world.forge(world.number, "message.ack", world.ack_payload(ATTACKED, "READ")).body()
    body["payload"]["padding"] = ""
    room = size - len(json.dumps(body).encode())
    body["payload"]["padding"] = "x" * room
    raw = json.dumps(body).encode()
    assert len(raw) == size
    return raw


MALFORMED = {
    "not JSON": b"this is not json",
    "truncated JSON": b'{"event": "message.ack", "session": ',
    "a JSON array": b"[1, 2, 3]",
    "JSON null": b"null",
    "event not a string": b'{"event": 7, "session": "%s", "payload": {}}',
    "no payload": b'{"event": "message.ack", "session": "%s"}',
    "payload a list": b'{"event": "message.ack", "session": "%s", "payload": []}',
    "latin-1": '{"event": "message", "session": "%s", "payload": {"body": "Jos\u00e9"}}'.encode("latin-1"),
    "utf-16": '{"event": "message.ack", "session": "x", "payload": {}}'.encode("utf-16"),
    "invalid utf-8": b'{"event": "message.ack", "session": "\xc3\x28", "payload": {}}',
    "nul bytes": b'{"event": "message\x00.ack", "session": "%s", "payload": {}}',
    "deeply nested": b'{"event": "message.ack", "session": "%s", "payload": '
    + b"[" * 50_000
    + b"]" * 50_000
    + b"}",
    "5,000-digit number": b'{"event": "message.ack", "session": "%s", "payload": {"ack": '
    + b"9" * 5000
    + b"}}",
    "empty body": b"",
}
# Signed and well-formed JSON, but not an event anything acts on: taken (200) and ignored.
IGNORED = {
    "ack without an id": {"event": "message.ack", "payload": {"ack": 3, "ackName": "READ"}},
    "ack of an object id": {"event": "message.ack", "payload": {"id": {"$ne": None}, "ack": 3}},
    "ack that is no ack": {"event": "message.ack", "payload": {"id": "x", "ack": 99, "ackName": "SEEN"}},
    "status not a string": {"event": "session.status", "payload": {"status": ["WORKING"]}},
    "an event no one asked for": {"event": "group.v2.join", "payload": {"group": "x"}},
    "message with no sender": {"event": "message", "payload": {"fromMe": False, "body": "STOP"}},
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_body_is_400_when_signed_and_401_when_not(world: World, kind: str) -> None:
    raw = (
        MALFORMED[kind].replace(b"%s", world.number.encode()) if b"%s" in MALFORMED[kind] else MALFORMED[kind]
    )
    url = world.forge(world.number, "message.ack", world.ack_payload(ATTACKED, "READ")).url
    signed = Webhook(
        url,
        {
            "Content-Type": "application/json",
            "X-Webhook-Timestamp": _now_ms(),
            "X-Webhook-Hmac": sign(world.key(world.number), raw),
        },
        raw,
    )
    for attack, expected in ((signed, 400), (signed.with_headers(X_Webhook_Hmac=None), 401)):
        FIGURES.case(SUITE)
        FIGURES.fault(SUITE)
        before = world.tables.snapshot()
        answer = post(world.stack, attack)
        changed = changes(before, world.tables.snapshot())
        if changed and expected == 401:
            FIGURES.unsigned_accepted(SUITE, 1)
        assert answer.status_code == expected, (kind, answer.status_code, answer.text[:300])
        assert not changed, (kind, changed)


@pytest.mark.parametrize("kind", sorted(IGNORED))
def test_a_signed_event_nothing_acts_on_is_taken_and_changes_nothing(world: World, kind: str) -> None:
    event = IGNORED[kind]
    webhook = world.resign(world.number, {"session": world.number, **event})
    FIGURES.case(SUITE)
    FIGURES.fault(SUITE)
    before = world.tables.snapshot(with_events=False)
    answer = post(world.stack, webhook)
    assert answer.status_code in (200, 400), (kind, answer.status_code, answer.text)
    assert not changes(before, world.tables.snapshot(with_events=False)), kind


def test_one_megabyte_bodies_are_refused_signed_or_not(world: World) -> None:
    url = world.forge(world.number, "message.ack", world.ack_payload(ATTACKED, "READ")).url
    event, junk = _padded_event(world, MB), b"A" * MB
    fresh = {"Content-Type": "application/json", "X-Webhook-Timestamp": _now_ms()}
    cases = [
        (
            "a 1 MB event, signed",
            Webhook(url, {**fresh, "X-Webhook-Hmac": sign(world.key(world.number), event)}, event),
            400,
        ),
        ("a 1 MB event, unsigned", Webhook(url, dict(fresh), event), 401),
        (
            "a 1 MB event, another key",
            Webhook(url, {**fresh, "X-Webhook-Hmac": sign(world.key(world.other_number), event)}, event),
            401,
        ),
        (
            "1 MB of junk, signed",
            Webhook(url, {**fresh, "X-Webhook-Hmac": sign(world.key(world.number), junk)}, junk),
            400,
        ),
        ("1 MB of junk, unsigned", Webhook(url, dict(fresh), junk), 401),
        ("a 1 MB signature", Webhook(url, {**fresh, "X-Webhook-Hmac": "a" * 60_000}, event), 401),
    ]
    for name, attack, expected in cases:
        FIGURES.case(SUITE)
        FIGURES.fault(SUITE)
        before = world.tables.snapshot()
        answer = post(world.stack, attack)
        changed = changes(before, world.tables.snapshot())
        if changed and expected == 401:
            FIGURES.unsigned_accepted(SUITE, 1)
        assert answer.status_code == expected, (name, answer.status_code, answer.text[:300])
        assert len(answer.content) < 10_000, "the answer echoes the body"
        assert not changed, (name, changed)


# --------------------------------------------------------------------------- acks that name the wrong message


def test_acks_for_unknown_message_ids_are_taken_and_change_nothing(world: World) -> None:
    known = world.message_ids[ATTACKED]
    unknown = [
        "true_15550000000@c.us_3EB0NOTSENTBYANYONE",
        known.upper(),
        known[:-1],
        known + "0",
        known.split("_", 1)[1],
        "*",
        "true_%@c.us_%",
        "x" * 10_000,
        f"false_{known.split('_', 1)[1]}",
    ]
    for message_id in unknown:
        FIGURES.case(SUITE)
        FIGURES.fault(SUITE)
        payload = {**world.ack_payload(ATTACKED, "PLAYED"), "id": message_id}
        before = world.tables.snapshot(with_events=False)
        answer = post(world.stack, world.forge(world.number, "message.ack", payload))
        assert answer.status_code == 200, (message_id[:40], answer.status_code, answer.text)
        assert not changes(before, world.tables.snapshot(with_events=False)), message_id[:40]


def test_an_ack_from_another_users_number_changes_nothing_of_the_victims(world: World) -> None:
    """Mallory's own number, signed with her own key, reports acks for alice's messages.
    A message's id is no secret from its recipient: a contact whose phone is on this
    product too sees `false_<alice>@c.us_<ID>` arrive and can write alice's
    `true_<contact>@c.us_<ID>`. Alice's deliveries and counters must not move: an ack
    means something only from the number that sent the message."""
    victim_index = 5
    moved = 0
    answers = []
    for ack_name in ("READ", "PLAYED"):
        FIGURES.case(SUITE)
        FIGURES.fault(SUITE)
        before = world.tables.snapshot(with_events=False)
        payload = world.ack_payload(victim_index, ack_name)
        answers.append(
            post(world.stack, world.forge(world.attacker_number, "message.ack", payload)).status_code
        )
        moved += bool(changes(before, world.tables.snapshot(with_events=False)))

    FIGURES.detail(SUITE, "acks from another user's number that changed the victim's data", f"{moved} of 2")
    assert set(answers) <= {200, 400, 401}, answers
    assert _ack_of(world, victim_index) is None
    assert moved == 0


# --------------------------------------------------------------------------- the control


def test_the_same_events_correctly_signed_do_change_state(world: World) -> None:
    """The check above can see a change: each attacked event, genuinely signed and fresh,
    is taken and changes alice's data."""
    for kind, genuine in live_events(world).items():
        FIGURES.case(SUITE)
        before = world.tables.snapshot(with_events=False)
        answer = post(world.stack, genuine)
        assert answer.status_code == 200, (kind, answer.text)
        assert changes(before, world.tables.snapshot(with_events=False)), f"{kind} changed nothing"
    assert _ack_of(world, ATTACKED) == "Read"
    opt_outs = world.alice.ok("GET", "/opt-outs")["items"]
    assert [o["phoneNumber"] for o in opt_outs] == [f"+{STOPPER}"]
    sessions = {s["id"]: s["status"] for s in world.alice.ok("GET", "/whatsapp-sessions")["items"]}
    assert sorted(sessions.values()) == ["FAILED", "WORKING"]
    # Back to WORKING for whatever runs after this test.
    assert world.waha.pair(world.number) == 200


# --------------------------------------------------------------------------- acks out of order, repeated


def _ack_of(world: World, index: int) -> str | None:
    return Delivery.get(world.campaign_id, index, consistent_read=True).ack


def _acks(world: World) -> list[str | None]:
    return [d.ack for d in Delivery.query(world.campaign_id, consistent_read=True)]


def _counters_match(world: World) -> tuple[tuple[int, int], tuple[int, int]]:
    campaign = Campaign.get(world.campaign_id, consistent_read=True)
    acks = _acks(world)
    expected = (
        sum(1 for ack in acks if ack in ("Delivered", "Read", "Played")),
        sum(1 for ack in acks if ack in ("Read", "Played")),
    )
    return (int(campaign.delivered_count or 0), int(campaign.read_count or 0)), expected


# What WhatsApp reports for contacts 0..4, in the order it is sent (late and out of order).
ACK_STREAMS = {
    0: ["READ", "DEVICE", "SERVER"],
    1: ["SERVER", "DEVICE", "DEVICE"],
    2: ["PLAYED", "SERVER", "READ", "DEVICE"],
    3: ["ERROR", "DEVICE", "SERVER"],
    4: ["SERVER", "ERROR", "SERVER"],
}


def test_acks_out_of_order_and_repeated_five_times_never_go_backwards_and_count_once(world: World) -> None:
    rng = random.Random(16)
    events = [(index, name) for index, names in ACK_STREAMS.items() for name in names]
    rng.shuffle(events)
    backwards = 0
    highest: dict[int, int] = {}
    for index, name in events:
        genuine = world.forge(world.number, "message.ack", world.ack_payload(index, name))
        # Five times: the event, two byte-for-byte retries, and twice under a new event id.
        copies = [genuine, genuine, genuine]
        copies += [world.forge(world.number, "message.ack", world.ack_payload(index, name)) for _ in range(2)]
        for copy in copies:
            FIGURES.case(SUITE)
            FIGURES.fault(SUITE)
            assert post(world.stack, copy).status_code == 200
            highest[index] = max(highest.get(index, 0), ACK_RANKS[ACK_OF_NAME[name]])
            now = _ack_of(world, index)
            if now is None or ACK_RANKS[now] < highest[index]:
                backwards += 1
    # The same acks again, five copies of each at once (WAHA retrying while a worker is slow).
    barrier_copies = []
    for index, names in ACK_STREAMS.items():
        for name in names:
            genuine = world.forge(world.number, "message.ack", world.ack_payload(index, name))
            barrier_copies += [genuine] * 3 + [
                world.forge(world.number, "message.ack", world.ack_payload(index, name)) for _ in range(2)
            ]
    statuses = _all_at_once(world, barrier_copies)

    counted, expected = _counters_match(world)
    final = _acks(world)
    for index, names in ACK_STREAMS.items():
        if ACK_RANKS[final[index]] != max(ACK_RANKS[ACK_OF_NAME[n]] for n in names):
            backwards += 1
    FIGURES.detail(SUITE, "acks that moved backwards", str(backwards))
    FIGURES.detail(SUITE, "ack counters against the deliveries", f"{counted} counted, {expected} in the log")
    assert set(statuses) == {200}, statuses
    assert backwards == 0, final
    assert final[:5] == ["Read", "Delivered", "Played", "Delivered", "Error"]
    assert counted == expected
    # The campaign's own counters still equal its deliveries; nothing was sent again.
    invariants.check(
        invariants.from_store(world.campaign_id),
        world.phones,
        invariants.chats_from_fake(world.waha),
        unknown_allowance=0,
        suite=SUITE,
    )


AT_ONCE = 16  # webhooks in flight at once


def _all_at_once(world: World, webhooks: list[Webhook]) -> list[int]:
    statuses: list[int] = [0] * len(webhooks)
    barrier = threading.Barrier(min(len(webhooks), AT_ONCE))

    def worker(offset: int) -> None:
        for position in range(offset, len(webhooks), AT_ONCE):
            if position < AT_ONCE:
                barrier.wait()
            statuses[position] = post(world.stack, webhooks[position]).status_code

    threads = [
        threading.Thread(target=worker, args=(offset,)) for offset in range(min(len(webhooks), AT_ONCE))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for _ in webhooks:
        FIGURES.case(SUITE)
        FIGURES.fault(SUITE)
    return statuses
