"""The campaign runner: takes a campaign and sends to its contacts, one claim at a time.

One invocation, in steps:

1. `_start`: take a due Scheduled campaign, or accept the continuation its last
   hand-off named (`campaigns.data.run_writes`); anything else exits at once.
2. `_prepare`: the template, media and WhatsApp session the run needs, and what
   one send will cost in time (`SendPlan`).
3. For each contact, in index order (`ContactCursor`: none stepped over):
   `_before_claim` decides: park for the schedule (batch pause, a wait longer
   than an invocation), hand off (this invocation's time is short), or wait here
   and claim. `SendStep.send` sends it; `_record` writes what happened (and, when
   the next send follows at once, claims the next contact in the same write).
4. End: complete, pause (the reason is in the outcome that stopped the run), park,
   or hand off to `hop + 1`.

Where a pause comes from: the user (`campaigns.data.user_commands`, seen here as a
lost claim), the session check (`_check_session`), a send that could not be made
(`_not_sent`), an Unknown outcome (`_process`), a WAHA outage longer than the
ride-through window (`_ride_out`), or a contact that cannot be read.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from campaigns.config import Settings, settings
from campaigns.data.models import Campaign, Contact, MediaLibraryItem
from campaigns.data.store import CampaignStore
from campaigns.domain.errors import RunLost, StoreConflict
from campaigns.domain.outcomes import Outcome
from campaigns.domain.statuses import TAKEABLE, CampaignStatus, DeliveryStatus
from campaigns.invoker import RunnerInvoker, runner_event
from campaigns.observability import logger, metrics
from campaigns.runner.budget import send_budget_problem
from campaigns.runner.contacts import ContactCursor, ContactMissing
from campaigns.runner.events import RunEvent, RunResult, RunStats
from campaigns.runner.send_step import NOT_ON_WHATSAPP, Message, NotSent, SendStep, typing_ms
from campaigns.sending.pacing import Pacer
from campaigns.sending.sender import Media, SendDeferred, Sender, SendNotAttempted, SendPlan
from campaigns.timeutil import utcnow

GENERIC_FAILURE = (
    "The campaign stopped because of an unexpected error. Contacts already handled keep their status."
)
# A merged record-and-claim holds the next contact's claim during this wait; a pause
# arriving in that window lets that one contact go out, so keep it short.
MERGED_CLAIM_MAX_WAIT_MS = 1_000
OUTAGE_BACKOFF_MIN_S = 5
OUTAGE_BACKOFF_MAX_S = 120

__all__ = ["GENERIC_FAILURE", "NOT_ON_WHATSAPP", "CampaignRunner", "RunEvent", "RunResult", "typing_ms"]


@dataclass
class Run:
    """This invocation's hold on a campaign: what its steps share."""

    campaign: Campaign
    token: str
    event: RunEvent
    remaining_ms: Callable[[], int]
    function_name: str | None
    stats: RunStats
    message: Message | None = None
    pacer: Pacer | None = None
    cursor: ContactCursor | None = None
    worst_send_ms: int = 0
    sent_here: int = 0


