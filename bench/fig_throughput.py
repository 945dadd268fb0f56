"""Figure 2: contacts per second of the runner against the naive baseline, zero delay,
through the same WahaSender to the fake WAHA at 0 ms and at 200 ms latency; and a
profile of the runner's run, to find where its time goes.

Both runners send to the same endpoint with the same sender. Like for like, the
campaigns have `checkNumbers` off (the naive plan has no number check); the
runner with the default options (`checkNumbers` on: one more WAHA call per
contact) is shown beside them. The runs alternate (naive, ours, ours with the number
check, twice, half the contacts each time) so that a change of load on the machine
hits all three alike.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable

from bench import common
from bench.common import Context, FigureResult, Row, md_table


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _ours(fake, contacts: int, check_numbers: bool) -> float:
    campaign = common.seed_campaign(contacts, check_numbers=check_numbers)
    sender = common.waha_sender(fake)
    results: list = []
    seconds = _timed(lambda: results.append(common.run_runner(campaign.id, sender)))
    if str(results[0]) != "completed":
        raise RuntimeError(f"the runner did not complete: {results[0]}")
    return seconds


def _naive(fake, contacts: int) -> float:
    from bench.naive import run_naive

    campaign = common.seed_campaign(contacts, check_numbers=False)
    sender = common.waha_sender(fake)
    return _timed(lambda: run_naive(campaign.id, sender))


def _measure(latency_ms: int, contacts: int) -> dict[str, tuple[float, float]]:
    """{variant: (contacts/s, WAHA requests per contact)}"""
    half = contacts // 2
    seconds = {"naive": 0.0, "ours": 0.0, "ours, checkNumbers on": 0.0}
    requests = dict.fromkeys(seconds, 0)
    with common.fake_waha(latency_ms) as fake:
        # Warm both paths (connection pools, first-use imports) outside the timing.
        _ours(fake, 2, False)
        _naive(fake, 2)
        for _ in range(2):
            for name, run in (
                ("naive", lambda: _naive(fake, half)),
                ("ours", lambda: _ours(fake, half, False)),
                ("ours, checkNumbers on", lambda: _ours(fake, half, True)),
            ):
                before = fake.count_requests()
                seconds[name] += run()
                requests[name] += fake.count_requests() - before
    return {name: (2 * half / seconds[name], requests[name] / (2 * half)) for name in seconds}


# ------------------------------------------------------------------- profile

# (label, how to find it in the profile: file suffix, function name)
_COMPONENTS = [
    ("DynamoDB requests (pynamodb + botocore + HTTP)", "pynamodb/connection/base.py", "dispatch"),
    ("  of which the HTTP exchange (server time included)", "botocore/endpoint.py", "_send"),
    ("WAHA requests (WahaClient + requests + HTTP)", "campaigns/sending/waha_client.py", "_call"),
    ("  of which the HTTP exchange (server time included)", "requests/sessions.py", "send"),
    ("logging (Powertools formatter, JSON)", "logging/__init__.py", "handle"),
    ("personalising the text", "campaigns/domain/personalise.py", "render_message"),
]


def _cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    total = 0.0
    for (filename, _, function), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if function == name and filename.replace("\\", "/").endswith(suffix):
            total += cumulative
    return total


def profile_runner(fake, contacts: int) -> tuple[float, list[list[str]], list[list[str]]]:
    campaign = common.seed_campaign(contacts, check_numbers=False)
    sender = common.waha_sender(fake)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    common.run_runner(campaign.id, sender)
    profiler.disable()
    wall = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    run_total = _cumulative(stats, "campaigns/runner/service.py", "run")
    rows = []
    for label, suffix, name in _COMPONENTS:
        seconds = _cumulative(stats, suffix, name)
        rows.append([label, f"{seconds * 1000 / contacts:.2f}", f"{100 * seconds / run_total:.0f} %"])
    rows.append(["the whole run", f"{run_total * 1000 / contacts:.2f}", "100 %"])
    top = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:10]  # type: ignore[attr-defined]
    top_rows = []
    for (filename, line, function), (_, calls, own, _, _) in top:
        where = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        top_rows.append([f"`{function}` ({where}:{line})", f"{calls}", f"{own * 1000 / contacts:.2f}"])
    return wall, rows, top_rows


# ------------------------------------------------------ the emulator's own cost


class _Stamps:
    """A time budget that never runs out and notes when it is asked: the runner asks
    once per contact (can it afford the next one?), so the stamps time each contact."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self) -> int:
        self.times.append(time.perf_counter())
        return 10**9


