"""Figure 12: GET /campaigns/{id}/deliveries.csv for 100,000 deliveries, against the
API function's limits in template.yaml (its Timeout and MemorySize).

The deliveries are written straight to the benchmarks' DynamoDB server with
BatchWriteItem (Sent with WAHA's message ids and acks, one in ten Failed with a
reason). The export runs in a fresh process (bench/export_child.py): the API
function's handler invoked as API Gateway would, its time measured around the
invocation and its peak resident memory read from /proc. Twice: as deployed, with
an exports bucket (moto's S3, on the same server) and the default inline limit, so
that a CSV above the limit is uploaded and answered with a presigned link (303),
which is then downloaded and its rows counted; and as the local stack answers it,
without a bucket, inline whatever its size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import bench
from bench import common
from bench.common import Context, FigureResult, Row, md_table

USER = "bench-user"
BUCKET = "bench-exports"
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024  # a synchronous invocation's answer
# Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB.
ONE_VCPU_MB = 1_769


def _api_limits() -> tuple[int, int]:
    """The API function's Timeout (s) and MemorySize (MB), from template.yaml."""
    from devstack.tables import load_template

    template = load_template()
    properties = template["Resources"]["ApiFunction"]["Properties"]
    defaults = template.get("Globals", {}).get("Function", {})
    timeout = properties.get("Timeout", defaults.get("Timeout"))
    memory = properties.get("MemorySize", defaults.get("MemorySize"))
    return int(timeout), int(memory)


def _seed(count: int):
    from campaigns.data.models import Delivery
    from campaigns.domain.statuses import CampaignStatus
    from campaigns.timeutil import utcnow
    from tests.builders import Builder

    campaign = Builder(user_id=USER).campaign(1, status=CampaignStatus.COMPLETED)
    now = utcnow()
    acks = ("Server", "Delivered", "Read")
    with Delivery.batch_write() as batch:
        for index in range(count):
            failed = index % 10 == 9
            batch.save(
                Delivery(
                    campaign_id=campaign.id,
                    contact_index=index,
                    phone_number=f"+1555{index:07d}",
                    status="Failed" if failed else "Sent",
                    message_id=None if failed else f"true_1555{index:07d}@c.us_3EB0{index:016X}",
                    error="This number is not on WhatsApp" if failed else None,
                    ack=None if failed else acks[index % 3],
                    at=now,
                )
            )
    return campaign


