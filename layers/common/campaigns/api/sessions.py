"""The API's use cases for WhatsApp sessions (numbers): connect, read, pair, change,
delete. The server names every WAHA session; users see only the session's `id`, and
another user's session is simply not found.

WAHA calls per action (none in a dry run, where a new session is WORKING at once):
create 1 (`POST /api/sessions`, started, with its signed webhook); list 0 (the
statuses the webhooks reported); get one 1 (`GET /api/sessions/{name}`, whose `me`
is the paired number); QR 1; pairing code 1; change 0; delete 2 (logout, delete).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlencode

from campaigns.api.models import (
    ChangeSessionIn,
    CreateSessionIn,
    PairingCodeOut,
    SessionOut,
    SessionPage,
)
from campaigns.config import settings
from campaigns.data import sessions
from campaigns.data.models import WhatsAppSession
from campaigns.data.session_keys import session_keys
from campaigns.data.session_pauses import (
    ACTIVE,
    RUNNING,
    SessionPauses,
    campaigns_on_session,
    session_deleted_reason,
)
from campaigns.domain.errors import Invalid, NotFound, QuotaExceeded, WrongState
from campaigns.domain.phones import PhoneNumberRefused, to_e164
from campaigns.observability import logger
from campaigns.sending.sender import SendError
from campaigns.sending.waha_client import SessionNotFound, SessionNotWorking
from campaigns.sending.waha_sessions import QrCode, WahaSessions

T = TypeVar("T")
WORKING = "WORKING"
SCAN_QR_CODE = "SCAN_QR_CODE"
NO_WEBHOOK_URL = "This server cannot connect numbers yet: WAHA_WEBHOOK_URL (where WAHA reports to) is not set"


def webhook_url(waha_name: str) -> str:
    """Where WAHA reports this session's events: the session's name rides in the query, so
    the receiver finds the key to check the signature with before it reads the body."""
    base = settings().waha_webhook_url
    if not base:
        raise WrongState(NO_WEBHOOK_URL)
    return f"{base}{'&' if '?' in base else '?'}{urlencode({'session': waha_name})}"


GONE_FROM_WAHA = "WAHA no longer has this number's session: delete the number and connect it again"


def _shown(exc: SendError) -> str:
    """A WAHA failure as its user may read it: WAHA's session errors name the session's
    WAHA name, which the server generated and its user has never seen."""
    if isinstance(exc, SessionNotFound):
        return GONE_FROM_WAHA
    if isinstance(exc, SessionNotWorking):
        return f"the number is {exc.status} on WAHA"
    return exc.reason


def _waha(call: Callable[[], T], action: str) -> T:
    """A WAHA call on a user's behalf; a failure is a 409 with a reason safe to show."""
    try:
        return call()
    except SendError as exc:
        raise WrongState(f"Could not {action}: {_shown(exc)}") from None


def _mine(user_id: str, session_id: str) -> WhatsAppSession:
    item = sessions.find(user_id, session_id)
    if item is None:
        raise NotFound("WhatsApp session not found")
    return item


def create_session(user_id: str, request: CreateSessionIn, now: datetime) -> SessionOut:
    """A new WAHA session for the caller, named here, started, with its signed webhook."""
    cfg = settings()
    if sessions.count(user_id) >= cfg.max_sessions_per_user:
        raise QuotaExceeded(
            f"You have {cfg.max_sessions_per_user} WhatsApp numbers, the most allowed; delete one first"
        )
    waha = WahaSessions.from_settings(cfg)
    name = sessions.new_waha_name(user_id)
    if waha is None:  # dry run: nothing to pair
        item = sessions.create(user_id, name, request.label, request.daily_limit, WORKING, now)
        return SessionOut.from_item(item)
    url = webhook_url(name)
    keys = session_keys(cfg)
    item = sessions.create(user_id, name, request.label, request.daily_limit, "STARTING", now)
    try:
        key = keys.create(name)
        info = _waha(lambda: waha.create(name, url, key, {"session.id": item.id or ""}), "connect a number")
    except Exception:
        sessions.mark_deleted(item, now)
        keys.delete(name)
        raise
    sessions.record_status(name, info.status, now)
    return SessionOut.from_item(sessions.by_name(name) or item)


