"""WhatsApp's acknowledgements written to a delivery and its campaign's counters.

A delivery's ack only moves forward (`ackRank` grows). The move and the campaign's
`deliveredCount`/`readCount` increments are one transaction conditioned on the rank
read just before, so a repeated, late or concurrent ack can neither count twice nor
undo a later one: a lost condition is read again and decided again.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from campaigns.data.campaign_writes import conditional_failure
from campaigns.data.models import Campaign, Delivery
from campaigns.domain.acks import Ack, counts_added
from campaigns.domain.statuses import DeliveryStatus

_ATTEMPTS = 5


@dataclass(frozen=True)
class AckResult:
    found: bool
    moved: bool = False


def record_ack(message_id: str, ack: Ack) -> AckResult:
    """Set the ack of the delivery WAHA knows as `message_id` (its serialized id)."""
    keys = list(Delivery.by_message_id.query(message_id, limit=2))
    if len(keys) != 1:
        return AckResult(found=False)
    key = keys[0]
    for _ in range(_ATTEMPTS):
        delivery = Delivery.get(key.campaign_id, key.contact_index, consistent_read=True)
        before = Ack(delivery.ack) if delivery.ack in Ack._value2member_map_ else None
        if delivery.status != DeliveryStatus.SENT.value or (before is not None and before.rank >= ack.rank):
            return AckResult(found=True)
        if _move(delivery, before, ack):
            return AckResult(found=True, moved=True)
    return AckResult(found=True)


def _move(delivery: Delivery, before: Ack | None, after: Ack) -> bool:
    delivered, read = counts_added(before, after)
    unchanged = Delivery.ack_rank.does_not_exist() if before is None else Delivery.ack_rank == before.rank
    try:
        with TransactWrite(connection=Campaign._get_connection().connection) as tx:
            tx.update(
                delivery,
                actions=[Delivery.ack.set(after.value), Delivery.ack_rank.set(after.rank)],
                condition=unchanged & (Delivery.status == DeliveryStatus.SENT.value),
            )
            if delivered or read:
                tx.update(
                    Campaign(delivery.campaign_id),
                    actions=[Campaign.delivered_count.add(delivered), Campaign.read_count.add(read)],
                    condition=Campaign.id.exists(),
                )
    except TransactWriteError as exc:
        if (
            conditional_failure(exc)
            or getattr(exc, "cause_response_code", None) == "TransactionCanceledException"
        ):
            return False
        raise
    return True


__all__ = ["AckResult", "record_ack"]
