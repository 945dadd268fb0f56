"""A simulated month on a fake clock: five campaigns on two WhatsApp numbers, checked
against what WhatsApp (behind WAHA) received.

From Tuesday 20 October 2026 for 30 days: Madrid leaves summer time on Sunday 25
October, New York on Sunday 1 November; Kolkata keeps its offset. The campaigns'
schedules overlap on each number, their send windows are in those three zones (two
span midnight, one skips Wednesdays and weekends), each number's daily limit binds,
contacts reply STOP (some before a campaign reaches them, some after a campaign sent
to them and before another one does), the user starts, pauses and resumes campaigns,
Lambda and SQS deliver copies of invocations and lose continuations, the runner's
process dies between claim and send and between send and record, and WAHA is
sometimes slow.

Everything runs the product's own code: the runner, the schedule's tick, the
webhook's signature check and opt-out rules, the API's campaign commands, on
DynamoDB that is moto's server over HTTP. What is simulated is time, Lambda and SQS
delivering events, and WAHA with WhatsApp (`month_sim.py`; the scenario's driver
and the checks are in `month_world.py` and `month_checks.py`).

A case of this suite is one campaign run through its simulated weeks; its faults are
the invocations duplicated, crashed or lost (opt-outs, pauses and slow calls are the
scenario, not faults).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaigns.api.optouts import OptOutKeywords
from campaigns.domain.number_pacing import AT_LIMIT, BUSY
from campaigns.inbound import opt_out_hook, set_opt_out_hook
from campaigns.observability import logger
from campaigns.runner.turns import NumberTurn
from campaigns.runner.waits import WAITING_BETWEEN_MESSAGES
from campaigns.sending.pacing import Pacer
from tests.reliability.figures import FIGURES
from tests.reliability.month_checks import utc_offsets
from tests.reliability.month_world import Findings, Plan, Scenario, World, examine

SUITE = "month"
SEED = 20261020
START = datetime(2026, 10, 20, tzinfo=UTC)  # a Tuesday
POOL = [f"+34612{index:06d}" for index in range(230)]


def hours(value: float) -> timedelta:
    return timedelta(hours=value)


PLANS = (
    Plan(
        "Madrid mornings",
        "month-a",
        range(0, 60),
        {"start": "09:00", "end": "20:00", "timeZone": "Europe/Madrid"},
        30_000,
        60_000,
        START + hours(6),
    ),
    Plan(
        "Kolkata weekdays",
        "month-a",
        range(90, 130),
        {"start": "10:00", "end": "18:00", "timeZone": "Asia/Kolkata", "days": ["Mon", "Tue", "Thu", "Fri"]},
        45_000,
        90_000,
        None,
    ),
    Plan(
        "New York nights",
        "month-a",
        range(40, 100),
        {"start": "22:00", "end": "06:00", "timeZone": "America/New_York"},
        20_000,
        40_000,
        START + timedelta(days=12),
        typing=True,
    ),
    Plan(
        "Madrid evenings",
        "month-b",
        range(180, 230),
        {"start": "20:00", "end": "01:00", "timeZone": "Europe/Madrid"},
        20_000,
        30_000,
        START + timedelta(days=3, hours=17),
    ),
    Plan(
        "New York days",
        "month-b",
        range(120, 190),
        {"start": "09:00", "end": "17:00", "timeZone": "America/New_York"},
        1_000,
        2_000,
        START + timedelta(days=4, hours=12),
    ),
)

SCRIPT: list[tuple[datetime, str, tuple[str, ...]]] = [
    (START + hours(6.83), "user", ("run", "Kolkata weekdays")),  # Tuesday 06:50 UTC
    (START + hours(7.6), "user", ("pause", "Madrid mornings")),
    (START + hours(9), "stop", ("ahead", "Madrid mornings")),
    (START + hours(9.5), "user", ("resume", "Madrid mornings")),
    (START + hours(10), "stop", ("ahead", "New York days")),
    (START + hours(10.5), "stop", ("ahead", "Madrid evenings")),
    (START + timedelta(days=1, hours=9), "stop", ("sent", "month-a")),
    (START + timedelta(days=2, hours=11), "stop", ("sent", "month-a")),
    (START + timedelta(days=3, hours=19), "stop", ("ahead", "Madrid evenings")),
    (START + timedelta(days=4, hours=21), "stop", ("sent", "month-b")),
    (START + timedelta(days=5, hours=14), "stop", ("ahead", "New York days")),
    (START + timedelta(days=5, hours=15, minutes=7), "user", ("pause", "New York days")),
    (START + timedelta(days=5, hours=17), "user", ("resume", "New York days")),
    (START + timedelta(days=6, hours=10), "stop", ("sent", "month-a")),
    (START + timedelta(days=9, hours=12), "stop", ("ahead", "New York nights")),
    (START + timedelta(days=11, hours=4), "stop", ("ahead", "New York nights")),
    (START + timedelta(days=12, hours=3), "stop", ("sent", "month-a")),
]

MONTH = Scenario(
    start=START,
    days=30,
    numbers={"month-a": 40, "month-b": 30},
    pool=POOL,
    plans=PLANS,
    script=SCRIPT,
    not_on_whatsapp=frozenset({POOL[7], POOL[64], POOL[113], POOL[178], POOL[205]}),
    duplicate_p=0.01,
    lose_p=0.01,
    crashes=5,
)


def simulate(scenario: Scenario, seed: int) -> tuple[World, float]:
    """The scenario run to its end; the opt-out rules installed on inbound messages
    as the API installs them. Returns the world and the real seconds it took."""
    began = time.monotonic()
    previous_hook = opt_out_hook()
    set_opt_out_hook(OptOutKeywords())
    level = logger.log_level
    logger.setLevel("WARNING")  # thousands of invocations: their info lines cost more than their work
    try:
        world = World(scenario, seed).set_up().run()
    finally:
        logger.setLevel(level)
        set_opt_out_hook(previous_hook)
    return world, time.monotonic() - began


def test_a_month_of_campaigns_keeps_every_sending_rule(tables: str) -> None:
    world, wall_s = simulate(MONTH, SEED)
    found = examine(world, SUITE)
    faults = world.invoker.faults + Counter({"crash": sum(world.sender.crashes.values())})
    FIGURES.case(SUITE, len(PLANS))
    FIGURES.fault(SUITE, sum(faults.values()))
    FIGURES.silent_skips(SUITE, found.silent_skips)
    _record_figures(world, found, faults, wall_s)

    exercised = _exercised(world, found)
    problems = found.problems + [f"not exercised: {what}" for what, ok in exercised.items() if not ok]
    assert not problems, "\n".join(problems)


def _kind(reason: str) -> str:
    if reason.startswith("park: Outside the send window"):
        return "outside the window"
    if reason.startswith("park: This WhatsApp number reached its daily limit"):
        return "daily limit"
    return {
        f"park: {BUSY}": "the other campaign's turn",
        f"park: {WAITING_BETWEEN_MESSAGES}": "pacing",
    }.get(reason, reason.removeprefix("park: "))


def _record_figures(world: World, found: Findings, faults: Counter[str], wall_s: float) -> None:
    for number, pairs in sorted(found.gaps.items()):
        tightest = min(pairs, key=lambda g: g.seconds - g.required_s)
        FIGURES.detail(
            SUITE,
            f"closest sends on {number} against their gap",
            f"{tightest.seconds:.3f} s where {tightest.required_s:g} s is required "
            f"({min(g.seconds for g in pairs):.3f} s the shortest of {len(pairs)} gaps)",
        )
    for number, most in sorted(found.most_in_a_day.items()):
        FIGURES.detail(
            SUITE,
            f"most sends in a rolling 24 h on {number}",
            f"{most} (daily limit {world.scenario.numbers[number]})",
        )
    FIGURES.detail(SUITE, "sends outside their window", str(len(found.outside_windows)))
    FIGURES.detail(
        SUITE,
        "sends after an opt-out was recorded",
        f"{len(found.opt_outs.after_check)} (and {len(found.opt_outs.in_flight)} already past "
        "their opt-out check when it arrived)",
    )
    contacts = sum(len(p.contacts) for p in world.scenario.plans)
    FIGURES.detail(
        SUITE,
        "contacts and deliveries",
        f"{contacts} contacts in {len(world.scenario.plans)} campaigns, all Completed: "
        + ", ".join(f"{found.statuses[s]} {s}" for s in ("Sent", "Failed", "Unknown", "Skipped")),
    )
    FIGURES.detail(
        SUITE,
        "opt-outs",
        f"{len(world.opt_outs)} STOP webhooks, {sum(o.reached_before for o in world.opt_outs)} of them "
        "after a message",
    )
    FIGURES.detail(SUITE, "faults", ", ".join(f"{n} {what}" for what, n in sorted(faults.items())))
    parks = Counter[str]()
    for reason, n in world.noted.items():
        if reason.startswith("park: "):
            parks[_kind(reason)] += n
    FIGURES.detail(
        SUITE,
        "waits",
        ", ".join(f"{n} {kind}" for kind, n in parks.most_common())
        + f"; after WAHA calls slower than the turn allowed ({world.sender.slow_calls} calls of 1.5-4 s), "
        f"{world.noted['turn moved later']} turns moved later and {world.noted['turn taken again']} "
        "taken again after the other campaign's",
    )
    FIGURES.detail(
        SUITE,
        "simulated",
        f"{world.scenario.days} days, {world.sim.events['invoke']} runner invocations, "
        f"{world.ticks['run']} schedule ticks that ran and {world.ticks['nothing due']} with nothing due",
    )
    FIGURES.detail(SUITE, "wall time", f"{wall_s:.1f} s")
    for name, value in FIGURES.details()[SUITE].items():
        print(f"month, {name}: {value}")


def _exercised(world: World, found: Findings) -> dict[str, bool]:
    """The month is not vacuous: each rule had to act."""
    sent = world.sender.sent
    offsets = {
        plan.name: utc_offsets(plan.window or {}, [m for m in sent if m.campaign_id == world.ids[plan.name]])
        for plan in world.scenario.plans
    }
    stopped_after_a_message = {o.phone for o in world.opt_outs if o.reached_before}
    skipped = [d for ds in found.log.values() for d in ds if d.status == "Skipped"]
    turns = {
        number: sum(
            1 for g in pairs if g.first.campaign_id != g.second.campaign_id and g.seconds < 5 * g.required_s
        )
        for number, pairs in found.gaps.items()
    }
    limits = {name: f"park: {AT_LIMIT.format(limit=limit)}" for name, limit in world.scenario.numbers.items()}
    kolkata = ZoneInfo("Asia/Kolkata")
    weekdays = {
        m.at.astimezone(kolkata).strftime("%a")
        for m in sent
        if m.campaign_id == world.ids["Kolkata weekdays"]
    }
    return {
        **{f"the daily limit of {n}": world.noted[reason] > 0 for n, reason in limits.items()},
        **{f"two campaigns taking turns on {n}": turns.get(n, 0) > 0 for n in world.scenario.numbers},
        "a closed send window": any(r.startswith("park: Outside the send window") for r in world.noted),
        "Madrid on both sides of its change": 2
        in {len(offsets["Madrid mornings"]), len(offsets["Madrid evenings"])},
        "New York on both sides of its change": 2
        in {len(offsets["New York nights"]), len(offsets["New York days"])},
        "Kolkata sending on Tuesday and Thursday, not Wednesday": {"Tue", "Thu"} <= weekdays,
        "a contact opted out before a campaign reached it": any(
            d.phone_number not in stopped_after_a_message for d in skipped
        ),
        "a contact opted out after a message, skipped by a later campaign": any(
            d.phone_number in stopped_after_a_message for d in skipped
        ),
        "duplicated invocations": world.invoker.faults["duplicated invocation"] > 0,
        "lost continuations": world.invoker.faults["lost continuation"] > 0,
        "crashes, each leaving an Unknown": found.statuses["Unknown"]
        == sum(world.sender.crashes.values())
        > 0,
        "numbers not on WhatsApp": found.statuses["Failed"] > 0,
        "the user's pauses": not world.user_refused,
    }


# ------------------------------------------------------------------ what the month found


def test_a_send_never_starts_before_the_minimum_gap_when_this_sends_calls_are_faster() -> None:
    """The pacer ends a wait earlier by the calls it measured before recent sends (the
    claim, the number check, the message id). When this send's calls are faster, that
    took the gap under the minimum: the month saw 0.927 s between two sends of a 1-2 s
    campaign. The message is now held just before its request until the drawn gap."""
    clock = {"now": 100.0}

    def sleep(seconds: float) -> None:
        clock["now"] += seconds

    pacer = Pacer(1_000, 1_000, random.Random(1), lambda: clock["now"])
    pacer.sent(100.0, lead_s=0.3)  # the calls before that send took 0.3 s
    # The gap and its 10 ms margin for the requests' transit; the wait ends by the lead.
    assert 710 <= pacer.wait_ms() <= 711
    sleep(0.7)
    turn = NumberTurn(lambda: clock["now"], sleep)
    turn.pace_until = pacer.due()
    assert turn.on_time()  # ...and with no call this time, the request is held
    assert clock["now"] == pytest.approx(101.01)  # the gap is over: 1 s (and 10 ms) after
    wide = Pacer(1_000, 2_000, random.Random(1), lambda: clock["now"])
    wide.sent(clock["now"], lead_s=0.3)
    assert wide.due() == pytest.approx(clock["now"] + wide.delay_ms / 1000 + 0.01)


TWO_ON_ONE = Scenario(
    start=START,
    days=1,
    numbers={"month-a": 1_000},
    pool=POOL,
    plans=(
        Plan("First", "month-a", range(0, 30), None, 1_000, 1_500, START + hours(1)),
        Plan("Second", "month-a", range(100, 130), None, 1_000, 3_000, START + hours(1)),
    ),
    slow_p=0.3,
)


def test_two_campaigns_on_a_number_keep_its_gap_when_waha_is_often_slow(tables: str) -> None:
    """A campaign took the number's turn, then a slow number check pushed its send past
    the moment recorded on the number; the other campaign, counting from that moment,
    sent 28.4 s after it where 30 s was the gap. Now a send whose calls overran its
    turn moves the turn later if it is still the number's last, and otherwise gives
    the contact back and takes a turn after the other campaign's. Here three WAHA calls
    in ten take 1.5-4 s, and two campaigns take turns on one number with a 1 s gap."""
    world, _ = simulate(TWO_ON_ONE, SEED)
    found = examine(world, SUITE)
    FIGURES.case(SUITE, len(TWO_ON_ONE.plans))

    assert not found.problems, "\n".join(found.problems)
    switches = sum(1 for g in found.gaps["month-a"] if g.first.campaign_id != g.second.campaign_id)
    assert switches >= 10, switches  # they took turns
    assert world.noted["turn moved later"] > 0  # slow calls overran turns that were the number's last
    assert world.noted["turn taken again"] > 0  # and turns the other campaign had taken a turn after
    assert found.statuses == Counter({"Sent": 60})


def test_the_waha_sender_sends_nothing_once_its_turn_is_over(fake_waha) -> None:
    """The sender asks just before the delivering request, after asking WAHA for the
    message id: a message whose turn is over reaches no send endpoint."""
    from campaigns.sending.sender import Media, OutgoingMessage, SendTooLate
    from tests.reliability.faults import waha_sender

    sender = waha_sender(fake_waha)
    late = OutgoingMessage(session="default", phone_number="+34612000001", text="Hola", on_time=lambda: False)
    media = Media("https://cdn.example.com/a.jpg", "image/jpeg", "a.jpg")
    for message in (late, OutgoingMessage("default", "+34612000002", "Hola", media, on_time=lambda: False)):
        with pytest.raises(SendTooLate):
            sender.send(message)
    assert fake_waha.sent() == [] and fake_waha.count_requests("new-message-id") == 1

    asked: list[bool] = []
    on_time = OutgoingMessage("default", "+34612000003", "Hola", on_time=lambda: asked.append(True) or True)
    assert sender.send(on_time).message_id
    assert asked == [True] and len(fake_waha.sent()) == 1


def test_a_late_turn_moves_later_only_while_it_is_the_numbers_last() -> None:
    from campaigns.domain.number_pacing import NumberState, after_send, hour_key, moved_later

    at = datetime(2026, 10, 20, 9, 59, 59, tzinfo=UTC)
    mine = after_send(NumberState(), "mine", 30_000, at, at)
    later = at + timedelta(seconds=3)
    moved = moved_later(mine, "mine", later)
    assert moved is not None and moved.last_send_at == later
    # The send is counted in the hour it now falls in, once.
    assert moved.hourly == {hour_key(later): 1} and hour_key(later) != hour_key(at)
    theirs = after_send(mine, "theirs", 30_000, at + timedelta(seconds=30), at)
    assert moved_later(theirs, "mine", later) is None
