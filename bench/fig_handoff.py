"""Figure 5: self-invocations for 10,000 contacts under a simulated time limit,
against the ideal count.

The runner function's real handler (functions/runner/app.py) with a Lambda-like
context whose remaining time counts down from `TIMEOUT_MS` (devstack's
SimulatedContext), `HANDOFF_MARGIN_MS` kept in hand, the dry-run sender, zero
delay. The invoker records each `{campaignId, runToken, hop + 1}` event and this
loop runs it as the next invocation, until the campaign completes.
"""

from __future__ import annotations

import contextlib
import math
import os
import time

from bench import common
from bench.common import Context, FigureResult, Row, md_table

TIMEOUT_MS = 5_000
MARGIN_MS = 500


def run(ctx: Context) -> FigureResult:
    from campaigns import config, invoker
    from campaigns.data.models import Delivery
    from campaigns.sending.sender import SendPlan
    from devstack.context import SimulatedContext

    figure = FigureResult("handoff", "5. Self-invocations under a time limit")
    contacts = ctx.size(10_000, 500)
    ctx.db.reset()
    common.progress(f"figure 5: seeding {contacts} contacts")
    campaign = common.seed_campaign(contacts, check_numbers=False)

    import functions.runner.app as runner_app
    from tests.runner_harness import count_dynamodb_requests

    saved_margin = os.environ.get("HANDOFF_MARGIN_MS")
    os.environ["HANDOFF_MARGIN_MS"] = str(MARGIN_MS)
    config.reload_settings()
    recorder = invoker.RecordingInvoker()
    invoker.set_default_invoker(recorder)
    runner_app._sender = common.PlainDryRunSender()
    max_send_ms = runner_app._sender.worst_case_ms(SendPlan())
    pending = [invoker.runner_event(campaign.id)]
    elapsed: list[float] = []
    results: list[str] = []
    common.progress(f"figure 5: {contacts} contacts, {TIMEOUT_MS} ms per invocation, margin {MARGIN_MS} ms")
    try:
        with count_dynamodb_requests() as counts, open(os.devnull, "w") as devnull:
            while pending and len(elapsed) < 10_000:
                event = pending.pop(0)
                context = SimulatedContext(function_name="runner", timeout_ms=TIMEOUT_MS)
                started = time.monotonic()
                with contextlib.redirect_stdout(devnull):  # Powertools' metrics print EMF lines
                    answer = runner_app.lambda_handler(event, context)
                elapsed.append((time.monotonic() - started) * 1000)
                results.append(answer.get("result", "?"))
                pending.extend(recorder.pop_all())
    finally:
        invoker.set_default_invoker(None)
        runner_app._sender = None
        if saved_margin is None:
            os.environ.pop("HANDOFF_MARGIN_MS", None)
        else:
            os.environ["HANDOFF_MARGIN_MS"] = saved_margin
        config.reload_settings()

    final = common.reload_campaign(campaign.id)
    logged = sum(1 for _ in Delivery.query(campaign.id, consistent_read=True))
    if final.status != "Completed" or logged != contacts:
        raise RuntimeError(f"run ended {final.status} with {logged}/{contacts} deliveries")
    invocations = len(elapsed)
    usable = TIMEOUT_MS - MARGIN_MS - max_send_ms
    work = sum(elapsed)
    ideal = math.ceil(work / usable)
    figure.rows.append(
        Row(
            "5",
            f"Invocations for {contacts:,} contacts ({TIMEOUT_MS:,} ms limit, {MARGIN_MS} ms margin) / ideal",
            f"{invocations} / {ideal} = {invocations / ideal:.2f}",
            "≈ 1",
            common.verdict(invocations <= ideal + 1),
        )
    )
    counts.pop("Query.Limit.max", None)
    total_requests = sum(counts.values())
    handed = [ms for ms, result in zip(elapsed, results, strict=True) if result == "handed_off"]
    figure.details.append(
        md_table(
            ["", "value"],
            [
                ["invocations (1 start + hand-offs)", invocations],
                ["results", ", ".join(f"{results.count(r)} {r}" for r in dict.fromkeys(results))],
                ["total time in invocations (W)", f"{work / 1000:.1f} s"],
                [
                    "usable time per invocation (U = timeout - margin - max_send_ms)",
                    f"{TIMEOUT_MS} - {MARGIN_MS} - {max_send_ms} = {usable} ms",
                ],
                ["ideal = ceil(W / U)", ideal],
                [
                    "time used by invocations that handed off: mean, min",
                    f"{sum(handed) / max(len(handed), 1):.0f} ms, {min(handed, default=0):.0f} ms",
                ],
                ["contacts per invocation", f"{contacts / invocations:.0f}"],
                [
                    "DynamoDB requests, all invocations",
                    f"{total_requests} ({total_requests / contacts:.3f} per contact): "
                    + ", ".join(f"{op} {n}" for op, n in sorted(counts.items())),
                ],
            ],
        )
    )
    figure.details.append(
        "The ideal: an invocation may work until only the margin and one worst-case send "
        "(`max_send_ms`, 0 for the dry-run sender) are left, so it has U ms of useful time; a "
        "run that used every invocation to the full would need ceil(W / U) invocations for the "
        "W ms of work this one did (every invocation's start-up included). A runner that handed "
        "off too early would need more. A hop costs DynamoDB requests of its own: the lease "
        "renewal before the hand-off, then the next invocation's reads (campaign, template, "
        "session), its continue, a Query and a claim."
    )
    return figure
