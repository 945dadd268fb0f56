"""WhatsApp sessions in DynamoDB: a WAHA session name and the one user who holds it,
taken with a conditional write."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, PutError

from campaigns.data.models import WhatsAppSession
from campaigns.data.pagination import Page, user_page

# The key of a page of the byUser index: the table's and the index's attributes.
BY_USER_KEY = {"name": "S", "userId": "S", "createdAt": "S"}


def hold(name: str, user_id: str, now: datetime) -> tuple[WhatsAppSession | None, bool]:
    """Take `name` for `user_id` unless someone holds it. Returns (the session as it
    is now, whether this call took it); None when it vanished meanwhile."""
    item = WhatsAppSession(name=name, user_id=user_id, created_at=now)
    try:
        item.save(condition=WhatsAppSession.name.does_not_exist())
        return item, True
    except PutError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
    try:
        return WhatsAppSession.get(name, consistent_read=True), False
    except DoesNotExist:
        return None, False


def holder(name: str) -> str | None:
    """The user who holds session `name`, if anyone does."""
    try:
        return WhatsAppSession.get(name).user_id
    except DoesNotExist:
        return None


def first(user_id: str) -> str | None:
    """The name of the user's first registered session."""
    for item in WhatsAppSession.by_user.query(user_id, scan_index_forward=True, limit=1):
        return item.name
    return None


def page(user_id: str, limit: int, token: str | None) -> Page[WhatsAppSession]:
    """The user's sessions, the first registered first."""
    query = WhatsAppSession.by_user.query
    return user_page(
        lambda **kw: query(user_id, scan_index_forward=True, **kw), user_id, BY_USER_KEY, limit, token
    )


__all__ = ["first", "hold", "holder", "page"]