class CampaignRunner:
    def __init__(
        self,
        store: CampaignStore,
        sender: Sender,
        invoker: RunnerInvoker,
        cfg: Settings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.sender = sender
        self.invoker = invoker
        self.cfg = cfg or settings()
        self.sleep = sleep
        self.monotonic = monotonic
        self.clock = clock
        self.rng = rng or random.Random()
        self.step = SendStep(sender, sleep, monotonic)

    # ----------------------------------------------------------------- entry

    def run(
        self, event: RunEvent, remaining_ms: Callable[[], int], function_name: str | None = None
    ) -> RunResult:
        """Never raises: an unexpected error ends the campaign `Failed` if this
        invocation holds it (raising would make Lambda retry a half-done run)."""
        logger.append_keys(campaign_id=event.campaign_id, hop=event.hop)
        stats = RunStats()
        held: Run | None = None
        try:
            campaign = self.store.reads.get_campaign(event.campaign_id)
            if campaign is None:
                logger.error("Campaign not found; nothing to run")
                return RunResult.NOT_FOUND
            token = self._start(campaign, event)
            if token is None:
                return RunResult.SKIPPED
            held = Run(campaign, token, event, remaining_ms, function_name, stats)
            return self._prepare(held) or self._process(held)
        except Exception:
            logger.exception("Campaign run failed with an unexpected error")
            return self._fail_unexpected(held)
        finally:
            _log_stats(stats)
            logger.remove_keys(["campaign_id", "hop"])

    def _fail_unexpected(self, held: Run | None) -> RunResult:
        if held is None:
            # This invocation never held the run: another may, and only it may end it.
            logger.error("Unexpected error before this invocation held the run; nothing changed")
            return RunResult.ERROR
        try:
            if self.store.run.fail(held.campaign, held.token, GENERIC_FAILURE, self.clock()):
                logger.error("Campaign marked Failed")
            else:
                logger.error("Campaign not marked Failed: the run was no longer this runner's")
        except Exception:
            logger.exception("Could not mark the campaign Failed")
        return RunResult.FAILED

    def _start(self, campaign: Campaign, event: RunEvent) -> str | None:
        """Take the campaign, or accept this continuation. None: not this event's to run."""
        now = self.clock()
        extra = int(campaign.max_delay_ms or 0)
        if event.run_token:
            return self._continue(campaign, event, now, extra)
        due = campaign.due_at is not None and campaign.due_at <= now
        if campaign.status not in {s.value for s in TAKEABLE} or not due:
            # Paused, final, running, or not asked to start yet: a late or duplicated
            # event must not (re)start anything.
            logger.info("Campaign is not Scheduled and due; nothing to do", extra={"status": campaign.status})
            return None
        contact_list = self.store.reads.get_contact_list(campaign.user_id, campaign.contact_list_id)
        total = int(contact_list.contact_count) if contact_list else int(campaign.total_contacts or 0)
        try:
            token = self.store.run.take(campaign, now, total, extra)
        except StoreConflict:
            logger.info("Another runner took the campaign first, or a send is still in flight")
            return None
        logger.info("Campaign taken", extra={"from_index": _next_index(campaign)})
        return token

    def _continue(self, campaign: Campaign, event: RunEvent, now: datetime, extra: int) -> str | None:
        token = event.run_token or ""
        if campaign.status != CampaignStatus.RUNNING.value or campaign.run_token != token:
            logger.info(
                "Stale or duplicate invocation; the run is not this event's",
                extra={"status": campaign.status},
            )
            return None
        if campaign.no_progress_count >= self.cfg.max_no_progress_invocations:
            reason = (
                f"The run made no progress over {int(campaign.no_progress_count)} consecutive "
                "invocations and was stopped to avoid an endless loop."
            )
            logger.error("Runaway guard tripped", extra={"no_progress": campaign.no_progress_count})
            self.store.run.fail(campaign, token, reason, now)
            return None
        try:
            self.store.run.continue_run(campaign.id, token, event.hop, now, extra)
        except RunLost:
            logger.info("Not this event's to continue (duplicated, stale, or its wait has not ended)")
            return None
        return token

    def _prepare(self, run: Run) -> RunResult | None:
        """What every send of this run needs. A result ends the run before any contact."""
        campaign = run.campaign
        template = self.store.reads.get_template(campaign.user_id, campaign.message_template_id)
        if template is None:
            return self._fail(run, "The campaign's message template no longer exists.")
        media = None
        if campaign.media_library_item_id:
            item = self.store.reads.get_media(campaign.user_id, campaign.media_library_item_id)
            if item is None:
                return self._fail(run, "The campaign's media item no longer exists.")
            media = _media(item)
        session = campaign.waha_session or ""
        if not session or self.store.reads.session_holder(session) != campaign.user_id:
            return self._pause(run, _session_not_held(session))
        plan = SendPlan(
            check_number=bool(campaign.check_numbers), typing=bool(campaign.typing), media=bool(media)
        )
        run.message = Message(
            campaign.id, session, template.text_content, campaign.default_name_value, media, plan
        )
        run.worst_send_ms = int(self.sender.worst_case_ms(plan))
        too_long = send_budget_problem(run.worst_send_ms, self.cfg)
        if too_long:
            return self._pause(run, f"{too_long} Then resume the campaign.")
        run.pacer = Pacer.for_run(
            int(campaign.min_delay_ms),
            int(campaign.max_delay_ms),
            campaign.last_sent_at,
            self.clock(),
            self.rng,
            self.monotonic,
        )
        start, total = _next_index(campaign), int(campaign.total_contacts or 0)
        run.cursor = ContactCursor(
            self.store.reads, campaign.contact_list_id, start, total, self.cfg.chunk_size, self.sleep
        )
        return None

    # ------------------------------------------------------------------ loop

    def _process(self, run: Run) -> RunResult:
        assert run.cursor is not None and run.message is not None and run.pacer is not None
        start = run.cursor.next_index
        claimed = False  # the current contact was claimed by the previous record
        try:
            for contact in run.cursor:
                index = int(contact.index)
                if not claimed:
                    stop = self._check_session(run) if (index - start) % self.cfg.chunk_size == 0 else None
                    stop = stop or self._before_claim(run, contact) or self._claim(run, index)
                    if stop:
                        return stop
                else:
                    self._wait(run, contact)
                outcome = self.step.send(run.message, contact, run.pacer)
                if isinstance(outcome, NotSent):
                    return self._not_sent(run, index, outcome)
                claimed = self._record(run, contact, outcome, self._merge_next(run, index, outcome, start))
                if outcome.status is DeliveryStatus.UNKNOWN:
                    return self._pause(run, f"Sending stopped: {outcome.error}")
        except ContactMissing as missing:
            return self._pause(run, _contact_missing(missing.index))
        except RunLost:
            logger.warning("Delivery not recorded: the run changed hands during the send")
            return RunResult.STOPPED
        return self._complete(run)

    def _check_session(self, run: Run) -> RunResult | None:
        assert run.message is not None
        try:
            state = self.sender.session_state(run.message.session)
        except SendNotAttempted as exc:
            return self._not_sent(run, None, NotSent(exc.reason, transient=isinstance(exc, SendDeferred)))
        if state.ready:
            return None
        reason = f"WhatsApp session '{state.name}' is {state.status}, not WORKING"
        return self._pause(run, f"{reason}: {state.detail}" if state.detail else reason)

    def _before_claim(self, run: Run, contact: Contact) -> RunResult | None:
        """Park, hand off, or wait here until the contact may be sent (then None)."""
        assert run.pacer is not None and run.message is not None
        if self._batch_full(run.campaign):
            pause_ms = int(run.campaign.batch_pause_ms or 0)
            return self._park(run, pause_ms, "Batch pause", end_batch=True)
        wait_ms = run.pacer.wait_ms()
        if not self._affordable(run, wait_ms):
            fresh_ms = self.cfg.runner_timeout_ms - run.worst_send_ms - self.cfg.handoff_margin_ms
            if wait_ms > 0 and (run.sent_here == 0 or wait_ms >= fresh_ms):
                # Even a fresh invocation could not afford this wait: the schedule wakes the run.
                return self._park(run, wait_ms, "Waiting between messages")
            return self._hand_off(run)
        self._wait(run, contact)
        return None

    def _wait(self, run: Run, contact: Contact) -> None:
        """Sleep until the next send is due, minus the typing that fills its end."""
        assert run.pacer is not None and run.message is not None
        wait_ms = run.pacer.wait_ms() - self.step.typing_for(run.message, contact)
        if wait_ms > 0:
            self.sleep(wait_ms / 1000)

    def _claim(self, run: Run, index: int) -> RunResult | None:
        try:
            self.store.run.claim(run.campaign.id, run.token, index, self.clock(), self._lease_extra_ms(run))
            return None
        except RunLost:
            logger.info("Run stopped at the next contact (paused, cancelled or taken over)")
            return RunResult.STOPPED

    def _merge_next(self, run: Run, index: int, outcome: Outcome, start: int) -> bool:
        """Claim the next contact in the same write that records this one, when its send
        follows at once: one DynamoDB request per contact instead of two. Decided with
        the same wait the next send will use."""
        assert run.cursor is not None and run.pacer is not None
        following = index + 1
        if outcome.status is DeliveryStatus.UNKNOWN or not run.cursor.buffered(following):
            return False
        if (following - start) % self.cfg.chunk_size == 0:
            return False  # the session is checked before each chunk, with nothing claimed
        if self._batch_full(run.campaign, outcome):
            return False
        wait_ms = run.pacer.wait_ms()
        return wait_ms <= MERGED_CLAIM_MAX_WAIT_MS and self._affordable(run, wait_ms)

    def _record(self, run: Run, contact: Contact, outcome: Outcome, claim_next: bool) -> bool:
        """Record the contact; claim the next one in the same write when asked. Returns
        whether the next contact is claimed. Raises RunLost when the run changed hands."""
        index, now, phone = int(contact.index), self.clock(), contact.phone_number
        writes = self.store.run
        claimed = False
        if claim_next:
            try:
                writes.record(
                    run.campaign.id,
                    run.token,
                    index,
                    phone,
                    outcome,
                    now,
                    claim_next=True,
                    lease_extra_ms=self._lease_extra_ms(run),
                )
                claimed = True
            except RunLost:
                pass  # paused or cancelled meanwhile: record alone; the next claim stops the run
        if not claimed:
            writes.record(run.campaign.id, run.token, index, phone, outcome, now)
        _count(run, outcome)
        return claimed

    def _affordable(self, run: Run, wait_ms: int) -> bool:
        return run.remaining_ms() > wait_ms + run.worst_send_ms + self.cfg.handoff_margin_ms

    def _lease_extra_ms(self, run: Run) -> int:
        # The lease must outlive the longest wait plus one send with its retries.
        return int(run.campaign.max_delay_ms or 0) + run.worst_send_ms

    @staticmethod
    def _batch_full(campaign: Campaign, pending: Outcome | None = None) -> bool:
        """True when the batch is full (counting `pending`, an outcome not yet recorded)."""
        if not campaign.batch_size or not campaign.batch_pause_ms:
            return False
        sent = int(campaign.sent_in_batch or 0)
        if pending is not None and pending.status is DeliveryStatus.SENT:
            sent += 1
        return sent >= int(campaign.batch_size)

    # -------------------------------------------------------------- endings

    def _not_sent(self, run: Run, index: int | None, not_sent: NotSent) -> RunResult:
        """Nothing went out: give the claim back, then wait out a WAHA outage or pause."""
        if index is not None:
            try:
                self.store.run.release(run.campaign.id, run.token, index)
            except RunLost:
                return RunResult.STOPPED
        if not_sent.transient:
            return self._ride_out(run, not_sent.reason)
        return self._pause(run, not_sent.reason)

    def _ride_out(self, run: Run, reason: str) -> RunResult:
        """WAHA is down or restarting: wait with backoff and go on by itself, for up to
        WAHA_OUTAGE_WINDOW_SECONDS, then pause with the reason."""
        now = self.clock()
        try:
            since = self.store.run.note_outage(run.campaign.id, run.token, now)
        except RunLost:
            return RunResult.STOPPED
        down_s = max(0.0, (now - since).total_seconds())
        window = self.cfg.waha_outage_window_seconds
        if down_s >= window:
            minutes = max(1, round(down_s / 60))
            return self._pause(
                run, f"{reason} (for about {minutes} min). Resume the campaign once WhatsApp is back."
            )
        backoff_s = min(OUTAGE_BACKOFF_MAX_S, max(OUTAGE_BACKOFF_MIN_S, down_s), max(1.0, window - down_s))
        logger.warning(
            "WAHA unavailable; the run waits and tries again", extra={"down_s": down_s, "reason": reason}
        )
        return self._park(
            run, int(backoff_s * 1000), "The WhatsApp server is unavailable; retrying", outage=True
        )

    def _complete(self, run: Run) -> RunResult:
        total = int(run.campaign.total_contacts or 0)
        if self.store.run.complete(run.campaign.id, run.token, total, self.clock()):
            logger.info("Campaign completed")
            return RunResult.COMPLETED
        logger.info("Campaign not completed by this run: it changed hands at the end")
        return RunResult.STOPPED

    def _fail(self, run: Run, reason: str) -> RunResult:
        self.store.run.fail(run.campaign, run.token, reason, self.clock())
        return RunResult.FAILED

    def _pause(self, run: Run, reason: str) -> RunResult:
        if self.store.run.pause(run.campaign.id, run.token, reason, self.clock()):
            logger.warning("Campaign paused", extra={"pause_reason": reason})
            return RunResult.PAUSED
        return RunResult.STOPPED

    def _park(
        self, run: Run, wait_ms: int, reason: str, *, end_batch: bool = False, outage: bool = False
    ) -> RunResult:
        now = self.clock()
        until = now + timedelta(milliseconds=max(wait_ms, 0))
        if self.store.run.park(
            run.campaign.id, run.token, until, reason, now, end_batch=end_batch, outage=outage
        ):
            logger.info(
                "Run parked until the schedule picks it up", extra={"until": until.isoformat(), "why": reason}
            )
            return RunResult.PARKED
        return RunResult.STOPPED

    def _hand_off(self, run: Run) -> RunResult:
        next_hop = run.event.hop + 1
        if not self.store.run.hand_off(
            run.campaign.id, run.token, next_hop, self.clock(), self._lease_extra_ms(run)
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


# ------------------------------------------------------------------ helpers


def _next_index(campaign: Campaign) -> int:
    last = campaign.last_processed_contact_index
    return 0 if last is None else int(last) + 1


def _session_not_held(session: str) -> str:
    if not session:
        return "The campaign has no WhatsApp session; connect a number, then resume."
    return (
        f"WhatsApp session '{session}' is not registered to the campaign's owner; register it, then resume."
    )


def _contact_missing(index: int) -> str:
    return (
        f"Contact #{index + 1} of the list could not be read (it may still be being added). "
        "Nothing was skipped; resume the campaign to continue from it."
    )


def _media(item: MediaLibraryItem) -> Media:
    filename = item.storage_path.rsplit("/", 1)[-1].split("?", 1)[0] or item.name
    return Media(url=item.storage_path, mime_type=item.mime_type, filename=filename)


def _count(run: Run, outcome: Outcome) -> None:
    stats = run.stats
    if outcome.status is DeliveryStatus.SENT:
        stats.sent += 1
        run.sent_here += 1
        run.campaign.sent_in_batch = int(run.campaign.sent_in_batch or 0) + 1
    elif outcome.status is DeliveryStatus.FAILED:
        stats.failed += 1
    else:
        stats.unknown += 1


def _log_stats(stats: RunStats) -> None:
    for name, value in (
        ("MessagesSent", stats.sent),
        ("MessagesFailed", stats.failed),
        ("MessagesUnknown", stats.unknown),
    ):
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
