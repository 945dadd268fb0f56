"""The campaign runner: takes a campaign and sends to its contacts, one claim at a time.

One invocation processes contacts until the list ends, the campaign stops being
its to run (pause, cancel, another runner), the WhatsApp session is not ready, or
its time budget runs low; then it saves its place and, when there is more to do,
invokes itself with the same run token and `hop + 1`.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from campaigns.config import Settings, settings
from campaigns.data.models import Campaign, Contact, MediaLibraryItem
from campaigns.data.store import CampaignStore, Outcome, RunLost, StoreConflict
from campaigns.domain.personalise import render_message
from campaigns.domain.statuses import TAKEABLE, CampaignStatus, DeliveryStatus
from campaigns.invoker import RunnerInvoker, runner_event
from campaigns.observability import logger, metrics
from campaigns.sending.sender import (
    ContactRejected,
    Media,
    OutgoingMessage,
    Sender,
    SendError,
    SendNotAttempted,
    SendOutcomeUnknown,
)
from campaigns.timeutil import utcnow

GENERIC_FAILURE = (
    "The campaign stopped because of an unexpected error. Contacts already handled keep their status."
)
NOT_ON_WHATSAPP = "This number is not on WhatsApp"
TYPING_MS_PER_CHAR = 40
TYPING_MIN_MS = 800
TYPING_MAX_MS = 6_000
# A merged record-and-claim holds the next contact's claim during this wait; a pause
# arriving in that window lets that one contact go out, so keep it short.
MERGED_CLAIM_MAX_WAIT_MS = 1_000
# Bound on how much earlier a wait may end to absorb the calls made before a send.
MAX_PACING_LEAD_S = 5.0


class RunResult(StrEnum):
    NOT_FOUND = "not_found"
    SKIPPED = "skipped"  # wrong status, stale token, or someone else holds the run
    COMPLETED = "completed"
    PAUSED = "paused"
    HANDED_OFF = "handed_off"
    PARKED = "parked"  # waits for the schedule (batch pause, long wait)
    STOPPED = "stopped"  # a pause/cancel/other runner stopped this one at its next contact
    FAILED = "failed"


@dataclass
class RunStats:
    sent: int = 0
    failed: int = 0
    unknown: int = 0


@dataclass
class RunEvent:
    campaign_id: str
    run_token: str | None = None
    hop: int = 0

    @classmethod
    def parse(cls, event: Any) -> RunEvent:
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("campaignId"), str)
            or not event["campaignId"]
        ):
            raise ValueError("runner event needs a non-empty string campaignId")
        token = event.get("runToken")
        hop = event.get("hop", 0)
        if token is not None and not isinstance(token, str):
            raise ValueError("runToken must be a string")
        if not isinstance(hop, int) or isinstance(hop, bool) or hop < 0:
            raise ValueError("hop must be a non-negative integer")
        return cls(campaign_id=event["campaignId"], run_token=token or None, hop=hop)


@dataclass
class Pacer:
    """Random delay between sends, measured from send to send: from the start of the
    request that delivered the previous message (after its retries) to the next
    send, so the time a send takes counts toward the delay. Across invocations it
    counts from the recorded time of the last send."""

    min_delay_ms: int
    max_delay_ms: int
    rng: random.Random = field(default_factory=random.Random)
    last_send_monotonic: float | None = None
    # Between the end of a wait and the start of the delivering request the runner
    # still checks the number and the sender asks WAHA for a message id; the wait
    # ends that much earlier, so the interval WhatsApp sees is the configured delay,
    # not the delay plus those round trips. The smallest of the recent measurements
    # is used: a send slowed by retries must not make the next wait shorter.
    leads: deque[float] = field(default_factory=lambda: deque(maxlen=5))

    @property
    def lead_s(self) -> float:
        return min(self.leads, default=0.0)

    def next_delay_ms(self) -> int:
        if self.max_delay_ms <= self.min_delay_ms:
            return self.min_delay_ms
        return self.rng.randint(self.min_delay_ms, self.max_delay_ms)

    def wait_ms(
        self, delay_ms: int, now_monotonic: float, last_sent_at: datetime | None, now: datetime
    ) -> int:
        if self.last_send_monotonic is not None:
            elapsed_ms = (now_monotonic - self.last_send_monotonic) * 1000
        elif last_sent_at is not None:
            # First send of a new invocation: pace against the previous invocation's last send.
            elapsed_ms = (now - last_sent_at).total_seconds() * 1000
        else:
            return 0
        return max(0, int(delay_ms - elapsed_ms - self.lead_s * 1000))


def typing_ms(text: str) -> int:
    return max(TYPING_MIN_MS, min(TYPING_MAX_MS, TYPING_MS_PER_CHAR * len(text)))


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

    # ----------------------------------------------------------------- entry

    def run(
        self,
        event: RunEvent,
        remaining_ms: Callable[[], int],
        function_name: str | None = None,
    ) -> RunResult:
        """Never raises: an unexpected error ends the campaign `Failed` (raising would
        make Lambda retry a half-done run)."""
        logger.append_keys(campaign_id=event.campaign_id, hop=event.hop)
        token: str | None = event.run_token
        self._stats = RunStats()
        try:
            campaign = self.store.get_campaign(event.campaign_id)
            if campaign is None:
                logger.error("Campaign not found; nothing to run")
                return RunResult.NOT_FOUND
            campaign, token = self._start(campaign, event)
            if campaign is None or token is None:
                return RunResult.SKIPPED
            return self._process(campaign, token, event, remaining_ms, function_name)
        except Exception:
            logger.exception("Campaign run failed with an unexpected error")
            try:
                if self.store.fail(event.campaign_id, token, GENERIC_FAILURE, self.clock()):
                    logger.error("Campaign marked Failed")
                else:
                    logger.error("Campaign not marked Failed: the run was no longer this runner's")
            except Exception:
                logger.exception("Could not mark the campaign Failed")
            return RunResult.FAILED
        finally:
            self._log_stats(self._stats)
            logger.remove_keys(["campaign_id", "hop"])

    def _start(self, campaign: Campaign, event: RunEvent) -> tuple[Campaign | None, str | None]:
        now = self.clock()
        extra = self._lease_extra_ms(campaign)
        if event.run_token:
            if campaign.status != CampaignStatus.RUNNING.value or campaign.run_token != event.run_token:
                logger.info(
                    "Stale or duplicate invocation; the run is not this event's",
                    extra={"status": campaign.status},
                )
                return None, None
            if campaign.no_progress_count >= self.cfg.max_no_progress_invocations:
                reason = (
                    f"The run made no progress over {int(campaign.no_progress_count)} consecutive "
                    "invocations and was stopped to avoid an endless loop."
                )
                logger.error("Runaway guard tripped", extra={"no_progress": campaign.no_progress_count})
                self.store.fail(campaign.id, event.run_token, reason, now)
                return None, None
            try:
                self.store.continue_run(campaign, event.run_token, now, extra)
            except RunLost:
                logger.info("Run changed hands before this invocation started; exiting")
                return None, None
            return campaign, event.run_token

        due = campaign.due_at is not None and campaign.due_at <= now
        if campaign.status not in {s.value for s in TAKEABLE} or not due:
            # Paused, final, running, or not asked to start yet: a late or duplicated
            # event must not (re)start anything.
            logger.info(
                "Campaign is not Scheduled and due; nothing to do",
                extra={"status": campaign.status, "due_at": campaign.due_at and campaign.due_at.isoformat()},
            )
            return None, None
        contact_list = self.store.get_contact_list(campaign.user_id, campaign.contact_list_id)
        total = int(contact_list.contact_count) if contact_list else int(campaign.total_contacts or 0)
        try:
            self.store.take(campaign, now, total, extra)
        except StoreConflict:
            logger.info("Another runner took the campaign first, or a send is still in flight")
            return None, None
        logger.info("Campaign taken", extra={"from_index": self._next_index(campaign)})
        return campaign, campaign.run_token

    # ------------------------------------------------------------------ loop

    def _process(
        self,
        campaign: Campaign,
        token: str,
        event: RunEvent,
        remaining_ms: Callable[[], int],
        function_name: str | None,
    ) -> RunResult:
        template = self.store.get_template(campaign.user_id, campaign.message_template_id)
        if template is None:
            self.store.fail(
                campaign.id, token, "The campaign's message template no longer exists.", self.clock()
            )
            return RunResult.FAILED
        media = None
        if campaign.media_library_item_id:
            item = self.store.get_media(campaign.user_id, campaign.media_library_item_id)
            if item is None:
                self.store.fail(
                    campaign.id, token, "The campaign's media item no longer exists.", self.clock()
                )
                return RunResult.FAILED
            media = _media(item)

        session = campaign.waha_session or ""
        holder = self.store.session_holder(session) if session else None
        if holder != campaign.user_id:
            reason = (
                f"WhatsApp session '{session}' is not registered to the campaign's owner; "
                "register it, then resume."
                if session
                else "The campaign has no WhatsApp session; register one, then resume."
            )
            return self._pause(campaign, token, reason)

        pacer = Pacer(int(campaign.min_delay_ms), int(campaign.max_delay_ms), self.rng)
        start = self._next_index(campaign)
        sent_here = 0
        stats = self._stats
        total = int(campaign.total_contacts or 0)
        for page in self.store.contact_pages(campaign.contact_list_id, start, self.cfg.chunk_size, total):
            try:
                state = self.sender.session_state(session)
            except SendNotAttempted as exc:
                return self._pause(campaign, token, exc.reason)
            if not state.ready:
                reason = f"WhatsApp session '{session}' is {state.status}, not WORKING"
                return self._pause(campaign, token, f"{reason}: {state.detail}" if state.detail else reason)
            claimed: int | None = None  # the contact a merged record-and-claim already claimed
            delay_ms = 0
            for position, contact in enumerate(page):
                index = int(contact.index)
                text = render_message(template.text_content, contact.first_name, campaign.default_name_value)
                typing = campaign.typing and typing_ms(text)
                if claimed == index:
                    wait_ms = pacer.wait_ms(delay_ms, self.monotonic(), campaign.last_sent_at, self.clock())
                    if wait_ms > typing:
                        self.sleep((wait_ms - typing) / 1000)
                else:
                    delay_ms = pacer.next_delay_ms()
                    wait_ms = pacer.wait_ms(delay_ms, self.monotonic(), campaign.last_sent_at, self.clock())
                    if self._batch_full(campaign):
                        return self._park(campaign, token, int(campaign.batch_pause_ms or 0), "batch pause")
                    if not self._affordable(wait_ms, remaining_ms):
                        if sent_here == 0 and wait_ms > 0:
                            # Even a fresh invocation could not afford this wait: let the schedule wake us.
                            return self._park(campaign, token, wait_ms, "long wait")
                        return self._hand_off(campaign, token, event, function_name)
                    if wait_ms > typing:
                        self.sleep((wait_ms - typing) / 1000)
                    try:
                        self.store.claim(campaign, token, index, self.clock(), self._lease_extra_ms(campaign))
                    except RunLost:
                        logger.info("Run stopped at the next contact (paused, cancelled or taken over)")
                        return RunResult.STOPPED

                outcome = self._send_one(campaign, session, contact, text, media, pacer, typing, wait_ms)
                if outcome is None:  # nothing went out: give the contact back and pause
                    return self._pause_after_release(campaign, token, index)

                # When the next send follows within moments, claim it in the same write
                # that records this one: one DynamoDB request per contact instead of two.
                claimed = None
                next_contact = page[position + 1] if position + 1 < len(page) else None
                if next_contact is not None and outcome.status is not DeliveryStatus.UNKNOWN:
                    delay_ms = pacer.next_delay_ms()
                    next_wait = pacer.wait_ms(delay_ms, self.monotonic(), None, self.clock())
                    if (
                        next_wait <= MERGED_CLAIM_MAX_WAIT_MS
                        and not self._batch_full(campaign, outcome)
                        and self._affordable(next_wait, remaining_ms)
                    ):
                        claimed = int(next_contact.index)
                try:
                    claimed = self._record(campaign, token, index, contact.phone_number, outcome, claimed)
                except RunLost:
                    logger.warning("Delivery not recorded: the run changed hands during the send")
                    return RunResult.STOPPED
                self._count(stats, outcome)
                if outcome.status is DeliveryStatus.SENT:
                    sent_here += 1
                    campaign.sent_in_batch = int(campaign.sent_in_batch or 0) + 1
                if outcome.status is DeliveryStatus.UNKNOWN:
                    return self._pause(campaign, token, self._last_reason)

        if self.store.complete(campaign, token, self.clock()):
            logger.info("Campaign completed")
            return RunResult.COMPLETED
        logger.info("Campaign not completed by this run: it changed hands at the end")
        return RunResult.STOPPED

    _last_reason: str = ""
    _stats: RunStats

    def _send_one(
        self,
        campaign: Campaign,
        session: str,
        contact: Contact,
        text: str,
        media: Media | None,
        pacer: Pacer,
        typing: int | bool,
        wait_ms: int,
    ) -> Outcome | None:
        """Send to one claimed contact. None means nothing went out and the campaign must pause."""
        phone = contact.phone_number
        check_s = 0.0
        try:
            if campaign.check_numbers:
                checked = self.monotonic()
                exists = self.sender.number_exists(session, phone)
                check_s = self.monotonic() - checked
                if exists is False:
                    return Outcome(DeliveryStatus.FAILED, error=NOT_ON_WHATSAPP)
            if typing:
                started = self.monotonic()
                self.sender.start_typing(session, phone)
                # Typing fills the end of the wait; with no wait (a run's first message)
                # it still shows for its full time.
                remaining_typing = int(typing) / 1000 - (self.monotonic() - started)
                if remaining_typing > 0:
                    self.sleep(remaining_typing)
                self.sender.stop_typing(session, phone)
            started = self.monotonic()
            try:
                result = self.sender.send(
                    OutgoingMessage(
                        session=session,
                        phone_number=phone,
                        text=text,
                        media=media,
                        idempotency_key=f"{campaign.id}:{int(contact.index)}",
                    )
                )
            except SendError:
                pacer.last_send_monotonic = self.monotonic()
                raise
            # Pace from when the delivering request started: a fixed latency does not
            # stretch the interval, and a send delayed by retries (rate-limit backoff)
            # went out late, so the next one waits its full delay after it.
            now = self.monotonic()
            request_started = started if result.delivery_lag_s is None else now - result.delivery_lag_s
            pacer.last_send_monotonic = request_started
            pacer.leads.append(min(MAX_PACING_LEAD_S, check_s + max(0.0, request_started - started)))
            return Outcome(DeliveryStatus.SENT, message_id=result.message_id)
        except ContactRejected as exc:
            return Outcome(DeliveryStatus.FAILED, error=exc.reason)
        except SendOutcomeUnknown as exc:
            self._last_reason = f"Sending stopped: {exc.reason}"
            return Outcome(DeliveryStatus.UNKNOWN, error=exc.reason)
        except SendNotAttempted as exc:
            self._last_reason = exc.reason
            return None

    def _record(
        self,
        campaign: Campaign,
        token: str,
        index: int,
        phone_number: str,
        outcome: Outcome,
        claim_next: int | None,
    ) -> int | None:
        """Record `index`; claim `claim_next` in the same write when asked. Returns the
        index claimed, or None. Raises RunLost when even the plain record is refused."""
        now = self.clock()
        if claim_next is not None:
            try:
                self.store.record(
                    campaign,
                    token,
                    index,
                    phone_number,
                    outcome,
                    now,
                    claim_next=claim_next,
                    lease_extra_ms=self._lease_extra_ms(campaign),
                )
                return claim_next
            except RunLost:
                pass  # paused or cancelled meanwhile: record alone; the next claim will stop us
        self.store.record(campaign, token, index, phone_number, outcome, now)
        return None

    def _affordable(self, wait_ms: int, remaining_ms: Callable[[], int]) -> bool:
        return remaining_ms() > wait_ms + self.sender.max_send_ms + self.cfg.handoff_margin_ms

    # -------------------------------------------------------------- endings

    def _pause(self, campaign: Campaign, token: str, reason: str) -> RunResult:
        if self.store.pause_run(campaign, token, reason, self.clock()):
            logger.warning("Campaign paused", extra={"pause_reason": reason})
            return RunResult.PAUSED
        return RunResult.STOPPED

    def _pause_after_release(self, campaign: Campaign, token: str, index: int) -> RunResult:
        try:
            self.store.release(campaign, token, index)
        except RunLost:
            return RunResult.STOPPED
        return self._pause(campaign, token, self._last_reason)

    def _park(self, campaign: Campaign, token: str, wait_ms: int, why: str) -> RunResult:
        now = self.clock()
        until = now + timedelta(milliseconds=max(wait_ms, 0))
        if self.store.park(campaign, token, until, now):
            logger.info(
                "Run parked until the schedule picks it up", extra={"until": until.isoformat(), "why": why}
            )
            return RunResult.PARKED
        return RunResult.STOPPED

    def _hand_off(
        self,
        campaign: Campaign,
        token: str,
        event: RunEvent,
        function_name: str | None,
    ) -> RunResult:
        if not self.store.hand_off(campaign, token, self.clock(), self._lease_extra_ms(campaign)):
            return RunResult.STOPPED
        next_event = runner_event(campaign.id, token, event.hop + 1)
        self.invoker.invoke(next_event, function_name)
        logger.info("Time budget low; handed off to the next invocation", extra={"next_hop": event.hop + 1})
        return RunResult.HANDED_OFF

    # -------------------------------------------------------------- helpers

    @staticmethod
    def _next_index(campaign: Campaign) -> int:
        last = campaign.last_processed_contact_index
        return 0 if last is None else int(last) + 1

    @staticmethod
    def _batch_full(campaign: Campaign, pending: Outcome | None = None) -> bool:
        """True when the batch is full (counting `pending`, an outcome not yet recorded)."""
        size = campaign.batch_size
        if not size or not campaign.batch_pause_ms:
            return False
        sent = int(campaign.sent_in_batch or 0)
        if pending is not None and pending.status is DeliveryStatus.SENT:
            sent += 1
        return sent >= int(size)

    def _lease_extra_ms(self, campaign: Campaign) -> int:
        # The lease must outlive the longest wait plus one send with its retries.
        return int(campaign.max_delay_ms or 0) + int(self.sender.max_send_ms)

    @staticmethod
    def _count(stats: RunStats, outcome: Outcome) -> None:
        if outcome.status is DeliveryStatus.SENT:
            stats.sent += 1
        elif outcome.status is DeliveryStatus.FAILED:
            stats.failed += 1
        else:
            stats.unknown += 1

    @staticmethod
    def _log_stats(stats: RunStats) -> None:
        if stats.sent:
            metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=stats.sent)
        if stats.failed:
            metrics.add_metric(name="MessagesFailed", unit=MetricUnit.Count, value=stats.failed)
        if stats.unknown:
            metrics.add_metric(name="MessagesUnknown", unit=MetricUnit.Count, value=stats.unknown)
        stats.sent = stats.failed = stats.unknown = 0


def _media(item: MediaLibraryItem) -> Media:
    filename = item.storage_path.rsplit("/", 1)[-1].split("?", 1)[0] or item.name
    return Media(url=item.storage_path, mime_type=item.mime_type, filename=filename)
