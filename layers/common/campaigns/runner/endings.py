"""How an invocation ends its turn: pause (with the reason that stopped it), park
for the schedule (a wait, a WAHA outage being ridden out), hand off to the next
hop, complete, or fail. Each is one conditional write that only the run holding
the campaign can make."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from campaigns.config import Settings
from campaigns.data.run_writes import Wait
from campaigns.data.session_pauses import named_for_user
from campaigns.data.store import CampaignStore
from campaigns.domain.errors import RunLost
from campaigns.invoker import MAX_DELAY_S, RunnerInvoker, runner_event
from campaigns.observability import logger
from campaigns.runner.events import RunResult
from campaigns.runner.run import Run
from campaigns.runner.send_step import NotSent

OUTAGE_BACKOFF_MIN_S = 5
OUTAGE_BACKOFF_MAX_S = 120
# A WAHA blip (a restart takes seconds) is waited out inside the invocation, a few
# times with a short backoff; a longer outage parks the run for the schedule.
IN_PLACE_RETRIES = 3
IN_PLACE_BACKOFF_S = (2.0, 4.0, 8.0)


@dataclass
class RunEndings:
    store: CampaignStore
    invoker: RunnerInvoker
    cfg: Settings
    clock: Callable[[], datetime]
    sleep: Callable[[float], None] = time.sleep

    def not_sent(self, run: Run, index: int | None, not_sent: NotSent) -> RunResult | None:
        """Nothing went out (or, unconfirmed, it can only go again with the same id): give
        the claim back, then wait out a WAHA outage or pause. None: a brief outage was
        waited out here, and the same contact may be tried again."""
        if index is not None:
            try:
                self.store.run.release(run.campaign.id, run.token, index, not_sent.message_id)
            except RunLost:
                return RunResult.STOPPED
            if not_sent.message_id:
                run.campaign.pending_message_id = not_sent.message_id
                run.campaign.pending_message_index = index
        if not_sent.retake_turn:
            return None  # the same contact, after the number's turn is taken again
        if not_sent.transient:
            return self.ride_out(run, not_sent.reason)
        return self.pause(run, not_sent.reason)

    def ride_out(self, run: Run, reason: str) -> RunResult | None:
        """WAHA is down or restarting: wait with backoff and go on by itself, for up to
        WAHA_OUTAGE_WINDOW_SECONDS, then pause with the reason. None: waited here."""
        now = self.clock()
        try:
            since = self.store.run.note_outage(run.campaign.id, run.token, now)
        except RunLost:
            return RunResult.STOPPED
        down_s = max(0.0, (now - since).total_seconds())
        window = self.cfg.waha_outage_window_seconds
        if down_s >= window:
            minutes = max(1, round(down_s / 60))
            return self.pause(
                run, f"{reason} (for about {minutes} min). Resume the campaign once WhatsApp is back."
            )
        logger.warning(
            "WAHA unavailable; the run waits and tries again", extra={"down_s": down_s, "reason": reason}
        )
        if run.ride_outs_here < IN_PLACE_RETRIES:
            backoff_s = min(IN_PLACE_BACKOFF_S[run.ride_outs_here], max(1.0, window - down_s))
            if run.can_afford(backoff_s * 1000, self.cfg.handoff_margin_ms):
                run.ride_outs_here += 1
                self.sleep(backoff_s)
                return None
        backoff_s = min(OUTAGE_BACKOFF_MAX_S, max(OUTAGE_BACKOFF_MIN_S, down_s), max(1.0, window - down_s))
        return self.park(
            run, int(backoff_s * 1000), "The WhatsApp server is unavailable; retrying", outage=True
        )

    def complete(self, run: Run) -> RunResult:
        total = int(run.campaign.total_contacts or 0)
        if self.store.run.complete(run.campaign.id, run.token, total, self.clock()):
            logger.info("Campaign completed")
            return RunResult.COMPLETED
        logger.info("Campaign not completed by this run: it changed hands at the end")
        return RunResult.STOPPED

    def fail(self, run: Run, reason: str) -> RunResult:
        self.store.run.fail(run.campaign, run.token, reason, self.clock())
        return RunResult.FAILED

    def pause(self, run: Run, reason: str) -> RunResult:
        # The WAHA client's errors name the session as WAHA knows it; the user knows a label.
        reason = named_for_user(reason, run.campaign.waha_session)
        if self.store.run.pause(run.campaign.id, run.token, reason, self.clock()):
            logger.warning("Campaign paused", extra={"pause_reason": reason})
            return RunResult.PAUSED
        return RunResult.STOPPED

    def park(
        self,
        run: Run,
        wait_ms: int,
        reason: str,
        *,
        end_batch: bool = False,
        outage: bool = False,
        delay_s: int | None = None,
    ) -> RunResult:
        """Wait outside Lambda: record the place and the wait, and have a continuation
        delivered when it is over (`delay_s` whole seconds; by default the wait rounded
        down, the runner sleeping the remainder when it arrives). If that continuation
        cannot be sent, or is lost, the schedule continues the run once its lease ends."""
        now = self.clock()
        until = now + timedelta(milliseconds=max(wait_ms, 0))
        wait = Wait(until, reason, run.event.hop + 1)
        if not self.store.run.park(run.campaign.id, run.token, wait, now, end_batch=end_batch, outage=outage):
            return RunResult.STOPPED
        return self.parked(run, wait, int(wait_ms // 1000) if delay_s is None else delay_s)

    def parked(self, run: Run, wait: Wait, delay_s: int) -> RunResult:
        """The run is parked (`wait` written): have its continuation delivered in
        `delay_s` whole seconds."""
        until, reason = wait.until, wait.reason
        delay = min(MAX_DELAY_S, delay_s)
        try:
            self.invoker.continue_later(runner_event(run.campaign.id, run.token, wait.next_hop), delay)
        except Exception:
            logger.exception(
                "Could not queue the continuation; the schedule continues the run when its lease ends"
            )
        logger.info(
            "Run waits outside Lambda", extra={"until": until.isoformat(), "why": reason, "delay_s": delay}
        )
        return RunResult.PARKED

    def hand_off(self, run: Run) -> RunResult:
        next_hop = run.event.hop + 1
        if not self.store.run.hand_off(
            run.campaign.id, run.token, next_hop, self.clock(), run.lease_extra_ms()
        ):
            return RunResult.STOPPED
        try:
            self.invoker.invoke(runner_event(run.campaign.id, run.token, next_hop), run.function_name)
        except Exception:
            # The lease is renewed and names the next hop: when it ends, the schedule
            # continues the run, as it does for a lost hop event.
            logger.exception(
                "Could not invoke the next hop; the schedule continues the run when its lease ends"
            )
            return RunResult.HANDOFF_LOST
        logger.info("Time budget low; handed off to the next invocation", extra={"next_hop": next_hop})
        return RunResult.HANDED_OFF
