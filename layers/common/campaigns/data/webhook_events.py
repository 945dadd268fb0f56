"""WAHA webhook events already acted on. WAHA retries a webhook until it is taken,
so the same event can arrive again: the first to write its id acts, the others
see it taken, unless acting on it failed (`failed`), when a retry acts again. Items
expire (DynamoDB TTL) after `KEEP_SECONDS`, long after WAHA's last retry.

The same table keeps **parked acks**: a `message.ack` for a message id no delivery
has yet (WhatsApp's first ack can arrive within milliseconds of the send, before the
runner's record, and the deliveries' byMessageId index lags its table). One item per
session and message id (`parked-ack#<WAHA name>#<id>`: what one number reports never
touches what another reported) holds the highest ack reported so far, with the hour
it was first parked as the key of the sparse `parkedAcks` index; the schedule reads
that index and applies each ack once its delivery is there (`campaigns.data.acks`).
A parked ack is never deleted by the schedule (which only reads this table): TTL
removes it after `PARKED_KEEP_SECONDS`, as it does one whose message never shows up
(a message sent from the phone itself, for one).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from pynamodb.exceptions import PutError, UpdateError

from campaigns.data.campaign_writes import conditional_failure
from campaigns.data.models import WebhookEvent
from campaigns.domain.acks import Ack

KEEP_SECONDS = 7 * 24 * 3600
PARKED_KEEP_SECONDS = 3 * 24 * 3600
PARKED_ACK_PREFIX = "parked-ack#"


def first_time(event_id: str, session: str, event: str, now: datetime) -> bool:
    """Record the event; False when it was recorded before (a repeat)."""
    item = WebhookEvent(
        id=event_id,
        session=session,
        event=event,
        received_at=now,
        expires_at=int(now.timestamp()) + KEEP_SECONDS,
    )
    try:
        item.save(condition=WebhookEvent.id.does_not_exist() | (WebhookEvent.failed == True))  # noqa: E712
    except PutError as exc:
        if not conditional_failure(exc):
            raise
        return False
    return True


def forget(event_id: str) -> None:
    """Let a retry of this event act again (acting on it failed)."""
    WebhookEvent(id=event_id).update(actions=[WebhookEvent.failed.set(True)])


def parked_ack_id(session: str, message_id: str) -> str:
    return f"{PARKED_ACK_PREFIX}{session}#{message_id}"


def parked_hour(at: datetime) -> str:
    """The parkedAcks index's key: the UTC hour, `YYYY-MM-DDTHH`."""
    return at.strftime("%Y-%m-%dT%H")


def park_ack(message_id: str, ack: Ack, session: str, session_id: str | None, now: datetime) -> bool:
    """Keep `ack` for the message until its delivery is recorded; False when an ack as
    late or later is parked already. The first park's time stays (and so its place in
    the index and its expiry)."""
    item = WebhookEvent(parked_ack_id(session, message_id))
    actions = [
        WebhookEvent.message_id.set(message_id),
        WebhookEvent.ack.set(ack.value),
        WebhookEvent.ack_rank.set(ack.rank),
        WebhookEvent.session.set(session),
        *([WebhookEvent.session_id.set(session_id)] if session_id else []),
        WebhookEvent.event.set("message.ack"),
        WebhookEvent.received_at.set(WebhookEvent.received_at | now),
        WebhookEvent.parked_hour.set(WebhookEvent.parked_hour | parked_hour(now)),
        WebhookEvent.expires_at.set(WebhookEvent.expires_at | int(now.timestamp()) + PARKED_KEEP_SECONDS),
    ]
    # A new item, or this message's parked ack with a lower rank (never an event's record).
    later = WebhookEvent.id.does_not_exist() | (
        (WebhookEvent.message_id == message_id) & (WebhookEvent.ack_rank < ack.rank)
    )
    try:
        item.update(actions=actions, condition=later)
    except UpdateError as exc:
        if not conditional_failure(exc):
            raise
        return False
    return True


def parked_acks(since: datetime, until: datetime, limit: int) -> Iterator[WebhookEvent]:
    """At most `limit` acks first parked between `since` and `until`, oldest first."""
    hour = since.replace(minute=0, second=0, microsecond=0)
    left = limit
    while hour <= until and left > 0:
        query = WebhookEvent.parked_acks.query(
            parked_hour(hour), WebhookEvent.received_at.between(since, until), limit=left
        )
        for item in query:
            left -= 1
            yield item
        hour += timedelta(hours=1)


__all__ = [
    "KEEP_SECONDS",
    "PARKED_KEEP_SECONDS",
    "first_time",
    "forget",
    "park_ack",
    "parked_ack_id",
    "parked_acks",
    "parked_hour",
]
