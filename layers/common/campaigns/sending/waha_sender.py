"""The campaign's `Sender` on top of `WahaClient`: session readiness (with WhatsApp's own
restrictions), number checks, typing, sends, and the time budget one contact's calls need.

Environment knobs (read by `WahaSender.from_settings`): `WAHA_CONNECT_TIMEOUT_S`
(default 3.05), `WAHA_READ_TIMEOUT_S` (default 30; keep it well above WAHA's
~5 s wait before it answers 422 for a session that is not WORKING) and
`WAHA_MAX_ATTEMPTS` (default 3, attempts per request including the first).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from campaigns.config import ConfigError, Settings
from campaigns.observability import logger
from campaigns.sending.sender import (
    ContactRejected,
    OutgoingMessage,
    SendError,
    SendOutcomeUnknown,
    SendPlan,
    SendResult,
    SendUnconfirmed,
    SessionState,
    require_on_time,
)
from campaigns.sending.waha_client import (
    UNKNOWN_STATUS,
    ApiKeyRejected,
    ApiKeySource,
    RateLimited,
    RetryPolicy,
    SessionNotFound,
    SessionNotWorking,
    WahaClient,
    WahaUnavailable,
    WhatsAppRestricted,
    chat_id_for,
    extract_message_id,
)

API_KEY_MAX_AGE_S = 300
_CHAT_ID_RE = re.compile(r"[^@\s]+@(?:c\.us|lid)")

WORKING = "WORKING"
# Statuses this module adds to WAHA's own (STOPPED, STARTING, SCAN_QR_CODE,
# PASSKEY_REQUIRED, PASSKEY_CONFIRMATION_REQUIRED, WORKING, FAILED).
NOT_FOUND = "NOT_FOUND"
REACHOUT_TIMELOCK = "REACHOUT_TIMELOCK"
MESSAGE_CAPPED = "MESSAGE_CAPPED"

STATUS_EXPLANATIONS: dict[str, str] = {
    NOT_FOUND: "the session does not exist on WAHA or is not started",
    "STOPPED": "the session is stopped on WAHA; start it",
    "STARTING": "the session is still starting (no connection to WhatsApp yet)",
    "SCAN_QR_CODE": "the session needs to be paired again: scan the QR code",
    "PASSKEY_REQUIRED": "the session needs a passkey confirmation on the phone",
    "PASSKEY_CONFIRMATION_REQUIRED": "the session needs a passkey confirmation on the phone",
    "FAILED": "the session failed; restart it on WAHA",
    REACHOUT_TIMELOCK: (
        "WhatsApp temporarily blocks messages from this number to new contacts "
        "(reach-out timelock); restarting the session does not lift it"
    ),
    MESSAGE_CAPPED: "WhatsApp's message cap for this number is used up until the quota renews",
}

# A number check that cannot be made now must not become "send without checking".
_CHECK_STOPPERS = (
    ApiKeyRejected,
    SessionNotFound,
    SessionNotWorking,
    RateLimited,
    WhatsAppRestricted,
    WahaUnavailable,
)


# --------------------------------------------------------------------------- API key from AWS


class ParameterApiKey:
    """The API key from SSM Parameter Store (decrypted) or Secrets Manager, cached ~5 minutes.

    A name starting with `arn:aws:secretsmanager:` or `secret:` is a secret;
    anything else is an SSM parameter name.
    """

    def __init__(self, name: str, max_age_s: int = API_KEY_MAX_AGE_S) -> None:
        self.name = name
        self.max_age_s = max_age_s

    def __call__(self) -> str:
        from aws_lambda_powertools.utilities import parameters

        if self.name.startswith("arn:aws:secretsmanager:") or self.name.startswith("secret:"):
            value = parameters.get_secret(self.name.removeprefix("secret:"), max_age=self.max_age_s)
        else:
            value = parameters.get_parameter(self.name, decrypt=True, max_age=self.max_age_s)
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if not isinstance(value, str) or not value.strip():
            raise ValueError("the WAHA API key parameter is empty")
        return value.strip()

    def __repr__(self) -> str:  # never the value
        return f"ParameterApiKey({self.name!r})"


# --------------------------------------------------------------------------- sender


class WahaSender:
    """The runner's `Sender` on top of `WahaClient`."""

    def __init__(self, client: WahaClient, *, link_preview: bool = True) -> None:
        self.client = client
        self.link_preview = link_preview
        self._chat_ids: dict[tuple[str, str], str] = {}

    @classmethod
    def from_settings(cls, cfg: Settings) -> WahaSender:
        if not cfg.waha_base_url:
            raise ConfigError("WAHA_BASE_URL is not set")
        api_key: ApiKeySource
        if cfg.waha_api_key:
            api_key = cfg.waha_api_key
        elif cfg.waha_api_key_parameter:
            api_key = ParameterApiKey(cfg.waha_api_key_parameter)
        else:
            api_key = None
            logger.warning("No WAHA API key configured; WAHA versions since 2025.10.3 will answer 401")
        client = WahaClient(
            cfg.waha_base_url,
            api_key,
            connect_timeout_s=cfg.waha_connect_timeout_s,
            read_timeout_s=cfg.waha_read_timeout_s,
            retry=RetryPolicy(max_attempts=cfg.waha_max_attempts),
        )
        return cls(client)

    # ------------------------------------------------------------------ Sender

    def worst_case_ms(self, plan: SendPlan) -> int:
        """The calls `plan` makes for one contact, each at its worst: every attempt times out and
        every backoff is maximal. Typing is best effort (one attempt each way)."""
        full = self.client.worst_case_ms()
        total = full  # the send and its retries
        if not plan.media and self.client.message_id_supported is not False:
            total += full  # a pre-generated id for the text
        if plan.check_number:
            total += full
        if plan.typing:
            total += 2 * self.client.worst_case_ms(1)
        return total

    def session_state(self, session: str) -> SessionState:
        try:
            info = self.client.session_info(session)
        except SessionNotFound:
            return _state(session, NOT_FOUND)
        status = info.get("status") if isinstance(info, Mapping) else None
        if not isinstance(status, str) or not status:
            return _state(session, UNKNOWN_STATUS)
        if status != WORKING:
            return _state(session, status)
        restriction = self._restriction(session, info.get("me"))
        if restriction is not None:
            return _state(session, restriction)
        return _state(session, status)

    def number_exists(self, session: str, phone_number: str) -> bool | None:
        try:
            digits = chat_id_for(phone_number).split("@", 1)[0]
        except ContactRejected:
            return False
        try:
            body = self.client.check_exists(session, digits)
        except ContactRejected:
            return False
        except _CHECK_STOPPERS:
            raise  # the send would fail the same way: the campaign waits or pauses instead
        except SendError as exc:
            logger.warning(
                "Number check unavailable",
                extra={"session": session, "reason": self.client.redact(exc.reason)},
            )
            return None
        except Exception as exc:  # the check is optional: never let it stop a send
            logger.warning("Number check failed", extra={"session": session, "error": type(exc).__name__})
            return None
        exists = body.get("numberExists") if isinstance(body, Mapping) else None
        if not isinstance(exists, bool):
            return None
        chat_id = body.get("chatId")
        if exists and isinstance(chat_id, str) and _CHAT_ID_RE.fullmatch(chat_id):
            # WhatsApp's own id for the number (e.g. Brazil's extra 9) beats ours.
            self._chat_ids[(session, digits)] = chat_id
        return exists

    def start_typing(self, session: str, phone_number: str) -> None:
        self._typing(self.client.start_typing, session, phone_number)

    def stop_typing(self, session: str, phone_number: str) -> None:
        self._typing(self.client.stop_typing, session, phone_number)

    def send(self, message: OutgoingMessage) -> SendResult:
        called = time.monotonic()
        session = message.session
        chat_id = self._chat_id(session, message.phone_number)
        pre_id: str | None = None
        if message.media is None:
            pre_id = message.message_id or self.client.new_message_id(session)
            prepared_s = time.monotonic() - called
            require_on_time(message)
            try:
                body = self.client.send_text(
                    session, chat_id, message.text, link_preview=self.link_preview, message_id=pre_id
                )
            except SendOutcomeUnknown as exc:
                if pre_id is None:
                    raise
                # Deduplicated on its id: the same contact can be sent again with it.
                raise SendUnconfirmed(exc.reason, pre_id) from None
        else:
            prepared_s = time.monotonic() - called
            require_on_time(message)
            body = self.client.send_media(session, chat_id, message.media, caption=message.text)
        started = self.client.last_attempt_started()
        lag = None if started is None else max(0.0, time.monotonic() - started)
        message_id = extract_message_id(body, chat_id, pre_id)
        logger.info(
            "Message sent through WAHA",
            extra={
                "session": session,
                "chat_id": chat_id,
                "message_id": message_id,
                "idempotency_key": message.idempotency_key,
                "media": message.media is not None,
            },
        )
        return SendResult(message_id=message_id, delivery_lag_s=lag, prepared_s=prepared_s)

    # ------------------------------------------------------------------ internals

    def _chat_id(self, session: str, phone_number: str) -> str:
        built = chat_id_for(phone_number)
        return self._chat_ids.get((session, built.split("@", 1)[0]), built)

    def _typing(self, call: Callable[[str, str], None], session: str, phone_number: str) -> None:
        try:
            call(session, self._chat_id(session, phone_number))
        except SendError as exc:
            logger.warning(
                "Typing indicator failed",
                extra={"session": session, "reason": self.client.redact(exc.reason)},
            )
        except Exception as exc:  # cosmetic: never stop a send for it
            logger.warning("Typing indicator failed", extra={"session": session, "error": type(exc).__name__})

    def _restriction(self, session: str, me: Any) -> str | None:
        """REACHOUT_TIMELOCK / MESSAGE_CAPPED when WAHA reports one (WAHA 2026.7.2+), else None."""
        found = _restriction_in(me)
        if found is not None or (
            isinstance(me, Mapping) and ("reachoutTimelock" in me or "messageCapping" in me)
        ):
            return found
        try:
            return _restriction_in(self.client.me(session))
        except Exception:  # older WAHA, no /me, or a hiccup: the send itself will tell
            return None


# --------------------------------------------------------------------------- session restrictions


def _state(session: str, status: str) -> SessionState:
    return SessionState(name=session, status=status, detail=STATUS_EXPLANATIONS.get(status))


def _restriction_in(me: Any) -> str | None:
    if not isinstance(me, Mapping):
        return None
    timelock = me.get("reachoutTimelock")
    if isinstance(timelock, Mapping) and timelock.get("isActive") is True:
        ends = timelock.get("timeEnforcementEnds")
        until = None
        if isinstance(ends, int | float) and ends > 0:
            until = datetime.fromtimestamp(ends, UTC).isoformat().replace("+00:00", "Z")
        logger.warning(
            "WhatsApp reach-out timelock is active",
            extra={"until": until, "enforcement": timelock.get("enforcementType")},
        )
        return REACHOUT_TIMELOCK
    capping = me.get("messageCapping")
    if isinstance(capping, Mapping) and str(capping.get("cappingStatus", "")).upper() == "CAPPED":
        logger.warning(
            "WhatsApp message capping quota is exhausted",
            extra={"used": capping.get("usedQuota"), "total": capping.get("totalQuota")},
        )
        return MESSAGE_CAPPED
    return None
