"""BENCHMARKS.md: when, where and how the figures were measured, the table, the details."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass

from bench.common import FAIL, PASS, FigureResult, md_table


@dataclass
class Meta:
    command: str
    seconds: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    quick: bool


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def summary_table(results: list[FigureResult]) -> str:
    rows = [[r.figure, r.what, r.value, r.target, r.verdict] for result in results for r in result.rows]
    return md_table(["#", "figure", "measured", "target", "verdict"], rows) + "\n\n" + tally(results)


def tally(results: list[FigureResult]) -> str:
    """One line under the table: how many measures have a target, and which missed it."""
    judged = [r for result in results for r in result.rows if r.verdict in (PASS, FAIL)]
    failed = [r for r in judged if r.verdict == FAIL]
    if not judged:
        return "No measure of this run has a target."
    line = f"{len(judged)} measures with a target: {len(judged) - len(failed)} met, {len(failed)} missed"
    if failed:
        line += " (" + "; ".join(f"{r.figure}: {r.what}" for r in failed) + ")"
    return line + "."


def _git_state() -> str:
    import subprocess

    import bench

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=bench.REPO_ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    measured = (
        "layers",
        "functions",
        "devstack",
        "tests/builders.py",
        "tests/fakewaha.py",
        "tests/runner_harness.py",
    )
    status = git("status", "--porcelain", "--", *measured)
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    if not changed:
        return f"commit {head}, no uncommitted changes to the code measured"
    return f"commit {head} plus uncommitted changes to {', '.join(changed)} (the work tree as it was)"


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def document(results: list[FigureResult], meta: Meta, all_names: list[str] | None = None) -> str:
    names = ", ".join(f"`{name}`" for name in (all_names or [r.name for r in results]))
    parts = [
        "# Benchmarks",
        "",
        f"Written by `{meta.command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, in "
        f"{meta.seconds / 60:.1f} minutes{' (quick sizes: a smoke run)' if meta.quick else ''}.",
        "",
        f"- Code: {_git_state()}.",
        f"- Machine: {os.cpu_count()} CPUs ({_cpu_model()}), Python {sys.version.split()[0]} "
        f"on {platform.system()} {platform.release()}.",
        f"- Load average (1, 5, 15 min) before: {_load(meta.load_before)}; after: {_load(meta.load_after)}. "
        "Other work on this machine (tests run by other people) skews the timings; the figures "
        "that involve time are measured side by side in one run and given as ratios where they "
        "compare two things.",
        "- Reproduce: `make bench` (every figure; writes this file), or "
        "`.venv/bin/python -m bench --only NAME` for one figure (prints it), with NAME one of "
        f"{names}; `--quick` runs smaller sizes as a smoke test.",
        "- Where: the local stack's pieces on loopback: its DynamoDB (moto's server as "
        "devstack/dynamodb.py runs it, with the emulator costs devstack/moto_fast.py takes out, "
        "over HTTP, in a child process: bench/dbserver.py), the fake WAHA server of tests/fakewaha.py, "
        "the functions' own code. Figure 7 runs devstack's LocalStack as it is (its own DynamoDB); "
        "figures 10 and 11 run it on the benchmarks' DynamoDB server (webhooks over HTTP, the "
        "runner's handler on its invoker); figure 12 invokes the API's handler in a fresh process, "
        "its exports bucket on the same moto server's S3. No AWS.",
        "",
        "## Summary",
        "",
        summary_table(results),
    ]
    order = [
        "requests",
        "sharednumber",
        "export",
        "throughput",
        "pacing",
        "coldstart",
        "memory",
        "handoff",
        "api",
        "webhooks",
    ]
    ranked = sorted(results, key=lambda r: order.index(r.name) if r.name in order else len(order))
    findings = [text for result in ranked for text in result.findings]
    if findings:
        parts += ["", "## Largest costs found, and what was done", ""]
        for number, text in enumerate(findings, 1):
            parts += [f"{number}. {text}", ""]
    parts += ["", "## Figures"]
    for result in results:
        parts += ["", f"### {result.title}", "", f"`--only {result.name}`, {result.seconds:.0f} s.", ""]
        for paragraph in result.details:
            parts += [paragraph, ""]
    return "\n".join(parts).rstrip() + "\n"
