"""The schedule's writes: start due campaigns once, continue runs whose lease or wait
ended, settle contacts that stopped runs left in flight."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from campaigns.data.campaign_writes import attempt, failed, holds, settle_in_flight, update, write_settling
from campaigns.data.models import Campaign
from campaigns.data.run_writes import new_run_token
from campaigns.domain.errors import RunLost, StoreConflict
from campaigns.domain.statuses import CampaignStatus


class ScheduleWrites:
    def __init__(self, lease_seconds: int = 120) -> None:
        self.lease_seconds = lease_seconds

    def due_campaigns(self, status: CampaignStatus, now: datetime, page_size: int = 50) -> Iterator[Campaign]:
        """Campaigns of `status` whose `dueAt` has come, through the sparse index."""
        yield from Campaign.by_status_due.query(status.value, Campaign.due_at <= now, page_size=page_size)

    def mark_dispatched(self, campaign: Campaign, now: datetime, retry_after_s: int) -> bool:
        """One tick wins the right to start a due Scheduled campaign; if its
        invocation is lost, a tick may dispatch it again after `retry_after_s`."""
        recently = now - timedelta(seconds=retry_after_s)
        return attempt(
            campaign.id,
            [Campaign.dispatched_at.set(now)],
            (Campaign.status == CampaignStatus.SCHEDULED.value)
            & (Campaign.due_at == campaign.due_at)
            & (Campaign.dispatched_at.does_not_exist() | (Campaign.dispatched_at < recently)),
            StoreConflict,
        )

    def take_over(self, campaign: Campaign, now: datetime) -> str:
        """A Running campaign whose lease (or wait) ended gets a new run token, and its
        continuation is hop 0. A contact a dead runner had in flight becomes Unknown.
        Returns the new token; raises StoreConflict (RunLost) when the runner renewed
        its lease meanwhile or another tick took over first."""
        token = new_run_token()
        lease = now + timedelta(seconds=self.lease_seconds)
        actions = [
            Campaign.run_token.set(token),
            Campaign.lease_expires_at.set(lease),
            Campaign.due_at.set(lease),
            Campaign.pending_hop.set(0),
            Campaign.no_progress_count.add(1),
            # The schedule decides that a parked run's wait is over.
            Campaign.waiting_until.remove(),
            Campaign.wait_reason.remove(),
            Campaign.updated_at.set(now),
        ]
        write_settling(campaign, actions, _lease_ended(campaign, now), now)
        return token

    def fail_stalled(self, campaign: Campaign, reason: str, now: datetime) -> bool:
        """The runaway guard: a run whose lease expired too many times in a row without
        progress ends Failed (only if nothing changed since the tick read it)."""
        try:
            write_settling(campaign, failed(reason, now), _lease_ended(campaign, now), now)
            return True
        except RunLost:
            return False

    def settle_stopped(self, campaign: Campaign, now: datetime) -> str:
        """A Paused or Cancelled campaign the schedule still watches (stopped while a
        contact was in flight). Once the runner's lease is over, a contact still in
        flight was never recorded: it becomes Unknown. Returns "settled", "cleared",
        "waiting" or "conflict"."""
        status = Campaign.status == campaign.status
        try:
            if campaign.in_flight_index is None:
                update(
                    campaign.id,
                    [Campaign.due_at.remove()],
                    status & Campaign.in_flight_index.does_not_exist(),
                    StoreConflict,
                )
                return "cleared"
            index = int(campaign.in_flight_index)
            same_run = (
                status & (Campaign.run_token == campaign.run_token) & (Campaign.in_flight_index == index)
            )
            lease = campaign.lease_expires_at
            if lease is not None and lease >= now:
                update(
                    campaign.id,
                    [Campaign.due_at.set(lease)],
                    same_run & (Campaign.lease_expires_at == lease),
                    StoreConflict,
                )
                return "waiting"
            settle_in_flight(
                campaign,
                index,
                now,
                [Campaign.due_at.remove(), Campaign.updated_at.set(now)],
                same_run & ((Campaign.lease_expires_at < now) | Campaign.lease_expires_at.does_not_exist()),
            )
            return "settled"
        except StoreConflict:
            return "conflict"


def _lease_ended(campaign: Campaign, now: datetime):
    """The run the tick read still holds the campaign, and its lease is over."""
    return (
        holds(campaign.run_token or "")
        & (Campaign.lease_expires_at == campaign.lease_expires_at)
        & (Campaign.lease_expires_at < now)
    )
