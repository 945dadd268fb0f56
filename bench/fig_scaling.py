"""Figure 8: per contact, a run over 10,000 contacts against one over 1,000, on the
local stack's DynamoDB.

The DynamoDB server is the one `make dev`, `make demo` and the tests run
(devstack's AtomicMotoServer, with devstack/moto_fast.py), in the benchmarks'
child process; `python -m bench --stock-moto` runs it on moto without those
patches, for comparison. Each run starts from emptied tables: a list of N contacts
and a Scheduled campaign are written straight to the tables (timed on their own:
the seeding), then one invocation of the real runner with unlimited time takes the
campaign to the end, zero delay, the dry-run sender, `checkNumbers` off: what a
contact costs the local stack, without WAHA. The runs alternate, 1,000, 10,000,
1,000, 10,000, 1,000 (one round only on stock moto, whose run over 10,000 takes
half an hour, and in a --quick run), so that a change of load on the machine hits
both sizes; each size's rate is that of its runs together.

The machine is shared (other people's tests run on it), so beside the wall-clock
rate the figure gives the CPU time per contact of both processes (the runner's and
the DynamoDB server's), which another process's load hardly moves.
"""

from __future__ import annotations

import os
import time

from bench import common
from bench.common import Context, FigureResult, Row, md_table

TARGET = 0.9
ROUNDS = 2  # runs over the large size, each between two over the small one


class _Stamps:
    """A time budget that never runs out and notes when it is asked: the runner asks
    once per contact, so the stamps time each contact."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self) -> int:
        self.times.append(time.perf_counter())
        return 10**9


class _Run:
    def __init__(self, contacts: int) -> None:
        self.contacts = contacts
        self.seed_s = 0.0
        self.run_s = 0.0
        self.cpu_s = 0.0  # the runner's process and the DynamoDB server's, during the run
        self.load = (0.0, 0.0)  # 1-minute load average before and after the run
        self.stamps = _Stamps()

    def rate(self) -> float:
        return self.contacts / self.run_s

    def cpu_ms(self) -> float:
        return 1000 * self.cpu_s / self.contacts

    def window_rate(self, first: bool, window: int) -> float:
        times = self.stamps.times
        if first:
            return window / (times[window] - times[0])
        return window / (times[-1] - times[-1 - window])


def _rate(runs: list[_Run]) -> float:
    return sum(r.contacts for r in runs) / sum(r.run_s for r in runs)


def _seed_rate(runs: list[_Run]) -> float:
    return sum(r.contacts for r in runs) / sum(r.seed_s for r in runs)


def _cpu_ms(runs: list[_Run]) -> float:
    return 1000 * sum(r.cpu_s for r in runs) / sum(r.contacts for r in runs)


def _one_run(ctx: Context, contacts: int) -> _Run:
    run = _Run(contacts)
    ctx.db.reset()
    started = time.perf_counter()
    campaign = common.seed_campaign(contacts, check_numbers=False)
    run.seed_s = time.perf_counter() - started
    load_before = os.getloadavg()[0]
    cpu = time.process_time() + ctx.db.cpu_seconds()
    started = time.perf_counter()
    result = common.run_runner(campaign.id, common.PlainDryRunSender(), remaining_ms=run.stamps)
    run.run_s = time.perf_counter() - started
    run.cpu_s = time.process_time() + ctx.db.cpu_seconds() - cpu
    run.load = (load_before, os.getloadavg()[0])
    if str(result) != "completed":
        raise RuntimeError(f"the runner did not complete {contacts} contacts: {result}")
    sent = common.reload_campaign(campaign.id).sent_count
    if sent != contacts:
        raise RuntimeError(f"the runner sent {sent} of {contacts} contacts")
    return run


def run(ctx: Context) -> FigureResult:
    figure = FigureResult("scaling", "8. A run over 10,000 contacts against one over 1,000")
    small, large = ctx.size(1_000, 100), ctx.size(10_000, 1_000)
    stock = getattr(ctx.db, "stock", False)
    server = "stock moto (`--stock-moto`)" if stock else "the local stack's server"

    common.progress("figure 8: warming up")
    _one_run(ctx, 5)
    rounds = 1 if ctx.quick or stock else ROUNDS
    runs: list[_Run] = []
    for contacts in [small, *[large, small] * rounds]:
        common.progress(f"figure 8: {contacts:,} contacts on {server}")
        runs.append(_one_run(ctx, contacts))
        common.progress(f"figure 8: {contacts:,} contacts: {runs[-1].rate():.1f} contacts/s")

    small_runs = [r for r in runs if r.contacts == small]
    large_runs = [r for r in runs if r.contacts == large]
    small_rate, large_rate = _rate(small_runs), _rate(large_runs)
    ratio = large_rate / small_rate
    small_seed, large_seed = _seed_rate(small_runs), _seed_rate(large_runs)
    small_cpu_ms, large_cpu_ms = _cpu_ms(small_runs), _cpu_ms(large_runs)
    cpu_ratio = small_cpu_ms / large_cpu_ms
    figure.rows.append(
        Row(
            "8",
            f"Contacts per second, run over {large:,} / over {small:,} contacts "
            f"({'stock moto' if stock else 'local stack'}'s DynamoDB, zero delay)",
            f"{ratio:.2f} ({large_rate:.1f} / {small_rate:.1f})",
            f"≥ {TARGET}",
            common.verdict(ratio >= TARGET),
        )
    )
    figure.rows.append(
        Row(
            "8",
            f"The same by CPU time per contact (runner + DynamoDB server): {small:,} / {large:,}",
            f"{cpu_ratio:.2f} ({small_cpu_ms:.2f} / {large_cpu_ms:.2f} ms)",
        )
    )
    figure.rows.append(
        Row(
            "8",
            f"Seeding the list and campaign, contacts per second: {large:,} / {small:,}",
            f"{large_seed / small_seed:.2f} ({large_seed:.0f} / {small_seed:.0f})",
        )
    )

    table = [
        [
            f"{r.contacts:,}",
            f"{r.seed_s:.1f}",
            f"{r.contacts / r.seed_s:.0f}",
            f"{r.run_s:.1f}",
            f"{r.rate():.1f}",
            f"{1000 * r.run_s / r.contacts:.2f}",
            f"{r.cpu_ms():.2f}",
            f"{r.load[0]:.1f} / {r.load[1]:.1f}",
        ]
        for r in runs
    ]
    window = min(small, large // 10)
    within = ", ".join(
        f"{r.window_rate(False, window) / r.window_rate(True, window):.2f} x" for r in large_runs
    )
    figure.details.append(
        f"On {server}; in the order run (each from emptied tables):\n\n"
        + md_table(
            [
                "contacts",
                "seeding s",
                "seeded contacts/s",
                "run s",
                "contacts/s",
                "ms per contact",
                "CPU ms per contact",
                "load before / after",
            ],
            table,
        )
        + f"\n\nWithin each run over {large:,} contacts, the rate of its last {window:,} contacts "
        f"against its first {window:,}: {within}."
    )
    figure.details.append(
        "Before devstack/moto_fast.py, moto copied every table a transaction writes to (the "
        "deliveries grow by one item per contact) and listed and sorted the whole contacts table "
        "for every page of 25, so each contact cost more than the one before and the rate over "
        "10,000 contacts fell well below that over 1,000 (`.venv/bin/python -m bench --stock-moto "
        "--only scaling` measures it). Seeding writes the contacts with BatchWriteItem, 25 at a "
        "time; its rate is given apart so that the runner's rate is the run's alone."
    )
    return figure
