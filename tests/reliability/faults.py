"""Fault injection for the reliability suite.

- `dynamodb_errors`: DynamoDB answers an error *on the wire*, through botocore's
  `before-send` hook, so the SDK's own retry logic (standard mode, as PynamoDB
  configures it) sees and retries it exactly as it would a real throttle.
- `CrashingSender`: wraps a real sender and kills the "Lambda process" (a
  BaseException no handler in the runner catches) just before or just after a send,
  that is between claim and send, or between send and record.
- `runner`/`tick`: the runner and the schedule's tick with a movable clock, so a
  test can step past a dead runner's lease without waiting for it.
- `RestartingWaha`/`WahaOutage`: the fake WAHA goes away (its port refuses
  connections, as while WAHA restarts) and comes back on the same port once a fake
  clock has moved past the outage: a restart of 5 s or 10 minutes costs no real time.
- `HookedSender`: a real sender with something happening right after a given send.
- `dynamodb_page_gaps`: a Query answers without some of its items, once or a few
  times, as an eventually consistent read (or an item still being written) does.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff

from campaigns.data.models import ALL_MODELS
from campaigns.data.store import CampaignStore
from campaigns.invoker import RecordingInvoker
from campaigns.runner.service import CampaignRunner
from campaigns.schedule.tick import ScheduleTick, TickReport
from campaigns.sending.sender import OutgoingMessage, SendResult, SessionState
from campaigns.sending.waha_client import RetryPolicy, WahaClient
from campaigns.sending.waha_sender import WahaSender
from campaigns.timeutil import utcnow
from tests.fakewaha import FakeWaha, _Handler, _Server
from tests.runner_harness import FakeClock, runner_settings

T = TypeVar("T")

# Every retry really happens, in milliseconds.
FAST_RETRIES = RetryPolicy(
    max_attempts=3,
    base_delay_s=0.005,
    max_delay_s=0.02,
    rate_limit_base_delay_s=0.01,
    rate_limit_max_delay_s=0.04,
)


class SimulatedCrash(BaseException):
    """The Lambda process dies (timeout, out of memory): no handler in the runner runs."""


# ------------------------------------------------------------------ senders


def waha_sender(fake: Any, read_timeout_s: float = 1.0) -> WahaSender:
    """The real WAHA sender, pointed at the fake WAHA server, with fast retries."""
    client = WahaClient(
        fake.base_url,
        fake.api_key,
        connect_timeout_s=1.0,
        read_timeout_s=read_timeout_s,
        retry=FAST_RETRIES,
    )
    return WahaSender(client)


class CrashingSender:
    """Delegates to `inner`; the process dies just before the sends numbered in
    `before` (the contact is claimed, nothing went out) and just after those in
    `after` (the message went out, nothing recorded it). Sends are numbered from 0."""

    def __init__(self, inner: Any, before: set[int] | None = None, after: set[int] | None = None) -> None:
        self.inner = inner
        self.before = set(before or ())
        self.after = set(after or ())
        self.calls = 0
        self.crashes = 0

    def worst_case_ms(self, plan: Any) -> int:
        return int(self.inner.worst_case_ms(plan))

    def session_state(self, session: str) -> SessionState:
        return self.inner.session_state(session)

    def number_exists(self, session: str, phone_number: str) -> bool | None:
        return self.inner.number_exists(session, phone_number)

    def start_typing(self, session: str, phone_number: str) -> None:
        self.inner.start_typing(session, phone_number)

    def stop_typing(self, session: str, phone_number: str) -> None:
        self.inner.stop_typing(session, phone_number)

    def send(self, message: OutgoingMessage) -> SendResult:
        number = self.calls
        self.calls += 1
        if number in self.before:
            self.crashes += 1
            raise SimulatedCrash(f"died before send {number}")
        result = self.inner.send(message)
        if number in self.after:
            self.crashes += 1
            raise SimulatedCrash(f"died after send {number}")
        return result


class HookedSender:
    """Delegates to `inner`; right after the sends numbered in `after` (from 0) have gone
    out, calls their hook (a WAHA outage begins, a list is changed, ...)."""

    def __init__(self, inner: Any, after: dict[int, Callable[[], None]]) -> None:
        self.inner = inner
        self.after = dict(after)
        self.calls = 0

    def worst_case_ms(self, plan: Any) -> int:
        return int(self.inner.worst_case_ms(plan))

    def session_state(self, session: str) -> SessionState:
        return self.inner.session_state(session)

    def number_exists(self, session: str, phone_number: str) -> bool | None:
        return self.inner.number_exists(session, phone_number)

    def start_typing(self, session: str, phone_number: str) -> None:
        self.inner.start_typing(session, phone_number)

    def stop_typing(self, session: str, phone_number: str) -> None:
        self.inner.stop_typing(session, phone_number)

    def send(self, message: OutgoingMessage) -> SendResult:
        result = self.inner.send(message)
        number, self.calls = self.calls, self.calls + 1
        hook = self.after.pop(number, None)
        if hook is not None:
            hook()
        return result


# ------------------------------------------------------------------ WAHA restarting


class RestartingWaha(FakeWaha):
    """The fake WAHA server, started again on the same port after a stop: its sessions,
    messages and message ids survive a restart, as WAHA's do."""

    port = 0

    def start(self) -> RestartingWaha:
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.fake = self
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self


