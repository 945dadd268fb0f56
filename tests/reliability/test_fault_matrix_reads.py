"""Fault matrix, part 3: DynamoDB reads that fail or lag.

- Throttled reads (GetItem, Query) of the runner, at every read a run makes in turn,
  persistent from there: the SDK gives up, the runner's own handling applies, and once
  DynamoDB answers again the schedule finishes what is left. Never a contact twice,
  never one skipped.
- The same with two copies of one runner event delivered at once (at-least-once
  delivery), the throttling absorbed by the SDK or not.
- The schedule's tick with its Queries throttled, alone and two ticks at once: every
  due campaign started once, every expired run taken over once.
- WAHA's webhook with its reads throttled: an ack is taken once the throttling ends
  (WAHA retries), counted once even when delivered twice at once; never a 5xx.
- Eventually consistent pages: a contact missing from one Query and present in the
  next (in the middle of a page, at its start, for longer than the runner waits), and
  a due campaign missing from one tick's Query.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from campaigns import config
from campaigns.data.models import Campaign, Delivery
from campaigns.data.store import CampaignStore
from campaigns.domain.statuses import CampaignStatus
from campaigns.invoker import RecordingInvoker, runner_event
from campaigns.runner.contacts import MISSING_CONTACT_TRIES
from campaigns.runner.service import CampaignRunner, RunEvent, RunResult
from campaigns.timeutil import utcnow
from tests import waha_world
from tests.api_events import ApiClient
from tests.builders import Builder
from tests.fakewaha import FakeWaha
from tests.reliability import invariants
from tests.reliability.faults import (
    Clock,
    at_once,
    dynamodb_errors,
    dynamodb_page_gaps,
    tick,
    waha_sender,
)
from tests.reliability.figures import FIGURES
from tests.runner_harness import FakeClock, count_dynamodb_requests, runner_settings
from tests.waha_world import connect

waha_api = waha_world.waha_api  # the fixture, used by name

SUITE = "fault matrix"
N = 4
READS = ("GetItem", "Query")


def unlimited() -> int:
    return 10**9


def phones(count: int) -> list[str]:
    """The phone numbers Builder.campaign(<count>) gives its contacts."""
    return [f"+1555{index:07d}" for index in range(count)]


def check(campaign_id: str, fake: FakeWaha, *, allowance: int = 0, settled: bool = True) -> dict[str, Any]:
    snapshot = invariants.from_store(campaign_id)
    invariants.check(
        snapshot,
        phones(N),
        invariants.chats_from_fake(fake),
        unknown_allowance=allowance,
        suite=SUITE,
        settled=settled,
    )
    return snapshot.campaign


def fake_clock_runner(fake: FakeWaha, invoker: RecordingInvoker, clock: FakeClock) -> CampaignRunner:
    cfg = runner_settings()
    return CampaignRunner(
        CampaignStore(cfg.lease_seconds),
        waha_sender(fake),
        invoker,
        cfg,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        clock=clock.wall,
    )


def settle(
    campaign_id: str, fake: FakeWaha, invoker: RecordingInvoker, clock: FakeClock, limit: int = 20
) -> None:
    """DynamoDB answers again: deliver what is queued, and let the schedule take over a
    run left Running (past its lease), until the campaign rests."""
    for _ in range(limit):
        events = invoker.pop_all() + [event for event, _ in invoker.pop_later()]
        if not events:
            campaign = CampaignStore().reads.get_campaign(campaign_id)
            if campaign.status not in ("Running", "Scheduled"):
                return
            clock.now += runner_settings().lease_seconds + 3600
            tick(invoker, clock.wall())
            events = invoker.pop_all()
            if not events:
                return
        for event in events:
            fake_clock_runner(fake, invoker, clock).run(RunEvent.parse(event), unlimited, "runner")
    raise AssertionError(f"campaign {campaign_id} still going after {limit} rounds")


# --------------------------------------------------------------------------- the runner's reads


def _reads_of_a_run(build: Builder, fake: FakeWaha) -> dict[str, int]:
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), FakeClock()
    with count_dynamodb_requests() as counts:
        assert fake_clock_runner(fake, invoker, clock).run(RunEvent(campaign.id), unlimited, "runner") is (
            RunResult.COMPLETED
        )
    return {operation: counts[operation] for operation in READS}


def test_every_read_of_a_run_throttled_in_turn_never_sends_twice_or_skips(
    build: Builder, fake_waha: FakeWaha
) -> None:
    """For each GetItem and Query a run of N contacts makes (the campaign, its list, its
    template, its number and the number's state, the contact pages...), DynamoDB
    throttles that read and every one after it until the SDK gives up. (The opt-out
    list is checked in each claim's own request, a transaction, not read.)"""
    reads = _reads_of_a_run(build, fake_waha)
    assert reads["GetItem"] >= 4 and reads["Query"] >= 1, reads
    outcomes: dict[str, int] = {}
    for operation, count in reads.items():
        for k in range(count):
            FIGURES.case(SUITE)
            fake_waha.reset()
            campaign = build.campaign(N)
            invoker, clock = RecordingInvoker(), FakeClock()
            CampaignStore().commands.run(
                campaign.id, campaign.user_id, clock.wall()
            )  # as POST /run leaves it
            with dynamodb_errors(operation, after=k) as fault:
                result = fake_clock_runner(fake_waha, invoker, clock).run(
                    RunEvent(campaign.id), unlimited, "runner"
                )
            FIGURES.fault(SUITE, fault.injected)
            assert fault.injected >= 4, (operation, k)  # the SDK retried before giving up
            assert result is not RunResult.COMPLETED, (operation, k)
            during = check(campaign.id, fake_waha, allowance=1, settled=False)
            # A throttle is DynamoDB's "not now": the run keeps its place, never Failed.
            assert during["status"] in ("Running", "Scheduled", "Paused"), (operation, k, during)

            settle(campaign.id, fake_waha, invoker, clock)
            final = check(campaign.id, fake_waha, allowance=1)
            assert final["status"] in ("Completed", "Paused"), (operation, k, final)
            outcomes[f"{operation} #{k + 1}: {during['status']} -> {final['status']}"] = final["unknownCount"]
    ended = Counter(outcome.split(": ", 1)[1] for outcome in outcomes)
    FIGURES.detail(
        SUITE,
        "a run's reads throttled in turn (from each GetItem and Query on)",
        f"{len(outcomes)} cases: " + ", ".join(f"{n} {how}" for how, n in sorted(ended.items())),
    )


@pytest.mark.parametrize("copies", [2, 3])
@pytest.mark.parametrize("operation", READS)
def test_duplicated_events_with_throttled_reads_run_once(
    build: Builder, fake_waha: FakeWaha, operation: str, copies: int
) -> None:
    FIGURES.case(SUITE)
    fake_waha.latency_ms = 5
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), Clock()
    CampaignStore().commands.run(campaign.id, campaign.user_id, clock())
    event = runner_event(campaign.id)

    # Throttled three times in all, spread over the copies: the SDK absorbs it.
    with dynamodb_errors(operation, times=3) as fault:
        results = at_once(
            copies, lambda: _runner(fake_waha, invoker, clock).run(RunEvent.parse(event), unlimited, "runner")
        )
    FIGURES.fault(SUITE, fault.injected + copies - 1)

    assert fault.injected == 3
    assert sorted(results) == sorted([RunResult.COMPLETED] + [RunResult.SKIPPED] * (copies - 1)), results
    done = check(campaign.id, fake_waha)
    assert (done["status"], done["sentCount"]) == ("Completed", N)


@pytest.mark.parametrize("operation", READS)
def test_duplicated_events_with_reads_throttled_for_good_leave_one_consistent_run(
    build: Builder, fake_waha: FakeWaha, operation: str
) -> None:
    FIGURES.case(SUITE)
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), FakeClock()
    CampaignStore().commands.run(campaign.id, campaign.user_id, clock.wall())
    event = runner_event(campaign.id)
    # Both copies read the campaign; after that, every read of this kind is throttled.
    with dynamodb_errors(operation, after=2 if operation == "GetItem" else 0) as fault:
        results = at_once(
            2,
            lambda: fake_clock_runner(fake_waha, invoker, clock).run(
                RunEvent.parse(event), unlimited, "runner"
            ),
        )
    FIGURES.fault(SUITE, fault.injected + 1)

    # A copy that fails before it holds the run ends FAILED too, having changed nothing.
    assert RunResult.COMPLETED not in results, results
    check(campaign.id, fake_waha, allowance=1, settled=False)
    settle(campaign.id, fake_waha, invoker, clock)
    final = check(campaign.id, fake_waha, allowance=1)
    assert final["status"] in ("Completed", "Failed"), final


