"""Before each claim: must the run wait, and where?

In order: a batch pause; the campaign's send window (nothing is sent outside it);
the campaign's own pacing gap; then the WhatsApp number's turn (per-number pacing
and its daily limit, `campaigns.data.number_slots`). A wait longer than
CONTINUATION_THRESHOLD_MS, or longer than this invocation can afford, ends the
invocation (park, with a delayed continuation); a short one is slept here.

The number's turn is decided here and written by the claim that follows, in its
request (`recipient`); a claim refused because the number was taken meanwhile comes
back here, and the turn is decided again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from campaigns.config import Settings
from campaigns.data.models import Campaign, Contact
from campaigns.data.number_slots import NumberSlots
from campaigns.data.run_writes import Recipient
from campaigns.domain.number_pacing import Decision
from campaigns.domain.outcomes import Outcome
from campaigns.domain.send_windows import SendWindow
from campaigns.domain.statuses import DeliveryStatus
from campaigns.runner.endings import RunEndings
from campaigns.runner.events import RunResult
from campaigns.runner.run import Run
from campaigns.runner.send_step import SendStep
from campaigns.runner.turns import MOVED_TURN_S
from campaigns.sending.pacing import transit_s

WAITING_BETWEEN_MESSAGES = "Waiting between messages"
NUMBER_BUSY = "The WhatsApp number is busy; trying again"
# Short waits for the number's turn slept here before the run parks instead.
NUMBER_TURN_TRIES = 20


def send_window_of(campaign: Campaign) -> SendWindow | None:
    raw = campaign.send_window
    return SendWindow.parse(json.loads(raw)) if raw else None


def batch_full(campaign: Campaign, pending_sent: bool = False) -> bool:
    """True when the batch is full (counting one more send when `pending_sent`)."""
    if not campaign.batch_size or not campaign.batch_pause_ms:
        return False
    return int(campaign.sent_in_batch or 0) + (1 if pending_sent else 0) >= int(campaign.batch_size)


@dataclass
class Waits:
    cfg: Settings
    end: RunEndings
    step: SendStep
    slots: NumberSlots
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]

    def before_claim(self, run: Run, contact: Contact) -> RunResult | None:
        """Park, hand off, or wait here until the contact may be sent (then None)."""
        assert run.pacer is not None
        if batch_full(run.campaign):
            return self.end.park(run, int(run.campaign.batch_pause_ms or 0), "Batch pause", end_batch=True)
        outside = self._outside_window(run)
        if outside:
            return outside
        wait_ms = run.pacer.wait_ms()
        if wait_ms > self.cfg.continuation_threshold_ms:
            whole_s = run.pacer.whole_seconds_wait()
            return self.end.park(run, whole_s * 1000, WAITING_BETWEEN_MESSAGES, delay_s=whole_s)
        if not run.can_afford(wait_ms, self.cfg.handoff_margin_ms):
            fresh_ms = self.cfg.runner_timeout_ms - run.worst_send_ms - self.cfg.handoff_margin_ms
            if wait_ms > 0 and (run.sent_here == 0 or wait_ms >= fresh_ms):
                # Even a fresh invocation could not afford this wait.
                return self.end.park(run, wait_ms, WAITING_BETWEEN_MESSAGES)
            return self.end.hand_off(run)
        self.until_due(run, contact)
        return self._number_turn(run, contact)

    def park_after(self, run: Run, index: int, outcome: Outcome) -> int | None:
        """Whole seconds to park for after contact `index`, when the next contact's wait
        is its pacing gap and too long to sleep here: the record of `index` parks the run
        in the same write. None when the next step is anything else (the list's end, a
        batch pause, a closed send window, a short wait, a pause for an unknown send)."""
        assert run.pacer is not None and run.cursor is not None
        if outcome.status is DeliveryStatus.UNKNOWN:
            return None
        if run.cursor.peek(index + 1) is None and index + 1 >= int(run.campaign.total_contacts or 0):
            return None
        if batch_full(run.campaign, outcome.status is DeliveryStatus.SENT):
            return None
        window = send_window_of(run.campaign)
        if window is not None and not window.is_open(self.clock()):
            return None
        if run.pacer.wait_ms() <= self.cfg.continuation_threshold_ms:
            return None
        return run.pacer.whole_seconds_wait()

    def until_due(self, run: Run, contact: Contact) -> None:
        """Sleep until the next send is due, minus the typing that fills its end."""
        assert run.pacer is not None and run.message is not None
        wait_ms = run.pacer.wait_ms() - self.step.typing_for(run.message, contact)
        if wait_ms > 0:
            self.sleep(wait_ms / 1000)
        run.pacer.waited()

    def _outside_window(self, run: Run) -> RunResult | None:
        window = send_window_of(run.campaign)
        if window is None:
            return None
        now = self.clock()
        opening = window.next_opening(now)
        if opening <= now:
            return None
        wait_s = math.ceil((opening - now).total_seconds())
        reason = f"Outside the send window ({window.describe()}); it opens at {opening:%Y-%m-%d %H:%M} UTC"
        return self.end.park(run, wait_s * 1000, reason, delay_s=wait_s)

    def free_now(self, run: Run, contact: Contact) -> bool:
        """Inside the send window, and the number's slot for `contact` granted, at once (no
        waiting here for the number; the pacing wait, at most a second, comes first): its
        claim, with the slot's write, may be merged into the previous record."""
        assert run.message is not None and run.pacer is not None
        now = self.clock()
        window = send_window_of(run.campaign)
        if window is not None and not window.is_open(now):
            return False
        return self._decide_slot(run, contact, now, run.pacer.wait_ms()).granted

    def recipient(self, run: Run, contact: Contact) -> Recipient:
        """What the claim of `contact` checks and writes in its request: the owner's
        opt-out list, and the number's turn decided for it."""
        assert run.message is not None
        return Recipient(run.message.owner_id, contact.phone_number, self.step.turn.take_slot())

    def _decide_slot(self, run: Run, contact: Contact, now: datetime, after_ms: int = 0) -> Decision:
        """The number's slot decided (and held as the turn, for the claim to write) for a
        send that reaches WAHA after `after_ms`, its typing and the calls before it (the
        claim that writes the slot, the number check and the message id) at the slowest
        they took lately, and, at the latest, after those calls reserved for with room
        (`campaigns.runner.turns`). A message ready before the number allows it waits
        for that moment just before its request (`NumberTurn.on_time`), and a send whose
        calls overrun the reservation takes the turn again: the gap WhatsApp sees is never
        under the number's gap. Recorded at the latest, the turn is settled with the
        send's real moment by the record that follows it."""
        assert run.message is not None and run.pacer is not None
        turn, taken = self.step.turn, self.step.monotonic()
        typing_ms = self.step.typing_for(run.message, contact)
        earliest = timedelta(milliseconds=after_ms + typing_ms)
        latest = earliest + timedelta(seconds=turn.reserved_s(run.pacer.lead_s))
        min_gap_ms = int(run.campaign.min_delay_ms or 0)
        # Judged a lead later (the quickest the calls before a send took lately); a
        # message ready sooner waits for the moment the number allows (`turn.on_time`).
        judged = min(latest, earliest + timedelta(seconds=self.step.turn.lead_s))
        decision, slot = self.slots.decide(
            run.message.session, run.campaign.id, min_gap_ms, now + latest, now, sends_from=now + judged
        )
        if decision.granted:
            allowed = decision.allowed_from
            turn.hold(
                taken,
                after_ms / 1000,
                typing_ms / 1000,
                latest.total_seconds(),
                lambda: self._move(run),
                slot,
                None if allowed is None else (allowed - now).total_seconds(),
                transit_s(min_gap_ms),
            )
        else:
            turn.drop()
        return decision

    def _move(self, run: Run) -> bool:
        """Move this run's late turn, if still the number's last, to just after now."""
        assert run.message is not None
        send_at = self.clock() + timedelta(seconds=MOVED_TURN_S)
        return self.slots.move_later(run.message.session, run.campaign.id, send_at)

    def _number_turn(self, run: Run, contact: Contact) -> RunResult | None:
        """The number's turn: per-number pacing and its daily limit, across campaigns,
        decided here and written by the claim."""
        assert run.message is not None and run.pacer is not None
        # Asked again when the send, judged its typing and lead later, lands on the turn.
        ahead = timedelta(
            milliseconds=self.step.typing_for(run.message, contact), seconds=self.step.turn.lead_s
        )
        for _ in range(NUMBER_TURN_TRIES):
            now, asked = self.clock(), self.step.monotonic()
            slot = self._decide_slot(run, contact, now)
            if slot.granted:
                run.pacer.wait_ended = asked  # the calls before the send count from here
                return None
            wait_s = max(0.0, ((slot.not_before or now) - (now + ahead)).total_seconds())
            short = wait_s * 1000 <= self.cfg.continuation_threshold_ms
            if not short or not run.can_afford(wait_s * 1000, self.cfg.handoff_margin_ms):
                whole = math.ceil(wait_s)
                return self.end.park(
                    run, whole * 1000, slot.reason or "Waiting for the number", delay_s=whole
                )
            self.sleep(max(wait_s, 0.05))
        return self.end.park(run, 1000, NUMBER_BUSY, delay_s=1)
