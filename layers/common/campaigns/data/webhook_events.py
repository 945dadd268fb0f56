"""WAHA webhook events already acted on. WAHA retries a webhook until it is taken,
so the same event can arrive again: the first to write its id acts, the others
see it taken, unless acting on it failed (`failed`), when a retry acts again. Items
expire (DynamoDB TTL) after `KEEP_SECONDS`, long after WAHA's last retry."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import PutError

from campaigns.data.campaign_writes import conditional_failure
from campaigns.data.models import WebhookEvent

KEEP_SECONDS = 7 * 24 * 3600


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


__all__ = ["KEEP_SECONDS", "first_time", "forget"]
