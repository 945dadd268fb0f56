"""Which campaigns use a contact list, a template or a media item, kept so that
deleting one can never race with creating a campaign over it.

A campaign is created in one transaction with an update of each item it names:
the item must exist (and a list must not be being deleted), its `campaignIds` gains
the campaign and its `useCount` grows by one. A delete reads the item (consistently),
reads the status of every campaign in `campaignIds`, and then writes (marks or
deletes) the item only if `useCount` is still the one it read. A campaign created
in between changes the count, so the delete starts again and sees it; a campaign
it saw as final stays final (no command leaves a final status). Campaigns created
before `campaignIds` existed are found through the campaigns' byUser index too.
"""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from campaigns.data.campaign_writes import conditional_failure
from campaigns.data.models import Campaign, ContactList, MediaLibraryItem, MessageTemplate
from campaigns.domain.errors import Invalid, WrongState
from campaigns.domain.statuses import FINAL_STATUSES

Item = ContactList | MessageTemplate | MediaLibraryItem

_FINAL = {status.value for status in FINAL_STATUSES}
# The request field that names each kind of item, for a refusal's details.
_FIELDS = {
    ContactList: ("contactListId", "contact list"),
    MessageTemplate: ("messageTemplateId", "message template"),
    MediaLibraryItem: ("mediaLibraryItemId", "media item"),
}


def usable(model: type[Model]) -> Condition:
    condition = model.id.exists()
    if model is ContactList:
        condition &= ContactList.deleting_at.does_not_exist()
    return condition


def create_using(campaign: Campaign, items: Iterable[tuple[type[Model], str]]) -> None:
    """Put the new `campaign` and record it on each (model, id) it uses, atomically.
    Invalid (naming the field) when one of them is gone or being deleted."""
    used = list(items)
    try:
        with TransactWrite(connection=Campaign._get_connection().connection) as tx:
            for model, item_id in used:
                tx.update(
                    model(campaign.user_id, item_id),
                    actions=[model.campaign_ids.add({campaign.id}), model.use_count.add(1)],
                    condition=usable(model),
                )
            tx.save(campaign, condition=Campaign.id.does_not_exist())
    except TransactWriteError as exc:
        if not conditional_failure(exc):
            raise
        # pynamodb sends a transaction's puts before its updates: the campaign's put
        # comes first, then the items in the order they were added.
        reasons = (getattr(exc, "cancellation_reasons", None) or [])[1:]
        for (model, _), reason in zip(used, reasons, strict=False):
            if reason is not None and reason.code == "ConditionalCheckFailed":
                field, what = _FIELDS[model]
                message = f"{field}: {what} not found (it does not exist or is not yours)"
                raise Invalid(message, [{"in": "body", "field": field, "message": "not found"}]) from exc
        raise


def unchanged_uses(model: type[Model], item: Item) -> Condition:
    """The item still has the uses it had when read."""
    if item.use_count is None:
        return model.use_count.does_not_exist()
    return model.use_count == int(item.use_count)


def refuse_if_in_use(item: Item, field: str, what: str) -> None:
    """WrongState when a campaign that is not final uses the item."""
    active = [c for c in campaigns_using(item, field) if c.status not in _FINAL]
    if active:
        names = ", ".join(f"{c.name!r} ({c.status})" for c in active[:5])
        raise WrongState(
            f"The {what} is used by a campaign that is not finished: {names}. "
            "Cancel it or wait until it ends, then delete.",
            [{"campaignId": c.id, "status": c.status} for c in active],
        )


def campaigns_using(item: Item, field: str) -> list[Campaign]:
    """The campaigns recorded on the item, read consistently, and any older campaign
    of its owner that names it (`field`: the campaign's attribute)."""
    found: dict[str, Campaign] = {}
    for campaign_id in sorted(item.campaign_ids or ()):
        try:
            found[campaign_id] = Campaign.get(campaign_id, consistent_read=True)
        except DoesNotExist:
            continue
    attribute = getattr(Campaign, field)
    for campaign in Campaign.by_user.query(item.user_id, filter_condition=attribute == item.id):
        found.setdefault(campaign.id, campaign)
    return [c for c in found.values() if c.user_id == item.user_id and c.deleting_at is None]


def forget_campaign(campaign: Campaign) -> None:
    """Take a deleted campaign off the items it used (those still there)."""
    used: list[tuple[type[Model], str | None]] = [
        (ContactList, campaign.contact_list_id),
        (MessageTemplate, campaign.message_template_id),
        (MediaLibraryItem, campaign.media_library_item_id),
    ]
    for model, item_id in used:
        if item_id is None:
            continue
        try:
            model(campaign.user_id, item_id).update(
                actions=[model.campaign_ids.delete({campaign.id})], condition=model.id.exists()
            )
        except UpdateError as exc:  # the item is gone: nothing to take off
            if not conditional_failure(exc):
                raise


__all__ = [
    "campaigns_using",
    "create_using",
    "forget_campaign",
    "refuse_if_in_use",
    "unchanged_uses",
    "usable",
]
