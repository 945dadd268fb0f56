"""What every campaign write shares: one conditional update, one transaction of named
items (the delivery-plus-campaign write, and a claim with the checks it makes in the
same request), and the settling of a contact left in flight.

Each role's module (run_writes, schedule_writes, user_commands) builds its
actions and conditions and calls these; nothing else turns DynamoDB's
conditional-check failures into the product's conflicts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from campaigns.data.models import Campaign, Contact, Delivery
from campaigns.domain.errors import RunLost, StoreConflict
from campaigns.domain.outcomes import Outcome
from campaigns.domain.statuses import CampaignStatus, DeliveryStatus

UNKNOWN_AFTER_CRASH = (
    "The runner stopped while this message was being sent; it may or may not have been "
    "delivered, so it is not sent again."
)

COUNTERS = {
    DeliveryStatus.SENT: Campaign.sent_count,
    DeliveryStatus.FAILED: Campaign.failed_count,
    DeliveryStatus.UNKNOWN: Campaign.unknown_count,
    DeliveryStatus.SKIPPED: Campaign.skipped_count,
}

# Why DynamoDB cancelled a transaction: these mean "try again", not "the state
# differs from what you assumed". The SDK retries a throttled request, but not a
# transaction cancelled for these reasons.
_TRANSIENT_CANCELLATIONS = frozenset(
    {"ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded"}
)
_TRANSACTION_ATTEMPTS = 4
# PynamoDB sends a transaction's condition checks first, then its deletes, puts and
# updates, each kind in the order added: DynamoDB's reasons come in that order.
_KIND_ORDER = {"check": 0, "delete": 1, "put": 2, "update": 3}


@dataclass(frozen=True)
class TransactItem:
    """One item of a transaction, named so that DynamoDB's reasons for cancelling the
    transaction are read back by name. `written` is called once the transaction is
    written, `refused` when this item's own condition failed (nothing written then)."""

    name: str
    kind: str  # "check", "delete", "put" or "update"
    add: Callable[[TransactWrite], None]
    written: Callable[[], None] | None = None
    refused: Callable[[], None] | None = None


def transact(items: Sequence[TransactItem]) -> frozenset[str]:
    """Write `items` atomically. Returns the names of the items whose condition failed
    (nothing was written then); empty once written. A transaction cancelled only for
    transient reasons (throttled, in conflict with another) is tried again, nothing
    having been written; other errors raise."""
    ordered = sorted(items, key=lambda item: _KIND_ORDER[item.kind])
    for attempt_no in range(1, _TRANSACTION_ATTEMPTS + 1):
        try:
            with TransactWrite(connection=Campaign._get_connection().connection) as tx:
                for item in ordered:
                    item.add(tx)
            break
        except TransactWriteError as exc:
            refused = _refused(ordered, exc)
            if refused:
                return refused
            if not _transient(exc) or attempt_no == _TRANSACTION_ATTEMPTS:
                raise
            time.sleep(random.uniform(0, 0.05 * 2**attempt_no))
    for item in ordered:
        if item.written is not None:
            item.written()
    return frozenset()


def _refused(ordered: Sequence[TransactItem], exc: TransactWriteError) -> frozenset[str]:
    """The items whose condition failed, by position (each told so)."""
    reasons = getattr(exc, "cancellation_reasons", None) or []
    refused = [
        item
        for item, reason in zip(ordered, reasons, strict=False)
        if reason is not None and reason.code == "ConditionalCheckFailed"
    ]
    for item in refused:
        if item.refused is not None:
            item.refused()
    return frozenset(item.name for item in refused)


def _transient(exc: TransactWriteError) -> bool:
    codes = {r.code for r in (getattr(exc, "cancellation_reasons", None) or []) if r is not None}
    codes.discard("None")
    return bool(codes) and codes <= _TRANSIENT_CANCELLATIONS


# DynamoDB's answers that mean "not now" (after the SDK's own retries), not a fault of
# the request or of the state.
_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


