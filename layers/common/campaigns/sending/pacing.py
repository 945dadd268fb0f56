"""Pacing: a random gap between `minDelayMs` and `maxDelayMs`, from send to send.

The gap counts from the start of the request that delivered the previous message
(after its retries), so a send's own latency does not stretch the interval. The
gap for the next send is drawn once and kept until that send happens, so every
question about the next wait ("can I claim now?", "how long do I sleep?") gets
the same answer. Across invocations it counts from the recorded `lastSentAt`.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

# Bound on how much earlier a wait may end to absorb the calls made before a send.
MAX_PACING_LEAD_S = 5.0


@dataclass
class Pacer:
    min_delay_ms: int
    max_delay_ms: int
    rng: random.Random = field(default_factory=random.Random)
    monotonic: Callable[[], float] = time.monotonic
    last_send: float | None = None  # monotonic start of the previous delivering request
    _delay_ms: int | None = None
    # Between the end of a wait and the start of the delivering request the runner
    # checks the number and the sender asks WAHA for a message id: the wait ends that
    # much earlier, so WhatsApp sees the configured gap, not the gap plus those round
    # trips. The smallest recent measurement is used, so one slow call cannot shorten
    # the next gap; the send's own retries and backoff are never part of it.
    leads: deque[float] = field(default_factory=lambda: deque(maxlen=5))

    @classmethod
    def for_run(
        cls,
        min_delay_ms: int,
        max_delay_ms: int,
        last_sent_at: datetime | None,
        now: datetime,
        rng: random.Random,
        monotonic: Callable[[], float],
    ) -> Pacer:
        pacer = cls(min_delay_ms, max_delay_ms, rng, monotonic)
        if last_sent_at is not None:
            pacer.last_send = monotonic() - max(0.0, (now - last_sent_at).total_seconds())
        return pacer

    @property
    def lead_s(self) -> float:
        return min(self.leads, default=0.0)

    @property
    def delay_ms(self) -> int:
        """The gap before the next send, drawn once per send."""
        if self._delay_ms is None:
            low, high = self.min_delay_ms, max(self.min_delay_ms, self.max_delay_ms)
            self._delay_ms = low if high == low else self.rng.randint(low, high)
        return self._delay_ms

    def wait_ms(self) -> int:
        """Milliseconds from now until the next send may start (0: at once)."""
        if self.last_send is None:
            return 0
        due = self.last_send + self.delay_ms / 1000 - self.lead_s
        return max(0, math.ceil((due - self.monotonic()) * 1000))

    def sent(self, request_started: float, lead_s: float = 0.0) -> None:
        """A message went out (or may have) through a request that started at `request_started`."""
        self.last_send = request_started
        self._delay_ms = None
        self.leads.append(min(MAX_PACING_LEAD_S, max(0.0, lead_s)))
