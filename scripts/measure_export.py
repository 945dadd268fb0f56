"""Measure GET /campaigns/{id}/deliveries.csv on a large campaign: seed N deliveries
into a DynamoDB-compatible server (moto, in its own process), then export them
through the use case the route calls, with an exports bucket on the same server,
and print the time and this process's peak memory.

    .venv/bin/python scripts/measure_export.py              # 100,000 deliveries
    .venv/bin/python scripts/measure_export.py --count 1000
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT / "layers" / "common", ROOT):
    sys.path.insert(0, str(path))


def serve(port_queue: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from devstack.dynamodb import AtomicMotoServer

    server = AtomicMotoServer()
    server.start()
    port_queue.put(server.endpoint)
    stop.wait()
    server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--trace", action="store_true", help="also trace Python allocations (slower)")
    args = parser.parse_args()
    ports: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(ports, stop), daemon=True)
    server.start()
    endpoint = ports.get(timeout=60)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "DYNAMODB_ENDPOINT": endpoint,
            "S3_ENDPOINT": endpoint,
            "EXPORTS_BUCKET": "exports-measure",
            "TABLE_PREFIX": "measure-",
        }
    )
    try:
        return measure(endpoint, args.count, args.trace)
    finally:
        stop.set()
        server.join(timeout=10)


def measure(endpoint: str, count: int, trace: bool) -> int:
    import boto3

    from campaigns import config
    from campaigns.api import exports
    from campaigns.data import models
    from campaigns.data.models import Campaign, Delivery
    from campaigns.timeutil import utcnow
    from devstack.tables import ensure_tables

    cfg = config.reload_settings()
    models.configure_models(cfg)
    ensure_tables(boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1"), cfg)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="exports-measure")
    now = utcnow()
    campaign = Campaign(
        id="cmp_measure",
        user_id="measure",
        name="Large",
        status="Completed",
        contact_list_id="list_x",
        message_template_id="tpl_x",
        default_name_value="friend",
        min_delay_ms=0,
        max_delay_ms=0,
        created_at=now,
        total_contacts=count,
    )
    campaign.save()
    started = time.monotonic()
    with Delivery.batch_write() as batch:
        for index in range(count):
            failed = index % 10 == 0
            batch.save(
                Delivery(
                    campaign_id=campaign.id,
                    contact_index=index,
                    phone_number=f"+1555{index:07d}",
                    status="Failed" if failed else "Sent",
                    message_id=None if failed else f"true_1555{index:07d}@c.us_3EB0{index:016X}",
                    error="The number is not on WhatsApp" if failed else None,
                    at=now,
                )
            )
    print(f"seeded {count:,} deliveries in {time.monotonic() - started:.1f} s")
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace:
        tracemalloc.start()
    reading = [0.0]
    read_pages = exports.exports.deliveries

    def timed_pages(campaign_id: str):
        # The time spent waiting for DynamoDB's pages, apart from the export's own work.
        pages = read_pages(campaign_id)
        while True:
            before = time.monotonic()
            try:
                item = next(pages)
            except StopIteration:
                reading[0] += time.monotonic() - before
                return
            reading[0] += time.monotonic() - before
            yield item

    exports.exports.deliveries = timed_pages
    started = time.monotonic()
    export = exports.export_deliveries("measure", campaign.id, utcnow())
    elapsed = time.monotonic() - started
    if trace:
        print(f"peak Python allocations during the export: {tracemalloc.get_traced_memory()[1] / 1e6:.1f} MB")
        tracemalloc.stop()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    how = "inline" if export.body is not None else "uploaded, presigned link"
    print(f"exported {count:,} deliveries ({how}) in {elapsed:.1f} s")
    print(
        f"  of which reading DynamoDB's pages: {reading[0]:.1f} s; the CSV and the upload: {elapsed - reading[0]:.1f} s"
    )
    print(f"process peak RSS: {peak_kb / 1024:.0f} MB (before the export: {baseline_kb / 1024:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