@dataclass
class WahaOutage:
    """WAHA down (connections refused) from `begin` until the fake clock has moved
    `seconds` further; the runner's sleeps move that clock (`sleep` is the runner's).
    `seconds` None: down until `end` is called."""

    waha: RestartingWaha
    clock: FakeClock
    down_at: float | None = None
    up_at: float | None = None
    downtime_s: float = 0.0

    def begin(self, seconds: float | None) -> None:
        self.waha.stop()
        self.down_at = self.clock.now
        self.up_at = None if seconds is None else self.clock.now + seconds

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)
        self.advanced()

    def advanced(self) -> None:
        """The clock moved: WAHA is back if its outage is over."""
        if self.down_at is not None and self.up_at is not None and self.clock.now >= self.up_at:
            self.end()

    def end(self) -> None:
        if self.down_at is None:
            return
        self.downtime_s += self.clock.now - self.down_at
        self.down_at = self.up_at = None
        self.waha.start()

    @property
    def down(self) -> bool:
        return self.down_at is not None


# ------------------------------------------------------------------ runner and schedule


@dataclass
class Clock:
    """Wall-clock time plus an offset a test moves forward (leases, parked runs)."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def past_lease(self, extra_s: float = 1.0) -> None:
        """Move past any lease taken so far (the longest one a sender can ask for)."""
        self.offset += timedelta(seconds=runner_settings().lease_seconds + 3600 + extra_s)


def runner(sender: Any, invoker: RecordingInvoker, clock: Callable[[], datetime] = utcnow) -> CampaignRunner:
    cfg = runner_settings()
    return CampaignRunner(CampaignStore(cfg.lease_seconds), sender, invoker, cfg, clock=clock)


def tick(invoker: RecordingInvoker, now: datetime) -> TickReport:
    cfg = runner_settings()
    return ScheduleTick(CampaignStore(cfg.lease_seconds), invoker, cfg).run(now)


# ------------------------------------------------------------------ DynamoDB errors on the wire


class _Body:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload


def _error_response(url: str, code: str, message: str, extra: dict[str, Any] | None = None) -> AWSResponse:
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **(extra or {})}
    headers = {
        "x-amzn-RequestId": uuid.uuid4().hex,
        "Content-Type": "application/x-amz-json-1.0",
    }
    return AWSResponse(url, 400, headers, _Body(json.dumps(body).encode()))


THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")


@dataclass
class WireFault:
    """How many matching requests were seen and answered with the error."""

    seen: int = 0
    injected: int = 0
    active: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self) -> None:
        with self.lock:
            self.active = False


def _clients() -> list[Any]:
    seen: set[int] = set()
    clients = []
    for model in ALL_MODELS:
        client = model._get_connection().connection.client
        if id(client) not in seen:
            seen.add(id(client))
            clients.append(client)
    return clients


@contextmanager
def dynamodb_errors(
    operation: str,
    *,
    after: int = 0,
    times: int | None = None,
    code: str = "ProvisionedThroughputExceededException",
    transaction_throttled: bool = False,
) -> Iterator[WireFault]:
    """DynamoDB answers `code` to `operation` requests (HTTP attempts, retries included):
    the (after+1)-th and the following ones, `times` in all (None: every one until
    `stop()` or the end of the block). `transaction_throttled`: answer what
    TransactWriteItems answers when one of its items is throttled instead
    (TransactionCanceledException, reason ThrottlingError), which the SDK does not retry.

    Throttling backoff is scaled down 50x so that the SDK's retries take
    milliseconds; when and how often it retries is botocore's own decision."""
    fault = WireFault()

    def on_send(request: Any, **_: Any) -> AWSResponse | None:
        with fault.lock:
            if not fault.active:
                return None
            fault.seen += 1
            if fault.seen <= after or (times is not None and fault.injected >= times):
                return None
            fault.injected += 1
        if transaction_throttled:
            reasons = [
                {"Code": "None"},
                {"Code": "ThrottlingError", "Message": "Throughput exceeds capacity"},
            ]
            return _error_response(
                request.url,
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons "
                "[None, ThrottlingError]",
                {"CancellationReasons": reasons},
            )
        return _error_response(
            request.url,
            code,
            "Injected: the level of configured provisioned throughput for the table was exceeded",
        )

    event = f"before-send.dynamodb.{operation}"
    unique = f"reliability-fault-{uuid.uuid4().hex}"
    original = ExponentialBackoff._DEFAULT_BACKOFF_CONFIG
    ExponentialBackoff._DEFAULT_BACKOFF_CONFIG = {**original, "throttling_base_scale": 0.02}
    clients = _clients()
    for client in clients:
        client.meta.events.register(event, on_send, unique_id=unique)
    try:
        yield fault
    finally:
        for client in clients:
            client.meta.events.unregister(event, unique_id=unique)
        ExponentialBackoff._DEFAULT_BACKOFF_CONFIG = original


