"""Campaign state in DynamoDB: every status change is one conditional write.

This module is the only place that writes a campaign's status and progress. It
turns DynamoDB's conditional-check failures into domain exceptions, so callers
reason in the product's words ("someone else holds this run", "wrong state").

The run protocol (see README "How a run stays exactly-once"):

- `take` flips Scheduled/Paused to Running with a fresh run token and a lease.
- `claim` marks one contact as in flight; it succeeds only while the campaign is
  Running, the token is the caller's, and the previous contact is recorded. A
  pause, a cancel or another runner therefore stops a run at its next contact.
- `record` writes the contact's delivery and advances progress and counters in one
  transaction, conditioned on the token and the in-flight index.
- A runner that dies leaves its lease to expire; `take_over` gives the run a new
  token and records the in-flight contact as `Unknown` (it is never resent).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from campaigns.data.models import (
    Campaign,
    Contact,
    ContactList,
    Delivery,
    MediaLibraryItem,
    MessageTemplate,
    WhatsAppSession,
)
from campaigns.domain.errors import CampaignNotFound, RunLost, StoreConflict, WrongStatus
from campaigns.domain.statuses import (
    CANCELLABLE,
    PAUSABLE,
    RESUMABLE,
    RUNNABLE,
    TAKEABLE,
    CampaignStatus,
    DeliveryStatus,
)

UNKNOWN_AFTER_CRASH = (
    "The runner stopped while this message was being sent; it may or may not have been "
    "delivered, so it is not sent again."
)
PAUSED_BY_USER = "Paused by the user"


def _conditional_failure(exc: Exception) -> bool:
    code = getattr(exc, "cause_response_code", None)
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = getattr(exc, "cancellation_reasons", None) or []
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)
    return False


def new_run_token() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Outcome:
    """What happened to one contact."""

    status: DeliveryStatus
    message_id: str | None = None
    error: str | None = None


_COUNTER = {
    DeliveryStatus.SENT: Campaign.sent_count,
    DeliveryStatus.FAILED: Campaign.failed_count,
    DeliveryStatus.UNKNOWN: Campaign.unknown_count,
}


class CampaignStore:
    def __init__(self, lease_seconds: int = 120) -> None:
        self.lease_seconds = lease_seconds

    # ----------------------------------------------------------------- reads

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        try:
            return Campaign.get(campaign_id, consistent_read=True)
        except DoesNotExist:
            return None

    def get_owned_campaign(self, campaign_id: str, user_id: str) -> Campaign:
        campaign = self.get_campaign(campaign_id)
        if campaign is None or campaign.user_id != user_id:
            raise CampaignNotFound(campaign_id)
        return campaign

    def get_template(self, user_id: str, template_id: str) -> MessageTemplate | None:
        try:
            return MessageTemplate.get(user_id, template_id)
        except DoesNotExist:
            return None

    def get_media(self, user_id: str, media_id: str) -> MediaLibraryItem | None:
        try:
            return MediaLibraryItem.get(user_id, media_id)
        except DoesNotExist:
            return None

    def get_contact_list(self, user_id: str, list_id: str) -> ContactList | None:
        try:
            return ContactList.get(user_id, list_id, consistent_read=True)
        except DoesNotExist:
            return None

    def session_holder(self, session_name: str) -> str | None:
        try:
            return WhatsAppSession.get(session_name).user_id
        except DoesNotExist:
            return None

    def contact_pages(
        self, list_id: str, start_index: int, page_size: int, end_index: int | None = None
    ) -> Iterator[list[Contact]]:
        """Contacts from `start_index` (up to `end_index`, exclusive, when known), one
        Query of at most `page_size` per page: never the whole list at once."""
        next_index = start_index
        while end_index is None or next_index < end_index:
            size = page_size if end_index is None else min(page_size, end_index - next_index)
            page = list(Contact.query(list_id, Contact.index >= next_index, limit=size, page_size=size))
            if not page:
                return
            yield page
            if len(page) < size:
                return
            next_index = int(page[-1].index) + 1

    # ---------------------------------------------------------- runner writes

    def _lease(self, now: datetime, extra_ms: int = 0) -> datetime:
        return now + timedelta(seconds=self.lease_seconds, milliseconds=extra_ms)

    def take(
        self, campaign: Campaign, now: datetime, total_contacts: int, lease_extra_ms: int = 0
    ) -> Campaign:
        """Scheduled/Paused -> Running with a fresh token. Raises StoreConflict if
        another runner took it first or a previous runner may still be sending."""
        token = new_run_token()
        lease = self._lease(now, lease_extra_ms)
        actions = [
            Campaign.status.set(CampaignStatus.RUNNING.value),
            Campaign.run_token.set(token),
            Campaign.started_at.set(Campaign.started_at | now),
            Campaign.lease_expires_at.set(lease),
            Campaign.due_at.set(lease),
            Campaign.pause_reason.remove(),
            Campaign.total_contacts.set(total_contacts),
            Campaign.no_progress_count.set(0),
            Campaign.sent_in_batch.set(0),
            Campaign.invocation_count.add(1),
            Campaign.dispatched_at.remove(),
            Campaign.updated_at.set(now),
        ]
        condition = Campaign.status.is_in(*[s.value for s in TAKEABLE]) & (Campaign.due_at <= now)
        in_flight = campaign.in_flight_index
        if in_flight is None:
            self._update(campaign, actions, condition & Campaign.in_flight_index.does_not_exist(), RunLost)
        else:
            # A runner died mid-send before this campaign was paused and resumed:
            # its contact becomes Unknown, and the take proceeds after it.
            condition &= (Campaign.in_flight_index == in_flight) & (Campaign.lease_expires_at < now)
            self._settle_in_flight(campaign, int(in_flight), now, actions, condition)
        return campaign

    def continue_run(
        self, campaign: Campaign, token: str, now: datetime, lease_extra_ms: int = 0
    ) -> Campaign:
        """A self-invocation carries on: renew the lease, count the invocation."""
        lease = self._lease(now, lease_extra_ms)
        self._update(
            campaign,
            [
                Campaign.lease_expires_at.set(lease),
                Campaign.due_at.set(lease),
                Campaign.no_progress_count.add(1),
                Campaign.invocation_count.add(1),
                Campaign.updated_at.set(now),
            ],
            self._holds(token) & Campaign.in_flight_index.does_not_exist(),
            RunLost,
        )
        return campaign

    def claim(
        self, campaign: Campaign, token: str, index: int, now: datetime, lease_extra_ms: int = 0
    ) -> None:
        """Mark contact `index` as in flight. Raises RunLost when the run may not send it."""
        # Contacts are claimed in index order; with nothing in flight, a contact at or
        # below the last processed index was already handled and is never claimed again.
        previous = Campaign.last_processed_contact_index.does_not_exist() | (
            Campaign.last_processed_contact_index < index
        )
        lease = self._lease(now, lease_extra_ms)
        self._update(
            Campaign(campaign.id),
            [
                Campaign.in_flight_index.set(index),
                Campaign.lease_expires_at.set(lease),
                Campaign.due_at.set(lease),
            ],
            self._holds(token) & Campaign.in_flight_index.does_not_exist() & previous,
            RunLost,
        )

    def record(
        self,
        campaign: Campaign,
        token: str,
        index: int,
        phone_number: str,
        outcome: Outcome,
        now: datetime,
        *,
        claim_next: int | None = None,
        lease_extra_ms: int = 0,
    ) -> None:
        """Write contact `index`'s delivery and advance progress, in one transaction.

        Conditioned on the token and the in-flight index but not on the status: a
        pause or cancel that arrived during the send must not lose what happened.
        With `claim_next`, the same write also claims the next contact, and then
        the campaign must still be Running (else RunLost, and nothing is written).
        """
        condition = (Campaign.run_token == token) & (Campaign.in_flight_index == index)
        if claim_next is None:
            actions = [Campaign.in_flight_index.remove()]
        else:
            lease = self._lease(now, lease_extra_ms)
            actions = [
                Campaign.in_flight_index.set(claim_next),
                Campaign.lease_expires_at.set(lease),
                Campaign.due_at.set(lease),
            ]
            condition &= Campaign.status == CampaignStatus.RUNNING.value
        actions += [
            Campaign.last_processed_contact_index.set(index),
            _COUNTER[outcome.status].add(1),
            Campaign.no_progress_count.set(0),
            Campaign.updated_at.set(now),
        ]
        if outcome.status is DeliveryStatus.SENT:
            actions += [Campaign.last_sent_at.set(now), Campaign.sent_in_batch.add(1)]
        delivery = Delivery(
            campaign_id=campaign.id,
            contact_index=index,
            phone_number=phone_number,
            status=outcome.status.value,
            message_id=outcome.message_id,
            error=outcome.error,
            at=now,
        )
        try:
            _write_delivery_and_campaign(delivery, Campaign(campaign.id), actions, condition)
        except TransactWriteError as exc:
            if _conditional_failure(exc):
                raise RunLost(f"record of contact {index} refused for campaign {campaign.id}") from exc
            raise

    def release(self, campaign: Campaign, token: str, index: int) -> None:
        """Give back a claim whose send certainly did not happen."""
        self._update(
            Campaign(campaign.id),
            [Campaign.in_flight_index.remove()],
            (Campaign.run_token == token) & (Campaign.in_flight_index == index),
            RunLost,
        )

    def pause_run(self, campaign: Campaign, token: str, reason: str, now: datetime) -> bool:
        """Running -> Paused by the runner. False when the run was no longer ours."""
        try:
            self._update(
                Campaign(campaign.id),
                [
                    Campaign.status.set(CampaignStatus.PAUSED.value),
                    Campaign.pause_reason.set(reason[:1000]),
                    Campaign.due_at.remove(),
                    Campaign.updated_at.set(now),
                ],
                self._holds(token) & Campaign.in_flight_index.does_not_exist(),
                RunLost,
            )
            return True
        except RunLost:
            return False

    def hand_off(self, campaign: Campaign, token: str, now: datetime, lease_extra_ms: int = 0) -> bool:
        """Renew the lease before invoking the next hop. False when the run is no longer ours."""
        lease = self._lease(now, lease_extra_ms)
        try:
            self._update(
                Campaign(campaign.id),
                [
                    Campaign.lease_expires_at.set(lease),
                    Campaign.due_at.set(lease),
                    Campaign.updated_at.set(now),
                ],
                self._holds(token) & Campaign.in_flight_index.does_not_exist(),
                RunLost,
            )
            return True
        except RunLost:
            return False

    def park(self, campaign: Campaign, token: str, until: datetime, now: datetime) -> bool:
        """Stop this invocation and let the schedule continue the run at `until`
        (batch pauses, waits longer than an invocation can afford)."""
        try:
            self._update(
                Campaign(campaign.id),
                [
                    Campaign.lease_expires_at.set(until),
                    Campaign.due_at.set(until),
                    Campaign.sent_in_batch.set(0),
                    Campaign.updated_at.set(now),
                ],
                self._holds(token) & Campaign.in_flight_index.does_not_exist(),
                RunLost,
            )
            return True
        except RunLost:
            return False

    def complete(self, campaign: Campaign, token: str, now: datetime) -> bool:
        try:
            self._update(
                Campaign(campaign.id),
                [
                    Campaign.status.set(CampaignStatus.COMPLETED.value),
                    Campaign.completed_at.set(now),
                    Campaign.last_processed_contact_index.remove(),
                    Campaign.due_at.remove(),
                    Campaign.lease_expires_at.remove(),
                    Campaign.pause_reason.remove(),
                    Campaign.updated_at.set(now),
                ],
                self._holds(token) & Campaign.in_flight_index.does_not_exist(),
                RunLost,
            )
            return True
        except RunLost:
            return False

    def fail(self, campaign_id: str, token: str | None, reason: str, now: datetime) -> bool:
        """-> Failed with a generic reason. With a token, only while that run holds it;
        a contact left in flight becomes Unknown (never resent)."""
        actions = [
            Campaign.status.set(CampaignStatus.FAILED.value),
            Campaign.completed_at.set(now),
            Campaign.failure_reason.set(reason[:1000]),
            Campaign.due_at.remove(),
            Campaign.lease_expires_at.remove(),
            Campaign.updated_at.set(now),
        ]
        condition = Campaign.status.is_in(
            CampaignStatus.RUNNING.value, CampaignStatus.SCHEDULED.value, CampaignStatus.PAUSED.value
        )
        if token is not None:
            condition &= Campaign.run_token == token
        current = self.get_campaign(campaign_id)
        if current is None:
            return False
        try:
            if current.in_flight_index is not None:
                index = int(current.in_flight_index)
                self._settle_in_flight(
                    current, index, now, actions, condition & (Campaign.in_flight_index == index)
                )
            else:
                self._update(current, actions, condition & Campaign.in_flight_index.does_not_exist(), RunLost)
            return True
        except RunLost:
            return False

    # -------------------------------------------------------- schedule writes

    def due_campaigns(self, status: CampaignStatus, now: datetime, page_size: int = 50) -> Iterator[Campaign]:
        """Campaigns of `status` whose `dueAt` has come, through the sparse index."""
        yield from Campaign.by_status_due.query(status.value, Campaign.due_at <= now, page_size=page_size)

    def mark_dispatched(self, campaign: Campaign, now: datetime, retry_after_s: int) -> bool:
        """One tick wins the right to start a due Scheduled campaign; if its
        invocation is lost, a tick may dispatch it again after `retry_after_s`."""
        recently = now - timedelta(seconds=retry_after_s)
        try:
            self._update(
                Campaign(campaign.id),
                [Campaign.dispatched_at.set(now)],
                (Campaign.status == CampaignStatus.SCHEDULED.value)
                & (Campaign.due_at == campaign.due_at)
                & (Campaign.dispatched_at.does_not_exist() | (Campaign.dispatched_at < recently)),
                StoreConflict,
            )
            return True
        except StoreConflict:
            return False

    def take_over(self, campaign: Campaign, now: datetime) -> str:
        """A Running campaign whose lease expired gets a new run token. The contact
        its dead runner had in flight becomes Unknown. Returns the new token;
        raises StoreConflict when the old runner renewed its lease meanwhile."""
        token = new_run_token()
        lease = self._lease(now)
        actions = [
            Campaign.run_token.set(token),
            Campaign.lease_expires_at.set(lease),
            Campaign.due_at.set(lease),
            Campaign.no_progress_count.add(1),
            Campaign.updated_at.set(now),
        ]
        condition = (
            (Campaign.status == CampaignStatus.RUNNING.value)
            & (Campaign.run_token == campaign.run_token)
            & (Campaign.lease_expires_at == campaign.lease_expires_at)
            & (Campaign.lease_expires_at < now)
        )
        if campaign.in_flight_index is None:
            self._update(
                Campaign(campaign.id),
                actions,
                condition & Campaign.in_flight_index.does_not_exist(),
                StoreConflict,
            )
        else:
            index = int(campaign.in_flight_index)
            self._settle_in_flight(
                campaign, index, now, actions, condition & (Campaign.in_flight_index == index)
            )
        return token

    # ------------------------------------------------------------- API writes

    def request_run(self, campaign_id: str, user_id: str, now: datetime) -> Campaign:
        """Scheduled/Paused -> Scheduled and due now."""
        return self._user_transition(campaign_id, user_id, RUNNABLE, "run", self._scheduled_now(now))

    def request_resume(self, campaign_id: str, user_id: str, now: datetime) -> Campaign:
        """Paused -> Scheduled and due now."""
        return self._user_transition(campaign_id, user_id, RESUMABLE, "resume", self._scheduled_now(now))

    def pause_by_user(self, campaign_id: str, user_id: str, now: datetime) -> Campaign:
        return self._stop_by_user(
            campaign_id,
            user_id,
            PAUSABLE,
            "pause",
            [
                Campaign.status.set(CampaignStatus.PAUSED.value),
                Campaign.pause_reason.set(PAUSED_BY_USER),
                Campaign.updated_at.set(now),
            ],
        )

    def cancel_by_user(self, campaign_id: str, user_id: str, now: datetime) -> Campaign:
        return self._stop_by_user(
            campaign_id,
            user_id,
            CANCELLABLE,
            "cancel",
            [
                Campaign.status.set(CampaignStatus.CANCELLED.value),
                Campaign.completed_at.set(now),
                Campaign.updated_at.set(now),
            ],
        )

    def settle_stopped(self, campaign: Campaign, now: datetime) -> str:
        """A Paused or Cancelled campaign that the schedule still watches (it was
        stopped while a contact was in flight). Once the runner's lease is over, a
        contact still in flight was never recorded: it becomes Unknown. Returns
        "settled", "cleared", "waiting" or "conflict"."""
        status = Campaign.status == campaign.status
        try:
            if campaign.in_flight_index is None:
                self._update(
                    Campaign(campaign.id),
                    [Campaign.due_at.remove()],
                    status & Campaign.in_flight_index.does_not_exist(),
                    StoreConflict,
                )
                return "cleared"
            index = int(campaign.in_flight_index)
            same_run = (
                status & (Campaign.run_token == campaign.run_token) & (Campaign.in_flight_index == index)
            )
            lease = campaign.lease_expires_at
            if lease is not None and lease >= now:
                self._update(
                    Campaign(campaign.id),
                    [Campaign.due_at.set(lease)],
                    same_run & (Campaign.lease_expires_at == lease),
                    StoreConflict,
                )
                return "waiting"
            self._settle_in_flight(
                campaign,
                index,
                now,
                [Campaign.due_at.remove(), Campaign.updated_at.set(now)],
                same_run & ((Campaign.lease_expires_at < now) | Campaign.lease_expires_at.does_not_exist()),
            )
            return "settled"
        except StoreConflict:
            return "conflict"

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _scheduled_now(now: datetime) -> list:
        """Scheduled and due now: the API invokes the runner next, and if that
        invocation is lost the schedule's next tick starts the campaign."""
        return [
            Campaign.status.set(CampaignStatus.SCHEDULED.value),
            Campaign.due_at.set(now),
            Campaign.dispatched_at.remove(),
            Campaign.pause_reason.remove(),
            Campaign.updated_at.set(now),
        ]

    @staticmethod
    def _holds(token: str) -> Condition:
        return (Campaign.status == CampaignStatus.RUNNING.value) & (Campaign.run_token == token)

    @staticmethod
    def _update(
        campaign: Campaign, actions: list, condition: Condition, conflict: type[StoreConflict]
    ) -> None:
        try:
            campaign.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if _conditional_failure(exc):
                raise conflict(f"conditional update refused for campaign {campaign.id}") from exc
            raise

    def _settle_in_flight(
        self, campaign: Campaign, index: int, now: datetime, actions: list, condition: Condition
    ) -> None:
        """Record the in-flight contact as Unknown together with `actions`, atomically."""
        contact = _contact_at(campaign.contact_list_id, index)
        delivery = Delivery(
            campaign_id=campaign.id,
            contact_index=index,
            phone_number=contact.phone_number if contact else "",
            status=DeliveryStatus.UNKNOWN.value,
            error=UNKNOWN_AFTER_CRASH,
            at=now,
        )
        all_actions = [
            *actions,
            Campaign.last_processed_contact_index.set(index),
            Campaign.in_flight_index.remove(),
            Campaign.unknown_count.add(1),
        ]
        try:
            _write_delivery_and_campaign(delivery, Campaign(campaign.id), all_actions, condition)
        except TransactWriteError as exc:
            if _conditional_failure(exc):
                raise RunLost(f"in-flight contact {index} of campaign {campaign.id} already settled") from exc
            raise
        campaign.refresh(consistent_read=True)

    def _stop_by_user(
        self,
        campaign_id: str,
        user_id: str,
        allowed: frozenset[CampaignStatus],
        action: str,
        actions: list,
    ) -> Campaign:
        """Pause or cancel. When a contact is in flight, the campaign stays visible to
        the schedule until the runner's lease ends (`dueAt` = the lease): if that
        runner died mid-send, the schedule records the contact as Unknown."""
        for _ in range(10):
            current = self.get_campaign(campaign_id)
            if current is None or current.user_id != user_id:
                raise CampaignNotFound(campaign_id)
            if current.status not in {s.value for s in allowed}:
                raise WrongStatus(campaign_id, current.status, action)
            condition = (Campaign.user_id == user_id) & Campaign.status.is_in(*[s.value for s in allowed])
            if current.in_flight_index is not None and current.lease_expires_at is not None:
                extra = [Campaign.due_at.set(current.lease_expires_at)]
                condition &= Campaign.in_flight_index == current.in_flight_index
            else:
                extra = [Campaign.due_at.remove()]
                condition &= Campaign.in_flight_index.does_not_exist()
            campaign = Campaign(campaign_id)
            try:
                campaign.update(actions=actions + extra, condition=condition)
                return campaign
            except UpdateError as exc:
                if not _conditional_failure(exc):
                    raise
        # The run kept moving between our read and write; the user may simply retry.
        raise WrongStatus(campaign_id, current.status, action)

    def _user_transition(
        self,
        campaign_id: str,
        user_id: str,
        allowed: frozenset[CampaignStatus],
        action: str,
        actions: list,
    ) -> Campaign:
        campaign = Campaign(campaign_id)
        condition = (Campaign.user_id == user_id) & Campaign.status.is_in(*[s.value for s in allowed])
        try:
            campaign.update(actions=actions, condition=condition)
            return campaign
        except UpdateError as exc:
            if not _conditional_failure(exc):
                raise
        current = self.get_campaign(campaign_id)
        if current is None or current.user_id != user_id:
            raise CampaignNotFound(campaign_id)
        raise WrongStatus(campaign_id, current.status, action)