def transient_store_error(exc: BaseException) -> bool:
    """DynamoDB throttled the request past the SDK's retries, or could not be reached:
    the same request may succeed later."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "cause_response_code", None) in _TRANSIENT_CODES:
            return True
        if isinstance(current, BotoConnectionError | HTTPClientError):
            return True
        answer = getattr(current, "response", None)
        if isinstance(answer, dict) and answer.get("Error", {}).get("Code") in _TRANSIENT_CODES:
            return True
        if _cancelled_transiently(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _cancelled_transiently(exc: BaseException) -> bool:
    if getattr(exc, "cause_response_code", None) != "TransactionCanceledException":
        return False
    reasons = getattr(exc, "cancellation_reasons", None) or []
    codes = {r.code for r in reasons if r is not None and r.code not in (None, "None")}
    return bool(codes) and codes <= _TRANSIENT_CANCELLATIONS


def holds(token: str) -> Condition:
    """The run with `token` holds the campaign."""
    return (Campaign.status == CampaignStatus.RUNNING.value) & (Campaign.run_token == token)


def conditional_failure(exc: Exception) -> bool:
    code = getattr(exc, "cause_response_code", None)
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = getattr(exc, "cancellation_reasons", None) or []
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)
    return False


def update(
    target: Campaign | str, actions: list, condition: Condition, conflict: type[StoreConflict] = RunLost
) -> Campaign:
    """One conditional update; a lost condition raises `conflict`. A Campaign given
    as `target` is refreshed in place with the item as written."""
    campaign = target if isinstance(target, Campaign) else Campaign(target)
    try:
        campaign.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if conditional_failure(exc):
            raise conflict(f"conditional update refused for campaign {campaign.id}") from exc
        raise
    return campaign


def attempt(
    campaign_id: str, actions: list, condition: Condition, conflict: type[StoreConflict] = RunLost
) -> bool:
    """`update`, answering False instead of raising when the condition lost."""
    try:
        update(campaign_id, actions, condition, conflict)
        return True
    except StoreConflict:
        return False


def record_delivery(
    campaign_id: str,
    index: int,
    phone_number: str,
    outcome: Outcome,
    now: datetime,
    actions: list,
    condition: Condition,
    also: Sequence[TransactItem] = (),
) -> frozenset[str]:
    """Put contact `index`'s delivery and update the campaign with `actions`, atomically,
    with the items `also` names. Raises RunLost when the delivery or the campaign is
    refused (nothing is written then); returns the names of the items of `also` that
    were refused (nothing written either), empty once written."""
    delivery = Delivery(
        campaign_id=campaign_id,
        contact_index=index,
        phone_number=phone_number,
        status=outcome.status.value,
        message_id=outcome.message_id,
        error=outcome.error,
        at=now,
    )
    refused = transact(
        [
            TransactItem(
                "delivery",
                "put",
                lambda tx: tx.save(delivery, condition=Delivery.contact_index.does_not_exist()),
            ),
            campaign_item(campaign_id, actions, condition),
            *also,
        ]
    )
    if refused & {"delivery", "campaign"}:
        raise RunLost(f"delivery {index} of campaign {campaign_id} refused")
    return refused


def campaign_item(campaign_id: str, actions: list, condition: Condition) -> TransactItem:
    """The campaign's update as an item of a transaction, named "campaign"."""
    return TransactItem(
        "campaign",
        "update",
        lambda tx: tx.update(Campaign(campaign_id), actions=actions, condition=condition),
    )


def settle_in_flight(
    campaign: Campaign,
    index: int,
    now: datetime,
    actions: list,
    condition: Condition,
    error: str = UNKNOWN_AFTER_CRASH,
) -> None:
    """Record contact `index` (in flight, or sent but never confirmed) as Unknown, never
    resent, together with `actions`, atomically. Raises RunLost when it was settled
    already."""
    contact = contact_at(campaign.contact_list_id, index)
    record_delivery(
        campaign.id,
        index,
        contact.phone_number if contact else "",
        Outcome(DeliveryStatus.UNKNOWN, error=error),
        now,
        [
            *actions,
            Campaign.last_processed_contact_index.set(index),
            Campaign.in_flight_index.remove(),
            Campaign.unknown_count.add(1),
        ],
        condition,
    )
    campaign.refresh(consistent_read=True)


def write_settling(campaign: Campaign, actions: list, condition: Condition, now: datetime) -> None:
    """`actions` under `condition`, as one write; a contact the campaign has in flight
    is recorded Unknown in the same write (its send may or may not have happened)."""
    if campaign.in_flight_index is None:
        update(campaign.id, actions, condition & Campaign.in_flight_index.does_not_exist())
    else:
        index = int(campaign.in_flight_index)
        settle_in_flight(campaign, index, now, actions, condition & (Campaign.in_flight_index == index))


def stop_watching(now: datetime) -> list:
    """The actions every end of a run shares: nothing is due, held, awaited or pending."""
    return [
        Campaign.due_at.remove(),
        Campaign.lease_expires_at.remove(),
        Campaign.pending_hop.remove(),
        Campaign.waiting_until.remove(),
        Campaign.wait_reason.remove(),
        Campaign.updated_at.set(now),
    ]


def failed(reason: str, now: datetime) -> list:
    """Running -> Failed, with the reason shown to the user."""
    return [
        Campaign.status.set(CampaignStatus.FAILED.value),
        Campaign.completed_at.set(now),
        Campaign.failure_reason.set(reason[:1000]),
        *stop_watching(now),
    ]


def contact_at(list_id: str, index: int) -> Contact | None:
    try:
        return Contact.get(list_id, index, consistent_read=True)
    except DoesNotExist:
        return None
