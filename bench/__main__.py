"""`python -m bench`: run the benchmarks, print a Markdown table, write BENCHMARKS.md.

    .venv/bin/python -m bench                  # every figure; writes BENCHMARKS.md (make bench)
    .venv/bin/python -m bench --only pacing    # one figure (names below), printed only
    .venv/bin/python -m bench --quick          # smaller sizes: a smoke run, printed only

    .venv/bin/python -m bench --stock-moto --only scaling   # on moto without devstack's patches

`--output FILE` writes the report of any run to FILE.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

import bench
from bench import common, report
from bench.common import Context, FigureResult, Row

# In the order they run: the long memory figure last. Reports list them by number.
FIGURES = {
    "requests": "bench.fig_requests",
    "throughput": "bench.fig_throughput",
    "pacing": "bench.fig_pacing",
    "handoff": "bench.fig_handoff",
    "coldstart": "bench.fig_coldstart",
    "api": "bench.fig_api",
    "scaling": "bench.fig_scaling",
    "continuation": "bench.fig_continuation",
    "webhooks": "bench.fig_webhooks",
    "sharednumber": "bench.fig_sharednumber",
    "export": "bench.fig_export",
    "memory": "bench.fig_memory",
}
NUMBERS = {
    "requests": 1,
    "throughput": 2,
    "memory": 3,
    "pacing": 4,
    "handoff": 5,
    "coldstart": 6,
    "api": 7,
    "scaling": 8,
    "continuation": 9,
    "webhooks": 10,
    "sharednumber": 11,
    "export": 12,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", action="append", choices=sorted(FIGURES), metavar="NAME", help=", ".join(FIGURES)
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument(
        "--stock-moto",
        action="store_true",
        help="DynamoDB on moto without devstack/moto_fast.py (a comparison; printed only)",
    )
    parser.add_argument(
        "--output", type=Path, help="write the report here (default: BENCHMARKS.md on a full run)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = args.only or list(FIGURES)
    full = not args.only and not args.quick and not args.stock_moto
    output = args.output or (bench.REPO_ROOT / "BENCHMARKS.md" if full else None)
    command = (
        "make bench"
        if full
        else " ".join([".venv/bin/python -m bench", *(sys.argv[1:] if argv is None else argv)])
    )

    from bench.dbserver import DynamoServer

    started = time.monotonic()
    load_before = os.getloadavg()
    results: list[FigureResult] = []
    with DynamoServer(stock=args.stock_moto) as db:
        common.use_endpoint(db.endpoint)
        common.quiet_function_logs()
        ctx = Context(db=db, quick=args.quick)
        for name in names:
            print(f"figure {name} ...", file=sys.stderr, flush=True)
            figure_started = time.monotonic()
            try:
                with common.quiet_stdout():  # the functions' metrics; the report is printed below
                    result = importlib.import_module(FIGURES[name]).run(ctx)
            except Exception as exc:
                traceback.print_exc()
                result = FigureResult(
                    name, name, [Row("?", f"{name}: could not be measured", f"error: {exc!r}")]
                )
            result.seconds = time.monotonic() - figure_started
            print(f"figure {name}: {result.seconds:.0f} s", file=sys.stderr, flush=True)
            results.append(result)
    results.sort(key=lambda result: NUMBERS.get(result.name, 99))
    meta = report.Meta(
        command=command,
        seconds=time.monotonic() - started,
        load_before=load_before,
        load_after=os.getloadavg(),
        quick=args.quick,
    )
    print(report.summary_table(results))
    if output is not None:
        output.write_text(report.document(results, meta, list(NUMBERS)), encoding="utf-8")
        print(f"\nwrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
