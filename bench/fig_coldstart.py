"""Figure 6: cold start, as the import time of each function's handler module against
importing boto3 alone, before and after X-Ray patches only what each function calls.
Every import runs in a fresh interpreter, all of them interleaved; the median of
several, in CPU time (the machine is shared: other people's work moves the wall clock,
given beside it, far more than the CPU an import takes).

As in Lambda: LAMBDA_TASK_ROOT set and tracing on (template.yaml's `Tracing:
Active`), so Powertools' Tracer patches libraries for X-Ray when
campaigns.observability is imported. After: each function with its own
`TRACER_PATCH_MODULES` from template.yaml (`Tracer(patch_modules=...)`: botocore for
the scheduler; botocore and requests for the API, whose /whatsapp-sessions routes and
test sends call WAHA, and for the runner). Before: the same child with the Tracer
made to patch everything X-Ray knows and finds installed (`patch_all`, Powertools'
default), by an explicit override in the child only. Also locally (tracing off, as
the tests and the local stack run), and `python -X importtime` naming the largest
imports of the API and runner handlers.
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

FUNCTIONS = [
    ("API handler", "functions.api.app", "ApiFunction"),
    ("runner handler", "functions.runner.app", "RunnerFunction"),
    ("scheduler handler", "functions.scheduler.app", "SchedulerFunction"),
]
BOTO3 = "boto3 alone"
_PROGRAM = (
    "import time; t, c = time.perf_counter(), time.process_time(); {prelude}import {module}; "
    "print(time.perf_counter() - t, time.process_time() - c)"
)
# Before: Powertools' default, patch_all(), whatever the function's settings say.
_PATCH_ALL = (
    "import aws_lambda_powertools.tracing.tracer as tracing; init = tracing.Tracer.__init__; "
    "tracing.Tracer.__init__ = lambda self, *a, **k: init(self, *a, **{**k, 'patch_modules': None}); "
)
# What the API would cost patching botocore only (requests patched on the first WAHA call).
_BOTOCORE_ONLY = "botocore"


def patch_modules_from_template() -> dict[str, str]:
    """Each function's TRACER_PATCH_MODULES as template.yaml sets it."""
    from devstack.tables import load_template

    resources = load_template()["Resources"]
    out = {}
    for _, _, logical_id in FUNCTIONS:
        variables = resources[logical_id]["Properties"].get("Environment", {}).get("Variables", {})
        if "TRACER_PATCH_MODULES" not in variables:
            raise RuntimeError(f"template.yaml sets no TRACER_PATCH_MODULES for {logical_id}")
        out[logical_id] = str(variables["TRACER_PATCH_MODULES"])
    return out


def _installed_patchable() -> list[str]:
    import importlib.util

    from aws_xray_sdk.core.patcher import NO_DOUBLE_PATCH  # what patch_all() patches by default

    return [name for name in NO_DOUBLE_PATCH if importlib.util.find_spec(name.split(".")[0]) is not None]


def _environment(lambda_like: bool, patch_modules: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(bench.REPO_ROOT), str(bench.REPO_ROOT / "layers" / "common")])
    env.pop("DYNAMODB_ENDPOINT", None)
    env.pop("TRACER_PATCH_MODULES", None)
    if patch_modules is not None:
        env["TRACER_PATCH_MODULES"] = patch_modules
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


def _import_seconds(module: str, env: dict[str, str], prelude: str = "") -> tuple[float, float]:
    """(wall clock, CPU time) of one import in a fresh interpreter."""
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
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _group(module: str) -> str:
    parts = module.split(".")
    if parts[0] in ("aws_lambda_powertools", "campaigns", "functions") and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


_SUBTREES = (
    "campaigns.api.test_sends",
    "campaigns.api.sessions",
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


def _medians(
    repeats: int, runs: list[tuple[str, str, dict[str, str], str]]
) -> tuple[dict[str, float], dict[str, float]]:
    """Median CPU time and median wall clock of each (label, module, environment,
    prelude), the runs interleaved so that a change of load on the machine hits every
    one alike."""
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _, _ in runs}
    for _ in range(repeats):
        for label, module, env, prelude in runs:
            samples[label].append(_import_seconds(module, env, prelude))
    cpu = {label: statistics.median(c for _, c in values) for label, values in samples.items()}
    wall = {label: statistics.median(w for w, _ in values) for label, values in samples.items()}
    return cpu, wall