def _connection():
    return Campaign._get_connection().connection


# Why DynamoDB cancelled a transaction: these mean "try again", not "the state
# differs from what you assumed". The SDK retries a throttled request, but not a
# transaction cancelled for these reasons.
_TRANSIENT_CANCELLATIONS = frozenset(
    {"ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded"}
)
_TRANSACTION_ATTEMPTS = 4


def _write_delivery_and_campaign(
    delivery: Delivery, campaign: Campaign, actions: list, condition: Condition
) -> None:
    """Put a new delivery and update its campaign in one transaction; a transaction
    cancelled only for transient reasons is retried (nothing was written)."""
    for attempt in range(1, _TRANSACTION_ATTEMPTS + 1):
        try:
            with TransactWrite(connection=_connection()) as tx:
                tx.save(delivery, condition=Delivery.contact_index.does_not_exist())
                tx.update(campaign, actions=actions, condition=condition)
            return
        except TransactWriteError as exc:
            reasons = {r.code for r in (getattr(exc, "cancellation_reasons", None) or []) if r is not None}
            reasons.discard("None")
            transient = bool(reasons) and reasons <= _TRANSIENT_CANCELLATIONS
            if not transient or attempt == _TRANSACTION_ATTEMPTS:
                raise
            time.sleep(random.uniform(0, 0.05 * 2**attempt))


def _contact_at(list_id: str, index: int) -> Contact | None:
    try:
        return Contact.get(list_id, index)
    except DoesNotExist:
        return None


__all__ = [
    "UNKNOWN_AFTER_CRASH",
    "CampaignNotFound",
    "CampaignStore",
    "Outcome",
    "RunLost",
    "StoreConflict",
    "WrongStatus",
]
