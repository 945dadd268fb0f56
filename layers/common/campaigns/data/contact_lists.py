"""Contact lists and their contacts in DynamoDB: what the library's use cases may do.

A list is keyed by (userId, id), so another user's list is simply not found. Its
contacts sit at stable 0-based indexes; `reserve` takes an index range with one
atomic ADD on `contactCount`, so concurrent appends never overlap. A list whose
deletion has started (`deletingAt`, see `campaigns.data.erasure`) reads as gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import UpdateError

from campaigns.data.campaign_writes import conditional_failure
from campaigns.data.models import Contact, ContactList
from campaigns.data.owned_items import get_owned, new_id, owned_page
from campaigns.data.pagination import Page
from campaigns.domain.errors import NotFound


@dataclass(frozen=True)
class ContactRow:
    """A contact as it is stored: the number in E.164."""

    phone_number: str
    first_name: str | None


def get(user_id: str, list_id: str) -> ContactList | None:
    item = get_owned(ContactList, user_id, list_id, consistent_read=True)
    return None if item is None or item.deleting_at is not None else item


def page(user_id: str, limit: int, token: str | None) -> Page[ContactList]:
    """The user's lists, newest first (one being deleted is left out; the page may then
    be shorter, its token still leads on)."""
    found = owned_page(ContactList, user_id, limit, token)
    return Page([item for item in found.items if item.deleting_at is None], found.next_token)


def create(
    user_id: str, name: str, default_country: str | None, contacts: Sequence[ContactRow], now: datetime
) -> ContactList:
    item = ContactList(
        user_id=user_id,
        id=new_id("list"),
        name=name,
        default_country=default_country,
        contact_count=len(contacts),
        created_at=now,
        updated_at=now,
    )
    # Contacts first: if the list item cannot be written, they are orphans no one reads.
    write_contacts(item.id, 0, contacts)
    item.save(condition=ContactList.id.does_not_exist())
    return item


def reserve(contact_list: ContactList, count: int, now: datetime) -> int:
    """Take `count` indexes after the list's last contact; returns the first. `contact_list`
    is updated to the list as it is after the reservation."""
    # ADD is atomic: concurrent appends each get their own range of indexes.
    try:
        contact_list.update(
            actions=[ContactList.contact_count.add(count), ContactList.updated_at.set(now)],
            condition=ContactList.id.exists() & ContactList.deleting_at.does_not_exist(),
        )
    except UpdateError as exc:
        if conditional_failure(exc):
            raise NotFound("Contact list not found") from exc
        raise
    return int(contact_list.contact_count) - count


def write_contacts(list_id: str, start: int, contacts: Iterable[ContactRow]) -> None:
    """The contacts at indexes `start`, `start + 1`, ..."""
    with Contact.batch_write() as batch:
        for offset, contact in enumerate(contacts):
            batch.save(
                Contact(
                    list_id=list_id,
                    index=start + offset,
                    phone_number=contact.phone_number,
                    first_name=contact.first_name,
                )
            )


def phone_numbers(list_id: str) -> dict[str, int]:
    """Each number of the list and the index where it first appears."""
    numbers: dict[str, int] = {}
    for contact in Contact.query(list_id, attributes_to_get=["phoneNumber", "index"], page_size=1000):
        numbers.setdefault(contact.phone_number, int(contact.index))
    return numbers


__all__ = ["ContactRow", "create", "get", "page", "phone_numbers", "reserve", "write_contacts"]
