"""The schedule's tick: starts due campaigns and takes over runs whose runner died.

Both lists come from one sparse index (`byStatusDue`): a Scheduled campaign is due
at its `scheduledAt` (or "now" after a run/resume request, so that a lost runner
invocation is recovered by the next tick); a Running campaign is due when its
runner's lease expires.

Each tick also applies the WhatsApp acks the webhook parked because their delivery
was not recorded yet (`campaigns.data.acks.apply_parked_acks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from campaigns.config import Settings, settings
from campaigns.data.acks import apply_parked_acks
from campaigns.data.models import Campaign
from campaigns.data.store import CampaignStore
from campaigns.domain.errors import StoreConflict
from campaigns.domain.statuses import CampaignStatus
from campaigns.invoker import RunnerInvoker, runner_event
from campaigns.observability import count as count_metric
from campaigns.observability import logger


def _stalled_reason(count: int) -> str:
    return (
        f"The run made no progress over {count} consecutive invocations or takeovers "
        "and was stopped to avoid an endless loop."
    )


@dataclass
class TickReport:
    started: list[str] = field(default_factory=list)
    taken_over: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    errors: int = 0
    acks_applied: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "started": self.started,
            "takenOver": self.taken_over,
            "failed": self.failed,
            "settled": self.settled,
            "errors": self.errors,
            "acksApplied": self.acks_applied,
        }


class ScheduleTick:
    def __init__(self, store: CampaignStore, invoker: RunnerInvoker, cfg: Settings | None = None) -> None:
        self.store = store
        self.invoker = invoker
        self.cfg = cfg or settings()

    def run(self, now: datetime, function_name: str | None = None) -> TickReport:
        report = TickReport()
        for campaign in self._due(CampaignStatus.SCHEDULED, now):
            self._start(campaign, now, function_name, report)
        for campaign in self._due(CampaignStatus.RUNNING, now):
            self._take_over(campaign, now, function_name, report)
        for status in (CampaignStatus.PAUSED, CampaignStatus.CANCELLED):
            for campaign in self._due(status, now):
                # Stopped while a contact was in flight: once the lease is over, a
                # contact its runner never recorded becomes Unknown.
                if self.store.schedule.settle_stopped(campaign, now) == "settled":
                    report.settled.append(campaign.id)
        self._apply_parked_acks(now, report)
        if (
            report.started
            or report.taken_over
            or report.failed
            or report.settled
            or report.errors
            or report.acks_applied
        ):
            logger.info("Schedule tick", extra=report.as_dict())
        return report

    def _apply_parked_acks(self, now: datetime, report: TickReport) -> None:
        """Acks that arrived before their delivery was recorded; a failure here leaves
        them for the next tick and never stops the campaigns' part of the tick."""
        try:
            applied = apply_parked_acks(now)
        except Exception:
            report.errors += 1
            logger.exception("Could not apply parked acks; the next tick tries again")
            return
        report.acks_applied = applied.applied
        report.errors += applied.errors
        if applied.applied:
            count_metric("ParkedAckApplied", applied.applied)

    def _due(self, status: CampaignStatus, now: datetime):
        for count, campaign in enumerate(self.store.schedule.due_campaigns(status, now)):
            if count >= self.cfg.max_campaigns_per_tick:
                logger.warning("More due campaigns than one tick handles; the rest wait for the next tick")
                return
            yield campaign

    def _start(
        self, campaign: Campaign, now: datetime, function_name: str | None, report: TickReport
    ) -> None:
        # One tick wins the right to invoke; if that invocation is lost, the
        # campaign comes due again later. The runner's own take is conditional too,
        # so even two invocations could not both send.
        if not self.store.schedule.mark_dispatched(campaign, now, self.cfg.dispatch_retry_seconds):
            return
        try:
            self.invoker.invoke(runner_event(campaign.id), function_name)
            report.started.append(campaign.id)
        except Exception:
            report.errors += 1
            logger.exception(
                "Could not invoke the runner; the campaign stays due", extra={"campaign_id": campaign.id}
            )

    def _take_over(
        self, campaign: Campaign, now: datetime, function_name: str | None, report: TickReport
    ) -> None:
        count = int(campaign.no_progress_count or 0) + 1
        if count > self.cfg.max_no_progress_invocations:
            if self.store.schedule.fail_stalled(campaign, _stalled_reason(count - 1), now):
                report.failed.append(campaign.id)
                logger.error("Stalled run failed by the runaway guard", extra={"campaign_id": campaign.id})
            return
        try:
            token = self.store.schedule.take_over(campaign, now)
        except StoreConflict:
            return  # the runner renewed its lease meanwhile, or another tick took over first
        if campaign.waiting_until is not None and campaign.in_flight_index is None:
            logger.info("Continuing a run whose wait ended", extra={"campaign_id": campaign.id})
        else:
            logger.warning(
                "Took over a run whose lease expired",
                extra={"campaign_id": campaign.id, "in_flight_index": campaign.in_flight_index},
            )
        try:
            self.invoker.invoke(runner_event(campaign.id, token, 0), function_name)
            report.taken_over.append(campaign.id)
        except Exception:
            report.errors += 1
            logger.exception(
                "Could not invoke the runner after a takeover", extra={"campaign_id": campaign.id}
            )
