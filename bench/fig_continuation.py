"""Figure 9: paying for sending, not for waiting. One campaign paced 3-4 s, run twice in
one process, side by side: the design that sleeps each gap inside the invocation
(`CONTINUATION_THRESHOLD_MS` above any gap) and the design that ends the invocation and
has a delayed continuation resume the run (the default, 2 s).

Billed runner time is the sum of the invocations' durations (what Lambda bills),
measured around each `CampaignRunner.run`; continuations are delivered by a small
loop that honours their whole-second delays as SQS does (the local stack's invoker
does the same). The runner sends through the real WAHA sender to the fake WAHA of
tests/fakewaha.py, whose arrival times give the gaps WhatsApp sees. DynamoDB is the
local stack's server. Requests per contact are counted on the runner's clients.
"""

from __future__ import annotations

import heapq
import itertools
import statistics
import time
from typing import Any

from bench import common
from bench.common import Context, FigureResult, Row, md_table

MIN_MS, MAX_MS = 3_000, 4_000
TOLERANCE = 0.03
# Prices (us-east-1, on-demand, 2026): Lambda arm64 per GB-second and per request; SQS
# standard per request; DynamoDB on demand per write and read request unit.
LAMBDA_GB_S = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1e6
SQS_REQUEST = 0.40 / 1e6
WRITE_UNIT, READ_UNIT = 1.25 / 1e6, 0.25 / 1e6
MEMORY_GB = 0.5


class DelayedInvoker:
    """The runner's invoker for this figure: hand-offs at once, continuations after
    their delay, all run one after another by `drain`."""

    def __init__(self) -> None:
        self._queue: list[tuple[float, int, dict[str, Any]]] = []
        self._seq = itertools.count()
        self.continuations = 0

    def invoke(self, event: dict[str, Any], function_name: str | None = None) -> None:
        heapq.heappush(self._queue, (time.monotonic(), next(self._seq), event))

    def continue_later(self, event: dict[str, Any], delay_s: int) -> None:
        self.continuations += 1
        heapq.heappush(self._queue, (time.monotonic() + delay_s, next(self._seq), event))

    def next_event(self) -> dict[str, Any] | None:
        if not self._queue:
            return None
        ready_at, _, event = heapq.heappop(self._queue)
        time.sleep(max(0.0, ready_at - time.monotonic()))
        return event


def _run(contacts: int, threshold_ms: int) -> dict[str, Any]:
    from campaigns.data.store import CampaignStore
    from campaigns.invoker import runner_event
    from campaigns.runner.service import CampaignRunner, RunEvent
    from tests.runner_harness import count_dynamodb_requests

    campaign = common.seed_campaign(contacts, min_delay_ms=MIN_MS, max_delay_ms=MAX_MS)
    cfg = common.settings(continuation_threshold_ms=threshold_ms, handoff_margin_ms=20_000)
    invoker = DelayedInvoker()
    durations: list[float] = []
    results: list[str] = []
    with common.fake_waha() as fake, count_dynamodb_requests() as counts:
        sender = common.waha_sender(fake)
        invoker.invoke(runner_event(campaign.id))
        while (event := invoker.next_event()) is not None:
            runner = CampaignRunner(CampaignStore(cfg.lease_seconds), sender, invoker, cfg)
            started = time.monotonic()
            result = runner.run(RunEvent.parse(event), _remaining_from(started))
            durations.append(time.monotonic() - started)
            results.append(str(result))
        times = [message["time"] for message in fake.sent()]
    if results[-1] != "completed" or len(times) != contacts:
        raise RuntimeError(f"run did not complete: {results[-3:]}, {len(times)} sends")
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(times)]
    writes = counts["UpdateItem"] + 2 * counts["TransactWriteItems"] + counts["PutItem"]
    reads = counts["GetItem"] + counts["Query"]
    return {
        "billed_s": sum(durations),
        "invocations": len(durations),
        "continuations": invoker.continuations,
        "gaps": gaps,
        "requests": sum(v for k, v in counts.items() if "." not in k),
        "writes": writes,
        "reads": reads,
        "contacts": contacts,
    }


