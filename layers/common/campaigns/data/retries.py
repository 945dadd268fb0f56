"""The contacts a retry sends to again: those of a campaign whose deliveries have
some statuses, in contact order, with their first names from the campaign's list
(when it still exists)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from campaigns.data.contact_lists import ContactRow
from campaigns.data.models import Campaign, Contact, Delivery
from campaigns.domain.statuses import DeliveryStatus

PAGE = 1000


def contacts_with_statuses(campaign: Campaign, statuses: Iterable[DeliveryStatus]) -> list[ContactRow]:
    """Each contact whose delivery has one of `statuses`, in index order; the number
    is the one the delivery was for."""
    chosen = [status.value for status in statuses]
    picked = list(
        Delivery.query(
            campaign.id,
            filter_condition=Delivery.status.is_in(*chosen),
            attributes_to_get=["contactIndex", "phoneNumber"],
            page_size=PAGE,
            consistent_read=True,
        )
    )
    names = dict(_first_names(campaign.contact_list_id, [int(d.contact_index) for d in picked]))
    return [ContactRow(d.phone_number, names.get(int(d.contact_index))) for d in picked]


def _first_names(list_id: str, indexes: list[int]) -> Iterator[tuple[int, str | None]]:
    for start in range(0, len(indexes), PAGE):
        keys = [(list_id, index) for index in indexes[start : start + PAGE]]
        for contact in Contact.batch_get(keys, attributes_to_get=["index", "firstName"]):
            yield int(contact.index), contact.first_name


__all__ = ["contacts_with_statuses"]