def _export(db, campaign_id: str, warmup_id: str, bucket: bool) -> dict[str, Any]:
    env = dict(os.environ)
    for name in ("EXPORTS_BUCKET", "S3_ENDPOINT", "EXPORT_INLINE_LIMIT_BYTES"):
        env.pop(name, None)
    if bucket:
        env.update({"EXPORTS_BUCKET": BUCKET, "S3_ENDPOINT": db.endpoint})
    server_cpu = db.cpu_seconds()
    done = subprocess.run(
        [sys.executable, "-m", "bench.export_child", db.endpoint, USER, campaign_id, warmup_id],
        cwd=bench.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"export child failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["server_cpu_s"] = db.cpu_seconds() - server_cpu  # the warm-up's few rows included
    return result


def _download(url: str) -> tuple[int, int]:
    """(bytes, lines) of the file behind a presigned link."""
    import requests

    answer = requests.get(url, timeout=120)
    answer.raise_for_status()
    return len(answer.content), answer.content.count(b"\r\n")


def _mb(value: float) -> str:
    return f"{value / 2**20:.1f}"


def run(ctx: Context) -> FigureResult:
    import boto3

    from campaigns.config import settings

    figure = FigureResult("export", "12. deliveries.csv for 100,000 deliveries")
    count = ctx.size(100_000, 10_000)
    timeout_s, memory_mb = _api_limits()
    inline_limit = settings().export_inline_limit_bytes
    lambda_cpu = ONE_VCPU_MB / memory_mb  # a second of CPU here takes this long there
    ctx.db.reset()
    boto3.client("s3", endpoint_url=ctx.db.endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    common.progress(f"figure 12: writing {count:,} deliveries with BatchWriteItem")
    started = time.monotonic()
    campaign = _seed(count)
    seeded_s = time.monotonic() - started
    warmup = _seed(5)
    results = {}
    for label, bucket in (
        ("as deployed (exports bucket)", True),
        ("the local stack (no bucket: inline)", False),
    ):
        common.progress(f"figure 12: exporting {count:,} deliveries, {label}")
        results[label] = _export(ctx.db, campaign.id, warmup.id, bucket)

    deployed = results["as deployed (exports bucket)"]
    rows = []
    for label, r in results.items():
        if r["location"]:
            size, lines = _download(r["location"])
            answer = f"{r['status']}, presigned link to S3"
        else:
            size, lines = r["body_bytes"] or 0, r["body_rows"] or 0
            answer = f"{r['status']}, inline"
        r["size"], r["rows"] = size, max(0, lines - 1)
        rows.append(
            [
                label,
                answer,
                f"{r['rows']:,}",
                _mb(size),
                f"{r['seconds']:.1f}",
                f"{r['cpu_s']:.1f}",
                f"{r['server_cpu_s']:.1f}",
                f"{r['cpu_s'] * lambda_cpu:.1f}",
                _mb(r["before_kb"] * 1024),
                _mb(r["peak_kb"] * 1024),
                f"{r['peak_kb'] / 1024 / memory_mb:.2f}",
            ]
        )
    complete = deployed["rows"] == count
    through_s3 = deployed["status"] == 303 and deployed["location"] is not None
    estimate = deployed["cpu_s"] * lambda_cpu
    figure.rows.append(
        Row(
            "12",
            f"deliveries.csv of {count:,} deliveries, as deployed: the function's CPU time at "
            f"{memory_mb} MB's CPU share / its Timeout ({timeout_s} s); wall clock here",
            f"{estimate / timeout_s:.2f} ({deployed['cpu_s']:.1f} s CPU x {lambda_cpu:.2f}); "
            f"{deployed['seconds']:.1f} s",
            "< 1",
            common.verdict(estimate < timeout_s),
        )
    )
    figure.rows.append(
        Row(
            "12",
            f"The same: peak memory of the process / MemorySize ({memory_mb} MB)",
            f"{deployed['peak_kb'] / 1024 / memory_mb:.2f} ({_mb(deployed['peak_kb'] * 1024)} MB; "
            f"the export added {_mb((deployed['peak_kb'] - deployed['before_kb']) * 1024)} MB)",
            "< 1",
            common.verdict(deployed["peak_kb"] / 1024 < memory_mb),
        )
    )
    figure.rows.append(
        Row(
            "12",
            f"The same: the answer (a CSV of {_mb(deployed['size'])} MB; inline limit "
            f"{inline_limit:,} bytes); rows in it",
            f"{'303 + presigned link' if through_s3 else str(deployed['status']) + ' inline'}; "
            f"{deployed['rows']:,}/{count:,}",
            "S3 above the limit; all rows",
            common.verdict(complete and through_s3 == (deployed["size"] > inline_limit)),
        )
    )
    figure.details.append(
        f"{count:,} deliveries written in {seeded_s:.0f} s ({count / seeded_s:.0f} per second, "
        "BatchWriteItem of 25). One export each, in a fresh process after a warm-up export:\n\n"
        + md_table(
            [
                "export",
                "answer",
                "rows",
                "CSV MB",
                "wall s",
                "function CPU s",
                "DynamoDB server CPU s",
                f"function CPU at {memory_mb} MB's share, s",
                "RSS before MB",
                "peak RSS MB",
                f"of {memory_mb} MB",
            ],
            rows,
        )
    )
    inline = results["the local stack (no bucket: inline)"]
    figure.details.append(
        "The export reads the deliveries a page of 1,000 at a time and writes the CSV to a spooled "
        "file (memory up to 1 MB, then disk: Lambda's /tmp), so its own memory does not grow with "
        "the rows; the answer then holds the whole CSV once when it is inline. Above the inline "
        f"limit ({inline_limit:,} bytes) and with a bucket, the file is uploaded in parts and the "
        "answer is a 303 with a presigned link. Without a bucket (the local stack) the answer is "
        f"inline whatever its size: here {_mb(inline['size'])} MB, "
        + (
            "above Lambda's 6 MB limit for a synchronous answer, so a deployment must keep the "
            "exports bucket."
            if inline["size"] > LAMBDA_RESPONSE_LIMIT
            else "within Lambda's 6 MB limit for a synchronous answer."
        )
        + " API Gateway's own limit for an HTTP API integration is 30 s."
    )
    figure.details.append(
        "Time: the wall clock here includes the emulated DynamoDB (moto parses and filters every "
        "item in Python: its CPU column) and this shared machine's load, neither of which is "
        "DynamoDB's; the function's own CPU time (reading the pages with PynamoDB and botocore, "
        "writing the CSV, the upload) is what Lambda runs. Lambda gives a function CPU in "
        f"proportion to its memory, one vCPU at {ONE_VCPU_MB:,} MB, so at {memory_mb} MB a second "
        f"of CPU takes about {lambda_cpu:.1f} s: that estimate (on this machine's CPU, not "
        "Lambda's) is held against the Timeout."
    )
    if estimate >= timeout_s or deployed["peak_kb"] / 1024 >= memory_mb:
        per_row_ms = 1000 * deployed["cpu_s"] / count
        figure.findings.append(
            f"**An export of {count:,} deliveries does not fit the API function** (figure 12): its "
            f"own CPU time is {deployed['cpu_s']:.1f} s here ({per_row_ms:.2f} ms per row: botocore "
            "parsing the pages, PynamoDB's objects, the CSV, the upload), about "
            f"{estimate:.0f} s at {memory_mb} MB's CPU share against a {timeout_s} s Timeout (and API "
            "Gateway's 30 s). Peak memory is no problem "
            f"({_mb(deployed['peak_kb'] * 1024)} MB of {memory_mb}): the export streams. Not "
            "changed yet. Suggested: build the CSV "
            "asynchronously (the route starts the export and answers 202 with where its file "
            "will be; a function with a longer Timeout writes it to the bucket), or at least read "
            "the pages with the low-level client straight into CSV rows, skipping PynamoDB's "
            "objects."
        )
    return figure
