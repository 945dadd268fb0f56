"""Message templates in DynamoDB, keyed by (userId, id)."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist

from campaigns.data.ids import new_id, plausible_id
from campaigns.data.models import MessageTemplate
from campaigns.data.pagination import KeyShape, Page, read_page


def get(user_id: str, template_id: str) -> MessageTemplate | None:
    if not plausible_id(template_id):
        return None
    try:
        return MessageTemplate.get(user_id, template_id)
    except DoesNotExist:
        return None


def create(user_id: str, name: str, text_content: str, now: datetime) -> MessageTemplate:
    item = MessageTemplate(
        user_id=user_id, id=new_id("tpl"), name=name, text_content=text_content, created_at=now
    )
    item.save(condition=MessageTemplate.id.does_not_exist())
    return item


def page(user_id: str, limit: int, token: str | None) -> Page[MessageTemplate]:
    """The user's templates, newest first."""
    shape = KeyShape(types={"userId": "S", "id": "S"}, fixed={"userId": user_id})
    return read_page(
        lambda **kw: MessageTemplate.query(user_id, scan_index_forward=False, **kw),
        user_id,
        shape,
        limit,
        token,
    )


__all__ = ["create", "get", "page"]
