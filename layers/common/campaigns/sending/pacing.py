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

# Beyond a gap, for the requests' own transit: one request may reach WAHA later after
# its start than the next one does (a new connection, a busy host). 1 % of the gap,
# within these bounds; for the campaign's own gap and for another campaign's on the
# number alike.
TRANSIT_MIN_S = 0.005
TRANSIT_MAX_S = 0.05


def transit_s(gap_ms: int) -> float:
    """The margin beyond a gap of `gap_ms` for the requests' transit (none without a gap)."""
    if gap_ms <= 0:
        return 0.0
    return min(TRANSIT_MAX_S, max(TRANSIT_MIN_S, gap_ms / 100_000))


# Bound on how much earlier a wait may end to absorb the calls made before a send (and
# so on how long a claimed message may be held before its request).
MAX_PACING_LEAD_S = 1.0


@dataclass
class Pacer:
    min_delay_ms: int
    max_delay_ms: int
    rng: random.Random = field(default_factory=random.Random)
    monotonic: Callable[[], float] = time.monotonic
    last_send: float | None = None  # monotonic start of the previous delivering request
    _delay_ms: int | None = None
    # Between the end of a wait and the start of the delivering request the runner
    # takes the number's turn, claims the contact, checks the number and the sender
    # asks WAHA for a message id: the wait ends that much earlier, so WhatsApp sees
    # the drawn gap, not the gap plus those round trips. The smallest recent
    # measurement is used; calls quicker than it leave the message ready early, and it
    # is held just before its request until the drawn gap is over (`due`), so the gap
    # is never under the minimum.
    leads: deque[float] = field(default_factory=lambda: deque(maxlen=5))
    # When the last wait ended (monotonic): the calls before the send count from here.
    wait_ended: float | None = None

    # A continuation's planned moment for the next send (monotonic), replacing the
    # drawn gap until that send happens.
    planned: float | None = None

    @classmethod
    def for_run(
        cls,
        min_delay_ms: int,
        max_delay_ms: int,
        last_sent_at: datetime | None,
        now: datetime,
        rng: random.Random,
        monotonic: Callable[[], float],
        waiting_until: datetime | None = None,
    ) -> Pacer:
        """Pacing for one invocation: from the run's last send, or, for a continuation,
        until the moment its wait was planned to end."""
        pacer = cls(min_delay_ms, max_delay_ms, rng, monotonic)
        if last_sent_at is not None:
            pacer.last_send = monotonic() - max(0.0, (now - last_sent_at).total_seconds())
        if waiting_until is not None:
            pacer.planned = monotonic() + (waiting_until - now).total_seconds()
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
        if self.planned is not None:
            return max(0, math.ceil((self.planned - self.monotonic()) * 1000))
        if self.last_send is None:
            return 0
        # The lead may take the wait under the minimum gap: the request itself is held
        # until `due`.
        gap_s = max(0.0, self.delay_ms / 1000 + self.transit_s - self.lead_s)
        return max(0, math.ceil((self.last_send + gap_s - self.monotonic()) * 1000))

    def due(self) -> float | None:
        """The earliest moment (monotonic) the next delivering request may start: the
        drawn gap after the last send (for a continuation, its planned moment, itself
        never under the minimum gap after the last send), and the transit margin; None
        before any send."""
        if self.planned is not None:
            if self.last_send is None:
                return self.planned
            return max(self.planned, self.last_send + self.min_delay_ms / 1000 + self.transit_s)
        if self.last_send is None:
            return None
        return self.last_send + self.delay_ms / 1000 + self.transit_s

    @property
    def transit_s(self) -> float:
        return transit_s(self.min_delay_ms)

    def waited(self) -> None:
        """The wait before a send is over (the calls before it count from now)."""
        self.wait_ended = self.monotonic()

    def whole_seconds_wait(self) -> int:
        """The wait, in whole seconds, for a continuation delayed outside Lambda (a queue
        delays by whole seconds): the drawn gap moved to the nearest whole second that
        keeps it within [min, max], so no remainder has to be slept. Never shorter than
        the minimum gap."""
        wait_s = self.wait_ms() / 1000
        if self.last_send is None or self.planned is not None:
            return math.ceil(wait_s)
        elapsed_s = self.monotonic() - self.last_send
        low_s, high_s = self.min_delay_ms / 1000, max(self.min_delay_ms, self.max_delay_ms) / 1000
        whole = round(wait_s)
        if elapsed_s + whole > high_s:
            whole = math.floor(high_s - elapsed_s)
        if elapsed_s + whole < low_s:
            whole = math.ceil(low_s - elapsed_s)
        return max(0, whole)

    def sent(self, request_started: float, lead_s: float | None = None) -> None:
        """A message went out (or may have) through a request that started at
        `request_started`; `lead_s`: how long the calls before it took after the wait."""
        self.last_send = request_started
        self._delay_ms = None
        self.planned = None
        self.wait_ended = None
        if lead_s is not None:
            self.leads.append(min(MAX_PACING_LEAD_S, max(0.0, lead_s)))
