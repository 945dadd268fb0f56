"""Media library items in DynamoDB, keyed by (userId, id): a URL of someone's host, or a
file uploaded to the media bucket (`campaigns.domain.media_uploads`)."""

from __future__ import annotations

from datetime import datetime

from campaigns.data.models import MediaLibraryItem
from campaigns.data.owned_items import create_owned, get_owned, new_id, owned_page
from campaigns.data.pagination import Page

ID_PREFIX = "media"


def get(user_id: str, media_id: str) -> MediaLibraryItem | None:
    return get_owned(MediaLibraryItem, user_id, media_id)


def create(user_id: str, name: str, storage_path: str, mime_type: str, now: datetime) -> MediaLibraryItem:
    attributes = {"name": name, "storage_path": storage_path, "mime_type": mime_type}
    return create_owned(MediaLibraryItem, ID_PREFIX, user_id, now, **attributes)


def new_media_id() -> str:
    """An id for an item whose file is uploaded: its key is named after it before it is saved."""
    return new_id(ID_PREFIX)


def create_uploaded(
    user_id: str, media_id: str, name: str, storage_path: str, mime_type: str, size_bytes: int, now: datetime
) -> MediaLibraryItem:
    """An item for a file uploaded to `storage_path` (`s3://...`), declared `size_bytes`."""
    item = MediaLibraryItem(
        user_id=user_id,
        id=media_id,
        name=name,
        storage_path=storage_path,
        mime_type=mime_type,
        size_bytes=size_bytes,
        created_at=now,
    )
    item.save(condition=MediaLibraryItem.id.does_not_exist())
    return item


def page(user_id: str, limit: int, token: str | None) -> Page[MediaLibraryItem]:
    """The user's media items, newest first."""
    return owned_page(MediaLibraryItem, user_id, limit, token)


__all__ = ["create", "create_uploaded", "get", "new_media_id", "page"]
