"""The runner's asynchronous invocations, run on background workers as Lambda would.

Each event runs the runner function's own handler with a context whose remaining
time counts down from `LOCAL_LAMBDA_TIMEOUT_MS`, so the runner hands off to a new
invocation exactly where it would in AWS. A handler that raises is retried like
an asynchronous Lambda invocation (same request id, after a delay), then dropped
with an error in the log, where AWS would send it to the on-failure queue.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from campaigns.invoker import MAX_DELAY_S
from devstack.context import SimulatedContext

log = logging.getLogger("devstack.invoker")

Handler = Callable[[dict[str, Any], Any], Any]

# Lambda retries a failed asynchronous invocation twice by default.
LAMBDA_DEFAULT_RETRIES = 2


def runner_handler() -> Handler:
    from functions.runner.app import lambda_handler

    return lambda_handler


@dataclass(order=True)
class _Job:
    ready_at: float
    seq: int
    event: dict[str, Any] = field(compare=False)
    attempt: int = field(default=1, compare=False)
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()), compare=False)


@dataclass
class StopReport:
    dropped_events: list[dict[str, Any]]
    unfinished_workers: int


class LocalInvoker:
    """`campaigns.invoker.RunnerInvoker` for the local stack: `invoke` queues the
    event and returns at once; a small pool of worker threads runs the handler."""

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        timeout_ms: int = 900_000,
        workers: int = 4,
        max_retries: int = LAMBDA_DEFAULT_RETRIES,
        retry_delays_s: Sequence[float] = (1.0, 2.0),
        function_name: str = "runner",
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._handler = handler
        self.timeout_ms = timeout_ms
        self.workers = workers
        self.max_retries = max_retries
        self.retry_delays_s = tuple(retry_delays_s) or (1.0,)
        self.function_name = function_name
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._running: dict[int, SimulatedContext] = {}
        self._accepting = False
        self._stopping = False
        # Counters, for logs and tests.
        self.invocations = 0
        self.errors = 0
        self.retries = 0
        self.discarded = 0
        self.continuations = 0

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> LocalInvoker:
        if self._handler is None:
            self._handler = runner_handler()
        with self._cond:
            self._accepting = True
            self._stopping = False
        for number in range(1, self.workers + 1):
            thread = threading.Thread(target=self._work, name=f"{self.function_name}-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout_s: float = 15.0) -> StopReport:
        """Stop accepting events, drop the queued ones (the schedule recovers their
        campaigns through the leases), tell running invocations their time is up so
        they save their place at the next contact, and wait for them, at most
        `timeout_s`."""
        with self._cond:
            self._accepting = False
            self._stopping = True
            dropped = [job.event for job in self._queue]
            self._queue.clear()
            for context in self._running.values():
                context.expire()
            running = len(self._running)
            self._cond.notify_all()
        if dropped:
            log.info("Dropped %d queued runner event(s); the schedule picks their campaigns up", len(dropped))
        if running:
            log.info("Waiting for %d running runner invocation(s) to save their place", running)
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        unfinished = sum(1 for thread in self._threads if thread.is_alive())
        if unfinished:
            log.warning(
                "%d runner invocation(s) still busy after %.0f s; their campaigns stay Running and the "
                "schedule takes them over once their lease expires",
                unfinished,
                timeout_s,
            )
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        return StopReport(dropped_events=dropped, unfinished_workers=unfinished)

    # ------------------------------------------------------------------- invoke

    def invoke(self, event: dict[str, Any], function_name: str | None = None) -> None:
        # Like Lambda, the function gets its own copy of a JSON payload.
        payload = json.loads(json.dumps(event))
        with self._cond:
            if not self._accepting:
                log.warning(
                    "Runner event not accepted, the local stack is stopping: %s "
                    "(the schedule continues the campaign once its lease expires)",
                    json.dumps(payload),
                )
                return
            heapq.heappush(self._queue, _Job(time.monotonic(), next(self._seq), payload))
            self._cond.notify()

    def continue_later(self, event: dict[str, Any], delay_s: int) -> None:
        """The runner's continuation queue: like SQS with DelaySeconds, the event is
        delivered as a one-record SQS batch once `delay_s` whole seconds have passed."""
        delay_s = max(0, min(MAX_DELAY_S, int(delay_s)))
        record = {
            "messageId": str(uuid.uuid4()),
            "eventSource": "aws:sqs",
            "body": json.dumps(event),
            "attributes": {"ApproximateReceiveCount": "1"},
        }
        with self._cond:
            if not self._accepting:
                log.warning(
                    "Continuation not queued, the local stack is stopping: %s "
                    "(the schedule continues the campaign once its lease expires)",
                    json.dumps(event),
                )
                return
            ready_at = time.monotonic() + delay_s
            heapq.heappush(self._queue, _Job(ready_at, next(self._seq), {"Records": [record]}))
            self.continuations += 1
            self._cond.notify()
        log.info("Continuation queued for %d s: %s", delay_s, json.dumps(event))

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """True once no event is queued, waiting for a retry, or running."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._running, timeout_s)

    @property
    def busy(self) -> int:
        with self._cond:
            return len(self._running) + len(self._queue)

    # ------------------------------------------------------------------ workers

    def _next_job(self) -> _Job | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                now = time.monotonic()
                if self._queue and self._queue[0].ready_at <= now:
                    job = heapq.heappop(self._queue)
                    context = SimulatedContext(
                        function_name=self.function_name,
                        timeout_ms=self.timeout_ms,
                        aws_request_id=job.request_id,
                    )
                    self._running[threading.get_ident()] = context
                    return job
                wait = self._queue[0].ready_at - now if self._queue else None
                self._cond.wait(wait)

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            context = self._running[threading.get_ident()]
            try:
                self._run(job, context)
            finally:
                with self._cond:
                    del self._running[threading.get_ident()]
                    self._cond.notify_all()

    def _run(self, job: _Job, context: SimulatedContext) -> None:
        assert self._handler is not None
        self.invocations += 1
        try:
            result = self._handler(job.event, context)
        except Exception:
            self.errors += 1
            self._retry_or_discard(job)
            return
        finally:
            overrun = context.elapsed_ms() - self.timeout_ms
            if overrun > 0:
                log.warning(
                    "Runner invocation ran %d ms past LOCAL_LAMBDA_TIMEOUT_MS (%d ms); "
                    "Lambda would have stopped it",
                    overrun,
                    self.timeout_ms,
                )
        log.debug("Runner invocation %s returned %s", job.request_id, result)

    def _retry_or_discard(self, job: _Job) -> None:
        if job.attempt > self.max_retries:
            self.discarded += 1
            log.exception(
                "Runner invocation %s failed on attempt %d and is discarded "
                "(AWS would send it to the on-failure queue): %s",
                job.request_id,
                job.attempt,
                json.dumps(job.event),
            )
            return
        delay = self.retry_delays_s[min(job.attempt - 1, len(self.retry_delays_s) - 1)]
        log.exception(
            "Runner invocation %s failed on attempt %d; retrying in %.1f s",
            job.request_id,
            job.attempt,
            delay,
        )
        with self._cond:
            if not self._accepting:
                log.warning("Retry of %s dropped: the local stack is stopping", job.request_id)
                return
            self.retries += 1
            retry = _Job(
                time.monotonic() + delay, next(self._seq), job.event, job.attempt + 1, job.request_id
            )
            heapq.heappush(self._queue, retry)
            self._cond.notify()
