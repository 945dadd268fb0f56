"""Pauses decided for a WhatsApp session rather than by its user: WAHA reported the
session left WORKING (a `session.status` webhook), or the user is deleting it.

Each is the same conditional write as a user's pause (`UserCommands`), with a reason
that says what happened and what to do: a running run meets it as a refused claim
and stops at its next contact.

A reason names the number as its user knows it (`number_words`): its label and,
once paired, its phone number; never the WAHA name the server generated, nor WAHA's
host or port.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from campaigns.data import sessions
from campaigns.data.models import Campaign, WhatsAppSession
from campaigns.data.user_commands import UserCommands
from campaigns.domain.errors import NotFound, WrongState
from campaigns.domain.statuses import CampaignStatus
from campaigns.observability import logger

ACTIVE = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING})
RUNNING = frozenset({CampaignStatus.RUNNING})


def number_words(item: WhatsAppSession | None) -> str | None:
    """How a reason names a number: `'Shop' (+34600000009)`, `'Shop'` or `+34600000009`;
    an adopted session without a label by the name its operator gave it; None when
    nothing its user knows it by is known."""
    if item is None:
        return None
    label = item.label or (item.name if not sessions.is_generated(item.name) else None)
    phone = item.phone_number
    if label and phone:
        return f"'{label}' ({phone})"
    if label:
        return f"'{label}'"
    return phone


def session_dropped_reason(item: WhatsAppSession | None, status: str) -> str:
    words = number_words(item)
    number = f"The WhatsApp number {words}" if words else "The campaign's WhatsApp number"
    return (
        f"{number} disconnected (WAHA reports {status}). Open it under WhatsApp sessions, "
        "scan its QR code again (or ask for a pairing code), then resume."
    )


def session_deleted_reason(item: WhatsAppSession | None) -> str:
    words = number_words(item)
    number = (
        f"The WhatsApp number {words} this campaign sent through"
        if words
        else "The campaign's WhatsApp number"
    )
    return f"{number} was deleted. Create a new campaign on a connected number."


def session_not_held_reason(waha_name: str, owner: str) -> str:
    """The campaign's number is no longer its owner's (deleted, or handed to another
    user). Named only while it is, or was, the owner's: never by another user's label."""
    if not waha_name:
        return "The campaign has no WhatsApp session; connect a number, then resume."
    item = _read(waha_name)
    was_owners = item is not None and owner in (item.user_id, item.deleted_by)
    words = number_words(item) if was_owners else None
    session = f"WhatsApp session {words}" if words else "The campaign's WhatsApp session"
    return (
        f"{session} is not registered to the campaign's owner any more (deleted, or handed "
        "to another user); connect a number and create the campaign again."
    )


def _read(waha_name: str) -> WhatsAppSession | None:
    try:
        return sessions.by_name(waha_name)
    except Exception:  # the reason must not fail the pause
        logger.warning("Could not read the session for a pause reason", exc_info=True)
        return None


def session_not_working_reason(waha_name: str, status: str, detail: str | None) -> str:
    """The runner's session check found the number not WORKING. Its label and phone are
    read here, on the way to a pause (one read, never on a send's path)."""
    words = number_words(_read(waha_name))
    session = f"WhatsApp session {words}" if words else "The campaign's WhatsApp session"
    reason = f"{session} is {status}, not WORKING"
    return f"{reason}: {detail}" if detail else reason


def named_for_user(reason: str, waha_name: str | None) -> str:
    """`reason` with the WAHA session name a lower layer put in it (`'wcr-...'`) replaced
    by how the user knows the number. Read only on the way to a pause."""
    if not waha_name or waha_name not in reason:
        return reason
    words = number_words(_read(waha_name))
    if words is None:
        words = "of this campaign" if sessions.is_generated(waha_name) else f"'{waha_name}'"
    return re.sub(f"'?{re.escape(waha_name)}'?", lambda _match: words, reason)


def campaigns_on_session(
    user_id: str, session_id: str | None, waha_name: str, statuses: Iterable[CampaignStatus]
) -> list[Campaign]:
    """The user's campaigns in `statuses` that send through this session (by its id, or by
    its WAHA name for campaigns from before session ids)."""
    on_session = Campaign.waha_session == waha_name
    if session_id:
        on_session |= Campaign.whatsapp_session_id == session_id
    wanted = Campaign.status.is_in(*[s.value for s in statuses])
    return list(Campaign.by_user.query(user_id, filter_condition=on_session & wanted))


class SessionPauses(UserCommands):
    def pause_all(
        self, campaigns: Iterable[Campaign], reason: str, allowed: frozenset[CampaignStatus], now: datetime
    ) -> list[str]:
        """Pause each campaign still in `allowed`; returns the ids paused now. One that
        moved on meanwhile (completed, paused by its user) is left as it is."""
        paused = []
        for campaign in campaigns:
            actions = [
                Campaign.status.set(CampaignStatus.PAUSED.value),
                Campaign.pause_reason.set(reason),
                Campaign.updated_at.set(now),
            ]
            try:
                self._stop(campaign.id, campaign.user_id, allowed, "pause", actions)
            except (WrongState, NotFound):
                continue
            paused.append(campaign.id)
        return paused


__all__ = [
    "ACTIVE",
    "RUNNING",
    "SessionPauses",
    "campaigns_on_session",
    "number_words",
    "session_deleted_reason",
    "session_dropped_reason",
    "session_not_held_reason",
    "session_not_working_reason",
]