def run(ctx: Context) -> FigureResult:
    figure = FigureResult(
        "coldstart", "6. Cold start: handler import time against boto3 alone, before and after"
    )
    repeats = ctx.size(9, 2)
    patched = patch_modules_from_template()
    runs = [(BOTO3, "boto3", _environment(True), "")]
    for label, module, logical_id in FUNCTIONS:
        env = _environment(True, patched[logical_id])
        runs += [(f"{label} before", module, env, _PATCH_ALL), (f"{label} after", module, env, "")]
    api_label, api_module, api_id = FUNCTIONS[0]
    if patched[api_id] != _BOTOCORE_ONLY:
        runs.append((f"{api_label}, botocore only", api_module, _environment(True, _BOTOCORE_ONLY), ""))
    local_env = _environment(False)
    runs.append((f"local {BOTO3}", "boto3", local_env, ""))
    runs += [(f"local {label}", module, local_env, "") for label, module, _ in FUNCTIONS]
    common.progress(f"figure 6: {len(runs)} imports, {repeats} fresh interpreters each")
    cpu, wall = _medians(repeats, runs)

    base, local_base = cpu[BOTO3], cpu[f"local {BOTO3}"]
    table = [
        [BOTO3, "-", f"{base * 1000:.0f}", "1.00", "-", "-", "-", f"{wall[BOTO3] * 1000:.0f}", "-",
         f"{local_base * 1000:.0f} (1.00)"]
    ]  # fmt: skip
    for label, _, logical_id in FUNCTIONS:
        before, after = cpu[f"{label} before"], cpu[f"{label} after"]
        local = cpu[f"local {label}"]
        table.append(
            [
                label,
                f"`{patched[logical_id]}`",
                f"{before * 1000:.0f}",
                f"{before / base:.2f}",
                f"{after * 1000:.0f}",
                f"{after / base:.2f}",
                f"{100 * (after / before - 1):+.0f} %",
                f"{wall[f'{label} before'] * 1000:.0f}",
                f"{wall[f'{label} after'] * 1000:.0f}",
                f"{local * 1000:.0f} ({local / local_base:.2f})",
            ]
        )
        figure.rows.append(
            Row(
                "6",
                f"Import time (CPU) of the {label} / boto3 alone, as in Lambda: before (patch_all); "
                f"after (patch_modules {patched[logical_id]})",
                f"{before / base:.2f}; {after / base:.2f} ({100 * (after / before - 1):+.0f} %)",
            )
        )
    figure.details.append(
        f"Median of {repeats} fresh interpreters each, all interleaved; CPU time of the import "
        "(user + system: what the import costs, which other work on this shared machine hardly "
        "moves), the wall clock beside it; as in Lambda (tracing on), and in the last column "
        "with tracing off, as the tests and the local stack run:\n\n"
        + md_table(
            [
                "module",
                "TRACER_PATCH_MODULES (template.yaml)",
                "before: patch_all, CPU ms",
                "ratio to boto3",
                "after: patch_modules, CPU ms",
                "ratio to boto3",
                "after / before",
                "wall ms before",
                "wall ms after",
                "tracing off, CPU ms (ratio)",
            ],
            table,
        )
    )
    figure.details.append(
        "What `patch_all` patches here (of the libraries it tries, those installed): "
        + ", ".join(f"`{name}`" for name in _installed_patchable())
        + "; it tries the others (database drivers, aiobotocore, ...) and skips them."
    )
    botocore_only = cpu.get(f"{api_label}, botocore only")
    if botocore_only is not None:
        figure.details.append(
            f"The API patching botocore only would import in {botocore_only * 1000:.0f} CPU ms "
            f"({botocore_only / base:.2f} x boto3) against {cpu[f'{api_label} after'] * 1000:.0f} ms: "
            "what patching `requests` adds to a function that calls WAHA on a few routes only (it "
            "imports `requests` anyway: below)."
        )
    profiles: dict[str, tuple[float, dict[str, float]]] = {}
    for label, module, logical_id in FUNCTIONS[:2]:
        total, largest, subtrees = import_profile(module, _environment(True, patched[logical_id]))
        profiles[label] = (total, subtrees)
        figure.details.append(
            f"What the {label} spends its import on (as in Lambda, after; one `python -X importtime` "
            f"run, {total:.0f} ms in all; each package's modules' own time):\n\n"
            + md_table(
                ["package", "own ms", "share", "modules"],
                [[f"`{n}`", f"{ms:.0f}", f"{100 * ms / total:.0f} %", count] for n, ms, count in largest],
            )
        )
    api_total, api_subtrees = profiles[api_label]

    def share(name: str) -> str:
        ms = api_subtrees.get(name)
        return "not imported" if ms is None else f"{ms:.0f} ms ({100 * ms / api_total:.0f} %)"

    api_before, api_after = cpu[f"{api_label} before"], cpu[f"{api_label} after"]
    figure.findings.append(
        f"**Cold start: the API handler imports in {api_after / base:.2f} x the time of boto3 alone** "
        f"(figure 6; {api_before / base:.2f} x when X-Ray patched everything installed, the "
        f"Powertools default: {100 * (api_after / api_before - 1):+.0f} %). Each function's Tracer "
        "patches only what it calls (`TRACER_PATCH_MODULES` in template.yaml, read by "
        "campaigns.observability): botocore for the scheduler, botocore and requests for the API "
        "(its /whatsapp-sessions routes and test sends call WAHA) and the runner. What is left is "
        "shared by every route: Powertools' resolver with validation "
        f"(`aws_lambda_powertools.event_handler`: {share('aws_lambda_powertools.event_handler')} of "
        f"one import), the pydantic models (`campaigns.api.models`: {share('campaigns.api.models')}) "
        f"and the Powertools Logger/Metrics/Tracer (`campaigns.observability`: "
        f"{share('campaigns.observability')}, the X-Ray SDK and botocore with it)"
        + "."
        + (
            f" The WAHA client and `requests` are imported at cold start anyway "
            f"(`campaigns.sending.waha_client`: {share('campaigns.sending.waha_client')}, `requests`: "
            f"{share('requests')}), at module scope of route modules (`campaigns.api.test_sends`: "
            f"{share('campaigns.api.test_sends')} in all, `campaigns.api.sessions`: "
            f"{share('campaigns.api.sessions')}), though only test sends and the /whatsapp-sessions "
            "routes call WAHA, so patching requests costs the API little beyond that import. "
            f"Measured: the API patching botocore only imports in {botocore_only * 1000:.0f} CPU ms "
            f"against {api_after * 1000:.0f}"
            + (
                f" ({100 * (1 - botocore_only / api_after):.0f} % less)."
                if botocore_only < 0.95 * api_after
                else ", no gain beyond this machine's noise."
            )
            + " Suggested: import the sender factory and the WAHA "
            "session client inside the functions that use them, as the OpenAPI document is built "
            "on its first request."
            if botocore_only is not None and "campaigns.sending.waha_client" in api_subtrees
            else ""
        )
    )
    return figure
