"""The schedule: the scheduler function's handler, called every `LOCAL_SCHEDULE_SECONDS`
with an EventBridge "Scheduled Event", as the template's `rate(...)` rule does."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from devstack.context import SimulatedContext

log = logging.getLogger("devstack.schedule")

Handler = Callable[[dict[str, Any], Any], Any]

# The scheduler function's timeout in template.yaml.
SCHEDULER_TIMEOUT_MS = 60_000


def scheduler_handler() -> Handler:
    from functions.scheduler.app import lambda_handler

    return lambda_handler


def scheduled_event(now: datetime | None = None, region: str = "us-east-1") -> dict[str, Any]:
    now = now or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:000000000000:rule/local-schedule"],
        "detail": {},
    }


class LocalSchedule:
    """A thread that ticks every `interval_s`; the first tick comes one interval
    after start, as with an EventBridge rate rule. A failed tick is logged and not
    retried (the template gives the scheduler no retries: the next tick comes soon)."""

    def __init__(self, interval_s: float, handler: Handler | None = None, region: str = "us-east-1") -> None:
        if interval_s <= 0:
            raise ValueError("the schedule interval must be positive")
        self.interval_s = interval_s
        self.region = region
        self._handler = handler
        self._stop = threading.Event()
        self._tick_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.ticks = 0

    def start(self) -> LocalSchedule:
        if self._handler is None:
            self._handler = scheduler_handler()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """No more ticks; a tick in progress finishes (it only makes conditional writes
        and queues runner events)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("The schedule's last tick is still running after %.0f s", timeout_s)
        self._thread = None

    def tick_now(self) -> Any:
        """Run one tick in the caller's thread and return the handler's result
        (ticks never overlap)."""
        if self._handler is None:
            self._handler = scheduler_handler()
        with self._tick_lock:
            self.ticks += 1
            context = SimulatedContext(function_name="scheduler", timeout_ms=SCHEDULER_TIMEOUT_MS)
            return self._handler(scheduled_event(region=self.region), context)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                result = self.tick_now()
            except Exception:
                log.exception("Schedule tick failed; the next one comes in %.0f s", self.interval_s)
                continue
            log.debug("Schedule tick: %s", result)
