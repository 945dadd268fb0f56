"""Media library items in DynamoDB, keyed by (userId, id)."""

from __future__ import annotations

from datetime import datetime

from campaigns.data.models import MediaLibraryItem
from campaigns.data.owned_items import create_owned, get_owned, owned_page
from campaigns.data.pagination import Page


def get(user_id: str, media_id: str) -> MediaLibraryItem | None:
    return get_owned(MediaLibraryItem, user_id, media_id)


def create(user_id: str, name: str, storage_path: str, mime_type: str, now: datetime) -> MediaLibraryItem:
    attributes = {"name": name, "storage_path": storage_path, "mime_type": mime_type}
    return create_owned(MediaLibraryItem, "media", user_id, now, **attributes)


def page(user_id: str, limit: int, token: str | None) -> Page[MediaLibraryItem]:
    """The user's media items, newest first."""
    return owned_page(MediaLibraryItem, user_id, limit, token)


__all__ = ["create", "get", "page"]
