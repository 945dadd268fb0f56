"""One run in a fresh process, for the memory figure: prints JSON with the process's
resident memory before the run and its peak during it (Linux /proc).

    python -m bench.memory_child ENDPOINT CAMPAIGN_ID WARMUP_CAMPAIGN_ID ours|naive [MAX_CONTACTS]

The warm-up campaign (a few contacts) runs first, the same way, so that imports,
connections and botocore's lazily built operation models are in place before
the baseline is read.
"""

from __future__ import annotations

import gc
import json
import sys
import time

import bench  # noqa: F401  (path and environment first)


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Start VmHWM (peak resident memory) afresh, so it shows the run's own peak."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def main(argv: list[str]) -> None:
    endpoint, campaign_id, warmup_id, mode = argv[:4]
    max_contacts = int(argv[4]) if len(argv) > 4 else None
    from bench import common

    common.use_endpoint(endpoint)
    common.quiet_function_logs()
    # Everything the run needs is imported and connected before the baseline.
    from bench.naive import run_naive
    from campaigns.data.models import Campaign

    Campaign.get(campaign_id)
    sender = common.PlainDryRunSender()
    if mode == "ours":
        common.run_runner(warmup_id, sender)
    else:
        run_naive(warmup_id, sender)
    gc.collect()
    before_kb = _status_kb("VmRSS")
    reset = _reset_peak()
    started = time.perf_counter()
    if mode == "ours":
        outcome = str(common.run_runner(campaign_id, sender))
    else:
        result = run_naive(campaign_id, sender, max_contacts=max_contacts)
        outcome = f"sent {result.sent} of {result.contacts_fetched} fetched"
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "before_kb": before_kb,
                "peak_kb": _status_kb("VmHWM"),
                "after_kb": _status_kb("VmRSS"),
                "peak_reset": reset,
                "seconds": seconds,
                "outcome": outcome,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
