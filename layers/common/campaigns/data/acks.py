"""WhatsApp's acknowledgements written to a delivery and its campaign's counters.

A delivery's ack only moves forward (`ackRank` grows). The move and the campaign's
`deliveredCount`/`readCount` increments are one transaction conditioned on the rank
read just before, so a repeated, late or concurrent ack can neither count twice nor
undo a later one: a lost condition is read again and decided again. An ack counts
only from the number that sent the message: a message id is no secret from its
recipient, whose own number may report acks here too.

An ack for a message no delivery has yet is parked by the webhook
(`webhook_events.park_ack`); the schedule's tick applies parked acks through the same
`record_ack`, every minute for `PARKED_RETRY_SECONDS` after each was parked. Applying
one again changes nothing (its rank is not above the delivery's any more), so the
tick needs no record of what it applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from campaigns.data import webhook_events
from campaigns.data.campaign_writes import conditional_failure
from campaigns.data.models import Campaign, Delivery
from campaigns.domain.acks import Ack, counts_added
from campaigns.domain.errors import StoreConflict
from campaigns.domain.statuses import DeliveryStatus
from campaigns.observability import logger

_ATTEMPTS = 5
# How long the tick keeps trying a parked ack: its delivery is recorded seconds after
# the send, or minutes when WAHA was slow to confirm it.
PARKED_RETRY_SECONDS = 30 * 60
# The most parked acks one tick applies (the rest wait for the next).
PARKED_PER_TICK = 1000


@dataclass(frozen=True)
class AckResult:
    found: bool
    moved: bool = False


@dataclass(frozen=True)
class ParkedAcksApplied:
    applied: int = 0
    waiting: int = 0
    errors: int = 0


def record_ack(message_id: str, ack: Ack, session: str, session_id: str | None) -> AckResult:
    """Set the ack of the delivery WAHA knows as `message_id` (its serialized id), as
    reported by the WAHA session `session` (whose id is `session_id`). `found` is False
    when no delivery has that id (yet); an ack for a message another session sent is
    found and ignored."""
    keys = list(Delivery.by_message_id.query(message_id, limit=2))
    if not keys:
        return AckResult(found=False)
    if len(keys) > 1:
        logger.warning("Two deliveries share a WAHA message id; its ack is ignored")
        return AckResult(found=True)
    key = keys[0]
    if not _sent_through(key.campaign_id, session, session_id):
        logger.warning("An ack for a message another number sent is ignored", extra={"session": session})
        return AckResult(found=True)
    for _ in range(_ATTEMPTS):
        delivery = Delivery.get(key.campaign_id, key.contact_index, consistent_read=True)
        before = Ack(delivery.ack) if delivery.ack in Ack._value2member_map_ else None
        if delivery.status != DeliveryStatus.SENT.value or (before is not None and before.rank >= ack.rank):
            return AckResult(found=True)
        if _move(delivery, before, ack):
            return AckResult(found=True, moved=True)
    # Lost the condition every time (other acks of this delivery meanwhile): not taken,
    # so that WAHA retries it (the webhook answers 409) or the next tick tries it again.
    raise StoreConflict("The delivery's ack kept changing; try again")


def _sent_through(campaign_id: str, session: str, session_id: str | None) -> bool:
    """Whether the campaign sends through the WAHA session `session`: its name, kept on
    the campaign since its creation (or, on a campaign that has only the session's id,
    that id)."""
    try:
        campaign = Campaign.get(campaign_id, attributes_to_get=["wahaSession", "whatsappSessionId"])
    except Campaign.DoesNotExist:
        return False
    if campaign.waha_session:
        return campaign.waha_session == session
    return session_id is not None and campaign.whatsapp_session_id == session_id


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


def apply_parked_acks(now: datetime, limit: int = PARKED_PER_TICK) -> ParkedAcksApplied:
    """Apply the acks parked in the last `PARKED_RETRY_SECONDS` whose delivery is
    recorded now; idempotent, and never an ack backwards."""
    applied = waiting = errors = seen = 0
    since = now - timedelta(seconds=PARKED_RETRY_SECONDS)
    for parked in webhook_events.parked_acks(since, now, limit):
        seen += 1
        if not parked.message_id or parked.ack not in Ack._value2member_map_:
            continue
        try:
            result = record_ack(parked.message_id, Ack(parked.ack), parked.session, parked.session_id)
        except Exception:  # one that cannot be applied now holds none of the others back
            logger.exception("Could not apply a parked ack; the next tick tries again")
            errors += 1
            continue
        if result.moved:
            applied += 1
        elif not result.found:
            waiting += 1
    if seen >= limit:
        logger.warning("More parked acks than one tick applies; the rest wait for the next tick")
    return ParkedAcksApplied(applied, waiting, errors)


__all__ = [
    "PARKED_PER_TICK",
    "PARKED_RETRY_SECONDS",
    "AckResult",
    "ParkedAcksApplied",
    "apply_parked_acks",
    "record_ack",
]
