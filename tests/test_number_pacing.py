"""Pacing per WhatsApp number: the rule (pure) and its conditional write under two
campaigns sending through one number at once."""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import UTC, datetime, timedelta

from campaigns.data.models import WhatsAppSession
from campaigns.data.number_slots import NumberSlots
from campaigns.domain.number_pacing import AT_LIMIT, BUSY, NumberState, after_send, decide
from campaigns.runner.service import RunEvent, RunResult
from tests.builders import deliveries
from tests.runner_harness import FakeClock, Harness, RecordingSender, count_dynamodb_requests, runner_settings

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_the_gap_is_the_smaller_minimum_of_the_two_campaigns():
    state = after_send(NumberState(), "slow", 60_000, T0, T0)
    waiting = decide(state, "fast", 10_000, None, T0 + timedelta(seconds=9))
    assert not waiting.granted and waiting.not_before == T0 + timedelta(seconds=10) and waiting.reason == BUSY
    assert decide(state, "fast", 10_000, None, T0 + timedelta(seconds=10)).granted


def test_the_daily_limit_holds_over_any_rolling_24_hours():
    state = NumberState()
    at = T0
    for _ in range(3):
        assert decide(state, "a", 0, 3, at).granted
        state = after_send(state, "a", 0, at, at)
        at += timedelta(hours=5)
    refused = decide(state, "a", 0, 3, at)
    assert not refused.granted and refused.reason == AT_LIMIT.format(limit=3)
    # The first send (09:00) leaves the window once its hour is more than 24 hours old.
    assert refused.not_before == T0 + timedelta(hours=25)
    assert not decide(state, "a", 0, 3, refused.not_before - timedelta(seconds=1)).granted
    assert decide(state, "a", 0, 3, refused.not_before).granted


def test_the_campaign_that_sent_last_lets_a_waiting_one_go_first():
    state = after_send(NumberState(), "long", 1_000, T0, T0)
    state.waiting["short"] = T0 + timedelta(milliseconds=500)
    later = T0 + timedelta(milliseconds=1_500)
    yielded = decide(state, "long", 1_000, None, later)  # its turn is over
    assert not yielded.granted and yielded.recheck  # asked again, to follow the other's turn
    assert later < yielded.not_before <= T0 + timedelta(seconds=2)
    # The waiting one has a whole gap after the number is free to take its turn; the
    # one that yielded goes on after that, rather than wait on a campaign gone away.
    assert decide(state, "long", 1_000, None, T0 + timedelta(seconds=2)).granted
    assert decide(state, "short", 1_000, None, later).granted
    after = after_send(state, "short", 1_000, later, later)
    assert "short" not in after.waiting and after.last_campaign_id == "short"


