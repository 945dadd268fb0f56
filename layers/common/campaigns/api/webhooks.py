"""WAHA's webhooks: `POST /webhooks/waha?session=<WAHA name>`.

Nothing of the body is read before its signature is checked: the session named in
the URL gives the key, `X-Webhook-Hmac` must be the HMAC-SHA512 of the raw body with
it (compared in constant time), and `X-Webhook-Timestamp` must be within 5 minutes.
Then the event is acted on once (its id is recorded; WAHA retries):

- `message.ack`: the delivery's ack moves forward, the campaign's counters follow.
- `session.status`: recorded (a later report wins); leaving WORKING pauses the
  session's Running campaigns with what to do.
- `message` from a contact: handed to the opt-out hook.

Every answer is 2xx, 400 or 401 (409 when a write failed and WAHA should retry).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from campaigns.data import sessions, webhook_events
from campaigns.data.acks import record_ack
from campaigns.data.models import WhatsAppSession
from campaigns.data.session_keys import session_keys
from campaigns.data.session_pauses import RUNNING, SessionPauses, campaigns_on_session, session_dropped_reason
from campaigns.domain.acks import ack_from_waha
from campaigns.inbound import InboundMessage, opt_out_hook
from campaigns.observability import logger, metrics
from campaigns.sending.waha_sessions import phone_from_me_id

MAX_AGE_MS = 5 * 60 * 1000
MAX_BODY_BYTES = 256 * 1024


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    message: str


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def receive(session_name: str | None, headers: Mapping[str, str], raw: bytes, now: datetime) -> WebhookAnswer:
    """Check, then act on, one webhook."""
    try:
        item = _verified(session_name, headers, raw, now)
        event = _parsed(raw, item)
    except Refused as exc:
        metrics.add_metric(name="WebhookRejected", unit=MetricUnit.Count, value=1)
        logger.info("WAHA webhook refused", extra={"status": exc.status, "reason": exc.message})
        return WebhookAnswer(exc.status, exc.message)
    return _act_once(item, event, now)


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
    if not hmac.compare_digest(signature.encode(), expected.encode()) or item is None or key is None:
        raise Refused(401, "Missing or bad webhook signature")
    sent_ms = _int(_header(headers, "X-Webhook-Timestamp"))
    if sent_ms is not None and sent_ms < 10**11:  # seconds, not milliseconds
        sent_ms *= 1000
    if sent_ms is None or abs(now.timestamp() * 1000 - sent_ms) > MAX_AGE_MS:
        raise Refused(401, "Webhook timestamp missing or older than 5 minutes")
    return item


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip()) if text is not None else None
    except ValueError:
        return None


def _parsed(raw: bytes, item: WhatsAppSession) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise Refused(400, "Webhook body too large")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "Webhook body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("event"), str):
        raise Refused(400, "Webhook body is not a WAHA event")
    if body.get("session") != item.name:
        raise Refused(400, "Webhook event is for another session")
    if not isinstance(body.get("payload"), dict):
        raise Refused(400, "Webhook event has no payload")
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
        return _ack(payload)
    if kind == "session.status":
        return _status(item, event, payload, now)
    if kind == "message":
        return _inbound(item, payload, now)
    return "Ignored"


def _ack(payload: Mapping[str, Any]) -> str:
    message_id = payload.get("id")
    ack = ack_from_waha(payload.get("ack"), payload.get("ackName"))
    if not isinstance(message_id, str) or not message_id or ack is None:
        return "Ignored"
    result = record_ack(message_id[:500], ack)
    metrics.add_metric(name="AckRecorded" if result.moved else "AckIgnored", unit=MetricUnit.Count, value=1)
    return "Recorded" if result.moved else "Ignored"


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


__all__ = ["MAX_AGE_MS", "WebhookAnswer", "receive"]
