"""How an invocation comes to hold a run: it takes a due Scheduled campaign, or it
accepts the one continuation the last hand-off (or the schedule) named. Anything
else (a late, duplicated or stale event; a paused or final campaign) exits
without sending."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from campaigns.config import Settings
from campaigns.data.models import Campaign
from campaigns.data.store import CampaignStore
from campaigns.domain.errors import RunLost, StoreConflict
from campaigns.domain.statuses import TAKEABLE, CampaignStatus
from campaigns.invoker import MAX_DELAY_S, RunnerInvoker, runner_event
from campaigns.observability import logger
from campaigns.runner.events import RunEvent


def next_index(campaign: Campaign) -> int:
    last = campaign.last_processed_contact_index
    return 0 if last is None else int(last) + 1


@dataclass
class RunStart:
    store: CampaignStore
    cfg: Settings
    clock: Callable[[], datetime]
    invoker: RunnerInvoker
    sleep: Callable[[float], None]

    def hold(self, campaign: Campaign, event: RunEvent) -> str | None:
        """Take the campaign, or accept this continuation. None: not this event's to run."""
        now = self.clock()
        extra = int(campaign.max_delay_ms or 0)
        if event.run_token:
            return self._continue(campaign, event, now, extra)
        due = campaign.due_at is not None and campaign.due_at <= now
        if campaign.status not in {s.value for s in TAKEABLE} or not due:
            # Paused, final, running, or not asked to start yet: a late or duplicated
            # event must not (re)start anything.
            logger.info("Campaign is not Scheduled and due; nothing to do", extra={"status": campaign.status})
            return None
        contact_list = self.store.reads.get_contact_list(campaign.user_id, campaign.contact_list_id)
        total = int(contact_list.contact_count) if contact_list else int(campaign.total_contacts or 0)
        try:
            token = self.store.run.take(campaign, now, total, extra)
        except StoreConflict:
            logger.info("Another runner took the campaign first, or a send is still in flight")
            return None
        logger.info("Campaign taken", extra={"from_index": next_index(campaign)})
        return token

    def _continue(self, campaign: Campaign, event: RunEvent, now: datetime, extra: int) -> str | None:
        token = event.run_token or ""
        if campaign.status != CampaignStatus.RUNNING.value or campaign.run_token != token:
            logger.info(
                "Stale or duplicate invocation; the run is not this event's",
                extra={"status": campaign.status},
            )
            return None
        if campaign.no_progress_count >= self.cfg.max_no_progress_invocations:
            reason = (
                f"The run made no progress over {int(campaign.no_progress_count)} consecutive "
                "invocations and was stopped to avoid an endless loop."
            )
            logger.error("Runaway guard tripped", extra={"no_progress": campaign.no_progress_count})
            self.store.run.fail(campaign, token, reason, now)
            return None
        if self._early(campaign, event, now):
            return None
        try:
            self.store.run.continue_run(campaign.id, token, event.hop, self.clock(), extra)
        except RunLost:
            logger.info("Not this event's to continue (duplicated, stale, or its wait has not ended)")
            return None
        return token

    def _early(self, campaign: Campaign, event: RunEvent, now: datetime) -> bool:
        """A continuation that arrived before its wait ended (a queue's whole-second
        delay, a wait longer than the queue allows, a retry): sleep a short remainder
        here, or send it on again for the rest. True when it was sent on."""
        until = campaign.waiting_until
        named = campaign.pending_hop is not None and int(campaign.pending_hop) == event.hop
        if until is None or until <= now or not named:
            return False
        remaining_s = (until - now).total_seconds()
        if remaining_s * 1000 <= self.cfg.continuation_threshold_ms:
            self.sleep(remaining_s)
            return False
        delay_s = min(MAX_DELAY_S, int(remaining_s))
        logger.info("Continuation arrived early; sent on again", extra={"delay_s": delay_s})
        self.invoker.continue_later(runner_event(campaign.id, event.run_token, event.hop), delay_s)
        return True
