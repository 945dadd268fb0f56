"""The user's commands on a campaign: run, resume, pause, cancel. Each is one
conditional write on the campaign's status and owner."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import UpdateError

from campaigns.data.campaign_reads import CampaignReads
from campaigns.data.campaign_writes import conditional_failure, settle_in_flight, update
from campaigns.data.models import Campaign
from campaigns.domain.errors import CampaignNotFound, StoreConflict, WrongStatus
from campaigns.domain.statuses import (
    CANCELLABLE,
    PAUSABLE,
    RESUMABLE,
    RUNNABLE,
    CampaignStatus,
)
from campaigns.timeutil import utcnow

PAUSED_BY_USER = "Paused by the user"
UNCONFIRMED_AT_CANCEL = (
    "WAHA never confirmed this message and the campaign was cancelled before it could be "
    "sent again: it may or may not have been delivered."
)
_STOP_ATTEMPTS = 10


def _allowed(statuses: frozenset[CampaignStatus]):
    return Campaign.status.is_in(*[s.value for s in statuses])


class UserCommands:
    def __init__(self, reads: CampaignReads | None = None) -> None:
        self.reads = reads or CampaignReads()

    def run(self, campaign_id: str, user_id: str, now: datetime) -> Campaign:
        """Scheduled/Paused -> Scheduled and due now."""
        return self._start(campaign_id, user_id, RUNNABLE, "run", now)

    def resume(self, campaign_id: str, user_id: str, now: datetime) -> Campaign:
        """Paused -> Scheduled and due now."""
        return self._start(campaign_id, user_id, RESUMABLE, "resume", now)

    def pause(self, campaign_id: str, user_id: str, now: datetime) -> Campaign:
        """Scheduled/Running -> Paused; a running run stops at its next contact."""
        paused = [Campaign.status.set(CampaignStatus.PAUSED.value), Campaign.pause_reason.set(PAUSED_BY_USER)]
        return self._stop(campaign_id, user_id, PAUSABLE, "pause", [*paused, Campaign.updated_at.set(now)])

    def cancel(self, campaign_id: str, user_id: str, now: datetime) -> Campaign:
        """Scheduled/Running/Paused -> Cancelled (final)."""
        cancelled = [Campaign.status.set(CampaignStatus.CANCELLED.value), Campaign.completed_at.set(now)]
        return self._stop(
            campaign_id, user_id, CANCELLABLE, "cancel", [*cancelled, Campaign.updated_at.set(now)]
        )

    def _start(
        self, campaign_id: str, user_id: str, allowed: frozenset[CampaignStatus], action: str, now: datetime
    ) -> Campaign:
        """Scheduled and due now: the API invokes the runner next, and if that
        invocation is lost the schedule's next tick starts the campaign."""
        campaign = Campaign(campaign_id)
        actions = [
            Campaign.status.set(CampaignStatus.SCHEDULED.value),
            Campaign.due_at.set(now),
            Campaign.dispatched_at.remove(),
            Campaign.pause_reason.remove(),
            Campaign.updated_at.set(now),
        ]
        try:
            campaign.update(actions=actions, condition=(Campaign.user_id == user_id) & _allowed(allowed))
            return campaign
        except UpdateError as exc:
            if not conditional_failure(exc):
                raise
        current = self.reads.get_owned_campaign(campaign_id, user_id)
        raise WrongStatus(campaign_id, current.status, action)

    def _stop(
        self, campaign_id: str, user_id: str, allowed: frozenset[CampaignStatus], action: str, actions: list
    ) -> Campaign:
        """Pause or cancel. When a contact is in flight, the campaign stays visible to
        the schedule until the runner's lease ends (`dueAt` = the lease): if that
        runner died mid-send, the schedule records the contact as Unknown."""
        stop_waiting = [
            Campaign.waiting_until.remove(),
            Campaign.wait_reason.remove(),
            Campaign.pending_hop.remove(),
        ]
        for _ in range(_STOP_ATTEMPTS):
            current = self.reads.get_owned_campaign(campaign_id, user_id)
            if current.status not in {s.value for s in allowed}:
                raise WrongStatus(campaign_id, current.status, action)
            condition = (Campaign.user_id == user_id) & _allowed(allowed)
            if current.in_flight_index is not None and current.lease_expires_at is not None:
                extra = [Campaign.due_at.set(current.lease_expires_at)]
                condition &= Campaign.in_flight_index == current.in_flight_index
            else:
                extra = [Campaign.due_at.remove()]
                condition &= Campaign.in_flight_index.does_not_exist()
            try:
                return self._write_stop(current, [*actions, *stop_waiting, *extra], condition, action)
            except StoreConflict:
                continue
        # The run kept moving between our read and write; the user may simply retry.
        raise WrongStatus(campaign_id, current.status, action)

    @staticmethod
    def _write_stop(current: Campaign, actions: list, condition, action: str) -> Campaign:
        """The stop as one write. A cancel also closes a contact whose send WAHA never
        confirmed (kept to be sent again with its id): it becomes Unknown, since it may
        have gone out and will not be sent again."""
        pending = current.pending_message_index
        if action != "cancel" or pending is None or current.in_flight_index is not None:
            return update(current.id, actions, condition, StoreConflict)
        index = int(pending)
        forget = [Campaign.pending_message_id.remove(), Campaign.pending_message_index.remove()]
        condition &= Campaign.pending_message_index == index
        settle_in_flight(current, index, utcnow(), [*actions, *forget], condition, UNCONFIRMED_AT_CANCEL)
        return current


__all__ = ["PAUSED_BY_USER", "CampaignNotFound", "UserCommands"]
