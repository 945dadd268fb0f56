"""One export in a fresh process, for the export figure: the API function's handler
answers GET /campaigns/{id}/deliveries.csv as API Gateway would invoke it; prints
JSON with the answer, its time (wall clock, and this process's CPU time: the
function's own work, without the database's), and the process's resident memory before the
export and at its peak (Linux /proc, as bench/memory_child.py reads it).

    python -m bench.export_child ENDPOINT USER CAMPAIGN_ID WARMUP_CAMPAIGN_ID

The exports bucket, its S3 endpoint and the inline limit come from the environment
(EXPORTS_BUCKET, S3_ENDPOINT, EXPORT_INLINE_LIMIT_BYTES), as the function reads
them. The warm-up campaign (a few deliveries) is exported first, the same way, so
that imports, connections and botocore's models are in place before the baseline.
"""

from __future__ import annotations

import gc
import json
import sys
import time

import bench  # noqa: F401  (path and environment first)
from bench.memory_child import _reset_peak, _status_kb


def main(argv: list[str]) -> None:
    endpoint, user, campaign_id, warmup_id = argv[:4]
    from bench import common

    common.use_endpoint(endpoint)
    common.quiet_function_logs()
    from tests.api_events import http_event, invoke

    def export(campaign: str):
        with common.quiet_stdout():
            # As a CSV client asks (a page asks for JSON and gets the link in a 200).
            path = f"/campaigns/{campaign}/deliveries.csv"
            return invoke(http_event("GET", path, user=user, headers={"Accept": "text/csv"}))

    warm = export(warmup_id)
    if warm.status != 200:
        raise RuntimeError(f"the warm-up export answered {warm.status}: {warm.text[:300]}")
    del warm
    gc.collect()
    before_kb = _status_kb("VmRSS")
    reset = _reset_peak()
    started, cpu = time.perf_counter(), time.process_time()
    answer = export(campaign_id)
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    peak_kb = _status_kb("VmHWM")
    location = answer.headers.get("Location")
    if location is None and answer.headers.get("Content-Type", "").startswith("application/json"):
        location = (answer.json or {}).get("url")  # the link, answered in JSON
    print(
        json.dumps(
            {
                "status": answer.status,
                "content_type": answer.headers.get("Content-Type"),
                "location": location,
                "body_bytes": len(answer.text.encode("utf-8")) if location is None else None,
                "body_rows": answer.text.count("\r\n") if location is None else None,
                "seconds": seconds,
                "cpu_s": cpu_s,
                "before_kb": before_kb,
                "peak_kb": peak_kb,
                "peak_reset": reset,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
