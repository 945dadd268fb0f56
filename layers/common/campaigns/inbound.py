"""Messages contacts send to a connected number (WAHA's `message` webhook, not
`fromMe`). The opt-out rules read them: a hook the sender-safety rules fill in with
their keywords; until then an inbound message is noted (without its text or number)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from campaigns.observability import logger


@dataclass(frozen=True)
class InboundMessage:
    owner_user_id: str
    session_id: str
    from_phone: str | None  # E.164 when WAHA gave a personal chat id
    text: str
    # When the webhook carrying it was received (the opt-out's time); None: now.
    at: datetime | None = field(default=None, compare=False)


class OptOutHook(Protocol):
    def inbound(self, message: InboundMessage) -> None: ...


class NoteInbound:
    """The hook before opt-out keywords exist: counts what arrives, stores nothing."""

    def inbound(self, message: InboundMessage) -> None:
        logger.info("Inbound WhatsApp message", extra={"session_id": message.session_id})


_hook: OptOutHook = NoteInbound()


def opt_out_hook() -> OptOutHook:
    return _hook


def set_opt_out_hook(hook: OptOutHook | None) -> None:
    """Install the opt-out rules (None: back to noting messages)."""
    global _hook
    _hook = hook or NoteInbound()


__all__ = ["InboundMessage", "NoteInbound", "OptOutHook", "opt_out_hook", "set_opt_out_hook"]