def _runner(fake: FakeWaha, invoker: RecordingInvoker, clock: Clock) -> CampaignRunner:
    cfg = runner_settings()
    return CampaignRunner(CampaignStore(cfg.lease_seconds), waha_sender(fake), invoker, cfg, clock=clock)


# --------------------------------------------------------------------------- the schedule's reads


def _due_world(build: Builder) -> dict[str, Campaign]:
    """One campaign of each kind the schedule acts on: due to start, a run whose runner
    died (lease over), and a paused one with a contact its dead runner left in flight."""
    past = utcnow() - timedelta(hours=1)
    world = {
        "start": build.campaign(N),
        "take over": build.campaign(N, status=CampaignStatus.RUNNING, due=False),
        "settle": build.campaign(N, status=CampaignStatus.PAUSED, due=False),
    }
    dead = [
        Campaign.run_token.set("dead-runner"),
        Campaign.lease_expires_at.set(past),
        Campaign.due_at.set(past),
    ]
    Campaign(world["take over"].id).update(actions=dead)
    Campaign(world["settle"].id).update(actions=[*dead, Campaign.in_flight_index.set(0)])
    return world


def _invoked(invoker: RecordingInvoker, world: dict[str, Campaign]) -> dict[str, int]:
    """Runner events the ticks so far asked for, by campaign kind."""
    events = invoker.pop_all()
    return {kind: sum(1 for e in events if e["campaignId"] == c.id) for kind, c in world.items()}


