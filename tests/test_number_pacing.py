"""Pacing per WhatsApp number: the rule (pure) and its conditional write under two
campaigns sending through one number at once."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

from campaigns.domain.number_pacing import AT_LIMIT, BUSY, NumberState, after_send, decide
from campaigns.runner.service import RunResult
from tests.builders import deliveries
from tests.runner_harness import Harness, RecordingSender, runner_settings

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
    later = T0 + timedelta(seconds=2)
    assert not decide(state, "long", 1_000, None, later).granted  # its turn is over
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
