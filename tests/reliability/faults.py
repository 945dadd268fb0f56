"""Fault injection for the reliability suite.

- `dynamodb_errors`: DynamoDB answers an error *on the wire*, through botocore's
  `before-send` hook, so the SDK's own retry logic (standard mode, as PynamoDB
  configures it) sees and retries it exactly as it would a real throttle.
- `CrashingSender`: wraps a real sender and kills the "Lambda process" (a
  BaseException no handler in the runner catches) just before or just after a send,
  that is between claim and send, or between send and record.
- `runner`/`tick`: the runner and the schedule's tick with a movable clock, so a
  test can step past a dead runner's lease without waiting for it.
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
from typing import Any

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
from tests.runner_harness import runner_settings

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


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
