"""Message templates in DynamoDB, keyed by (userId, id)."""

from __future__ import annotations

from datetime import datetime

from campaigns.data.models import MessageTemplate
from campaigns.data.owned_items import create_owned, get_owned, owned_page
from campaigns.data.pagination import Page


def get(user_id: str, template_id: str) -> MessageTemplate | None:
    return get_owned(MessageTemplate, user_id, template_id)


def create(user_id: str, name: str, text_content: str, now: datetime) -> MessageTemplate:
    return create_owned(MessageTemplate, "tpl", user_id, now, name=name, text_content=text_content)


def page(user_id: str, limit: int, token: str | None) -> Page[MessageTemplate]:
    """The user's templates, newest first."""
    return owned_page(MessageTemplate, user_id, limit, token)


__all__ = ["create", "get", "page"]
