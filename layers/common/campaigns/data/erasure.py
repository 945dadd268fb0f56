"""Deleting a user's items: contact lists with their contacts, templates, media items,
and campaigns with their deliveries.

A list or a campaign with many items under it is deleted in three steps, each safe
to repeat: it is marked (`deletingAt`), from which moment every read treats it as
gone; the items under it are deleted a page of keys at a time (BatchWriteItem);
then the marked item itself. A deletion cut short (the request's time ran out, the
function died) leaves a marked item that nobody sees, and the next DELETE of it
picks up where the last one stopped. Nothing is ever visible half-deleted.

Whether a list, template or media item may go is decided with `item_uses`: the
mark (or the delete) is conditioned on the item's uses being those just checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.models import Model

from campaigns.data.campaign_writes import conditional_failure
from campaigns.data.item_uses import forget_campaign, refuse_if_in_use, unchanged_uses
from campaigns.data.models import Campaign, Contact, ContactList, Delivery
from campaigns.data.owned_items import get_owned
from campaigns.domain.errors import CampaignNotFound, NotFound, StoreConflict, WrongStatus
from campaigns.domain.statuses import FINAL_STATUSES, CampaignStatus

KEYS_PER_PAGE = 500
_ATTEMPTS = 5
_FINAL = [status.value for status in FINAL_STATUSES]
_NOT_STARTED = [CampaignStatus.SCHEDULED.value, CampaignStatus.PAUSED.value]

Clock = Callable[[], float]


class Deadline:
    """The moment (time.monotonic) a deletion stops and leaves the rest to the next DELETE."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.at = clock() + seconds

    def passed(self) -> bool:
        return self.clock() >= self.at


# ------------------------------------------------------------------ contact lists


def erase_contact_list(user_id: str, list_id: str, now: datetime, deadline: Deadline) -> bool:
    """Delete the list and all its contacts. True when done; False when the deadline
    came first (the list is gone for every reader; DELETE again to finish)."""
    item = _mark_list(user_id, list_id, now)
    if not _delete_partition(Contact, list_id, ("listId", "index"), deadline):
        return False
    try:
        item.delete(condition=ContactList.deleting_at.exists())
    except DeleteError as exc:
        if not conditional_failure(exc):  # a concurrent DELETE finished first
            raise
    return True


def _mark_list(user_id: str, list_id: str, now: datetime) -> ContactList:
    for _ in range(_ATTEMPTS):
        item = get_owned(ContactList, user_id, list_id, consistent_read=True)
        if item is None:
            raise NotFound("Contact list not found")
        if item.deleting_at is not None:
            return item  # a deletion under way: finish it
        refuse_if_in_use(item, "contact_list_id", "contact list")
        condition = ContactList.deleting_at.does_not_exist() & unchanged_uses(ContactList, item)
        try:
            item.update(
                actions=[ContactList.deleting_at.set(now)], condition=ContactList.id.exists() & condition
            )
            return item
        except UpdateError as exc:
            if not conditional_failure(exc):
                raise
    raise StoreConflict("The contact list changed meanwhile; try again")


def forget_contacts(list_id: str, start: int, count: int) -> None:
    """Delete contacts `start` ... `start + count - 1` (an append that lost its list)."""
    with Contact.batch_write() as batch:
        for index in range(start, start + count):
            batch.delete(Contact(list_id, index))


# ------------------------------------------------------------ templates and media


def erase_library_item(model: type[Model], user_id: str, item_id: str, field: str, what: str) -> None:
    """Delete a template or a media item that no unfinished campaign uses."""
    for _ in range(_ATTEMPTS):
        item = get_owned(model, user_id, item_id, consistent_read=True)
        if item is None:
            raise NotFound(f"{what.capitalize()} not found")
        refuse_if_in_use(item, field, what)
        try:
            item.delete(condition=model.id.exists() & unchanged_uses(model, item))
            return
        except DeleteError as exc:
            if not conditional_failure(exc):
                raise
    raise StoreConflict(f"The {what} changed meanwhile; try again")


# ---------------------------------------------------------------------- campaigns


def erase_campaign(user_id: str, campaign_id: str, now: datetime, deadline: Deadline) -> bool:
    """Delete a final campaign with its deliveries, or one that never started. True
    when done; False when the deadline came first (DELETE again to finish)."""
    campaign = _owned_campaign(user_id, campaign_id)
    if campaign.deleting_at is None and campaign.status not in _FINAL:
        _erase_unstarted(campaign)
        return True
    if campaign.deleting_at is None:
        mark = Campaign.deleting_at.set(now)
        condition = (Campaign.user_id == user_id) & Campaign.status.is_in(*_FINAL)
        _write_or_refuse(campaign, lambda: campaign.update(actions=[mark], condition=condition))
    if not _delete_partition(Delivery, campaign.id, ("campaignId", "contactIndex"), deadline):
        return False
    try:
        campaign.delete(condition=Campaign.deleting_at.exists())
    except DeleteError as exc:
        if not conditional_failure(exc):
            raise
    forget_campaign(campaign)
    return True


def _erase_unstarted(campaign: Campaign) -> None:
    """A campaign that was never taken by a run has no deliveries: one conditional delete,
    which loses to a runner taking it at the same moment."""
    if campaign.started_at is not None or campaign.status not in _NOT_STARTED:
        raise WrongStatus(campaign.id, campaign.status, "delete")
    condition = (
        (Campaign.user_id == campaign.user_id)
        & Campaign.status.is_in(*_NOT_STARTED)
        & Campaign.started_at.does_not_exist()
        & Campaign.in_flight_index.does_not_exist()
    )
    _write_or_refuse(campaign, lambda: campaign.delete(condition=condition))
    forget_campaign(campaign)


def _write_or_refuse(campaign: Campaign, write: Callable[[], object]) -> None:
    try:
        write()
    except (UpdateError, DeleteError) as exc:
        if not conditional_failure(exc):
            raise
        current = _owned_campaign(campaign.user_id, campaign.id)
        raise WrongStatus(campaign.id, current.status, "delete") from exc


def _owned_campaign(user_id: str, campaign_id: str) -> Campaign:
    try:
        campaign = Campaign.get(campaign_id, consistent_read=True)
    except DoesNotExist:
        raise CampaignNotFound(campaign_id) from None
    if campaign.user_id != user_id:
        raise CampaignNotFound(campaign_id)
    return campaign


# -------------------------------------------------------------------------- pages


def _delete_partition(
    model: type[Model], partition: str, key_names: tuple[str, str], deadline: Deadline
) -> bool:
    """Delete every item of `partition`, a page of keys at a time. False when the
    deadline passed before the partition was empty."""
    while not deadline.passed():
        keys = list(
            model.query(
                partition,
                attributes_to_get=list(key_names),
                limit=KEYS_PER_PAGE,
                page_size=KEYS_PER_PAGE,
                consistent_read=True,
            )
        )
        if not keys:
            return True
        with model.batch_write() as batch:
            for item in keys:
                batch.delete(item)
    return False


__all__ = [
    "KEYS_PER_PAGE",
    "Deadline",
    "erase_campaign",
    "erase_contact_list",
    "erase_library_item",
    "forget_contacts",
]