def _unknown(campaign: Campaign) -> int:
    return sum(1 for d in Delivery.query(campaign.id, consistent_read=True) if d.status == "Unknown")


@pytest.mark.parametrize("k", range(4), ids=lambda k: f"from-query-{k + 1}")
def test_a_tick_whose_queries_are_throttled_leaves_the_rest_to_the_next_tick(build: Builder, k: int) -> None:
    FIGURES.case(SUITE)
    world = _due_world(build)
    invoker = RecordingInvoker()
    with dynamodb_errors("Query", after=k) as fault:
        try:
            tick(invoker, utcnow())
        except Exception as exc:  # the tick fails with the throttle; Lambda retries it
            assert "throughput" in str(exc).lower(), exc
    FIGURES.fault(SUITE, fault.injected)
    first = _invoked(invoker, world)
    tick(invoker, utcnow())
    second = _invoked(invoker, world)

    # Each due campaign started once, each dead run taken over once, over the two ticks;
    # the contact the dead runner left in flight recorded Unknown once.
    total = {kind: first[kind] + second[kind] for kind in first}
    assert total == {"start": 1, "take over": 1, "settle": 0}, (first, second)
    assert _unknown(world["settle"]) == 1
    assert CampaignStore().reads.get_campaign(world["settle"].id).in_flight_index is None


def test_two_ticks_at_once_with_throttled_queries_start_and_take_over_once(build: Builder) -> None:
    FIGURES.case(SUITE)
    world = _due_world(build)
    invoker = RecordingInvoker()
    with dynamodb_errors("Query", times=3) as fault:
        at_once(2, lambda: tick(invoker, utcnow()))
    FIGURES.fault(SUITE, fault.injected + 1)
    assert fault.injected == 3
    assert _invoked(invoker, world) == {"start": 1, "take over": 1, "settle": 0}
    assert _unknown(world["settle"]) == 1


# --------------------------------------------------------------------------- the webhook's reads


def _sent_campaign(build: Builder, session_id: str, name: str) -> tuple[Campaign, list[str]]:
    campaign = build.campaign(3, status=CampaignStatus.COMPLETED, register_session=False)
    Campaign(campaign.id).update(
        actions=[
            Campaign.whatsapp_session_id.set(session_id),
            Campaign.waha_session.set(name),
            Campaign.sent_count.set(3),
        ]
    )
    ids = []
    for index in range(3):
        message_id = f"true_1555000{index:04d}@c.us_3EB0{index:012X}"
        Delivery(
            campaign_id=campaign.id,
            contact_index=index,
            phone_number=f"+1555000{index:04d}",
            status="Sent",
            message_id=message_id,
            at=utcnow(),
        ).save()
        ids.append(message_id)
    return campaign, ids


def _counts(campaign: Campaign) -> tuple[int, int, list[str | None]]:
    fresh = Campaign.get(campaign.id, consistent_read=True)
    acks = [d.ack for d in Delivery.query(campaign.id, consistent_read=True)]
    return int(fresh.delivered_count or 0), int(fresh.read_count or 0), acks


@pytest.mark.parametrize("operation", ["GetItem", "Query"])
def test_an_ack_whose_reads_are_throttled_is_taken_once_when_waha_retries(
    waha_api: FakeWaha, alice: ApiClient, build: Builder, operation: str
) -> None:
    FIGURES.case(SUITE)
    session_id, name = connect(alice, waha_api)
    campaign, ids = _sent_campaign(build, session_id, name)

    with dynamodb_errors(operation, times=3) as absorbed:  # the SDK's retries take it
        assert waha_api.ack(name, ids[0], "READ") == 200
    with dynamodb_errors(operation) as persistent:
        refused = waha_api.ack(name, ids[1], "DEVICE")
    FIGURES.fault(SUITE, absorbed.injected + persistent.injected)
    # Not taken now (409, as the README says of a write that fails): WAHA retries it, the
    # same event byte for byte, and then it counts once. Never a 5xx.
    if refused >= 500:
        FIGURES.server_error(SUITE)
    assert refused == 409, refused
    assert waha_api.replay() == 200
    assert waha_api.replay() == 200

    assert _counts(campaign) == (2, 1, ["Read", "Delivered", None])


