"""What every figure shares: results, progress lines, the DynamoDB endpoint, campaigns
seeded straight into the tables, runners and senders."""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

import bench  # noqa: F401  (path and environment first)

PASS = "pass"
FAIL = "**FAIL**"
NO_TARGET = "-"


@dataclass
class Row:
    """One line of the summary table."""

    figure: str
    what: str
    value: str
    target: str = NO_TARGET
    verdict: str = NO_TARGET


@dataclass
class FigureResult:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # Markdown paragraphs and tables
    findings: list[str] = field(default_factory=list)  # for "Largest costs found"
    seconds: float = 0.0


@dataclass
class Context:
    """What a figure gets: the DynamoDB server, the size preset, a progress printer."""

    db: Any  # bench.dbserver.DynamoServer
    quick: bool

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def progress(message: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------- environment


def use_endpoint(endpoint: str) -> None:
    """Point the domain's models at `endpoint` (the environment first, as the tests do)."""
    os.environ["DYNAMODB_ENDPOINT"] = endpoint
    from campaigns import config
    from campaigns.data import models

    models.configure_models(config.reload_settings())


def quiet_function_logs() -> None:
    """The functions' Powertools logger still formats every line (its cost stays in the
    figures) but writes to /dev/null instead of the benchmark's output."""
    from campaigns.observability import logger

    # A function that adds no metric in an invocation says so on every flush.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    handler = logger.registered_handler
    if hasattr(handler, "setStream"):
        handler.setStream(open(os.devnull, "w"))  # noqa: SIM115  (lives as long as the process)


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """The functions' Powertools metrics are printed (EMF lines on standard output, as
    Lambda ships them to CloudWatch); while a figure runs a function in this process,
    they go to /dev/null instead of the report. Their cost stays in the figures."""
    with open(os.devnull, "w") as sink, redirect_stdout(sink):
        yield


def settings(**overrides: Any):
    from campaigns.config import settings as current

    return current().model_copy(update=overrides)


# ----------------------------------------------------------------- campaigns


BENCH_DAILY_LIMIT = 10_000_000


def seed_campaign(contacts: int, **options: Any):
    """A Scheduled campaign over a new list of `contacts` contacts, written straight to
    the tables (tests/builders.py). Options as `Builder.campaign` takes them."""
    from campaigns.data.models import Campaign
    from campaigns.timeutil import utcnow
    from tests.builders import Builder

    campaign = Builder().campaign(contacts, **options)
    if campaign.waha_session:
        # Every seed writes the number afresh with the default daily limit (1,000), and the
        # campaigns of one figure share it: a limit reached (a 1,000-contact run after a
        # warm-up's sends) would park the run for a day. The benchmarks measure the runner,
        # not the limit (the tests and the reliability suite hold it), so it is lifted.
        from campaigns.data.models import WhatsAppSession

        WhatsAppSession(campaign.waha_session).update(
            actions=[WhatsAppSession.daily_limit.set(BENCH_DAILY_LIMIT)]
        )
    if campaign.due_at is None:  # due now, as after POST /run (the runner starts only a due campaign)
        campaign.update(actions=[Campaign.due_at.set(utcnow())])
    return campaign


def reload_campaign(campaign_id: str):
    from campaigns.data.models import Campaign

    return Campaign.get(campaign_id, consistent_read=True)


def run_runner(
    campaign_id: str,
    sender: Any,
    *,
    cfg: Any = None,
    sleep: Callable[[float], None] | None = None,
    monotonic: Callable[[], float] | None = None,
    remaining_ms: Callable[[], int] = lambda: 10**9,
) -> Any:
    """One invocation of the real runner (the handler's wiring, without the handler)."""
    from campaigns.data.store import CampaignStore
    from campaigns.invoker import RecordingInvoker
    from campaigns.runner.service import CampaignRunner, RunEvent

    cfg = cfg or settings()
    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    if monotonic is not None:
        kwargs["monotonic"] = monotonic
    runner = CampaignRunner(CampaignStore(cfg.lease_seconds), sender, RecordingInvoker(), cfg, **kwargs)
    return runner.run(RunEvent(campaign_id), remaining_ms, "runner")


def waha_sender(fake: Any):
    from campaigns.sending.waha_client import WahaClient
    from campaigns.sending.waha_sender import WahaSender

    return WahaSender(WahaClient(fake.base_url, fake.api_key))


@contextmanager
def fake_waha(latency_ms: int = 0) -> Iterator[Any]:
    from tests.fakewaha import FakeWaha

    fake = FakeWaha().start()
    fake.latency_ms = latency_ms
    try:
        yield fake
    finally:
        fake.stop()
    if fake.errors:
        raise RuntimeError(f"the fake WAHA raised: {fake.errors!r}")


class PlainDryRunSender:
    """The dry-run sender without its memory of every message (`DryRunSender.sent`, which
    tests read): what a long run should hold is one page of contacts, not every send."""

    def __new__(cls):
        from campaigns.sending.sender import DryRunSender

        class _Sender(DryRunSender):
            def send(self, message):  # type: ignore[no-untyped-def]
                result = super().send(message)
                self.sent.clear()
                return result

        return _Sender()