def _remaining_from(started: float):
    """A Lambda context's time left, for an invocation that started at `started`."""
    return lambda: 900_000 - int((time.monotonic() - started) * 1000)


def _cost_per_contact(measured: dict[str, Any]) -> float:
    n = measured["contacts"]
    lambda_cost = (
        measured["billed_s"] / n * MEMORY_GB * LAMBDA_GB_S + measured["invocations"] / n * LAMBDA_REQUEST
    )
    sqs_cost = 3 * measured["continuations"] / n * SQS_REQUEST  # send, receive, delete
    dynamo_cost = measured["writes"] / n * WRITE_UNIT + measured["reads"] / n * READ_UNIT
    return lambda_cost + sqs_cost + dynamo_cost


def run(ctx: Context) -> FigureResult:
    figure = FigureResult("continuation", "9. Paying for sending, not for waiting (pacing 3-4 s)")
    contacts = ctx.size(12, 4)
    ctx.db.reset()
    designs = (("sleeps in the invocation (before)", 10**9), ("delayed continuations (now)", 2_000))
    measured = {}
    for label, threshold in designs:
        common.progress(f"figure 9: {contacts} contacts paced {MIN_MS}-{MAX_MS} ms, {label}")
        measured[label] = _run(contacts, threshold)
    rows = []
    for label, m in measured.items():
        gaps = m["gaps"]
        mean_gap = statistics.fmean(gaps)
        billed_per_contact_ms = 1000 * m["billed_s"] / m["contacts"]
        share = billed_per_contact_ms / mean_gap
        inside = sum(1 for g in gaps if MIN_MS * (1 - TOLERANCE) <= g <= MAX_MS * (1 + TOLERANCE))
        rows.append(
            [
                label,
                m["invocations"],
                f"{billed_per_contact_ms:.0f}",
                f"{100 * share:.1f} %",
                f"{mean_gap:.0f}",
                f"{min(gaps):.0f}-{max(gaps):.0f}",
                f"{inside}/{len(gaps)}",
                f"{m['requests'] / m['contacts']:.1f}",
                f"${1e5 * _cost_per_contact(m):.2f}",
            ]
        )
        now = label.endswith("(now)")
        figure.rows.append(
            Row(
                "9",
                f"Billed runner time per contact / mean gap, pacing 3-4 s, {label}",
                f"{billed_per_contact_ms:.0f} ms / {mean_gap:.0f} ms = {100 * share:.1f} %",
                "≤ 5 %" if now else "-",
                common.verdict(share <= 0.05) if now else "-",
            )
        )
        figure.rows.append(
            Row(
                "9",
                f"Gaps within 3-4 s (3 % tolerance), {label}",
                f"{inside}/{len(gaps)} (mean {mean_gap:.0f} ms)",
                "all" if now else "-",
                common.verdict(inside == len(gaps)) if now else "-",
            )
        )
    header = [
        "design",
        "invocations",
        "billed ms per contact",
        "of the mean gap",
        "mean gap ms",
        "gap range ms",
        "gaps within 3-4 s ±3 %",
        "DynamoDB requests per contact",
        "Lambda + SQS + DynamoDB per 100,000 contacts",
    ]
    figure.details.append(md_table(header, rows))
    figure.details.append(
        "Billed time is the sum of the invocations' durations. Sleeping in the invocation bills "
        "every gap; with delayed continuations an invocation sends one contact, records it and "
        "queues its continuation. The queue delays by whole seconds, so the runner moves each "
        "drawn gap to the nearest whole second that stays within [minDelayMs, maxDelayMs] "
        "(at 3-4 s the grid leaves about 3 s; at the default 30-60 s every whole second) and "
        "sleeps no remainder. Costs use us-east-1 on-demand prices: Lambda arm64 512 MB, SQS "
        "standard (send, receive, delete per continuation), DynamoDB on demand (a transaction's "
        "write counts twice)."
    )
    return figure
