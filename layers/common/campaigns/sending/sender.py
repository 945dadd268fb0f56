"""How the runner sends: the sender interface, its outcomes, and the dry-run sender.

A sender answers three questions for the runner: is the WhatsApp session ready,
does this number exist on WhatsApp, and "send this". Every failure is one of three
exceptions, chosen by what the runner must do next:

- `ContactRejected`: this contact cannot be messaged (invalid number, not on
  WhatsApp). The contact's delivery is `Failed`; the run goes on.
- `SendNotAttempted`: nothing was sent and the campaign cannot go on now (session
  not WORKING, API key refused, rate limited). The claim is released and the
  campaign is `Paused`; resume retries this same contact.
- `SendDeferred` (a `SendNotAttempted`): nothing was sent because WAHA is down or
  restarting (5xx, connection refused, connect timeout). The claim is released and
  the run waits with backoff and tries the same contact again by itself, for up to
  `WAHA_OUTAGE_WINDOW_SECONDS`, before it pauses.
- `SendOutcomeUnknown`: the request may have reached WhatsApp (a timeout after the
  request was written, a gateway error). The contact is recorded `Unknown` and is
  never resent automatically; the campaign is `Paused`.
- `SendTooLate` (a `SendNotAttempted`): nothing was sent because the message was
  ready only after its turn on the WhatsApp number was over (`OutgoingMessage.on_time`,
  asked just before the delivering request). The runner takes the turn again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from campaigns.observability import logger


@dataclass(frozen=True)
class Media:
    url: str
    mime_type: str
    filename: str | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    session: str
    phone_number: str
    text: str
    media: Media | None = None
    # Stable per campaign and contact, e.g. "<campaignId>:<index>": lets a sender
    # make retries idempotent and lets logs correlate.
    idempotency_key: str = ""
    # A pre-generated id an earlier, unconfirmed attempt used: sending again with it
    # cannot deliver twice (WAHA and WhatsApp deduplicate on it).
    message_id: str | None = None
    # Asked just before the delivering request, after any call that prepares it: False
    # when the message may no longer go out now (its turn on the number is over).
    on_time: Callable[[], bool] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SendResult:
    message_id: str | None
    # Seconds from the start of the request that delivered the message (after any
    # retries) to the return of `send`; pacing counts from that start. None: the
    # whole call counts, from when `send` was called.
    delivery_lag_s: float | None = None
    # Seconds `send` spent before its send request's first attempt (asking WAHA for
    # a message id). The runner ends the next wait that much earlier; the send's own
    # retries and backoff are not part of it.
    prepared_s: float = 0.0


@dataclass(frozen=True)
class SendPlan:
    """The calls one contact's send makes, so a time budget counts only those."""

    check_number: bool = False
    typing: bool = False
    media: bool = False


@dataclass(frozen=True)
class SessionState:
    name: str
    status: str  # WAHA's status string, e.g. WORKING, SCAN_QR_CODE, or "unknown"
    detail: str | None = None  # what the status means for the user, when known

    @property
    def ready(self) -> bool:
        return self.status == "WORKING"


class SendError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ContactRejected(SendError):
    """Permanent for this contact; the run goes on."""


class SendNotAttempted(SendError):
    """Nothing went out; pause the campaign and keep this contact for later."""


class SendDeferred(SendNotAttempted):
    """Nothing went out because WAHA is down or restarting: wait and try the same contact again."""


class SendUnconfirmed(SendDeferred):
    """WAHA did not confirm a send that carried a pre-generated id: it may have gone out,
    but sending it again with the same id cannot deliver twice. The run keeps the id,
    waits like for any WAHA outage, and sends the same contact again with it."""

    def __init__(self, reason: str, message_id: str) -> None:
        super().__init__(reason)
        self.message_id = message_id


class SendTooLate(SendNotAttempted):
    """Nothing went out: the message was ready only after its turn on the number was over."""


def require_on_time(message: OutgoingMessage) -> None:
    """Raise SendTooLate when the message may no longer go out now."""
    if message.on_time is not None and not message.on_time():
        raise SendTooLate("Not sent: its turn on the WhatsApp number was over before it was ready")


class SendOutcomeUnknown(SendError):
    """The message may or may not have gone out; record Unknown, never resend."""


class Sender(Protocol):
    def worst_case_ms(self, plan: SendPlan) -> int:
        """Longest one contact's calls (`plan`), with their retries, can take: the runner
        hands off to a new invocation rather than start a send it cannot finish."""
        ...

    def session_state(self, session: str) -> SessionState: ...

    def number_exists(self, session: str, phone_number: str) -> bool | None:
        """True/False when known; None when the check is not available."""
        ...

    def start_typing(self, session: str, phone_number: str) -> None: ...

    def stop_typing(self, session: str, phone_number: str) -> None: ...

    def send(self, message: OutgoingMessage) -> SendResult:
        """Deliver `message`; just before the delivering request, after any call that
        prepares it, `require_on_time(message)` (it may wait for the number's gap, or
        refuse a message ready after its turn)."""
        ...


class DryRunSender:
    """Logs what it would send. The default when no WAHA server is configured."""

    def __init__(self, log: logging.Logger | None = None, *, keep_sent: bool = True) -> None:
        self._log = log
        # Tests read back what was "sent"; a long-lived function must not grow with it.
        self._keep_sent = keep_sent
        self.sent: list[OutgoingMessage] = []

    def worst_case_ms(self, plan: SendPlan) -> int:
        return 0

    def session_state(self, session: str) -> SessionState:
        return SessionState(name=session, status="WORKING")

    def number_exists(self, session: str, phone_number: str) -> bool | None:
        return None

    def start_typing(self, session: str, phone_number: str) -> None:
        return None

    def stop_typing(self, session: str, phone_number: str) -> None:
        return None

    def send(self, message: OutgoingMessage) -> SendResult:
        require_on_time(message)
        line = f'Would send to {message.phone_number}: "{message.text}"'
        if message.media is not None:
            line += f" with media {message.media.url}"
        if self._log is not None:
            self._log.info(line)
        else:
            logger.info(line, extra={"phone_number": message.phone_number})
        if self._keep_sent:
            self.sent.append(message)
        return SendResult(message_id=None)
