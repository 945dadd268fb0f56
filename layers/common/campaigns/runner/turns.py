"""The WhatsApp number's turn held for the next send, between taking it and the send.

A turn is recorded on the number as the latest moment its message can go out (the
other campaigns on the number count their gap from there): the moment it was taken,
plus the typing, plus the calls made before the delivering request (the claim, which
writes the turn with the opt-out check, the number check, the message id), plus room.
Those calls are reserved for at the slowest they took in this invocation, so a
campaign's turns are recorded at the same offset or a later one, never an earlier one
(its own next turn is never held back by a smaller reservation).

A turn is decided before the claim and written by it (`slot`, handed to the claim
once): a claim refused because another campaign took the number meanwhile drops the
turn, and the turn is decided again from the number as it is now.

When the calls overrun the reservation anyway (a slow WAHA), the message must not go
out later than recorded: the send step asks before its last call, and the sender
again just before the delivering request (`OutgoingMessage.on_time`). A late turn
that is still the number's last is moved to now (one conditional write) and the
send goes on; if another campaign's turn was taken since, the send gives the contact
back and takes the number's turn again, after that one. The overrun counts toward
the next reservation.

Once the message has gone out, the write that records it settles the turn with the
moment its request started (`settlement`): another campaign waiting for the number
counts its gap from there rather than from the latest the turn allowed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from campaigns.sending.pacing import TRANSIT_MIN_S

if TYPE_CHECKING:
    from datetime import datetime

    from campaigns.data.campaign_writes import TransactItem
    from campaigns.data.number_slots import SlotWrite

# A turn's room beyond the reserved calls.
TURN_ROOM_S = 1.0
# The calls from taking a turn to the ready request, before they were measured.
FIRST_LEAD_S = 0.5


# A late turn moved to now is recorded this much later (what is left before the request).
MOVED_TURN_S = 0.5
LATE_FOR_TURN = "The calls before the send took longer than the number's turn allowed; taking the turn again"


@dataclass
class NumberTurn:
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    # The longest from taking a turn to the delivering request, typing left out.
    calls: float | None = None
    taken: float | None = None
    typing_s: float = 0.0
    send_by: float | None = None
    # Not before this (monotonic): the gap after another campaign's send, when the calls
    # before the send were quicker than the lead the turn was judged with.
    not_before: float | None = None
    # Not before this either (monotonic): the campaign's own drawn gap after its last
    # send (`Pacer.due`), when the pacing wait ended early by the calls' lead.
    pace_until: float | None = None
    # When the message was last ready, before any holding (monotonic).
    ready_at: float | None = None
    # Moves the turn, if still the number's last, to MOVED_TURN_S from now: True if moved.
    move_later: Callable[[], bool] | None = None
    # How long the calls from taking a turn to the ready request took lately.
    readies: deque[float] = field(default_factory=lambda: deque(maxlen=5))
    # The turn's write on the number, until the claim that makes it takes it.
    slot: SlotWrite | None = None
    # The turn the claim wrote: (the number's session name, its id).
    key: tuple[str, str] | None = None
    # When `on_time` last let a message go (monotonic): its request starts after it.
    cleared: float | None = None
    # A sent message's turn, and when its request started (monotonic), until recorded.
    unsettled: tuple[tuple[str, str], float] | None = None

    @property
    def lead_s(self) -> float:
        """The slowest the calls from taking a turn to the ready request took lately
        (the claim, the number check, the message id; a guess before any): a turn is
        judged that much later, and a message ready sooner waits (`on_time`)."""
        return max(self.readies, default=FIRST_LEAD_S)

    def reserved_s(self, measured_lead_s: float) -> float:
        """The calls a turn reserves for: the slowest so far (before any send: what the
        pacer measured), plus the room."""
        return max(measured_lead_s, self.calls or 0.0) + TURN_ROOM_S

    def hold(
        self,
        at: float,
        after_s: float,
        typing_s: float,
        latest_s: float,
        move_later: Callable[[], bool],
        slot: SlotWrite | None,
        allowed_s: float | None = None,
        transit: float = TRANSIT_MIN_S,
    ) -> None:
        """A turn taken at `at` (monotonic) for a send `after_s` later (a short pacing
        wait first), recorded on the number `latest_s` after `at` by `slot`'s write, and
        not to start before `allowed_s` (and `transit`) after `at`."""
        self.not_before = None if allowed_s is None else at + allowed_s + transit
        self.taken = at + after_s
        self.typing_s = typing_s
        self.send_by = at + latest_s
        self.move_later = move_later
        self.slot = slot

    def take_slot(self) -> SlotWrite | None:
        """The turn's write on the number, for the claim that makes it (once)."""
        slot, self.slot = self.slot, None
        self.key = None if slot is None else slot.turn
        return slot

    def drop(self) -> None:
        self.taken = self.send_by = self.move_later = self.slot = self.key = self.not_before = None
        self.pace_until = None

    def overran(self) -> bool:
        """Just before the delivering request: True when the send would go out after its
        turn and the turn could not be moved (another campaign's came since); the turn
        is then dropped."""
        if self.send_by is None:
            return False
        now = self.monotonic()
        if now <= self.send_by:
            return False
        self._note(now)
        if self.move_later is not None and self.move_later():
            self.send_by = now + MOVED_TURN_S
            return False
        self.drop()
        return True

    def on_time(self) -> bool:
        """Asked by the sender just before the delivering request, after it prepared it:
        a message ready before the number or the campaign's own gap allows it waits for
        that moment first."""
        ready = self.ready_at = self.monotonic()
        if self.taken is not None:
            self.readies.append(max(0.0, ready - self.taken - self.typing_s))
        holds = [t for t in (self.not_before, self.pace_until) if t is not None]
        if holds:
            early_s = max(holds) - ready
            if early_s > 0:
                self.sleep(early_s)
        if self.overran():
            return False
        self.cleared = self.monotonic()
        return True

    def not_before_cleared(self, estimate: float) -> float:
        """`estimate` of when the delivering request started, or the moment `on_time`
        let the message go when that is later (it may have waited there)."""
        return estimate if self.cleared is None else max(estimate, self.cleared)

    def sent(self, request_started: float) -> None:
        if self.taken is not None:
            self._note(request_started)
        self.unsettled = None if self.key is None else (self.key, request_started)
        self.drop()

    def settlement(self, now: datetime) -> TransactItem | None:
        """The sent message's turn settled with when its request started (wall clock,
        from `now`), for the write that records the message; None without one."""
        from datetime import timedelta

        from campaigns.data.number_slots import settlement

        if self.unsettled is None:
            return None
        (session_name, turn_id), started = self.unsettled
        self.unsettled = None
        started_at = now - timedelta(seconds=max(0.0, self.monotonic() - started))
        return settlement(session_name, turn_id, started_at)

    def _note(self, at: float) -> None:
        if self.taken is not None:
            self.calls = max(self.calls or 0.0, at - self.taken - self.typing_s)