def test_two_campaigns_on_one_number_never_send_closer_than_its_gap(build):
    gap_ms = 300
    first = build.campaign(4, min_delay_ms=gap_ms, max_delay_ms=gap_ms)
    second = build.campaign(4, min_delay_ms=gap_ms, max_delay_ms=gap_ms)
    assert first.waha_session == second.waha_session
    sent_at: list[float] = []
    lock = threading.Lock()

    def note(message, count) -> None:
        with lock:
            sent_at.append(time.monotonic())

    results: list[RunResult] = []
    cfg = runner_settings(continuation_threshold_ms=10_000)

    def run(campaign) -> None:
        results.append(Harness(sender=RecordingSender(note), cfg=cfg).run(campaign.id))

    threads = [threading.Thread(target=run, args=(c,)) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert results == [RunResult.COMPLETED, RunResult.COMPLETED]
    assert len(sent_at) == 8
    gaps = [b - a for a, b in itertools.pairwise(sorted(sent_at))]
    assert min(gaps) >= gap_ms / 1000 * 0.97, gaps
    assert all(len(deliveries(c)) == 4 for c in (first, second))


def test_a_campaign_taking_the_number_between_the_turn_and_the_claim_makes_the_claim_decide_again(build):
    """The number's turn is decided from its state as last known and written by the
    claim, conditioned on that state's version: another campaign's send written in
    between refuses the claim, and the turn is decided again after that send's gap."""
    gap_ms, other_gap_ms = 5_000, 1_000  # the number's gap between the two: the smaller
    campaign = build.campaign(3, min_delay_ms=gap_ms, max_delay_ms=gap_ms)
    clock = FakeClock()
    sent_at = []
    sender = RecordingSender(lambda message, count: sent_at.append(clock.wall()))
    runner = Harness(sender=sender, clock=clock).runner()
    decided = runner.waits.recipient
    other_sent_at = []

    def other_campaign_sends_first(run, contact):
        recipient = decided(run, contact)  # contact 1's turn decided from the state this run wrote
        if int(contact.index) == 1 and not other_sent_at:
            now = clock.wall()  # another invocation, with its own view of the number
            assert NumberSlots().take(campaign.waha_session, "other-campaign", other_gap_ms, now, now).granted
            other_sent_at.append(now)
        return recipient

    runner.waits.recipient = other_campaign_sends_first
    with count_dynamodb_requests() as counts:
        assert runner.run(RunEvent(campaign.id), lambda: 10**9, "runner") is RunResult.COMPLETED

    assert [d.status for d in deliveries(campaign)] == ["Sent"] * 3
    claims = counts.named["TransactWriteItems campaigns + opt-outs + whatsapp-sessions"]
    assert claims == 3 + 1  # contact 1's first claim was refused, and made again
    # The run's session (the number's state with it), the other invocation's read, and
    # the run's read of the number again once its claim was refused.
    assert counts.named["GetItem whatsapp-sessions"] == 1 + 1 + 1
    # The gap holds after the other campaign's send, and between this campaign's own.
    assert sent_at[1] - other_sent_at[0] >= timedelta(milliseconds=other_gap_ms)
    assert all(b - a >= timedelta(milliseconds=gap_ms) for a, b in itertools.pairwise(sent_at))
    number = WhatsAppSession.get(campaign.waha_session, consistent_read=True)
    assert number.number_last_campaign == campaign.id
    assert sum(json.loads(number.number_hourly).values()) == 4  # three sends and the other's


def test_a_campaign_taking_the_number_before_a_merged_claim_leaves_the_record_alone_and_the_gap(build):
    """When the next send follows at once, its claim and turn ride in the record's
    transaction; another campaign's send written in between refuses that transaction,
    the contact is recorded alone, and the next contact's own claim decides its turn
    again after that send's gap."""
    gap_ms, other_gap_ms = 500, 300
    campaign = build.campaign(3, min_delay_ms=gap_ms, max_delay_ms=gap_ms)
    clock = FakeClock()
    sent_at = []
    sender = RecordingSender(lambda message, count: sent_at.append(clock.wall()))
    runner = Harness(sender=sender, clock=clock).runner()
    decided = runner.waits.recipient
    other_sent_at = []

    def other_campaign_sends_first(run, contact):
        recipient = decided(run, contact)  # contact 1's turn, to ride in contact 0's record
        if int(contact.index) == 1 and not other_sent_at:
            clock.sleep(2)  # past contact 0's turn as recorded (its latest), and the other's gap
            now = clock.wall()
            assert NumberSlots().take(campaign.waha_session, "other-campaign", other_gap_ms, now, now).granted
            other_sent_at.append(now)
        return recipient

    runner.waits.recipient = other_campaign_sends_first
    with count_dynamodb_requests() as counts:
        assert runner.run(RunEvent(campaign.id), lambda: 10**9, "runner") is RunResult.COMPLETED

    assert [d.status for d in deliveries(campaign)] == ["Sent"] * 3
    named = counts.named
    # Contact 0's record with contact 1's claim refused, then recorded alone; contact 1
    # claimed on its own; contact 2 claimed in contact 1's record; contact 2 recorded alone.
    # A record alone settles its send's turn on the number.
    assert named["TransactWriteItems campaigns + deliveries + opt-outs + whatsapp-sessions"] == 2
    assert named["TransactWriteItems campaigns + deliveries + whatsapp-sessions"] == 2
    assert named["TransactWriteItems campaigns + opt-outs + whatsapp-sessions"] == 2
    assert sent_at[1] - other_sent_at[0] >= timedelta(milliseconds=other_gap_ms)
    assert all(b - a >= timedelta(milliseconds=gap_ms) for a, b in itertools.pairwise(sent_at))
