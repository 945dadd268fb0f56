"""Test helpers around the runner: run events to the end, count DynamoDB requests,
inject DynamoDB faults through botocore's event hooks, and wrap senders."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from campaigns.config import Settings, settings
from campaigns.data.models import ALL_MODELS
from campaigns.data.store import CampaignStore
from campaigns.invoker import RecordingInvoker, runner_event
from campaigns.runner.service import CampaignRunner, RunEvent, RunResult
from campaigns.sending.sender import DryRunSender, OutgoingMessage, SendResult, SessionState, require_on_time
from campaigns.timeutil import utcnow


def runner_settings(**overrides: Any) -> Settings:
    # Waits are slept in the invocation unless a test asks for delayed continuations
    # (continuation_threshold_ms), so pacing tests can run on a fake clock.
    defaults = {"handoff_margin_ms": 0, "continuation_threshold_ms": 10**9}
    return settings().model_copy(update={**defaults, **overrides})


class Budget:
    """A time budget that lets `contacts` contacts through, then reports 0 ms left."""

    def __init__(self, contacts: int) -> None:
        self.left = contacts

    def __call__(self) -> int:
        self.left -= 1
        return 10**9 if self.left >= 0 else 0


def unlimited() -> int:
    return 10**9


class FakeClock:
    """Monotonic and wall-clock time that only move when the runner sleeps: pacing
    without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self):
        """Real time plus all the time slept so far."""
        return utcnow() + timedelta(seconds=self.now - 1000.0)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Harness:
    sender: Any = field(default_factory=DryRunSender)
    invoker: RecordingInvoker = field(default_factory=RecordingInvoker)
    cfg: Settings = field(default_factory=runner_settings)
    clock: FakeClock | None = None

    def runner(self) -> CampaignRunner:
        store = CampaignStore(self.cfg.lease_seconds)
        if self.clock is None:
            return CampaignRunner(store, self.sender, self.invoker, self.cfg)
        return CampaignRunner(
            store,
            self.sender,
            self.invoker,
            self.cfg,
            sleep=self.clock.sleep,
            monotonic=self.clock.monotonic,
            clock=self.clock.wall,
        )

    def run(self, campaign_id: str, token: str | None = None, hop: int = 0, budget=unlimited) -> RunResult:
        return self.runner().run(RunEvent(campaign_id, token, hop), budget, "runner")

    def run_to_end(
        self,
        campaign_id: str,
        budget_factory: Callable[[], Callable[[], int]] = lambda: unlimited,
        limit: int = 500,
    ) -> list[tuple[dict, RunResult]]:
        """Run, then every event the runner invoked itself with, until none is left."""
        results = []
        pending = [runner_event(campaign_id)]
        while pending and len(results) < limit:
            event = pending.pop(0)
            result = self.runner().run(RunEvent.parse(event), budget_factory(), "runner")
            results.append((event, result))
            pending.extend(self.invoker.pop_all())
        return results


class RecordingSender(DryRunSender):
    """The dry-run sender plus a hook called before each send (to pause, crash, ...)."""

    def __init__(self, before_send: Callable[[OutgoingMessage, int], None] | None = None, delay_s: float = 0):
        super().__init__()
        self.before_send = before_send
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self.status = "WORKING"

    def session_state(self, session: str) -> SessionState:
        return SessionState(name=session, status=self.status)

    def send(self, message: OutgoingMessage) -> SendResult:
        require_on_time(message)  # as the WAHA sender asks, just before the delivering request
        if self.before_send:
            self.before_send(message, len(self.sent))
        if self.delay_s:
            import time

            time.sleep(self.delay_s)
        with self._lock:
            self.sent.append(message)
        return SendResult(message_id=f"true_{message.phone_number}@c.us_{len(self.sent)}")


def _clients() -> list[Any]:
    seen, clients = set(), []
    for model in ALL_MODELS:
        client = model._get_connection().connection.client
        if id(client) not in seen:
            seen.add(id(client))
            clients.append(client)
    return clients


class Requests(Counter):
    """DynamoDB requests by operation (`counts["UpdateItem"]`), and in `named` by
    operation and the tables it touches (`"TransactWriteItems campaigns + opt-outs"`,
    table prefix left out, in name order)."""

    def __init__(self) -> None:
        super().__init__()
        self.named: Counter[str] = Counter()


def _request_name(operation: str, params: dict) -> str:
    if operation == "TransactWriteItems":
        names = [next(iter(item.values()))["TableName"] for item in params.get("TransactItems", [])]
    elif operation in ("BatchWriteItem", "BatchGetItem"):
        names = list(params.get("RequestItems", {}))
    else:
        names = [params.get("TableName", "?")]
    prefix = settings().table_prefix
    return f"{operation} " + " + ".join(sorted({name.removeprefix(prefix) for name in names}))


@contextmanager
def count_dynamodb_requests() -> Iterator[Requests]:
    """Counts DynamoDB API calls by operation, and by operation and tables (botocore
    `before-parameter-build` hooks: once per call, the SDK's retries not counted)."""
    counts = Requests()
    lock = threading.Lock()

    def on_call(model: Any, params: dict, **_: Any) -> None:
        with lock:
            counts[model.name] += 1
            counts.named[_request_name(model.name, params)] += 1
            if model.name == "Query":
                counts["Query.Limit.max"] = max(counts["Query.Limit.max"], params.get("Limit", 10**9))

    clients = _clients()
    for client in clients:
        client.meta.events.register("before-parameter-build.dynamodb", on_call, unique_id="count-requests")
    try:
        yield counts
    finally:
        for client in clients:
            client.meta.events.unregister("before-parameter-build.dynamodb", unique_id="count-requests")


@contextmanager
def dynamodb_fault(
    operation: str,
    after: int,
    code: str = "InternalServerError",
    times: int = 1,
    cancellation_reasons: list[str] | None = None,
) -> Iterator[None]:
    """Make the (after+1)-th call of `operation` fail `times` times with `code`
    (and, for a cancelled transaction, these per-item reasons)."""
    state = {"seen": 0, "failed": 0}

    def on_call(model: Any, **_: Any) -> None:
        if model.name != operation:
            return None
        state["seen"] += 1
        if state["seen"] > after and state["failed"] < times:
            state["failed"] += 1
            response: dict[str, Any] = {"Error": {"Code": code, "Message": "injected fault"}}
            if cancellation_reasons is not None:
                response["CancellationReasons"] = [{"Code": reason} for reason in cancellation_reasons]
            raise ClientError(response, operation)
        return None

    clients = _clients()
    for client in clients:
        client.meta.events.register("before-call.dynamodb", on_call, unique_id="inject-fault")
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.dynamodb", unique_id="inject-fault")