def list_sessions(user_id: str, limit: int, token: str | None) -> SessionPage:
    """The caller's sessions as the webhooks last reported them: no WAHA call per session."""
    return SessionPage.of(sessions.page(user_id, limit, token), SessionOut.from_item)


def get_session(user_id: str, session_id: str, now: datetime) -> SessionOut:
    """One session with WAHA's live status (and its number once WORKING), recorded."""
    item = _mine(user_id, session_id)
    waha = WahaSessions.from_settings()
    if waha is not None:
        try:
            info = waha.info(item.name)
        except SendError as exc:
            logger.warning(
                "WAHA session status unavailable", extra={"session": item.name, "reason": exc.reason}
            )
        else:
            sessions.record_status(item.name, info.status, now, info.phone_number, info.push_name)
            item = sessions.by_name(item.name) or item
    return SessionOut.from_item(item)


def session_qr(user_id: str, session_id: str, raw: bool) -> QrCode:
    """The pairing QR code, while the session waits for one (409 otherwise)."""
    item = _mine(user_id, session_id)
    waha = WahaSessions.from_settings()
    if waha is None or item.status == WORKING:
        raise WrongState(f"The number is {item.status or WORKING}: there is no QR code to scan")
    try:
        return waha.qr(item.name, raw)
    except SessionNotWorking as exc:
        raise WrongState(f"The number is {exc.status}, not waiting for a QR code scan") from None
    except SessionNotFound:
        raise WrongState(GONE_FROM_WAHA) from None
    except SendError as exc:
        raise WrongState(f"Could not get the QR code: {_shown(exc)}") from None


def pairing_code(user_id: str, session_id: str, phone_number: str) -> PairingCodeOut:
    """A code to type on the phone instead of scanning (409 unless the session waits for one)."""
    item = _mine(user_id, session_id)
    try:
        digits = to_e164(phone_number).lstrip("+")
    except PhoneNumberRefused as exc:
        field = {"in": "body", "field": "phoneNumber", "message": str(exc)}
        raise Invalid(f"phoneNumber: {exc}", [field]) from None
    waha = WahaSessions.from_settings()
    if waha is None or item.status == WORKING:
        raise WrongState(f"The number is {item.status or WORKING}: there is nothing to pair")
    try:
        return PairingCodeOut(code=waha.request_code(item.name, digits))
    except SessionNotWorking as exc:
        raise WrongState(f"The number is {exc.status}, not waiting to be paired") from None
    except SessionNotFound:
        raise WrongState(GONE_FROM_WAHA) from None
    except SendError as exc:
        raise WrongState(f"Could not get a pairing code: {_shown(exc)}") from None


def change_session(user_id: str, session_id: str, request: ChangeSessionIn, now: datetime) -> SessionOut:
    item = _mine(user_id, session_id)
    if not sessions.change(item, request.label, request.daily_limit, now):
        raise NotFound("WhatsApp session not found")
    return SessionOut.from_item(sessions.by_name(item.name) or item)


def delete_session(user_id: str, session_id: str, now: datetime) -> None:
    """Log the number out and delete its WAHA session; 409 while a campaign runs on it.
    Scheduled campaigns on it are paused with the reason."""
    item = _mine(user_id, session_id)
    active = campaigns_on_session(user_id, item.id, item.name, ACTIVE)
    if any(c.status in RUNNING for c in active):
        raise WrongState("A campaign is running on this number: pause or cancel it first")
    SessionPauses().pause_all(active, session_deleted_reason(item), ACTIVE - RUNNING, now)
    waha = WahaSessions.from_settings()
    if waha is not None:
        for step, action in ((waha.logout, "log the number out"), (waha.delete, "delete the WAHA session")):
            try:
                step(item.name)
            except SessionNotFound:
                break  # already gone from WAHA
            except SessionNotWorking:
                continue  # never paired, or not now: nothing to log out
            except SendError as exc:
                raise WrongState(f"Could not {action}: {_shown(exc)}") from None
    session_keys().delete(item.name)
    sessions.mark_deleted(item, now)


__all__ = [
    "change_session",
    "create_session",
    "delete_session",
    "get_session",
    "list_sessions",
    "pairing_code",
    "session_qr",
    "webhook_url",
]
