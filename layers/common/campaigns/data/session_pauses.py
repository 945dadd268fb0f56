"""Pauses decided for a WhatsApp session rather than by its user: WAHA reported the
session left WORKING (a `session.status` webhook), or the user is deleting it.

Each is the same conditional write as a user's pause (`UserCommands`), with a reason
that says what happened and what to do: a running run meets it as a refused claim
and stops at its next contact.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from campaigns.data.models import Campaign
from campaigns.data.user_commands import UserCommands
from campaigns.domain.errors import NotFound, WrongState
from campaigns.domain.statuses import CampaignStatus

ACTIVE = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING})
RUNNING = frozenset({CampaignStatus.RUNNING})


def session_dropped_reason(status: str) -> str:
    return (
        f"The WhatsApp number disconnected (WAHA reports {status}). Open the number under "
        "WhatsApp sessions, scan its QR code again (or ask for a pairing code), then resume."
    )


SESSION_DELETED_REASON = (
    "The campaign's WhatsApp number was deleted. Create a new campaign on a connected number."
)


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
    "SESSION_DELETED_REASON",
    "SessionPauses",
    "campaigns_on_session",
    "session_dropped_reason",
]
