"""Media library items in DynamoDB, keyed by (userId, id)."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist

from campaigns.data.ids import new_id, plausible_id
from campaigns.data.models import MediaLibraryItem
from campaigns.data.pagination import KeyShape, Page, read_page


def get(user_id: str, media_id: str) -> MediaLibraryItem | None:
    if not plausible_id(media_id):
        return None
    try:
        return MediaLibraryItem.get(user_id, media_id)
    except DoesNotExist:
        return None


def create(user_id: str, name: str, storage_path: str, mime_type: str, now: datetime) -> MediaLibraryItem:
    item = MediaLibraryItem(
        user_id=user_id,
        id=new_id("media"),
        name=name,
        storage_path=storage_path,
        mime_type=mime_type,
        created_at=now,
    )
    item.save(condition=MediaLibraryItem.id.does_not_exist())
    return item


def page(user_id: str, limit: int, token: str | None) -> Page[MediaLibraryItem]:
    """The user's media items, newest first."""
    shape = KeyShape(types={"userId": "S", "id": "S"}, fixed={"userId": user_id})
    return read_page(
        lambda **kw: MediaLibraryItem.query(user_id, scan_index_forward=False, **kw),
        user_id,
        shape,
        limit,
        token,
    )


__all__ = ["create", "get", "page"]
