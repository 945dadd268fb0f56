"""WAHA's webhooks: `POST /webhooks/waha?session=<WAHA name>`.

Nothing of the body is read before its signature is checked: the session named in
the URL gives the key, `X-Webhook-Hmac` must be the HMAC-SHA512 of the raw body with
it (compared in constant time), `X-Webhook-Timestamp` must be within 5 minutes, and the
event's own signed `timestamp`, when it has one, within a day.
Then the event is acted on once (its id is recorded; WAHA retries):

- `message.ack`: the delivery's ack moves forward, the campaign's counters follow; an
  ack for a message no delivery has yet is parked, and the schedule applies it once
  the runner has recorded the delivery.
- `session.status`: recorded (a later report wins); leaving WORKING pauses the
  session's Running campaigns with what to do.
- `message` from a contact: handed to the opt-out hook.

Every answer is 2xx, 400 or 401 (409 when a read or write failed and WAHA should retry).
Each refusal counts in `WebhookRejected` (the series the template's alarm watches)
and in the series of its reason (`RejectReason`); acks count as `AckApplied`,
`AckParked` or `AckIgnored`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from campaigns.data import sessions, webhook_events
from campaigns.data.acks import record_ack
from campaigns.data.models import WhatsAppSession
from campaigns.data.session_keys import session_keys
from campaigns.data.session_pauses import RUNNING, SessionPauses, campaigns_on_session, session_dropped_reason
from campaigns.domain.acks import ack_from_waha
from campaigns.inbound import InboundMessage, opt_out_hook
from campaigns.observability import count, count_by, logger
from campaigns.sending.waha_sessions import phone_from_me_id

MAX_AGE_MS = 5 * 60 * 1000
# An event older than this is refused whatever its header says: well inside the week its
# id is remembered (webhook_events.KEEP_SECONDS), well past WAHA's last retry.
MAX_EVENT_AGE_MS = 24 * 3600 * 1000
MAX_BODY_BYTES = 256 * 1024
REJECTED_METRIC = "WebhookRejected"
BAD_SIGNATURE = "Missing or bad webhook signature"


class RejectReason(StrEnum):
    """Why a webhook was refused, as its metric's `reason` dimension. The sender is told
    less: a missing, bad or unknown session's signature all get the same 401."""

    BAD_SIGNATURE = "BadSignature"
    MISSING_SIGNATURE = "MissingSignature"
    STALE_TIMESTAMP = "StaleTimestamp"
    MALFORMED_BODY = "MalformedBody"
    UNKNOWN_SESSION = "UnknownSession"


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    message: str


class Refused(Exception):
    def __init__(self, status: int, message: str, reason: RejectReason) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


def receive(
    session_name: str | None, headers: Mapping[str, str], raw: bytes | None, now: datetime
) -> WebhookAnswer:
    """Check, then act on, one webhook (`raw` None: a body that could not be decoded)."""
    try:
        if raw is None:
            raise Refused(400, "Webhook body is not valid base64", RejectReason.MALFORMED_BODY)
        item = _verified(session_name, headers, raw, now)
        event = _parsed(raw, item, now)
    except Refused as exc:
        count_by(REJECTED_METRIC, "reason", exc.reason.value)
        logger.info(
            "WAHA webhook refused",
            extra={"status": exc.status, "reason": exc.message, "why": exc.reason.value},
        )
        return WebhookAnswer(exc.status, exc.message)
    except Exception:
        # The session or its key could not be read (throttled, unreachable): nothing was
        # taken; WAHA retries a 409.
        logger.exception("WAHA webhook could not be checked")
        return WebhookAnswer(409, "Could not check the event now; retry")
    try:
        return _act_once(item, event, now)
    except Exception:
        logger.exception("WAHA webhook could not be recorded", extra={"event": event["event"]})
        return WebhookAnswer(409, "Could not record the event now; retry")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((str(v) for k, v in headers.items() if str(k).lower() == wanted), None)


def _verified(
    session_name: str | None, headers: Mapping[str, str], raw: bytes, now: datetime
) -> WhatsAppSession:
    item = sessions.by_name(session_name) if session_name else None
    key = session_keys().get(item.name) if item is not None and item.user_id else None
    signature = (_header(headers, "X-Webhook-Hmac") or "").strip().lower()
    expected = hmac.new((key or "").encode("utf-8"), raw, hashlib.sha512).hexdigest()
    # Compared even when the session or key is unknown, so timing tells nothing.
    matches = hmac.compare_digest(signature.encode(), expected.encode())
    if item is None or key is None:
        raise Refused(401, BAD_SIGNATURE, RejectReason.UNKNOWN_SESSION)
    if not signature:
        raise Refused(401, BAD_SIGNATURE, RejectReason.MISSING_SIGNATURE)
    if not matches:
        raise Refused(401, BAD_SIGNATURE, RejectReason.BAD_SIGNATURE)
    sent_ms = _int(_header(headers, "X-Webhook-Timestamp"))
    if sent_ms is not None and sent_ms < 10**11:  # seconds, not milliseconds
        sent_ms *= 1000
    if sent_ms is None or abs(now.timestamp() * 1000 - sent_ms) > MAX_AGE_MS:
        raise Refused(401, "Webhook timestamp missing or older than 5 minutes", RejectReason.STALE_TIMESTAMP)
    return item


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip()) if text is not None else None
    except ValueError:
        return None


