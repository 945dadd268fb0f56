"""Waiting outside Lambda: a gap longer than the threshold ends the invocation, and a
delayed continuation (SQS with DelaySeconds in AWS) resumes the run when it is over.
Every guard of the run protocol applies to it: a duplicated, early or late
continuation never sends twice, never skips a wait, never revives a stopped run."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from campaigns.data.models import Campaign, WhatsAppSession
from campaigns.data.store import CampaignStore
from campaigns.invoker import RecordingInvoker
from campaigns.runner.service import RunResult
from campaigns.schedule.tick import ScheduleTick
from campaigns.sending.pacing import Pacer
from campaigns.timeutil import utcnow
from tests.builders import deliveries, reload
from tests.runner_harness import Harness, RecordingSender, count_dynamodb_requests, runner_settings

PACED = runner_settings(continuation_threshold_ms=2_000)


def the_wait_ends(campaign: Campaign) -> None:
    """Time passes: the parked run's wait is over, and its number's last send is long past."""
    Campaign(campaign.id).update(actions=[Campaign.waiting_until.set(utcnow() - timedelta(milliseconds=1))])
    session = WhatsAppSession.get(campaign.waha_session)
    # The turn as recorded, and as settled once its send went out.
    names = ("number_last_send_at", "number_settled_at")
    actions = [
        getattr(WhatsAppSession, name).set(getattr(session, name) - timedelta(hours=1))
        for name in names
        if getattr(session, name) is not None
    ]
    if actions:
        session.update(actions=actions)


def test_a_long_gap_ends_the_invocation_and_a_delayed_continuation_sends_the_next(build):
    campaign = build.campaign(3, min_delay_ms=5_000, max_delay_ms=5_000)
    harness = Harness(cfg=PACED)

    assert harness.run(campaign.id) is RunResult.PARKED

    assert len(harness.sender.sent) == 1
    ((event, delay_s),) = harness.invoker.pop_later()
    assert (event["hop"], delay_s) == (1, 5)
    waiting = reload(campaign)
    assert waiting.status == "Running" and waiting.wait_reason == "Waiting between messages"
    assert timedelta(seconds=4) < waiting.waiting_until - utcnow() <= timedelta(seconds=5)

    the_wait_ends(campaign)
    assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.PARKED
    assert len(harness.sender.sent) == 2
    ((event, delay_s),) = harness.invoker.pop_later()
    assert event["hop"] == 2

    the_wait_ends(campaign)
    assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.COMPLETED
    assert [d.status for d in deliveries(campaign)] == ["Sent"] * 3
    assert harness.invoker.pop_later() == [] and harness.invoker.pop_all() == []


def test_the_record_before_a_long_gap_parks_the_run_in_the_same_write(build):
    campaign = build.campaign(3, min_delay_ms=30_000, max_delay_ms=30_000)
    harness = Harness(cfg=PACED)

    with count_dynamodb_requests() as counts:
        assert harness.run(campaign.id) is RunResult.PARKED

    # The take is the campaign's only UpdateItem: the claim is a transaction, and the
    # record of the send parks the run for the next contact's gap in its own write.
    assert counts.named["UpdateItem campaigns"] == 1
    assert counts.named["TransactWriteItems campaigns + deliveries + whatsapp-sessions"] == 1
    parked = reload(campaign)
    assert parked.last_processed_contact_index == 0 and parked.in_flight_index is None
    assert parked.wait_reason == "Waiting between messages" and parked.pending_hop == 1
    assert timedelta(seconds=29) < parked.waiting_until - utcnow() <= timedelta(seconds=30)
    assert parked.lease_expires_at > parked.waiting_until
    ((event, delay_s),) = harness.invoker.pop_later()
    assert (event["hop"], delay_s) == (1, 30)


def test_a_pause_before_the_parking_record_is_kept_and_the_contact_recorded(build):
    campaign = build.campaign(3, min_delay_ms=30_000, max_delay_ms=30_000)
    store = CampaignStore()

    def pause_during_the_send(message, count: int) -> None:
        store.commands.pause(campaign.id, campaign.user_id, utcnow())

    harness = Harness(sender=RecordingSender(before_send=pause_during_the_send), cfg=PACED)
    assert harness.run(campaign.id) is RunResult.STOPPED

    paused = reload(campaign)
    assert paused.status == "Paused" and paused.waiting_until is None
    assert paused.last_processed_contact_index == 0 and paused.in_flight_index is None
    assert [d.status for d in deliveries(campaign)] == ["Sent"]
    assert harness.invoker.pop_later() == []


def test_a_duplicated_continuation_sends_nothing(build):
    campaign = build.campaign(3, min_delay_ms=5_000, max_delay_ms=5_000)
    harness = Harness(cfg=PACED)
    assert harness.run(campaign.id) is RunResult.PARKED
    ((event, _),) = harness.invoker.pop_later()
    the_wait_ends(campaign)

    assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.PARKED
    assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.SKIPPED

    assert len(harness.sender.sent) == 2


def test_an_early_continuation_is_sent_on_and_skips_no_wait(build):
    campaign = build.campaign(3, batch_size=1, batch_pause_ms=60_000)
    harness = Harness(cfg=PACED)
    assert harness.run(campaign.id) is RunResult.PARKED
    ((event, delay_s),) = harness.invoker.pop_later()
    assert delay_s == 60

    # Delivered early (a retry, a clock skew): it sends nothing and goes back to wait.
    assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.SKIPPED

    assert len(harness.sender.sent) == 1
    ((again, again_delay_s),) = harness.invoker.pop_later()
    assert again == event and 58 <= again_delay_s <= 60
    assert reload(campaign).pending_hop == event["hop"]  # still the one continuation expected


def test_a_continuation_never_revives_a_paused_or_cancelled_run(build):
    campaign = build.campaign(4, min_delay_ms=5_000, max_delay_ms=5_000)
    harness = Harness(cfg=PACED)
    store = CampaignStore()
    assert harness.run(campaign.id) is RunResult.PARKED
    ((event, _),) = harness.invoker.pop_later()

    store.commands.pause(campaign.id, campaign.user_id, utcnow())
    after = reload(campaign)
    assert after.status == "Paused" and after.waiting_until is None and after.pending_hop is None
    assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.SKIPPED

    store.commands.resume(campaign.id, campaign.user_id, utcnow())
    store.commands.cancel(campaign.id, campaign.user_id, utcnow())
    assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.SKIPPED
    assert len(harness.sender.sent) == 1 and reload(campaign).status == "Cancelled"


def test_a_lost_continuation_is_recovered_by_the_schedule_once_the_lease_ends(build):
    campaign = build.campaign(2, min_delay_ms=5_000, max_delay_ms=5_000)
    harness = Harness(cfg=PACED)
    assert harness.run(campaign.id) is RunResult.PARKED
    harness.invoker.pop_later()  # lost

    invoker = RecordingInvoker()
    parked = reload(campaign)
    tick = ScheduleTick(CampaignStore(), invoker, runner_settings())
    assert tick.run(parked.waiting_until + timedelta(seconds=1)).taken_over == []
    assert tick.run(parked.lease_expires_at + timedelta(seconds=1)).taken_over == [campaign.id]
    (event,) = invoker.pop_all()

    # The new run paces from the last send, then goes on by its own continuation.
    assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.PARKED
    ((event, _),) = harness.invoker.pop_later()
    the_wait_ends(campaign)
    assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.COMPLETED
    assert [d.status for d in deliveries(campaign)] == ["Sent", "Sent"]


def test_a_failed_continuation_send_leaves_the_run_to_the_schedule(build):
    class NoQueue(RecordingInvoker):
        def continue_later(self, event, delay_s) -> None:
            raise ConnectionError("SQS endpoint unreachable")

    campaign = build.campaign(2, min_delay_ms=5_000, max_delay_ms=5_000)
    harness = Harness(cfg=PACED, invoker=NoQueue())

    assert harness.run(campaign.id) is RunResult.PARKED

    after = reload(campaign)
    assert after.status == "Running" and after.lease_expires_at > after.waiting_until


def test_gaps_under_the_threshold_are_still_slept_in_one_invocation(build):
    campaign = build.campaign(4, min_delay_ms=100, max_delay_ms=200)
    harness = Harness(cfg=PACED)

    assert harness.run(campaign.id) is RunResult.COMPLETED
    assert harness.invoker.pop_later() == []


# ------------------------------------------------------------------- whole seconds


class FixedClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("low", "high"), [(30_000, 60_000), (3_000, 4_000), (5_000, 5_000), (2_500, 3_200)])
def test_a_continuations_wait_is_whole_seconds_within_the_configured_gap(low, high):
    clock = FixedClock()
    rng = random.Random(7)
    for elapsed in (0.0, 0.04, 0.3, 0.9):
        for _ in range(50):
            pacer = Pacer(low, high, rng, clock)
            pacer.sent(clock.now - elapsed)
            whole = pacer.whole_seconds_wait()
            gap_s = elapsed + whole
            assert isinstance(whole, int)
            assert gap_s >= low / 1000  # never shorter than the minimum
            # Within the range, unless the range holds no whole second after `elapsed`.
            assert gap_s <= high / 1000 or whole == int(-(-(low / 1000 - elapsed) // 1))


def test_whole_second_waits_stay_spread_over_a_wide_range():
    clock = FixedClock()
    pacer = Pacer(30_000, 60_000, random.Random(3), clock)
    waits = set()
    for _ in range(300):
        pacer.sent(clock.now - 0.05)
        waits.add(pacer.whole_seconds_wait())
    assert len(waits) >= 25  # about one per second of the 30 s range
