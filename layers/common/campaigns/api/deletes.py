"""The DELETE use cases: contact lists (with every contact), templates, media items,
and campaigns (with their deliveries).

A list, template or media item goes only while no Scheduled, Running or Paused
campaign uses it (WrongState otherwise); a campaign only when it is final or was
never started. Lists and campaigns are deleted within `DELETE_BUDGET_S`: past it,
the item is already gone for every reader and the answer says to repeat the DELETE,
which finishes the job (`campaigns.data.erasure`). Another user's item is not found.
"""

from __future__ import annotations

from datetime import datetime

from campaigns.config import settings
from campaigns.data import media_objects
from campaigns.data.erasure import Deadline, erase_campaign, erase_contact_list, erase_library_item
from campaigns.data.models import MediaLibraryItem, MessageTemplate
from campaigns.data.owned_items import get_owned, plausible_id
from campaigns.domain.errors import CampaignNotFound, NotFound
from campaigns.domain.media_uploads import stored_object
from campaigns.observability import logger

# Of the API function's 29 s: time left to answer after the last page of deletes.
DELETE_BUDGET_S = 20.0


def delete_contact_list(user_id: str, list_id: str, now: datetime, deadline: Deadline | None = None) -> bool:
    """True when the list and all its contacts are deleted; False when the deletion
    must be finished by another DELETE (the list is hidden already)."""
    if not plausible_id(list_id):
        raise NotFound("Contact list not found")
    return erase_contact_list(user_id, list_id, now, deadline or Deadline(DELETE_BUDGET_S))


def delete_template(user_id: str, template_id: str) -> None:
    erase_library_item(MessageTemplate, user_id, template_id, "message_template_id", "message template")


def delete_media_item(user_id: str, media_id: str) -> None:
    """The item, then its uploaded file (if it has one in the media bucket): a file left
    behind by a failed removal is logged, the item is gone either way."""
    item = (
        get_owned(MediaLibraryItem, user_id, media_id, consistent_read=True)
        if plausible_id(media_id)
        else None
    )
    erase_library_item(MediaLibraryItem, user_id, media_id, "media_library_item_id", "media item")
    stored = stored_object(item.storage_path) if item is not None else None
    if stored is None or stored.bucket != settings().media_bucket:
        return
    try:
        media_objects.delete_file(stored.key)
    except media_objects.MediaStorageUnavailable:
        logger.exception("The deleted media item's file could not be removed", extra={"key": stored.key})


def delete_campaign(user_id: str, campaign_id: str, now: datetime, deadline: Deadline | None = None) -> bool:
    """True when the campaign and its deliveries are deleted; False when another DELETE
    must finish (the campaign is hidden already)."""
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    return erase_campaign(user_id, campaign_id, now, deadline or Deadline(DELETE_BUDGET_S))


__all__ = [
    "DELETE_BUDGET_S",
    "delete_campaign",
    "delete_contact_list",
    "delete_media_item",
    "delete_template",
]