# ------------------------------------------------------------------ pages that lag


@dataclass
class PageGaps:
    """How many Query answers were cut, and which items they left out."""

    cut: int = 0
    hidden: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def dynamodb_page_gaps(
    table: str, hide: Callable[[list[dict[str, Any]]], list[int]], times: int = 1
) -> Iterator[PageGaps]:
    """The next `times` Query answers from `table` (its full name) that `hide` finds
    something in come back without the items at the positions it returns, as a read
    that does not see an item yet would. The SDK parses the real answer; the items are
    taken out after."""
    gaps = PageGaps()

    def remember_table(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["reliability-table"] = params.get("TableName")

    def cut(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get("reliability-table") != table or "Items" not in parsed:
            return
        with gaps.lock:
            if gaps.cut >= times:
                return
            positions = set(hide(parsed["Items"]))
            if not positions:
                return
            gaps.cut += 1
            gaps.hidden.extend(item for i, item in enumerate(parsed["Items"]) if i in positions)
        parsed["Items"] = [item for i, item in enumerate(parsed["Items"]) if i not in positions]
        parsed["Count"] = len(parsed["Items"])

    unique = f"reliability-gaps-{uuid.uuid4().hex}"
    clients = _clients()
    for client in clients:
        client.meta.events.register("before-parameter-build.dynamodb.Query", remember_table, unique_id=unique)
        client.meta.events.register("after-call.dynamodb.Query", cut, unique_id=unique + "-cut")
    try:
        yield gaps
    finally:
        for client in clients:
            client.meta.events.unregister("before-parameter-build.dynamodb.Query", unique_id=unique)
            client.meta.events.unregister("after-call.dynamodb.Query", unique_id=unique + "-cut")


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def at_once(count: int, action: Callable[[], T]) -> list[T]:
    """`action` called by `count` threads released together; their results (any error
    raised in one fails the caller)."""
    barrier = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            result = action()
            with lock:
                results.append(result)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(results) == count
    return results
