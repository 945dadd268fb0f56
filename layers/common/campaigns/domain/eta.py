"""When a Running campaign should finish, from what is left and how it is paced.

An estimate, not a promise. Each remaining contact takes the middle of the
campaign's gap (`(minDelayMs + maxDelayMs) / 2`), a batch pause follows every
`batchSize` sends (not after the last), and a run that waits (`waitingUntil`)
starts counting from the end of its wait. Two things can slow that down:

- the WhatsApp number, when other campaigns take turns on it: each of the `k`
  campaigns sharing it sends at most once every `k` number gaps; and the number's
  daily limit: what is left of it today, then a `k`-th of it each following day;
- the send window: sends happen only while it is open; the first send of each
  opening goes out when it opens (the gap since the last send has long passed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from campaigns.domain.send_windows import SendWindow

DAY_MS = 86_400_000
# Window openings walked before the rest is extrapolated from the rate seen so far.
MAX_OPENINGS = 1_000


@dataclass(frozen=True)
class NumberLoad:
    """The WhatsApp number a campaign sends through, as its other campaigns load it."""

    sharing: int  # campaigns taking turns on the number, this one included
    min_gap_ms: int  # the number's gap between two sends
    daily_limit: int
    sent_last_day: int = 0  # sends through the number in the rolling 24 hours

    def per_send_ms(self) -> float:
        """The least time between two of one campaign's sends that the number allows."""
        return max(1, self.sharing) * self.min_gap_ms

    def finish_ms(self, remaining: int, per_send_ms: float) -> float:
        """When the last of `remaining` sends goes out, `per_send_ms` apart, within the limit."""
        share = self.daily_limit / max(1, self.sharing)
        today = max(0.0, (self.daily_limit - self.sent_last_day) / max(1, self.sharing))
        if remaining <= today or share <= 0:
            return remaining * per_send_ms
        later = remaining - today
        days = math.ceil(later / share)
        return days * DAY_MS + (later - (days - 1) * share) * per_send_ms


@dataclass(frozen=True)
class Progress:
    total_contacts: int
    last_processed_contact_index: int | None
    min_delay_ms: int
    max_delay_ms: int
    batch_size: int | None = None
    batch_pause_ms: int | None = None
    sent_in_batch: int = 0
    waiting_until: datetime | None = None
    window: SendWindow | None = None
    number: NumberLoad | None = None

    @property
    def remaining(self) -> int:
        last = -1 if self.last_processed_contact_index is None else self.last_processed_contact_index
        return max(0, self.total_contacts - last - 1)


def estimated_finish(progress: Progress, now: datetime) -> datetime:
    """The moment the last remaining contact should be sent."""
    start = max(now, progress.waiting_until) if progress.waiting_until else now
    remaining = progress.remaining
    if remaining == 0:
        return start
    own_ms = (progress.min_delay_ms + progress.max_delay_ms) / 2
    batch_ms = _batch_pauses_ms(progress, remaining)
    number_ms = progress.number.per_send_ms() if progress.number else 0.0
    if number_ms <= own_ms:
        total_ms = remaining * own_ms + batch_ms
    else:
        # The number is the bottleneck: its turns leave room for the batch pauses.
        total_ms = max(remaining * number_ms, remaining * own_ms + batch_ms)
    if progress.number is not None:
        total_ms = max(total_ms, progress.number.finish_ms(remaining, total_ms / remaining))
    if progress.window is None:
        return start + timedelta(milliseconds=total_ms)
    return _through_window(progress.window, start, remaining, total_ms / remaining)


def _through_window(window: SendWindow, start: datetime, remaining: int, per_send_ms: float) -> datetime:
    per_send = timedelta(milliseconds=per_send_ms)
    at, left, first_at = start, remaining, start
    for _ in range(MAX_OPENINGS):
        opening = window.next_opening(at)
        closes = window.closes_after(opening)
        if opening == at:
            # Open now: the sends follow one gap after another until it closes.
            fit = math.ceil((closes - at) / per_send) - 1 if per_send_ms > 0 else left
        else:
            # Opens later: one send as it opens, then one per gap.
            at = opening
            fit = math.ceil((closes - at) / per_send) if per_send_ms > 0 else left
            at -= per_send  # so that the first of them is at the opening
        if fit >= left:
            return at + per_send * left
        left -= max(fit, 0)
        at = closes
    # A very long campaign: the rest at the rate the window allowed so far.
    done = remaining - left
    rate = (at - first_at) / max(done, 1)
    return at + rate * left


def _batch_pauses_ms(progress: Progress, remaining: int) -> float:
    size, pause = progress.batch_size, progress.batch_pause_ms
    if not size or not pause or remaining == 0:
        return 0.0
    # Pauses fall between batches: after the current batch's sends and each full batch.
    return ((progress.sent_in_batch + remaining - 1) // size) * pause


__all__ = ["NumberLoad", "Progress", "estimated_finish"]
