"""Figure 1: DynamoDB requests per contact on the runner's hot path, and per chunk.

Counted with botocore's hooks (tests/runner_harness.count_dynamodb_requests) over
whole runs of two sizes, so the per-run requests (reads at the start, take,
complete) cancel out: per contact = difference of the counts / difference of the
sizes. A zero-delay run, and a paced one (30 s between sends on a fake clock: no
real waiting) where the runner cannot claim the next contact in the write that
records the last one.
"""

from __future__ import annotations

from collections import Counter

from bench import common
from bench.common import Context, FigureResult, Row, md_table

OPERATIONS = ("GetItem", "UpdateItem", "Query", "TransactWriteItems", "BatchWriteItem", "PutItem")

PURPOSES = """\
What each request is for (runner.py, store.py):

- per run: `GetItem` campaign (consistent), `GetItem` contact list (its size), `UpdateItem` take
  (Scheduled -> Running, new run token, lease), `GetItem` template, `GetItem` WhatsApp session holder,
  `UpdateItem` complete;
- per chunk of `CHUNK_SIZE` contacts: one `Query` (the page), and one `UpdateItem` claim of the
  page's first contact;
- per contact: one `TransactWriteItems` = `Put` delivery (the log, `attribute_not_exists`) +
  `Update` campaign (progress, counters, condition on token and in-flight index); when the next
  send follows within 1 s, the same transaction also claims the next contact. When it does not
  (pacing), the next contact is claimed by its own `UpdateItem` just before its send.
- the naive baseline: one `UpdateItem` per contact (no claim, no log) and one `Query` per MB of
  contacts."""


def _count(fn) -> Counter:
    from tests.runner_harness import count_dynamodb_requests

    with count_dynamodb_requests() as counts:
        fn()
    counts.pop("Query.Limit.max", None)
    return Counter(counts)


def _ours(contacts: int, paced: bool) -> tuple[Counter, int]:
    from campaigns.data.models import Delivery
    from tests.runner_harness import FakeClock

    delay = 30_000 if paced else 0
    campaign = common.seed_campaign(contacts, min_delay_ms=delay, max_delay_ms=delay, check_numbers=False)
    clock = FakeClock()
    result: list = []
    counts = _count(
        lambda: result.append(
            common.run_runner(
                campaign.id, common.PlainDryRunSender(), sleep=clock.sleep, monotonic=clock.monotonic
            )
        )
    )
    if str(result[0]) != "completed":
        raise RuntimeError(f"the runner did not complete: {result[0]}")
    logged = sum(1 for _ in Delivery.query(campaign.id, consistent_read=True))
    return counts, logged


def _naive(contacts: int) -> Counter:
    from bench.naive import run_naive

    campaign = common.seed_campaign(contacts, check_numbers=False)
    return _count(lambda: run_naive(campaign.id, common.PlainDryRunSender()))


def run(ctx: Context) -> FigureResult:
    chunk = common.settings().chunk_size
    small, large = chunk * ctx.size(8, 1), chunk * ctx.size(16, 2)
    figure = FigureResult("requests", "1. DynamoDB requests per contact and per chunk")
    rows = []
    summary = {}
    for label, paced in (("zero delay", False), ("paced, 30 s", True)):
        ctx.db.reset()
        common.progress(f"figure 1: {label}, {small} and {large} contacts")
        counts_small, _ = _ours(small, paced)
        counts_large, logged = _ours(large, paced)
        total_small, total_large = sum(counts_small.values()), sum(counts_large.values())
        d_contacts = large - small
        d_query = counts_large["Query"] - counts_small["Query"]
        marginal = (total_large - total_small) / d_contacts
        hot = (total_large - total_small - d_query) / d_contacts
        per_chunk = marginal * chunk
        fixed = total_large - marginal * large
        summary[label] = (hot, per_chunk, fixed, total_large / large, logged, large)
        rows.append(
            [
                f"ours, {label}",
                *(counts_large.get(op, 0) for op in OPERATIONS[:4]),
                total_large,
                f"{total_large / large:.3f}",
                f"{logged}/{large}",
            ]
        )
    ctx.db.reset()
    naive = _naive(large)
    rows.append(
        [
            "naive",
            *(naive.get(op, 0) for op in OPERATIONS[:4]),
            sum(naive.values()),
            f"{sum(naive.values()) / large:.3f}",
            "none",
        ]
    )

    for label, (hot, per_chunk, fixed, _, _, _) in summary.items():
        figure.rows.append(
            Row(
                "1",
                f"DynamoDB requests per contact, hot path ({label})",
                f"{hot:.2f}",
                "≤ 2",
                common.verdict(hot <= 2.0 + 1e-9),
            )
        )
        figure.rows.append(
            Row(
                "1",
                f"DynamoDB requests per chunk of {chunk} ({label}); fixed per run",
                f"{per_chunk:.0f}; {fixed:.0f}",
            )
        )
    figure.details.append(
        f"Runs of {small} and {large} contacts (`CHUNK_SIZE` {chunk}), dry-run sender; counts of the "
        f"{large}-contact run:\n\n"
        + md_table(["run", *OPERATIONS[:4], "total", "all-in per contact", "deliveries logged"], rows)
    )
    lines = []
    for label, (hot, per_chunk, fixed, all_in, _, _) in summary.items():
        lines.append([label, f"{hot:.3f}", f"{per_chunk:.1f}", f"{fixed:.0f}", f"{all_in:.3f}"])
    figure.details.append(
        "Per contact = (requests of the large run - the small run - their difference in Queries) / "
        "(difference in contacts); per chunk = every request that grows with the list, per "
        f"{chunk} contacts (the Query included); fixed = what a run costs whatever its size.\n\n"
        + md_table(
            ["ours", "per contact (hot path)", "per chunk", "fixed per run", "all-in per contact"], lines
        )
    )
    figure.details.append(PURPOSES)
    return figure
