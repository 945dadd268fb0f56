"""When a Running campaign should finish, from what is left and how it is paced.

An estimate, not a promise: each remaining contact takes the middle of the
campaign's gap (`(minDelayMs + maxDelayMs) / 2`), a batch pause follows every
`batchSize` sends (not after the last), and a run that waits (`waitingUntil`)
starts counting from the end of its wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


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

    @property
    def remaining(self) -> int:
        last = -1 if self.last_processed_contact_index is None else self.last_processed_contact_index
        return max(0, self.total_contacts - last - 1)


def estimated_finish(progress: Progress, now: datetime) -> datetime:
    """The moment the last remaining contact should be sent."""
    start = max(now, progress.waiting_until) if progress.waiting_until else now
    remaining = progress.remaining
    pacing_ms = remaining * (progress.min_delay_ms + progress.max_delay_ms) / 2
    return start + timedelta(milliseconds=pacing_ms + _batch_pauses_ms(progress, remaining))


def _batch_pauses_ms(progress: Progress, remaining: int) -> float:
    size, pause = progress.batch_size, progress.batch_pause_ms
    if not size or not pause or remaining == 0:
        return 0.0
    # Pauses fall between batches: after the current batch's sends and each full batch.
    return ((progress.sent_in_batch + remaining - 1) // size) * pause


__all__ = ["Progress", "estimated_finish"]