def _rates_over_run(contacts: int, window: int) -> tuple[float, float, float]:
    """Contacts/s over a whole run, its first `window` contacts and its last."""
    campaign = common.seed_campaign(contacts, check_numbers=False)
    stamps = _Stamps()
    started = time.perf_counter()
    result = common.run_runner(campaign.id, common.PlainDryRunSender(), remaining_ms=stamps)
    total = time.perf_counter() - started
    if str(result) != "completed":
        raise RuntimeError(f"the runner did not complete: {result}")
    times = stamps.times
    first = window / (times[window] - times[0])
    last = window / (times[-1] - times[-1 - window])
    return contacts / total, first, last


def emulator_cost(ctx: Context) -> tuple[list[list[str]], int, int]:
    """The same run on stock moto, and on the local stack's server (devstack/moto_fast.py)."""
    from bench.dbserver import DynamoServer

    contacts = ctx.size(1_500, 100)
    window = max(25, contacts // 6)
    rows = []
    for label, stock in (
        ("stock moto", True),
        ("the local stack's server (devstack/moto_fast.py)", False),
    ):
        common.progress(f"figure 2: {contacts} contacts on {label}")
        if stock:
            with DynamoServer(stock=True) as db:
                common.use_endpoint(db.endpoint)
                try:
                    db.reset()
                    rates = _rates_over_run(contacts, window)
                finally:
                    common.use_endpoint(ctx.db.endpoint)
        else:
            ctx.db.reset()
            rates = _rates_over_run(contacts, window)
        rows.append(
            [label, f"{rates[0]:.1f}", f"{rates[1]:.1f}", f"{rates[2]:.1f}", f"{rates[2] / rates[1]:.2f}"]
        )
    return rows, contacts, window


# ------------------------------------------------------------------- figure


def run(ctx: Context) -> FigureResult:
    figure = FigureResult("throughput", "2. Runner throughput against the naive baseline")
    ctx.db.reset()
    table = []
    ratios: dict[int, float] = {}
    for latency, contacts in ((0, ctx.size(1_000, 100)), (200, ctx.size(60, 6))):
        common.progress(f"figure 2: WAHA latency {latency} ms, {contacts} contacts per runner")
        measured = _measure(latency, contacts)
        naive_rate = measured["naive"][0]
        for name, (rate, waha_calls) in measured.items():
            table.append(
                [
                    f"{latency} ms",
                    name,
                    f"{rate:.1f}",
                    f"{rate / naive_rate:.2f}",
                    f"{waha_calls:.2f}",
                    contacts,
                ]
            )
        ratio = measured["ours"][0] / naive_rate
        ratios[latency] = ratio
        figure.rows.append(
            Row(
                "2",
                f"Throughput ours/naive, WAHA {latency} ms (checkNumbers off; default options)",
                f"{ratio:.2f}; {measured['ours, checkNumbers on'][0] / naive_rate:.2f}",
            )
        )
    figure.details.append(
        "Zero delay between sends, one runner invocation with unlimited time, contacts per second "
        "over the whole run (start and completion included):\n\n"
        + md_table(
            [
                "WAHA latency",
                "runner",
                "contacts/s",
                "ratio to naive",
                "WAHA requests per contact",
                "contacts",
            ],
            table,
        )
    )
    figure.details.append(
        "The runner's WAHA requests per contact: `new-message-id` + `sendText` (as the naive "
        "baseline, same sender), plus `GET session` + `GET me` once per chunk (the session check), "
        "plus `check-exists` per contact with `checkNumbers` on. At 200 ms the ratio is bounded by "
        "these calls; at 0 ms by the DynamoDB write each runner makes per contact (a transaction "
        "of two items against a single update)."
    )

    contacts = ctx.size(400, 50)
    common.progress(f"figure 2: profile of the runner over {contacts} contacts (WAHA 0 ms)")
    with common.fake_waha(0) as fake:
        common.run_runner(common.seed_campaign(2, check_numbers=False).id, common.waha_sender(fake))
        wall, rows, top = profile_runner(fake, contacts)
    figure.details.append(
        f"Where the runner's time goes (cProfile over {contacts} contacts, WAHA at 0 ms, checkNumbers "
        f"off; {wall:.1f} s under the profiler, which inflates Python work against waiting):\n\n"
        + md_table(["component", "ms per contact", "share of the run"], rows)
        + "\n\nFunctions with the most own time:\n\n"
        + md_table(["function", "calls", "own ms per contact"], top)
    )
    emulator_rows, emulator_contacts, window = emulator_cost(ctx)
    if ctx.quick:
        checked = "not checked in a --quick run; `.venv/bin/python -m bench.dbcheck` checks it"
    else:
        from bench.dbcheck import check

        common.progress("figure 2: checking the local stack's server against stock moto")
        shapes, transactions, differences = check()
        checked = (
            f"checked against stock moto in this run: {shapes} Query shapes and {transactions} transaction "
            f"checks, rollbacks included, {len(differences)} differences"
        )
    figure.details.append(
        f"The emulator's own cost: the same zero-delay run over {emulator_contacts:,} contacts (dry-run "
        f"sender), on stock moto and on the local stack's server, which takes out two costs of moto "
        f"that grow with the tables (see devstack/moto_fast.py). "
        f"Contacts per second over the whole run, its first {window} contacts and its last {window}:\n\n"
        + md_table(
            ["DynamoDB", "whole run", f"first {window}", f"last {window}", "last / first"], emulator_rows
        )
    )
    stock_slowdown = float(emulator_rows[0][4])
    dynamodb_share = rows[0][2]
    wire_share = rows[1][2]
    figure.findings.append(
        "**The largest cost of a contact is its DynamoDB write.** Profiled at 0 ms WAHA, DynamoDB "
        f"requests take {dynamodb_share} of the runner's time, {wire_share} being the HTTP exchange "
        f"with the server; WAHA's two calls take {rows[2][2]}; the runner's own code (pacing, "
        "personalising, bookkeeping) is negligible. The runner already makes the fewest writes the "
        "protocol allows when sends follow at once: one transaction per contact that records it "
        "and claims the next (figure 1), against the naive plan's one update with no claim and no "
        "log. What is left is the transaction's weight (two items written atomically, which moto "
        "also handles more slowly than a single update) and, per chunk, the session check (two WAHA "
        f"calls) and the first contact's claim: ours runs at {ratios[0]:.2f} x the naive speed at "
        f"0 ms and {ratios[200]:.2f} x at 200 ms (figure 2), the price of exactly-once and of the "
        "delivery log. No cheap change to runner.py or store.py was found that removes a request "
        "without giving up the claim or the log; the costs that could be cut were the emulator's "
        "(next item) and the pacing error (item 3)."
    )
    figure.findings.append(
        "**On the local stack, moto itself was the largest cost, and it grew with the tables.** "
        "moto's `TransactWriteItems` deep-copies every table it writes to before writing (to roll "
        "back), and its `Query` lists and sorts the whole table for every page; so each contact "
        "costs more than the one before (the run's last contacts go at "
        f"{stock_slowdown:.2f} x the speed of its first in figure 2's last table), so a run's time "
        "grows with the square of its length. What was done: the local stack's DynamoDB "
        "(devstack/moto_fast.py, which `make dev`, `make demo`, the tests and these benchmarks "
        "run) backs up only the items a transaction writes and narrows a key Query to the items "
        f"from its lower bound, leaving every condition, limit and page key to moto ({checked}; "
        "tests/test_dynamodb_server.py checks DynamoDB's semantics on it). Figure 8 compares a "
        "run over 10,000 contacts with one over 1,000 on it."
    )
    return figure
