"""Figure 6: cold start, as the import time of each function's handler module against
importing boto3 alone. Every import runs in a fresh interpreter; the median of several.

Two environments: as in Lambda (LAMBDA_TASK_ROOT set and tracing on, as
template.yaml's `Tracing: Active` leaves it, so Powertools' Tracer patches the
libraries X-Ray traces at import), and locally (tracing off, as the tests and the
local stack run). `python -X importtime` then names the largest imports of the API
handler.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys

import bench
from bench import common
from bench.common import Context, FigureResult, Row, md_table

MODULES = [
    ("boto3 alone", "boto3"),
    ("API handler", "functions.api.app"),
    ("runner handler", "functions.runner.app"),
    ("scheduler handler", "functions.scheduler.app"),
]
PROTOTYPE = "API handler, X-Ray patching botocore only (prototype)"
_PROGRAM = "import time; t = time.perf_counter(); {prelude}import {module}; print(time.perf_counter() - t)"
# The prototype, without touching the code: Powertools' Tracer patches only botocore
# (pynamodb's calls go through it) instead of every library X-Ray knows (patch_all).
_BOTOCORE_ONLY = (
    "import aws_lambda_powertools.tracing.tracer as tracing; init = tracing.Tracer.__init__; "
    "tracing.Tracer.__init__ = lambda self, *a, **k: init(self, *a, **{'patch_modules': ['botocore'], **k}); "
)


def _environment(lambda_like: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(bench.REPO_ROOT), str(bench.REPO_ROOT / "layers" / "common")])
    env.pop("DYNAMODB_ENDPOINT", None)
    if lambda_like:
        env.pop("POWERTOOLS_TRACE_DISABLED", None)
        env.update(
            {
                "LAMBDA_TASK_ROOT": "/var/task",
                "AWS_LAMBDA_FUNCTION_NAME": "bench",
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            }
        )
    else:
        env["POWERTOOLS_TRACE_DISABLED"] = "1"
        for name in ("LAMBDA_TASK_ROOT", "AWS_LAMBDA_FUNCTION_NAME", "AWS_EXECUTION_ENV"):
            env.pop(name, None)
    return env


def _import_seconds(module: str, env: dict[str, str], prelude: str = "") -> float:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM.format(module=module, prelude=prelude)],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {module} failed: {done.stderr[-1500:]}")
    return float(done.stdout.strip().splitlines()[-1])


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _group(module: str) -> str:
    parts = module.split(".")
    if parts[0] in ("aws_lambda_powertools", "campaigns", "functions") and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


_SUBTREES = (
    "campaigns.observability",
    "aws_lambda_powertools.event_handler",
    "campaigns.api.models",
    "campaigns.data.store",
    "campaigns.sending.waha_client",
    "campaigns.sending.waha_sender",
    "requests",
)


def import_profile(
    module: str, env: dict[str, str], top: int = 12
) -> tuple[float, list[tuple[str, float, int]], dict[str, float]]:
    """One `python -X importtime` run: total ms; (package, own ms, modules) for the
    packages whose modules took the most time of their own; and the cumulative ms of
    a few subtrees (where first imported)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    own: dict[str, float] = {}
    modules: dict[str, int] = {}
    subtrees: dict[str, float] = {}
    total = 0.0
    for line in done.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if not match:
            continue
        name = match.group(4)
        group = _group(name)
        own[group] = own.get(group, 0.0) + int(match.group(1)) / 1000
        modules[group] = modules.get(group, 0) + 1
        if name == module:
            total = int(match.group(2)) / 1000
        if name in _SUBTREES and name not in subtrees:
            subtrees[name] = int(match.group(2)) / 1000
    # Some packages get no line of their own (imported while another import is under way);
    # theirs is then the sum of their modules' own time, their private dependencies included.
    extra = {"requests": ("requests", "charset_normalizer", "idna", "certifi")}
    for name, groups in extra.items():
        if name not in subtrees and name in own:
            subtrees[name] = sum(own.get(group, 0.0) for group in groups)
    ranked = sorted(own.items(), key=lambda item: item[1], reverse=True)[:top]
    return total, [(name, ms, modules[name]) for name, ms in ranked], subtrees


