"""The campaign runner: takes a campaign and sends to its contacts, one claim at a time.

One invocation, in steps:

1. `RunStart.hold` (runner/start.py): take a due Scheduled campaign, or accept the
   continuation its last hand-off named; anything else exits at once.
2. `_prepare`: the template, media and WhatsApp session the run needs, and what
   one send may cost in time (`SendPlan`, runner/budget.py).
3. For each contact, in index order (`ContactCursor`, runner/contacts.py: none is
   stepped over): `Waits.before_claim` (runner/waits.py) decides to park for the
   schedule (batch pause, a wait longer than an invocation), hand off (this
   invocation's time is short), or wait here for the contact's turn on the number;
   `_claim` claims it, checking the owner's opt-out list and writing the number's
   turn in the same request (an opted-out contact is recorded Skipped there, never
   sent); `SendStep.send` (runner/send_step.py) sends it and says what happened;
   `_record` writes it (and, when the next send follows at once, claims the next
   contact, with its checks, in the same write).
4. `RunEndings` (runner/endings.py): complete, pause with the reason that stopped
   the run, park, or hand off to `hop + 1`.

Where a pause is decided: the user's (data/user_commands.py; the runner sees it as
a lost claim and stops at the next contact); the session check before each chunk
(`_check_session`); a send that could not be made (`RunEndings.not_sent`); an
Unknown outcome (`_process`); a WAHA outage longer than the ride-through window
(`RunEndings.ride_out`); a contact that cannot be read (`_process`); a send that
cannot fit the time limit (`_prepare`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from campaigns.config import Settings, settings
from campaigns.data.campaign_writes import transient_store_error
from campaigns.data.models import Campaign, Contact, MediaLibraryItem
from campaigns.data.run_writes import Claim, Recipient, Wait
from campaigns.data.session_pauses import session_not_held_reason, session_not_working_reason
from campaigns.data.store import CampaignStore
from campaigns.domain.errors import RunLost
from campaigns.domain.outcomes import Outcome
from campaigns.domain.statuses import DeliveryStatus
from campaigns.invoker import RunnerInvoker
from campaigns.observability import logger, metrics
from campaigns.runner.budget import send_budget_problem
from campaigns.runner.contacts import ContactCursor, ContactMissing
from campaigns.runner.endings import RunEndings
from campaigns.runner.events import RunEvent, RunResult, RunStats
from campaigns.runner.run import Run
from campaigns.runner.send_step import NOT_ON_WHATSAPP, Message, NotSent, SendStep, typing_ms
from campaigns.runner.start import RunStart, next_index
from campaigns.runner.waits import NUMBER_BUSY, NUMBER_TURN_TRIES, WAITING_BETWEEN_MESSAGES, Waits, batch_full
from campaigns.sending.pacing import Pacer
from campaigns.sending.sender import Media, SendDeferred, Sender, SendNotAttempted, SendPlan
from campaigns.timeutil import utcnow

GENERIC_FAILURE = (
    "The campaign stopped because of an unexpected error. Contacts already handled keep their status."
)
OPTED_OUT = "This number opted out of messages from this WhatsApp number's owner; it was not sent"
# A merged record-and-claim holds the next contact's claim during this wait; a pause
# or an opt-out arriving in that window lets that one contact go out, so keep it short.
MERGED_CLAIM_MAX_WAIT_MS = 1_000

__all__ = ["GENERIC_FAILURE", "NOT_ON_WHATSAPP", "CampaignRunner", "RunEvent", "RunResult", "typing_ms"]


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
        self.start = RunStart(store, self.cfg, clock, invoker, sleep)
        self.end = RunEndings(store, invoker, self.cfg, clock, sleep)
        self.waits = Waits(self.cfg, self.end, self.step, store.numbers, clock, sleep)

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
            token = self.start.hold(campaign, event)
            if token is None:
                return RunResult.SKIPPED
            held = Run(campaign, token, event, remaining_ms, function_name, stats)
            return self._prepare(held) or self._process(held)
        except Exception as exc:
            if transient_store_error(exc):
                # DynamoDB throttled or out of reach past the SDK's retries: not the
                # campaign's fault. The run keeps its place and its lease; when the lease
                # ends the schedule takes it over (a contact left in flight is recorded
                # Unknown, as after a crash) and it goes on.
                logger.warning("DynamoDB unavailable; the schedule continues the run", exc_info=True)
                return RunResult.FAILED  # this invocation failed; the campaign did not
            logger.exception("Campaign run failed with an unexpected error")
            return self._fail_unexpected(held)
        finally:
            _log_stats(stats)
            logger.remove_keys(["campaign_id", "hop"])

    def _fail_unexpected(self, held: Run | None) -> RunResult:
        if held is None:
            # This invocation never held the run: another may, and only it may end it.
            logger.error("Unexpected error before this invocation held the run; nothing changed")
            return RunResult.FAILED
        try:
            if self.store.run.fail(held.campaign, held.token, GENERIC_FAILURE, self.clock()):
                logger.error("Campaign marked Failed")
            else:
                logger.error("Campaign not marked Failed: the run was no longer this runner's")
        except Exception:
            logger.exception("Could not mark the campaign Failed")
        return RunResult.FAILED

    def _prepare(self, run: Run) -> RunResult | None:
        """What every send of this run needs. A result ends the run before any contact."""
        campaign = run.campaign
        template = self.store.reads.get_template(campaign.user_id, campaign.message_template_id)
        if template is None:
            return self.end.fail(run, "The campaign's message template no longer exists.")
        media = None
        if campaign.media_library_item_id:
            item = self.store.reads.get_media(campaign.user_id, campaign.media_library_item_id)
            if item is None:
                return self.end.fail(run, "The campaign's media item no longer exists.")
            media = _media(item)
        held = self.store.reads.waha_session_item_for(campaign)
        if held is not None:
            self.store.numbers.known(held)  # the number's state, read with it
        session = "" if held is None else held.name
        if not session:
            return self.end.pause(run, session_not_held_reason(campaign.waha_session or "", campaign.user_id))
        plan = SendPlan(
            check_number=bool(campaign.check_numbers), typing=bool(campaign.typing), media=bool(media)
        )
        run.message = Message(
            campaign.id,
            campaign.user_id,
            session,
            template.text_content,
            campaign.default_name_value,
            media,
            plan,
        )
        run.worst_send_ms = int(self.sender.worst_case_ms(plan))
        too_long = send_budget_problem(run.worst_send_ms, self.cfg)
        if too_long:
            return self.end.pause(run, f"{too_long} Then resume the campaign.")
        run.pacer = Pacer.for_run(
            int(campaign.min_delay_ms),
            int(campaign.max_delay_ms),
            campaign.last_sent_at,
            self.clock(),
            self.rng,
            self.monotonic,
            campaign.waiting_until if run.event.run_token else None,
        )
        start, total = next_index(campaign), int(campaign.total_contacts or 0)
        run.cursor = ContactCursor(
            self.store.reads, campaign.contact_list_id, start, total, self.cfg.chunk_size, self.sleep
        )
        return None

    # ------------------------------------------------------------------ loop

    def _process(self, run: Run) -> RunResult:
        assert run.cursor is not None
        start = run.cursor.next_index
        claimed = False  # the current contact was claimed by the previous record
        try:
            for contact in run.cursor:
                stop, claimed = self._contact(run, contact, claimed, start)
                if stop:
                    return stop
        except ContactMissing as missing:
            return self.end.pause(run, _contact_missing(missing.index))
        except RunLost:
            logger.warning("Delivery not recorded: the run changed hands during the send")
            return RunResult.STOPPED
        return self.end.complete(run)

    def _contact(
        self, run: Run, contact: Contact, claimed: bool, start: int
    ) -> tuple[RunResult | None, bool]:
        """One contact: decide, claim, send, record. A brief WAHA blip is waited out here
        and the same contact tried again. Returns (a result that ends the run, or None;
        whether the next contact is already claimed)."""
        assert run.message is not None and run.pacer is not None
        index = int(contact.index)
        while True:
            if not claimed:
                # Before each chunk of the list, and before a new run's first contact.
                first_of_chunk = index % self.cfg.chunk_size == 0 or (
                    index == start and not run.event.run_token
                )
                claim = (self._check_session(run) if first_of_chunk else None) or self._claim(run, contact)
                if isinstance(claim, RunResult):
                    return claim, False
                if claim is Claim.OPTED_OUT:
                    return None, False  # recorded Skipped, never sent
            else:
                self.waits.until_due(run, contact)
            outcome = self.step.send(run.message, contact, run.pacer, _pending_id(run.campaign, index))
            if isinstance(outcome, NotSent):
                stop = self.end.not_sent(run, index, outcome)
                if stop:
                    return stop, False
                claimed = False
                continue
            claim_next = self._merge_next(run, index, outcome, start)
            park_s = None if claim_next is not None else self.waits.park_after(run, index, outcome)
            park = None
            if park_s is not None:
                until = self.clock() + timedelta(seconds=park_s)
                park = Wait(until, WAITING_BETWEEN_MESSAGES, run.event.hop + 1)
            ahead = self._record(run, contact, outcome, claim_next, park)
            if park is not None:
                # Parked by the record, or recorded alone (paused meanwhile: the next claim finds out).
                return (self.end.parked(run, park, park_s or 0) if ahead else None), False
            claimed_next = ahead
            if outcome.status is DeliveryStatus.UNKNOWN:
                return self.end.pause(run, f"Sending stopped: {outcome.error}"), False
            return None, claimed_next

    def _check_session(self, run: Run) -> RunResult | None:
        assert run.message is not None
        while True:
            try:
                state = self.sender.session_state(run.message.session)
            except SendNotAttempted as exc:
                stop = self.end.not_sent(
                    run, None, NotSent(exc.reason, transient=isinstance(exc, SendDeferred))
                )
                if stop:
                    return stop
                continue  # waited out a brief WAHA blip here: check again
            if state.ready:
                return None
            # Named by its label and phone, never by the WAHA name the server generated.
            return self.end.pause(run, session_not_working_reason(state.name, state.status, state.detail))

    def _claim(self, run: Run, contact: Contact) -> RunResult | Claim:
        """Wait for the contact's turn, then claim it in one request that also checks
        the owner's opt-out list and writes the number's turn. Returns a result that
        ends the run, CLAIMED, or OPTED_OUT (the contact recorded Skipped). When another
        campaign took the number since its turn was decided, the turn is decided again."""
        index = int(contact.index)
        for _ in range(NUMBER_TURN_TRIES):
            stop = self.waits.before_claim(run, contact)
            if stop:
                return stop
            recipient = self.waits.recipient(run, contact)
            try:
                claim = self.store.run.claim(
                    run.campaign.id, run.token, index, recipient, self.clock(), run.lease_extra_ms()
                )
            except RunLost:
                self.step.turn.drop()
                logger.info("Run stopped at the next contact (paused, cancelled or taken over)")
                return RunResult.STOPPED
            if claim is Claim.CLAIMED:
                return claim
            self.step.turn.drop()
            if claim is Claim.OPTED_OUT:
                return self._skip(run, contact)
        return self.end.park(run, 1000, NUMBER_BUSY, delay_s=1)

    def _skip(self, run: Run, contact: Contact) -> RunResult | Claim:
        """The contact's number is on the owner's opt-out list: recorded Skipped, never sent."""
        outcome = Outcome(DeliveryStatus.SKIPPED, error=OPTED_OUT)
        try:
            self.store.run.skip(
                run.campaign.id,
                run.token,
                int(contact.index),
                contact.phone_number,
                outcome,
                self.clock(),
                run.lease_extra_ms(),
            )
        except RunLost:
            logger.info("Run stopped at the next contact (paused, cancelled or taken over)")
            return RunResult.STOPPED
        _count(run, outcome)
        return Claim.OPTED_OUT

    def _merge_next(self, run: Run, index: int, outcome: Outcome, start: int) -> Recipient | None:
        """The next contact, to claim in the same write that records this one when its
        send follows at once: one DynamoDB request per contact. Decided with the same
        wait the next send will use; its opt-out check and its turn on the number ride
        in that write too."""
        assert run.cursor is not None and run.pacer is not None
        following = run.cursor.peek(index + 1)
        if outcome.status is DeliveryStatus.UNKNOWN or following is None:
            return None
        if (index + 1) % self.cfg.chunk_size == 0:
            return None  # the session is checked before each chunk, with nothing claimed
        if batch_full(run.campaign, outcome.status is DeliveryStatus.SENT):
            return None
        wait_ms = run.pacer.wait_ms()
        if wait_ms > MERGED_CLAIM_MAX_WAIT_MS or not run.can_afford(wait_ms, self.cfg.handoff_margin_ms):
            return None
        if not self.waits.free_now(run, following):
            return None
        return self.waits.recipient(run, following)

    def _record(
        self,
        run: Run,
        contact: Contact,
        outcome: Outcome,
        claim_next: Recipient | None,
        park: Wait | None = None,
    ) -> bool:
        """Record the contact; in the same write, claim the next one or park the run for
        the wait before it, when asked. Returns whether that was written. Raises RunLost
        when the run changed hands."""
        now = self.clock()
        claimed = self.store.run.record(
            run.campaign.id,
            run.token,
            int(contact.index),
            contact.phone_number,
            outcome,
            now,
            claim_next=claim_next,
            park=park,
            lease_extra_ms=run.lease_extra_ms(),
            settle=self.step.turn.settlement(now) if outcome.status is DeliveryStatus.SENT else None,
        )
        if claim_next is not None and not claimed:
            # Paused meanwhile, opted out or the number taken: the next claim finds out.
            self.step.turn.drop()
        _count(run, outcome)
        return claimed


# ------------------------------------------------------------------ helpers


def _pending_id(campaign: Campaign, index: int) -> str | None:
    """The id an unconfirmed send to contact `index` used: it must be sent with it again."""
    if campaign.pending_message_index is not None and int(campaign.pending_message_index) == index:
        return campaign.pending_message_id
    return None


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
    elif outcome.status is DeliveryStatus.SKIPPED:
        stats.skipped += 1
    else:
        stats.unknown += 1


def _log_stats(stats: RunStats) -> None:
    for name, value in (
        ("MessagesSent", stats.sent),
        ("MessagesFailed", stats.failed),
        ("MessagesUnknown", stats.unknown),
        ("MessagesSkipped", stats.skipped),
    ):
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
