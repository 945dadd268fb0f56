"""Fault matrix, part 2: faults that must land at an exact point of a run, driven on
the runner itself (DynamoDB is moto's server over HTTP, WhatsApp the fake WAHA
server reached through the real WAHA sender).

- the runner killed between claim and send, and between send and record;
- the same asynchronous event delivered 2 and 3 times at once (first event and a
  hand-off event);
- delayed continuations delivered twice, early, or lost (the schedule recovers them);
- DynamoDB throttling: a burst the SDK's retries absorb (the run just succeeds),
  then a persistent one (the runner's own handling: the campaign ends Failed, or is
  left to the schedule, which takes it over once the throttling stops);
- WAHA restarting (its port refusing connections) for 5 s, ridden out inside the
  invocation, for 60 s, parked and continued by itself, and for longer than the
  ride-through window, parked, then paused with a reason that names no internal
  address, all on a fake clock;
- a session dropping by webhook while the run waits between messages: paused at
  once, the queued continuation sends nothing, and a resume does not skip the wait;
- a list appended to and deleted while its campaign runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from campaigns.data.store import CampaignStore
from campaigns.invoker import RecordingInvoker, runner_event
from campaigns.runner.service import CampaignRunner, RunEvent, RunResult
from tests import waha_world
from tests.api_events import ApiClient
from tests.builders import Builder
from tests.fakewaha import FakeWaha
from tests.reliability import invariants
from tests.reliability.faults import (
    Clock,
    CrashingSender,
    HookedSender,
    RestartingWaha,
    SimulatedCrash,
    WahaOutage,
    at_once,
    dynamodb_errors,
    runner,
    tick,
    waha_sender,
)
from tests.reliability.figures import FIGURES
from tests.runner_harness import Budget, FakeClock, runner_settings
from tests.waha_world import connect

waha_api = waha_world.waha_api  # the fixture, used by name

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

    results = at_once(
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

    results = at_once(
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
    # A claim is a transaction with its opt-out check and the number's turn; the run's
    # own updates are its take and its completion.
    pytest.param("TransactWriteItems", 0, id="TransactWriteItems-at-the-first-claim"),
    pytest.param("UpdateItem", 1, id="UpdateItem-at-completion"),
    pytest.param("TransactWriteItems", 2, id="TransactWriteItems-mid-run"),
]


@pytest.mark.parametrize(("operation", "after"), PERSISTENT)
def test_persistent_throttling_leaves_the_run_resumable_and_never_sends_twice(
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
    # Throttling is DynamoDB's "not now": the campaign keeps its place, never Failed.
    assert during["status"] in ("Running", "Scheduled")

    # Once DynamoDB answers again, the schedule finishes the run.
    drain(campaign.id, lambda: waha_sender(fake_waha), invoker, clock)
    final = check(campaign.id, fake_waha, N, allowance=1)
    assert final["status"] == "Completed"


def test_a_throttled_transaction_that_the_sdk_does_not_retry_leaves_the_campaign_consistent(
    build: Builder, fake_waha: FakeWaha
) -> None:
    """TransactWriteItems answers TransactionCanceledException (reason ThrottlingError) when
    an item is throttled; the SDK does not retry it, so the runner's own handling applies:
    the record is tried again, and were it refused every time the run would be left to
    the schedule (the contact in flight Unknown, as its message did go out), never Failed."""
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
    assert done["status"] == "Completed"
    if result is RunResult.FAILED:
        assert (done["sentCount"], done["unknownCount"]) == (N - 1, 1)
    else:
        assert done["sentCount"] == N
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


# --------------------------------------------------------------------------- WAHA restarting


@pytest.fixture
def restarting_waha() -> Iterator[RestartingWaha]:
    fake = RestartingWaha().start()
    try:
        yield fake
    finally:
        fake.stop()
    assert not fake.errors, f"fake WAHA raised: {fake.errors!r}"


def on_fake_clock(
    sender: object, invoker: RecordingInvoker, clock: FakeClock, sleep=None, **cfg
) -> CampaignRunner:
    """The runner with every wait, sleep and timestamp on `clock`."""
    settings_ = runner_settings(**cfg)
    return CampaignRunner(
        CampaignStore(settings_.lease_seconds),
        sender,
        invoker,
        settings_,
        sleep=sleep or clock.sleep,
        monotonic=clock.monotonic,
        clock=clock.wall,
    )


def deliver_next(
    make_runner: Callable[[], CampaignRunner],
    invoker: RecordingInvoker,
    clock: FakeClock,
    on_advance: Callable[[], None] = lambda: None,
) -> list[RunResult]:
    """Deliver the events queued now, each when it is due: a hand-off at once, a
    continuation once the fake clock has moved by its delay (`on_advance` is told)."""
    results: list[RunResult] = []
    later, now_events = invoker.pop_later(), invoker.pop_all()
    for event in now_events:
        results.append(make_runner().run(RunEvent.parse(event), unlimited, "runner"))
    for event, delay_s in later:
        clock.now += delay_s
        on_advance()
        results.append(make_runner().run(RunEvent.parse(event), unlimited, "runner"))
    return results


def deliver_continuations(
    campaign_id: str,
    make_runner: Callable[[], CampaignRunner],
    invoker: RecordingInvoker,
    clock: FakeClock,
    on_advance: Callable[[], None] = lambda: None,
    limit: int = 40,
) -> list[RunResult]:
    """Deliver events as they come due until none is left."""
    results: list[RunResult] = []
    while len(results) < limit:
        delivered = deliver_next(make_runner, invoker, clock, on_advance)
        if not delivered:
            return results
        results += delivered
    raise AssertionError(f"campaign {campaign_id} still going after {limit} invocations")


@pytest.mark.parametrize(("restart_s", "parked"), [(5, False), (60, True)], ids=["5s-in-place", "60s-parked"])
def test_waha_restarting_mid_run_is_ridden_out_and_the_run_goes_on_by_itself(
    build: Builder, restarting_waha: RestartingWaha, restart_s: int, parked: bool
) -> None:
    FIGURES.case(SUITE)
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), FakeClock()
    outage = WahaOutage(restarting_waha, clock)
    # Right after the third message, WAHA restarts: its port refuses connections.
    sender = HookedSender(waha_sender(restarting_waha), {2: lambda: outage.begin(restart_s)})

    def make() -> CampaignRunner:
        return on_fake_clock(sender, invoker, clock, sleep=outage.sleep, continuation_threshold_ms=2_000)

    first = make().run(RunEvent.parse(runner_event(campaign.id)), unlimited, "runner")
    results = [first, *deliver_continuations(campaign.id, make, invoker, clock, outage.advanced)]
    FIGURES.fault(SUITE)

    done = check(campaign.id, restarting_waha, N)
    assert not outage.down and outage.downtime_s >= restart_s
    assert (done["status"], done["sentCount"], done["unknownCount"]) == ("Completed", N, 0)
    assert done["pauseReason"] is None
    in_place = [s for s in clock.sleeps if s in (2.0, 4.0, 8.0)]
    if parked:  # the in-place backoff (2 + 4 + 8 s) was not enough: parked, continued by itself
        assert RunResult.PARKED in results and results[-1] is RunResult.COMPLETED, results
        assert in_place[:3] == [2.0, 4.0, 8.0]
    else:  # ridden out inside the one invocation
        assert results == [RunResult.COMPLETED], results
        assert in_place == [2.0, 4.0]


def test_waha_down_for_longer_than_the_window_parks_then_pauses_and_resume_completes(
    build: Builder, restarting_waha: RestartingWaha
) -> None:
    FIGURES.case(SUITE)
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), FakeClock()
    outage = WahaOutage(restarting_waha, clock)
    sender = HookedSender(waha_sender(restarting_waha), {2: lambda: outage.begin(None)})
    window_s = runner_settings().waha_outage_window_seconds
    parked_states: list[tuple[str, str | None]] = []

    def make() -> CampaignRunner:
        return on_fake_clock(sender, invoker, clock, sleep=outage.sleep, continuation_threshold_ms=2_000)

    results = [make().run(RunEvent.parse(runner_event(campaign.id)), unlimited, "runner")]
    while results[-1] is RunResult.PARKED:
        stored = CampaignStore().reads.get_campaign(campaign.id)
        parked_states.append((stored.status, stored.wait_reason))
        results += deliver_next(make, invoker, clock)
    FIGURES.fault(SUITE, len(results))
    down_for = clock.now - outage.down_at

    paused = check(campaign.id, restarting_waha, N)
    assert results[-1] is RunResult.PAUSED, results
    assert paused["status"] == "Paused" and paused["sentCount"] == 3
    # (The runner's clock is the wall clock plus the fake one: a few real seconds pass too.)
    assert window_s - 5 <= down_for <= window_s + 120 + 14, down_for
    assert len(parked_states) >= 3
    assert set(parked_states) == {("Running", "The WhatsApp server is unavailable; retrying")}
    reason = paused["pauseReason"]
    assert "Resume the campaign once WhatsApp is back" in reason, reason
    assert "127.0.0.1" not in reason and str(restarting_waha.port) not in reason and "/api/" not in reason

    outage.end()
    CampaignStore().commands.resume(campaign.id, campaign.user_id, clock.wall())
    resumed = make().run(RunEvent.parse(runner_event(campaign.id)), unlimited, "runner")
    done = check(campaign.id, restarting_waha, N)
    assert resumed is RunResult.COMPLETED
    assert (done["status"], done["sentCount"], done["unknownCount"]) == ("Completed", N, 0)


# --------------------------------------------------------------------------- a number dropping mid-wait


def test_a_session_dropping_by_webhook_mid_wait_pauses_and_no_wait_is_skipped(
    waha_api: FakeWaha, alice: ApiClient
) -> None:
    """A run waits 30 s between messages (parked, a continuation queued); WAHA's webhook
    says the number left WORKING: the campaign pauses at once. The queued continuation
    then sends nothing; paired and resumed at once, the run still waits out the gap."""
    FIGURES.case(SUITE)
    session_id, name = connect(alice, waha_api)
    campaign = Builder(user_id="user-a", session_name=name).campaign(
        N, min_delay_ms=30_000, max_delay_ms=30_000, register_session=False, whatsapp_session_id=session_id
    )
    invoker, clock = RecordingInvoker(), FakeClock()
    sent_at: list[float] = []
    sender = HookedSender(waha_sender(waha_api), {i: lambda: sent_at.append(clock.now) for i in range(N)})

    def make() -> CampaignRunner:
        return on_fake_clock(sender, invoker, clock, continuation_threshold_ms=2_000)

    assert make().run(RunEvent.parse(runner_event(campaign.id)), unlimited, "runner") is RunResult.PARKED
    ((stale, delay_s),) = invoker.pop_later()
    assert delay_s >= 29

    assert waha_api.drop(name, "SCAN_QR_CODE") == 200
    FIGURES.fault(SUITE)
    stored = CampaignStore().reads.get_campaign(campaign.id)
    assert stored.status == "Paused" and "scan its QR code again" in stored.pause_reason

    # Paired again and resumed at once: the gap since the first message is not over.
    assert waha_api.pair(name) == 200
    CampaignStore().commands.resume(campaign.id, campaign.user_id, clock.wall())
    assert make().run(RunEvent.parse(runner_event(campaign.id)), unlimited, "runner") is RunResult.PARKED
    assert len(sent_at) == 1
    # The continuation queued before the drop arrives when its wait is over: it is stale.
    clock.now += delay_s
    assert make().run(RunEvent.parse(stale), unlimited, "runner") is RunResult.SKIPPED
    FIGURES.fault(SUITE)
    deliver_continuations(campaign.id, make, invoker, clock)

    done = check(campaign.id, waha_api, N)
    assert (done["status"], done["sentCount"]) == ("Completed", N)
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert len(sent_at) == N and min(gaps) >= 30, gaps


# --------------------------------------------------------------------------- a list changed mid-run


def test_a_list_appended_to_and_deleted_while_its_campaign_runs(
    build: Builder, fake_waha: FakeWaha, alice: ApiClient
) -> None:
    """An append while the campaign runs lands after `totalContacts`: the run sends exactly
    the contacts it started with. A delete is refused (409) while the campaign uses the
    list, and goes through once it is final; the campaign and its log stay."""
    FIGURES.case(SUITE)
    session = build.session()
    people = [{"phoneNumber": phone} for phone in phones(N)]
    list_id = alice.post("/contact-lists", {"name": "Running", "contacts": people}).json["id"]
    template_id = alice.post("/message-templates", {"name": "T", "textContent": "Hi {Name}"}).json["id"]
    created = alice.post(
        "/campaigns",
        {
            "name": "Over a changing list",
            "contactListId": list_id,
            "messageTemplateId": template_id,
            "defaultNameValue": "friend",
            "whatsappSessionId": session.id,
            "minDelayMs": 0,
            "maxDelayMs": 0,
        },
    )
    assert created.status == 201, created.text
    campaign_id = created.json["id"]
    answers: dict[str, int] = {}

    def change_the_list() -> None:
        extra = {"contacts": [{"phoneNumber": "+15559990001"}, {"phoneNumber": "+15559990002"}]}
        appended = alice.post(f"/contact-lists/{list_id}/contacts", extra)
        answers["append"] = appended.status
        answers["count"] = appended.json.get("contactCount")
        answers["delete"] = alice.call("DELETE", f"/contact-lists/{list_id}").status

    sender = HookedSender(
        waha_sender(fake_waha),
        {
            1: change_the_list,
            3: lambda: answers.setdefault(
                "delete again", alice.call("DELETE", f"/contact-lists/{list_id}").status
            ),
        },
    )
    invoker, clock = RecordingInvoker(), FakeClock()
    CampaignStore().commands.run(campaign_id, "user-a", clock.wall())
    result = on_fake_clock(sender, invoker, clock).run(
        RunEvent.parse(runner_event(campaign_id)), unlimited, "runner"
    )
    FIGURES.fault(SUITE, 3)

    done = check(campaign_id, fake_waha, N)
    assert result is RunResult.COMPLETED
    assert answers == {"append": 200, "count": N + 2, "delete": 409, "delete again": 409}
    assert (done["status"], done["totalContacts"], done["sentCount"]) == ("Completed", N, N)
    assert not {"15559990001@c.us", "15559990002@c.us"} & set(invariants.chats_from_fake(fake_waha))
    # Final: the list can go; the campaign and its log stay.
    for _ in range(5):
        deleted = alice.call("DELETE", f"/contact-lists/{list_id}").status
        if deleted == 204:
            break
        assert deleted == 202
    assert deleted == 204
    assert alice.get(f"/contact-lists/{list_id}").status == 404
    assert alice.get(f"/campaigns/{campaign_id}").json["sentCount"] == N
    assert len(alice.get(f"/campaigns/{campaign_id}/deliveries").json["items"]) == N
