"""A user's campaigns as the API creates and lists them. Every later change of a
campaign is a conditional write of the run, the schedule or a user's command."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from campaigns.data.item_uses import create_using
from campaigns.data.models import Campaign, ContactList, MediaLibraryItem, MessageTemplate
from campaigns.data.owned_items import new_id
from campaigns.data.pagination import Page, user_page

# The key of a page of the byUser index: the table's and the index's attributes.
BY_USER_KEY = {"id": "S", "userId": "S", "createdAt": "S"}


def create(user_id: str, now: datetime, **attributes: Any) -> Campaign:
    """A new campaign with a fresh id; `attributes` are `Campaign`'s (name, status...).
    Written with the record of its use on the list, template and media it names, in one
    transaction (`item_uses`): Invalid when one of them is gone or being deleted."""
    campaign = Campaign(id=new_id("cmp"), user_id=user_id, created_at=now, updated_at=now, **attributes)
    used = [(ContactList, campaign.contact_list_id), (MessageTemplate, campaign.message_template_id)]
    if campaign.media_library_item_id is not None:
        used.append((MediaLibraryItem, campaign.media_library_item_id))
    create_using(campaign, used)
    return campaign


def page(user_id: str, limit: int, token: str | None) -> Page[Campaign]:
    """The user's campaigns, newest first (one being deleted is left out; the page
    may then be shorter, its token still leads on)."""
    query = Campaign.by_user.query
    found = user_page(
        lambda **kw: query(user_id, scan_index_forward=False, **kw), user_id, BY_USER_KEY, limit, token
    )
    return Page([c for c in found.items if c.deleting_at is None], found.next_token)


__all__ = ["create", "page"]
