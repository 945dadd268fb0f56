"""What the items a user owns by key share: ids generated here, and reads that
check an id before it reaches DynamoDB. Contact lists, templates and media items
are keyed by (userId, id), so another user's item is simply not found."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any, TypeVar

from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from campaigns.data.pagination import Page, user_page

M = TypeVar("M", bound=Model)

MAX_ID_CHARS = 128
# The key of a page of such items, as a page token carries it.
OWNED_KEY = {"userId": "S", "id": "S"}


def new_id(prefix: str) -> str:
    """`<prefix>_<ms since epoch, hex><random>`: unique, and in creation order when sorted."""
    return f"{prefix}_{int(time.time() * 1000):012x}{os.urandom(5).hex()}"


def plausible_id(item_id: str) -> bool:
    """Ids this API hands out are short; anything else cannot exist (and must not reach
    DynamoDB, which refuses oversized keys with an error)."""
    return 0 < len(item_id) <= MAX_ID_CHARS


def get_owned(model: type[M], user_id: str, item_id: str, consistent_read: bool = False) -> M | None:
    """The user's item `item_id` of `model` (keyed by userId, id), or None."""
    if not plausible_id(item_id):
        return None
    try:
        return model.get(user_id, item_id, consistent_read=consistent_read)
    except DoesNotExist:
        return None


def create_owned(model: type[M], prefix: str, user_id: str, now: datetime, **attributes: Any) -> M:
    """A new item of `model` for the user, with a fresh id (`<prefix>_...`)."""
    item = model(user_id=user_id, id=new_id(prefix), created_at=now, **attributes)
    item.save(condition=model.id.does_not_exist())
    return item


def owned_page(model: type[M], user_id: str, limit: int, token: str | None) -> Page[M]:
    """The user's items of `model`, newest first (ids sort in creation order)."""
    query = model.query
    return user_page(
        lambda **kw: query(user_id, scan_index_forward=False, **kw), user_id, OWNED_KEY, limit, token
    )


__all__ = [
    "MAX_ID_CHARS",
    "OWNED_KEY",
    "create_owned",
    "get_owned",
    "new_id",
    "owned_page",
    "plausible_id",
]