def _parsed(raw: bytes, item: WhatsAppSession, now: datetime) -> dict[str, Any]:
    def malformed(message: str) -> Refused:
        return Refused(400, message, RejectReason.MALFORMED_BODY)

    if len(raw) > MAX_BODY_BYTES:
        raise malformed("Webhook body too large")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested past Python's limit
        raise malformed("Webhook body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("event"), str):
        raise malformed("Webhook body is not a WAHA event")
    if body.get("session") != item.name:
        raise malformed("Webhook event is for another session")
    if not isinstance(body.get("payload"), dict):
        raise malformed("Webhook event has no payload")
    # The signature covers the body, not X-Webhook-Timestamp: a captured body could come
    # back with a fresh header once its event id is forgotten. The envelope's own
    # timestamp (signed) bounds how late an event, or WAHA's retry of it, is taken.
    sent_ms = body.get("timestamp")
    numeric = isinstance(sent_ms, int | float) and not isinstance(sent_ms, bool)
    if numeric and now.timestamp() * 1000 - sent_ms > MAX_EVENT_AGE_MS:
        raise Refused(401, "Webhook event is too old", RejectReason.STALE_TIMESTAMP)
    return body


def _act_once(item: WhatsAppSession, event: dict[str, Any], now: datetime) -> WebhookAnswer:
    event_id = event.get("id") if isinstance(event.get("id"), str) and event.get("id") else None
    if event_id and not webhook_events.first_time(event_id[:200], item.name, event["event"], now):
        return WebhookAnswer(200, "Already handled")
    try:
        message = _act(item, event, now)
    except Exception:
        logger.exception("WAHA webhook could not be handled", extra={"event": event["event"]})
        if event_id:
            webhook_events.forget(event_id[:200])
        return WebhookAnswer(409, "Could not record the event now; retry")
    return WebhookAnswer(200, message)


def _act(item: WhatsAppSession, event: dict[str, Any], now: datetime) -> str:
    kind, payload = event["event"], event["payload"]
    if kind == "message.ack":
        return _ack(item, payload, now)
    if kind == "session.status":
        return _status(item, event, payload, now)
    if kind == "message":
        return _inbound(item, payload, now)
    return "Ignored"


def _ack(item: WhatsAppSession, payload: Mapping[str, Any], now: datetime) -> str:
    message_id = payload.get("id")
    ack = ack_from_waha(payload.get("ack"), payload.get("ackName"))
    if not isinstance(message_id, str) or not message_id or ack is None:
        return "Ignored"
    result = record_ack(message_id[:500], ack, item.name, item.id)
    if result.found:
        count("AckApplied" if result.moved else "AckIgnored")
        return "Recorded" if result.moved else "Ignored"
    # No delivery has this id yet (the runner records it just after the send): kept
    # for the schedule, which applies it once the delivery is there.
    webhook_events.park_ack(message_id[:500], ack, item.name, item.id, now)
    count("AckParked")
    return "Parked until its delivery is recorded"


def _status(
    item: WhatsAppSession, event: Mapping[str, Any], payload: Mapping[str, Any], now: datetime
) -> str:
    status = payload.get("status")
    if not isinstance(status, str) or not status:
        return "Ignored"
    sent_ms = event.get("timestamp")
    at = (
        datetime.fromtimestamp(sent_ms / 1000, UTC)
        if isinstance(sent_ms, int | float) and not isinstance(sent_ms, bool) and 0 < sent_ms < 4e12
        else now
    )
    me = event.get("me") if isinstance(event.get("me"), Mapping) else {}
    push = me.get("pushName") if isinstance(me.get("pushName"), str) else None
    phone = phone_from_me_id(me.get("id")) if status == "WORKING" else None
    if not sessions.record_status(item.name, status, at, phone, push if status == "WORKING" else None):
        return "Ignored"  # an older report than the one recorded
    if status != "WORKING" and item.user_id:
        running = campaigns_on_session(item.user_id, item.id, item.name, RUNNING)
        SessionPauses().pause_all(running, session_dropped_reason(item, status), RUNNING, now)
    return "Recorded"


def _inbound(item: WhatsAppSession, payload: Mapping[str, Any], now: datetime) -> str:
    if payload.get("fromMe") is not False or not item.user_id:
        return "Ignored"
    text = payload.get("body")
    sender = payload.get("from")
    phone = phone_from_me_id(sender) if isinstance(sender, str) and sender.endswith("@c.us") else None
    opt_out_hook().inbound(
        InboundMessage(item.user_id, item.id or "", phone, text if isinstance(text, str) else "", now)
    )
    return "Handed to the opt-out rules"


__all__ = ["MAX_AGE_MS", "REJECTED_METRIC", "RejectReason", "WebhookAnswer", "receive"]
