"""Figure 7: the API under load. The local stack (devstack's LocalStack on a free port:
its HTTP front door with the JWT check, the API function's real handler, its
embedded DynamoDB) with a user's campaigns, and 20 concurrent clients in another
process alternating GET /campaigns and GET /campaigns/{id} for 20 s.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import bench
from bench import common
from bench.common import Context, FigureResult, Row, md_table

USER = "bench-user"


def _load(base_url: str, token: str, duration: float, clients: int, ids: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", base_url, token, str(duration), str(clients), ",".join(ids)],
        cwd=bench.REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(ctx: Context) -> FigureResult:
    from devstack.stack import LocalStack
    from tests.builders import Builder

    figure = FigureResult("api", "7. The API under load")
    clients, duration, campaigns = 20, ctx.size(20, 4), 30
    from campaigns.data.models import Campaign

    # No schedule tick during the load (the first would come after an hour).
    with LocalStack(port=0, web_root=None, schedule_seconds=3600) as stack:
        common.quiet_function_logs()
        builder = Builder(user_id=USER)
        ids = []
        for index in range(campaigns):
            campaign = builder.campaign(3, register_session=index == 0)
            campaign.update(actions=[Campaign.due_at.remove()])  # Scheduled, waiting for a run
            ids.append(campaign.id)
        token = stack.token(USER, ttl=3600)
        common.progress(f"figure 7: 1 client for {ctx.size(5, 2)} s, then {clients} for {duration} s")
        single = _load(stack.base_url, token, ctx.size(5, 2), 1, ids)
        result = _load(stack.base_url, token, duration, clients, ids)
    seconds = result["seconds"]
    rows = []
    everything: list[float] = []
    for route, label in (("list", "GET /campaigns"), ("get", "GET /campaigns/{id}")):
        values = [v * 1000 for v in result["latencies"][route]]
        everything += values
        rows.append(
            [
                label,
                len(values),
                f"{len(values) / seconds:.1f}",
                f"{statistics.median(values):.0f}" if values else "-",
                f"{common.percentile(values, 99):.0f}" if values else "-",
            ]
        )
    rps = len(everything) / seconds
    p50, p99 = statistics.median(everything), common.percentile(everything, 99)
    rows.append(["both", len(everything), f"{rps:.1f}", f"{p50:.0f}", f"{p99:.0f}"])
    alone = [v * 1000 for values in single["latencies"].values() for v in values]
    alone_rps = len(alone) / single["seconds"]
    rows.append(
        [
            "both, 1 client alone (for comparison)",
            len(alone),
            f"{alone_rps:.1f}",
            f"{statistics.median(alone):.0f}",
            f"{common.percentile(alone, 99):.0f}",
        ]
    )
    errors = result["errors"]
    figure.rows.append(
        Row(
            "7",
            f"API, {clients} clients, {duration} s, GET /campaigns + /campaigns/{{id}}: req/s; p50; p99",
            f"{rps:.1f}; {p50:.0f} ms; {p99:.0f} ms" + (f" ({len(errors)} errors)" if errors else ""),
        )
    )
    figure.details.append(
        f"{campaigns} campaigns of one user (a page of GET /campaigns is 20 of them); every request "
        "carries a JWT the front door verifies, as API Gateway's authorizer would:\n\n"
        + md_table(["route", "answers 200", "per second", "p50 ms", "p99 ms"], rows)
        + (
            f"\n\nErrors: {len(errors)} ({', '.join(sorted(set(errors))[:5])})."
            if errors
            else "\n\nNo errors."
        )
    )
    figure.details.append(
        "The local stack runs one API invocation at a time (devstack/server.py holds a lock around "
        "the handler): Powertools' resolver keeps the current request in module scope, as one Lambda "
        "execution environment serves one request at a time. So the 20 clients queue: the p50 is "
        "about 20 x the time of one invocation, and requests per second is the inverse of one "
        "invocation's time (handler, JWT check, one DynamoDB request to the embedded moto, which runs "
        "in the same process). In AWS each concurrent request gets its own execution environment; "
        f"this figure measures the local stack, not that. One client alone gets {alone_rps:.1f} "
        f"answers per second; twenty get {rps / alone_rps:.2f} x that."
    )
    return figure
