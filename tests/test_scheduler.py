"""The schedule's tick: due campaigns, stalled runs, lost invocations, runaway guard."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from campaigns.data.store import CampaignStore
from campaigns.domain.statuses import CampaignStatus
from campaigns.invoker import RecordingInvoker, runner_event, set_default_invoker
from campaigns.runner.service import RunResult
from campaigns.schedule.tick import ScheduleTick
from campaigns.sending.sender import OutgoingMessage, SendResult
from campaigns.timeutil import utcnow
from tests.builders import deliveries, reload
from tests.runner_harness import Budget, Harness, RecordingSender, runner_settings

EVENTS = Path(__file__).resolve().parent.parent / "events"


class SimulatedCrash(BaseException):
    """The Lambda process dies (timeout, out of memory): no handler in the runner runs."""


class CrashingSender(RecordingSender):
    """Dies once, at the `at`-th send: before the message goes out, or right after it."""

    def __init__(self, at: int, after_send: bool = False) -> None:
        super().__init__()
        self.at = at
        self.after_send = after_send
        self.crashed = False

    def send(self, message: OutgoingMessage) -> SendResult:
        if not self.crashed and len(self.sent) == self.at and not self.after_send:
            self.crashed = True
            raise SimulatedCrash
        result = super().send(message)
        if not self.crashed and len(self.sent) == self.at + 1 and self.after_send:
            self.crashed = True
            raise SimulatedCrash
        return result


def tick(invoker: RecordingInvoker, now=None, **cfg) -> ScheduleTick:
    return ScheduleTick(CampaignStore(), invoker, runner_settings(**cfg)).run(now or utcnow())


def after_lease(seconds: int = 1):
    lease = runner_settings().lease_seconds
    return utcnow() + timedelta(seconds=lease + seconds)


def test_a_due_campaign_is_started_once_even_when_two_ticks_overlap(build):
    campaign = build.campaign(3, scheduled_at=utcnow() - timedelta(minutes=1))
    invoker = RecordingInvoker()
    barrier = threading.Barrier(2)

    def overlapping_tick() -> None:
        barrier.wait()
        tick(invoker)

    threads = [threading.Thread(target=overlapping_tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert invoker.events == [runner_event(campaign.id)]
    harness = Harness()
    assert harness.run(campaign.id) is RunResult.COMPLETED
    assert len(harness.sender.sent) == 3
    assert tick(invoker).started == []  # a completed campaign is no longer due


def test_a_future_campaign_is_not_started(build):
    build.campaign(2, scheduled_at=utcnow() + timedelta(minutes=5))
    invoker = RecordingInvoker()
    assert tick(invoker).started == [] and invoker.events == []


def test_a_campaign_without_scheduled_at_waits_for_a_manual_run(build):
    build.campaign(2, due=False)
    invoker = RecordingInvoker()
    assert tick(invoker).started == []


def test_a_lost_run_invocation_is_recovered_by_the_next_tick(build):
    campaign = build.campaign(2)
    # The API flipped the campaign for `run`, but its runner invocation never arrived.
    CampaignStore().commands.run(campaign.id, campaign.user_id, utcnow())
    invoker = RecordingInvoker()

    assert tick(invoker).started == [campaign.id]
    # The dispatch pushed its due time ahead: the next tick does not invoke again...
    assert tick(invoker).started == []
    # ...unless that invocation was lost too, in which case it comes due again.
    later = utcnow() + timedelta(seconds=runner_settings().dispatch_retry_seconds + 1)
    assert tick(invoker, now=later).started == [campaign.id]


def test_a_lost_resume_invocation_is_recovered_by_the_next_tick(build):
    campaign = build.campaign(2, status=CampaignStatus.PAUSED)
    CampaignStore().commands.resume(campaign.id, campaign.user_id, utcnow())
    invoker = RecordingInvoker()
    assert tick(invoker).started == [campaign.id]
    harness = Harness()
    assert harness.run(campaign.id) is RunResult.COMPLETED


@pytest.mark.parametrize(
    "after_send", [False, True], ids=["crash-between-claim-and-send", "crash-between-send-and-record"]
)
def test_a_stalled_run_is_taken_over_and_the_in_flight_contact_is_unknown(build, after_send):
    campaign = build.campaign(6)
    sender = CrashingSender(at=2, after_send=after_send)
    harness = Harness(sender=sender)

    with pytest.raises(SimulatedCrash):
        harness.run(campaign.id)
    stalled = reload(campaign)
    assert stalled.status == "Running" and stalled.in_flight_index == 2

    invoker = RecordingInvoker()
    assert tick(invoker).taken_over == []  # the lease has not expired: the runner may be alive
    report = tick(invoker, now=after_lease())
    assert report.taken_over == [campaign.id]
    (event,) = invoker.pop_all()
    assert event["runToken"] != stalled.run_token

    assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.COMPLETED
    after = reload(campaign)
    assert after.status == "Completed"
    assert (after.sent_count, after.failed_count, after.unknown_count) == (5, 0, 1)
    statuses = [d.status for d in deliveries(campaign)]
    assert statuses == ["Sent", "Sent", "Unknown", "Sent", "Sent", "Sent"]
    phones = [m.phone_number for m in sender.sent]
    assert len(phones) == len(set(phones))  # nobody messaged twice
    assert "+15550000002" in phones if after_send else "+15550000002" not in phones


def test_a_dead_runner_cannot_record_after_the_takeover(build):
    campaign = build.campaign(3)
    harness = Harness(sender=CrashingSender(at=0))
    with pytest.raises(SimulatedCrash):
        harness.run(campaign.id)
    old = reload(campaign)
    tick(RecordingInvoker(), now=after_lease())

    from campaigns.domain.errors import RunLost
    from campaigns.domain.outcomes import Outcome
    from campaigns.domain.statuses import DeliveryStatus

    with pytest.raises(RunLost):
        CampaignStore().run.record(
            old.id, old.run_token, 0, "+15550000000", Outcome(DeliveryStatus.SENT), utcnow()
        )
    assert [d.status for d in deliveries(campaign)] == ["Unknown"]


def test_a_live_runner_is_left_alone(build):
    campaign = build.campaign(3)
    harness = Harness()
    assert harness.run(campaign.id, budget=Budget(1)) is RunResult.HANDED_OFF
    invoker = RecordingInvoker()
    assert tick(invoker).taken_over == []
    assert reload(campaign).run_token == harness.invoker.events[0]["runToken"]


def test_a_parked_run_whose_continuation_is_lost_is_continued_by_the_schedule(build):
    campaign = build.campaign(5, batch_size=2, batch_pause_ms=60_000)
    harness = Harness()
    assert harness.run(campaign.id) is RunResult.PARKED
    assert len(harness.sender.sent) == 2
    harness.invoker.pop_later()  # the delayed continuation is lost
    invoker = RecordingInvoker()
    assert tick(invoker).taken_over == []  # the pause is not over
    # Not even once the pause is over: the continuation is due then, not the schedule.
    assert tick(invoker, now=utcnow() + timedelta(seconds=61)).taken_over == []
    lease = runner_settings().lease_seconds
    assert tick(invoker, now=utcnow() + timedelta(seconds=61 + lease)).taken_over == [campaign.id]
    (event,) = invoker.pop_all()
    assert harness.run(event["campaignId"], event["runToken"]) is RunResult.PARKED
    assert len(harness.sender.sent) == 4
    assert deliveries(campaign)[-1].status == "Sent" and reload(campaign).unknown_count == 0


def test_the_no_progress_guard_fails_a_run_that_keeps_dying(build):
    campaign = build.campaign(3)
    invoker = RecordingInvoker()
    cfg = {"max_no_progress_invocations": 3}
    harness = Harness(sender=CrashingSender(at=10**6), cfg=runner_settings(**cfg))
    # The runner takes the campaign, then dies before its first claim, again and again.
    assert harness.run(campaign.id, budget=Budget(0)) is RunResult.HANDED_OFF
    harness.invoker.pop_all()  # that hop's invocation is lost as well
    now = utcnow()
    for _ in range(6):
        now += timedelta(seconds=runner_settings().lease_seconds + 60)
        report = tick(invoker, now=now, **cfg)
        invoker.pop_all()  # each takeover's invocation dies before doing anything
        if report.failed:
            break
    after = reload(campaign)
    assert after.status == "Failed" and "no progress" in after.failure_reason
    assert report.failed == [campaign.id]


def test_the_handler_runs_a_tick_from_the_sample_event(build):
    from devstack.context import SimulatedContext
    from functions.scheduler import app

    campaign = build.campaign(1, scheduled_at=utcnow() - timedelta(seconds=5))
    invoker = RecordingInvoker()
    set_default_invoker(invoker)
    try:
        result = app.lambda_handler(
            json.loads((EVENTS / "scheduler.json").read_text()), SimulatedContext("scheduler")
        )
    finally:
        set_default_invoker(None)
    assert result["started"] == [campaign.id]
    assert invoker.events == [runner_event(campaign.id)]


@pytest.mark.parametrize("stop", ["pause", "cancel"])
def test_a_contact_in_flight_when_its_runner_died_is_settled_after_a_pause_or_cancel(build, stop):
    campaign = build.campaign(4)
    harness = Harness(sender=CrashingSender(at=1, after_send=True))
    with pytest.raises(SimulatedCrash):
        harness.run(campaign.id)
    store = CampaignStore()
    getattr(store.commands, stop)(campaign.id, campaign.user_id, utcnow())
    stopped = reload(campaign)
    assert stopped.in_flight_index == 1 and stopped.due_at == stopped.lease_expires_at

    invoker = RecordingInvoker()
    assert tick(invoker).settled == []  # the runner's lease is not over: it may still record
    assert tick(invoker, now=after_lease()).settled == [campaign.id]

    after = reload(campaign)
    assert after.status == ("Paused" if stop == "pause" else "Cancelled")
    assert [d.status for d in deliveries(campaign)] == ["Sent", "Unknown"]
    assert (after.sent_count, after.unknown_count, after.last_processed_contact_index) == (1, 1, 1)
    assert after.in_flight_index is None and after.due_at is None
    assert invoker.events == []  # nothing is started
    if stop == "pause":  # and a resume carries on after the Unknown contact
        store.commands.resume(campaign.id, campaign.user_id, utcnow())
        assert Harness().run(campaign.id) is RunResult.COMPLETED
        assert [d.status for d in deliveries(campaign)] == ["Sent", "Unknown", "Sent", "Sent"]


def test_a_pause_while_a_live_runner_sends_is_cleared_from_the_schedule_once_recorded(build):
    campaign = build.campaign(4)
    store = CampaignStore()

    def pause_mid_send(message: OutgoingMessage, count: int) -> None:
        if count == 1:
            store.commands.pause(campaign.id, campaign.user_id, utcnow())

    assert Harness(sender=RecordingSender(pause_mid_send)).run(campaign.id) is RunResult.STOPPED
    paused = reload(campaign)
    assert paused.in_flight_index is None and paused.due_at is not None  # recorded; still watched
    tick(RecordingInvoker(), now=after_lease())
    after = reload(campaign)
    assert after.due_at is None and after.unknown_count == 0
    assert [d.status for d in deliveries(campaign)] == ["Sent", "Sent"]