def run(ctx: Context) -> FigureResult:
    figure = FigureResult("coldstart", "6. Cold start: handler import time against boto3 alone")
    repeats = ctx.size(7, 2)
    table = []
    medians: dict[tuple[str, bool], float] = {}
    for lambda_like in (True, False):
        env = _environment(lambda_like)
        common.progress(
            f"figure 6: imports, {'Lambda-like' if lambda_like else 'local'}, {repeats} runs each"
        )
        runs = [(label, module, "") for label, module in MODULES]
        if lambda_like:
            runs.append((PROTOTYPE, "functions.api.app", _BOTOCORE_ONLY))
        samples: dict[str, list[float]] = {label: [] for label, _, _ in runs}
        for _ in range(repeats):  # interleaved, so a change of load hits every module alike
            for label, module, prelude in runs:
                samples[label].append(_import_seconds(module, env, prelude))
        for label, _, _ in runs:
            medians[(label, lambda_like)] = statistics.median(samples[label])
    for label, _ in MODULES:
        lam, loc = medians[(label, True)], medians[(label, False)]
        table.append(
            [
                label,
                f"{lam * 1000:.0f}",
                f"{lam / medians[('boto3 alone', True)]:.2f}",
                f"{loc * 1000:.0f}",
                f"{loc / medians[('boto3 alone', False)]:.2f}",
            ]
        )
        if label != "boto3 alone":
            figure.rows.append(
                Row(
                    "6",
                    f"Import time of the {label} / boto3 alone (Lambda-like; local)",
                    f"{lam / medians[('boto3 alone', True)]:.2f}; {loc / medians[('boto3 alone', False)]:.2f}",
                )
            )
    prototype = medians[(PROTOTYPE, True)]
    table.append(
        [PROTOTYPE, f"{prototype * 1000:.0f}", f"{prototype / medians[('boto3 alone', True)]:.2f}", "-", "-"]
    )
    figure.details.append(
        f"Median of {repeats} fresh interpreters each:\n\n"
        + md_table(
            ["module", "Lambda-like ms", "ratio to boto3", "local (tracing off) ms", "ratio to boto3"], table
        )
    )
    api_subtrees: dict[str, float] = {}
    api_total = 0.0
    for label, module in MODULES[1:3]:
        total, largest, subtrees = import_profile(module, _environment(True))
        if module == "functions.api.app":
            api_subtrees, api_total = subtrees, total
        figure.details.append(
            f"What the {label} spends its import on (Lambda-like; one `python -X importtime` run, "
            f"{total:.0f} ms in all; each package's modules' own time):\n\n"
            + md_table(
                ["package", "own ms", "share", "modules"],
                [[f"`{n}`", f"{ms:.0f}", f"{100 * ms / total:.0f} %", count] for n, ms, count in largest],
            )
        )
    api_lambda = medians[("API handler", True)]
    api_ratio = api_lambda / medians[("boto3 alone", True)]

    def share(name: str) -> str:
        ms = api_subtrees.get(name)
        return "not imported" if ms is None else f"{ms:.0f} ms ({100 * ms / api_total:.0f} %)"

    figure.findings.append(
        f"**Cold start: the API handler imports in {api_ratio:.1f} x the time of boto3 alone** "
        "(figure 6). What takes the time is shared by every route: Powertools' resolver with "
        f"validation (`aws_lambda_powertools.event_handler`: {share('aws_lambda_powertools.event_handler')} "
        f"of one import), the pydantic models (`campaigns.api.models`: {share('campaigns.api.models')}), "
        f"and the Powertools Logger/Metrics/Tracer every function loads (`campaigns.observability`, "
        f"which brings in the X-Ray SDK and botocore: {share('campaigns.observability')}). What only "
        "some routes need is already imported lazily: the WAHA sender (only the /whatsapp-sessions "
        f"routes ask WAHA for live statuses; `campaigns.sending.waha_client`: {share('campaigns.sending.waha_client')}) and the "
        "OpenAPI document (built on the first GET /openapi.json). "
        "So nothing was changed in functions/api: no route-only import of weight is left to defer "
        "(the one left at module scope is `csv` in `campaigns.api.library`, about 1 ms). "
        "One candidate remains, in `campaigns.observability`, shared by the three functions: "
        "with tracing on (template.yaml's `Tracing: Active`), Powertools' Tracer calls X-Ray's "
        "`patch_all()` at import, which imports and patches every library it knows that is "
        "installed (`requests`, `sqlite3`, the psycopg drivers, ...), so the API handler loads "
        f"`requests` at cold start ({share('requests')}) though it never calls WAHA on most routes. "
        "Measured with a prototype that changes no file (the Tracer patching botocore only, which "
        f"pynamodb's calls go through): the API handler's import takes {prototype * 1000:.0f} ms "
        f"against {api_lambda * 1000:.0f} ms"
        + (
            f", {100 * (1 - prototype / api_lambda):.0f} % less. Suggested (observability.py): "
            "`Tracer(service=SERVICE, patch_modules=...)` with botocore for the API and the "
            "scheduler, botocore and requests for the runner (which traces its WAHA calls)."
            if prototype < 0.9 * api_lambda
            else ": no gain beyond this machine's noise, so not worth a change either. The API "
            "handler's import is dominated by what every route needs."
        )
    )
    return figure
