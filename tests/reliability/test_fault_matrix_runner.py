"""Fault matrix, part 2: faults that must land at an exact point of a run, driven on
the runner itself (DynamoDB is moto's server over HTTP, WhatsApp the fake WAHA
server reached through the real WAHA sender).

- the runner killed between claim and send, and between send and record;
- the same asynchronous event delivered 2 and 3 times at once (first event and a
  hand-off event);
- delayed continuations delivered twice, early, or lost (the schedule recovers them);
- DynamoDB throttling: a burst the SDK's retries absorb (the run just succeeds),
  then a persistent one (the runner's own handling: the campaign ends Failed, or is
  left to the schedule, which takes it over once the throttling stops).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from campaigns.data.store import CampaignStore
from campaigns.invoker import RecordingInvoker, runner_event
from campaigns.runner.service import CampaignRunner, RunEvent, RunResult
from tests.builders import Builder
from tests.fakewaha import FakeWaha
from tests.reliability import invariants
from tests.reliability.faults import (
    Clock,
    CrashingSender,
    SimulatedCrash,
    dynamodb_errors,
    runner,
    tick,
    waha_sender,
)
from tests.reliability.figures import FIGURES
from tests.runner_harness import Budget, runner_settings

SUITE = "fault matrix"
N = 6


def unlimited() -> int:
    return 10**9


def phones(count: int) -> list[str]:
    """The phone numbers Builder.campaign(<count>) gives its contacts."""
    return [f"+1555{index:07d}" for index in range(count)]


def check(campaign_id: str, fake: FakeWaha, count: int, *, allowance: int = 0, settled: bool = True) -> dict:
    snapshot = invariants.from_store(campaign_id)
    invariants.check(
        snapshot,
        phones(count),
        invariants.chats_from_fake(fake),
        unknown_allowance=allowance,
        suite=SUITE,
        settled=settled,
    )
    return snapshot.campaign


def drain(
    campaign_id: str,
    sender_factory: Callable[[], object],
    invoker: RecordingInvoker,
    clock: Clock,
    limit: int = 50,
) -> list[RunResult]:
    """Deliver every queued runner event; when nothing is queued and the campaign is
    still Running (its runner died), let the schedule take it over past the lease."""
    results: list[RunResult] = []
    store = CampaignStore()
    while len(results) < limit:
        events = invoker.pop_all()
        if not events:
            campaign = store.reads.get_campaign(campaign_id)
            if campaign is None or campaign.status not in ("Running", "Scheduled"):
                return results
            clock.past_lease()
            tick(invoker, clock())
            events = invoker.pop_all()
            if not events:
                return results
        for event in events:
            results.append(
                runner(sender_factory(), invoker, clock).run(RunEvent.parse(event), unlimited, "runner")
            )
    raise AssertionError(f"campaign {campaign_id} still going after {limit} invocations")


# --------------------------------------------------------------------------- crashes


CRASH_POINTS = [
    # (sends the process dies just before, sends it dies just after), numbered from 0
    pytest.param({0}, set(), id="claim-send-first"),
    pytest.param({2}, set(), id="claim-send-middle"),
    pytest.param({N - 1}, set(), id="claim-send-last"),
    pytest.param(set(), {0}, id="send-record-first"),
    pytest.param(set(), {2}, id="send-record-middle"),
    pytest.param(set(), {N - 1}, id="send-record-last"),
    pytest.param({1}, {4}, id="two-crashes"),
]


@pytest.mark.parametrize(("before", "after"), CRASH_POINTS)
def test_a_runner_killed_mid_contact_is_taken_over_and_that_contact_is_unknown(
    build: Builder, fake_waha: FakeWaha, before: set[int], after: set[int]
) -> None:
    FIGURES.case(SUITE)
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), Clock()
    crashing = CrashingSender(waha_sender(fake_waha), before=before, after=after)
    plan = sorted(before | after)

    crashes = 0
    event = runner_event(campaign.id)
    while True:
        try:
            runner(crashing, invoker, clock).run(RunEvent.parse(event), unlimited, "runner")
        except SimulatedCrash:
            crashes += 1
            FIGURES.fault(SUITE)
            # Dead mid-contact: that contact is in flight, nothing else is off.
            stalled = check(campaign.id, fake_waha, N, allowance=crashes, settled=False)
            assert stalled["status"] == "Running"
            clock.past_lease()
            assert tick(invoker, clock()).taken_over == [campaign.id]
        events = invoker.pop_all()
        if not events:
            break
        (event,) = events

    done = check(campaign.id, fake_waha, N, allowance=crashes)
    assert crashes == len(plan)
    assert done["status"] == "Completed"
    assert (done["sentCount"], done["unknownCount"]) == (N - crashes, crashes)
    unknown = [d for d in invariants.from_store(campaign.id).deliveries if d["status"] == "Unknown"]
    assert [d["contactIndex"] for d in unknown] == plan
    # Killed after the send: the message went out once; killed before it: never.
    received = invariants.chats_from_fake(fake_waha)
    for index in plan:
        chat = invariants.chat_of(phones(N)[index])
        assert received.count(chat) == (1 if index in after else 0)


def test_a_crash_then_pause_and_resume_settles_the_in_flight_contact_once(
    build: Builder, fake_waha: FakeWaha
) -> None:
    FIGURES.case(SUITE)
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), Clock()
    crashing = CrashingSender(waha_sender(fake_waha), after={2})
    with pytest.raises(SimulatedCrash):
        runner(crashing, invoker, clock).run(RunEvent(campaign.id), unlimited, "runner")
    FIGURES.fault(SUITE)
    store = CampaignStore()
    store.commands.pause(campaign.id, campaign.user_id, clock())
    check(campaign.id, fake_waha, N, allowance=1, settled=False)

    # Resumed while the dead runner's lease still runs: not taken yet (it may be alive).
    store.commands.resume(campaign.id, campaign.user_id, clock())
    assert (
        runner(crashing, invoker, clock).run(RunEvent(campaign.id), unlimited, "runner") is RunResult.SKIPPED
    )
    check(campaign.id, fake_waha, N, allowance=1, settled=False)
    # Past the lease the schedule starts it again; the in-flight contact becomes Unknown.
    clock.past_lease()
    drain(campaign.id, lambda: crashing, invoker, clock)
    done = check(campaign.id, fake_waha, N, allowance=1)
    assert (done["status"], done["sentCount"], done["unknownCount"]) == ("Completed", N - 1, 1)


def test_a_crash_then_cancel_still_records_the_in_flight_contact_unknown(
    build: Builder, fake_waha: FakeWaha
) -> None:
    FIGURES.case(SUITE)
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), Clock()
    crashing = CrashingSender(waha_sender(fake_waha), after={2})
    with pytest.raises(SimulatedCrash):
        runner(crashing, invoker, clock).run(RunEvent(campaign.id), unlimited, "runner")
    FIGURES.fault(SUITE)
    CampaignStore().commands.cancel(campaign.id, campaign.user_id, clock())
    # Whatever the schedule does later, the contact whose message went out must end Unknown.
    for _ in range(3):
        clock.past_lease()
        tick(invoker, clock())
        drain(campaign.id, lambda: crashing, invoker, clock)
    done = check(campaign.id, fake_waha, N, allowance=1)
    assert done["status"] == "Cancelled"
    assert done["unknownCount"] == 1


# --------------------------------------------------------------------------- duplicated events


def _concurrently(count: int, action: Callable[[], RunResult]) -> list[RunResult]:
    barrier = threading.Barrier(count)
    results: list[RunResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            result = action()
            with lock:
                results.append(result)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(results) == count
    return results


@pytest.mark.parametrize("copies", [2, 3])
def test_the_first_event_delivered_several_times_at_once_runs_once(
    build: Builder, fake_waha: FakeWaha, copies: int
) -> None:
    FIGURES.case(SUITE)
    FIGURES.fault(SUITE, copies - 1)
    fake_waha.latency_ms = 5
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), Clock()
    event = runner_event(campaign.id)

    results = _concurrently(
        copies,
        lambda: runner(waha_sender(fake_waha), invoker, clock).run(
            RunEvent.parse(event), unlimited, "runner"
        ),
    )

    assert sorted(results) == sorted([RunResult.COMPLETED] + [RunResult.SKIPPED] * (copies - 1))
    done = check(campaign.id, fake_waha, N)
    assert (done["status"], done["sentCount"]) == ("Completed", N)


@pytest.mark.parametrize("copies", [2, 3])
def test_a_hand_off_event_delivered_several_times_at_once_runs_once(
    build: Builder, fake_waha: FakeWaha, copies: int
) -> None:
    FIGURES.case(SUITE)
    FIGURES.fault(SUITE, copies - 1)
    fake_waha.latency_ms = 5
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), Clock()
    first = runner(waha_sender(fake_waha), invoker, clock).run(RunEvent(campaign.id), Budget(2), "runner")
    assert first is RunResult.HANDED_OFF
    (hop,) = invoker.pop_all()
    assert hop["runToken"] and hop["hop"] == 1

    results = _concurrently(
        copies,
        lambda: runner(waha_sender(fake_waha), invoker, clock).run(RunEvent.parse(hop), unlimited, "runner"),
    )

    assert results.count(RunResult.COMPLETED) == 1
    assert set(results) <= {RunResult.COMPLETED, RunResult.STOPPED, RunResult.SKIPPED}
    drain(campaign.id, lambda: waha_sender(fake_waha), invoker, clock)
    done = check(campaign.id, fake_waha, N)
    assert (done["status"], done["sentCount"]) == ("Completed", N)


def test_a_late_copy_of_the_first_event_does_not_restart_a_campaign_the_user_paused(
    build: Builder, fake_waha: FakeWaha
) -> None:
    FIGURES.case(SUITE)
    FIGURES.fault(SUITE)
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), Clock()
    store = CampaignStore()
    store.commands.run(campaign.id, campaign.user_id, clock())
    event = runner_event(campaign.id)
    assert runner(waha_sender(fake_waha), invoker, clock).run(RunEvent.parse(event), Budget(2), "runner") is (
        RunResult.HANDED_OFF
    )
    invoker.pop_all()  # the hand-off is lost, or still queued: it will find the run paused
    store.commands.pause(campaign.id, campaign.user_id, clock())
    sent_before = len(fake_waha.sent())

    # Lambda delivers the first event again (at-least-once), after the user's pause.
    result = runner(waha_sender(fake_waha), invoker, clock).run(RunEvent.parse(event), unlimited, "runner")

    after = check(campaign.id, fake_waha, N)
    assert result is RunResult.SKIPPED
    assert after["status"] == "Paused"
    assert len(fake_waha.sent()) == sent_before


# --------------------------------------------------------------------------- DynamoDB throttling

OPERATIONS = ("GetItem", "Query", "UpdateItem", "TransactWriteItems")


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_throttling_that_the_sdk_retries_away_changes_nothing(
    build: Builder, fake_waha: FakeWaha, operation: str, code: str
) -> None:
    FIGURES.case(SUITE)
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), Clock()
    # PynamoDB lets botocore make 4 attempts: 3 throttled answers in a row are absorbed.
    with dynamodb_errors(operation, times=3, code=code) as fault:
        result = runner(waha_sender(fake_waha), invoker, clock).run(
            RunEvent(campaign.id), unlimited, "runner"
        )
    FIGURES.fault(SUITE, fault.injected)
    assert fault.injected == 3
    assert result is RunResult.COMPLETED
    done = check(campaign.id, fake_waha, N)
    assert (done["status"], done["sentCount"], done["unknownCount"]) == ("Completed", N, 0)


PERSISTENT = [
    pytest.param("GetItem", 0, id="GetItem-from-the-start"),
    pytest.param("Query", 0, id="Query-from-the-start"),
    pytest.param("UpdateItem", 1, id="UpdateItem-at-the-first-claim"),
    pytest.param("UpdateItem", 2, id="UpdateItem-at-completion"),
    pytest.param("TransactWriteItems", 2, id="TransactWriteItems-mid-run"),
]


@pytest.mark.parametrize(("operation", "after"), PERSISTENT)
def test_persistent_throttling_ends_failed_or_resumable_and_never_sends_twice(
    build: Builder, fake_waha: FakeWaha, operation: str, after: int
) -> None:
    FIGURES.case(SUITE)
    campaign = build.campaign(N)
    store = CampaignStore()
    invoker, clock = RecordingInvoker(), Clock()
    store.commands.run(campaign.id, campaign.user_id, clock())  # as POST /run leaves it

    with dynamodb_errors(operation, after=after) as fault:
        result = runner(waha_sender(fake_waha), invoker, clock).run(
            RunEvent(campaign.id), unlimited, "runner"
        )
    # Left consistent, with at most the one contact whose record was refused still open.
    during = check(campaign.id, fake_waha, N, allowance=1, settled=False)
    FIGURES.fault(SUITE, fault.injected)
    assert fault.injected >= 4  # the SDK retried before giving up
    assert result is RunResult.FAILED  # the runner's handler never raises
    assert during["status"] in ("Failed", "Running", "Scheduled")

    # Once DynamoDB answers again: Failed stays Failed; otherwise the schedule finishes the run.
    drain(campaign.id, lambda: waha_sender(fake_waha), invoker, clock)
    final = check(campaign.id, fake_waha, N, allowance=1)
    assert final["status"] in ("Failed", "Completed")
    if during["status"] == "Failed":
        assert final["status"] == "Failed"
    else:
        assert final["status"] == "Completed"


def test_a_throttled_transaction_that_the_sdk_does_not_retry_leaves_the_campaign_consistent(
    build: Builder, fake_waha: FakeWaha
) -> None:
    """TransactWriteItems answers TransactionCanceledException (reason ThrottlingError) when
    an item is throttled; the SDK does not retry it, so the runner's own handling applies:
    today the campaign ends Failed and the contact whose record was refused is Unknown (its
    message did go out); a store that retried the record would complete instead."""
    FIGURES.case(SUITE)
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), Clock()
    with dynamodb_errors("TransactWriteItems", after=2, times=1, transaction_throttled=True) as fault:
        result = runner(waha_sender(fake_waha), invoker, clock).run(
            RunEvent(campaign.id), unlimited, "runner"
        )
    FIGURES.fault(SUITE, fault.injected)
    assert fault.injected == 1
    drain(campaign.id, lambda: waha_sender(fake_waha), invoker, clock)
    done = check(campaign.id, fake_waha, N, allowance=1)
    if result is RunResult.FAILED:
        assert done["status"] == "Failed"
        assert (done["sentCount"], done["unknownCount"]) == (2, 1)
    else:
        assert (done["status"], done["sentCount"]) == ("Completed", N)
    assert invariants.chats_from_fake(fake_waha).count(invariants.chat_of(phones(N)[2])) == 1


# --------------------------------------------------------------------------- continuations

CONTINUATION_FAULTS = [
    pytest.param("twice", id="delivered-twice"),
    pytest.param("twice-after-the-next", id="delivered-again-after-the-next-hop"),
    pytest.param("early", id="delivered-early-by-a-retry"),
    pytest.param("lost", id="lost-the-schedule-recovers"),
]


@pytest.mark.parametrize("fault", CONTINUATION_FAULTS)
def test_delayed_continuations_duplicated_early_or_lost_never_send_twice_or_skip_a_wait(
    build: Builder, fake_waha: FakeWaha, fault: str
) -> None:
    FIGURES.case(SUITE)
    campaign = build.campaign(N, min_delay_ms=5_000, max_delay_ms=5_000)
    invoker, clock = RecordingInvoker(), Clock()
    cfg = runner_settings(continuation_threshold_ms=2_000)

    sent_at: list = []  # when each message went out, on the test's clock

    def run(event: dict) -> RunResult:
        continuing = CampaignRunner(
            CampaignStore(cfg.lease_seconds), waha_sender(fake_waha), invoker, cfg, clock=clock
        )
        before = len(fake_waha.sent())
        result = continuing.run(RunEvent.parse(event), unlimited, "runner")
        sent_at.extend([clock()] * (len(fake_waha.sent()) - before))
        return result

    run(runner_event(campaign.id))
    injected, previous = 0, None
    for _ in range(100):
        later, now_events = invoker.pop_later(), invoker.pop_all()
        if not later and not now_events:
            if CampaignStore().reads.get_campaign(campaign.id).status != "Running":
                break
            clock.past_lease()  # a continuation was lost: the schedule takes the run over
            tick(invoker, clock())
            continue
        for event in now_events:
            run(event)
        for event, delay_s in later:
            if fault == "lost" and injected < 2:
                injected += 1
                continue
            if fault == "early" and injected < 2:
                injected += 1
                sent_before = len(fake_waha.sent())
                run(event)  # before its wait is over: sent on again, nothing sent now
                assert len(fake_waha.sent()) == sent_before
                continue
            clock.offset += timedelta(seconds=delay_s)
            run(event)
            if fault == "twice" and injected < 3:
                injected += 1
                assert run(event) is RunResult.SKIPPED
            if fault == "twice-after-the-next" and previous is not None and injected < 3:
                injected += 1
                assert run(previous) is RunResult.SKIPPED
            previous = event
    FIGURES.fault(SUITE, injected)

    assert injected >= 2
    done = check(campaign.id, fake_waha, N)
    assert (done["status"], done["sentCount"], done["unknownCount"]) == ("Completed", N, 0)
    # No wait was skipped: on the test's clock, every message came a whole gap after the last.
    assert all(b - a >= timedelta(seconds=5) for a, b in itertools.pairwise(sent_at)), sent_at
