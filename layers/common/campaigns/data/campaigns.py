"""A user's campaigns as the API creates and lists them. Every later change of a
campaign is a conditional write of the run, the schedule or a user's command."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from campaigns.data.models import Campaign
from campaigns.data.owned_items import new_id
from campaigns.data.pagination import Page, user_page

# The key of a page of the byUser index: the table's and the index's attributes.
BY_USER_KEY = {"id": "S", "userId": "S", "createdAt": "S"}


def create(user_id: str, now: datetime, **attributes: Any) -> Campaign:
    """A new campaign with a fresh id; `attributes` are `Campaign`'s (name, status...)."""
    campaign = Campaign(id=new_id("cmp"), user_id=user_id, created_at=now, updated_at=now, **attributes)
    campaign.save(condition=Campaign.id.does_not_exist())
    return campaign


def page(user_id: str, limit: int, token: str | None) -> Page[Campaign]:
    """The user's campaigns, newest first."""
    query = Campaign.by_user.query
    return user_page(
        lambda **kw: query(user_id, scan_index_forward=False, **kw), user_id, BY_USER_KEY, limit, token
    )


__all__ = ["create", "page"]