def test_the_same_ack_twice_at_once_with_throttled_reads_counts_once(
    waha_api: FakeWaha, alice: ApiClient, build: Builder
) -> None:
    FIGURES.case(SUITE)
    session_id, name = connect(alice, waha_api)
    campaign, ids = _sent_campaign(build, session_id, name)
    captured: list[tuple[str, dict[str, str], bytes]] = []
    deliver, waha_api.deliver = (
        waha_api.deliver,
        lambda url, headers, raw: captured.append((url, headers, raw)) or 0,
    )
    try:
        waha_api.ack(name, ids[2], "READ")
    finally:
        waha_api.deliver = deliver
    ((url, headers, raw),) = captured

    with dynamodb_errors("GetItem", times=3) as fault:
        statuses = at_once(2, lambda: waha_api._post(url, headers, raw))
    FIGURES.fault(SUITE, fault.injected + 1)

    assert fault.injected == 3
    assert sorted(statuses) == [200, 200], statuses
    assert _counts(campaign) == (1, 1, [None, None, "Read"])


# --------------------------------------------------------------------------- eventually consistent pages


def _contacts_table() -> str:
    return config.settings().tables.contacts


GAPS = [
    pytest.param(lambda items: [2] if len(items) > 3 else [], 1, id="one-missing-mid-page"),
    pytest.param(lambda items: [0], 1, id="first-of-the-page-missing-once"),
    pytest.param(lambda items: [len(items) - 1] if len(items) > 1 else [], 1, id="last-of-the-page-missing"),
]


@pytest.mark.parametrize(("hide", "times"), GAPS)
def test_a_contact_missing_from_one_page_is_read_again_never_skipped(
    build: Builder, fake_waha: FakeWaha, hide: Callable[[list[Any]], list[int]], times: int
) -> None:
    FIGURES.case(SUITE)
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), FakeClock()

    with dynamodb_page_gaps(_contacts_table(), hide, times=times) as gaps:
        result = fake_clock_runner(fake_waha, invoker, clock).run(RunEvent(campaign.id), unlimited, "runner")
    FIGURES.fault(SUITE, gaps.cut)

    assert gaps.cut == times
    assert result is RunResult.COMPLETED
    done = check(campaign.id, fake_waha)
    assert (done["status"], done["sentCount"]) == ("Completed", N)
    assert [m["chatId"] for m in fake_waha.sent()] == [invariants.chat_of(p) for p in phones(N)]


def test_a_contact_that_stays_missing_pauses_the_campaign_where_it_was(
    build: Builder, fake_waha: FakeWaha
) -> None:
    FIGURES.case(SUITE)
    campaign = build.campaign(N)
    invoker, clock = RecordingInvoker(), FakeClock()
    # Contact 2 is missing from every read the runner makes of it.
    hide_two = lambda items: [i for i, item in enumerate(items) if item["index"]["N"] == "2"]  # noqa: E731

    with dynamodb_page_gaps(_contacts_table(), hide_two, times=MISSING_CONTACT_TRIES + 1) as gaps:
        result = fake_clock_runner(fake_waha, invoker, clock).run(RunEvent(campaign.id), unlimited, "runner")
    FIGURES.fault(SUITE, gaps.cut)

    paused = check(campaign.id, fake_waha)
    assert result is RunResult.PAUSED
    assert (paused["status"], paused["sentCount"], paused["lastProcessedContactIndex"]) == ("Paused", 2, 1)
    assert "Nothing was skipped" in paused["pauseReason"]
    CampaignStore().commands.resume(campaign.id, campaign.user_id, clock.wall())
    assert fake_clock_runner(fake_waha, invoker, clock).run(RunEvent(campaign.id), unlimited, "runner") is (
        RunResult.COMPLETED
    )
    done = check(campaign.id, fake_waha)
    assert (done["status"], done["sentCount"]) == ("Completed", N)


def test_a_due_campaign_missing_from_one_ticks_query_is_started_by_the_next(build: Builder) -> None:
    FIGURES.case(SUITE)
    due = build.campaign(N)
    campaigns_table = config.settings().tables.campaigns
    invoker = RecordingInvoker()
    mine = lambda items: [i for i, item in enumerate(items) if item["id"]["S"] == due.id]  # noqa: E731

    with dynamodb_page_gaps(campaigns_table, mine) as gaps:
        first = tick(invoker, utcnow())
    second = tick(invoker, utcnow())
    FIGURES.fault(SUITE, gaps.cut)

    assert gaps.cut == 1
    assert (first.started, second.started) == ([], [due.id])
    assert [e["campaignId"] for e in invoker.pop_all()] == [due.id]
