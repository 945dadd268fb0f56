"""A user's library: contact lists and their contacts, message templates and media
items (WhatsApp sessions are `campaigns.api.sessions`). Each use case returns the
answer's model; the items live behind the repositories in `campaigns.data`.

A media item is a URL of a public host, or a file the caller uploads straight to the
stack's media bucket with a presigned form (`create_media_upload`): the item exists
at once, and a campaign can use it once the file has arrived.

Lists, templates and media are keyed by (userId, id), so another user's item is
simply not found.

Contacts keep a stable, 0-based order. Appending reserves an index range first,
then writes the contacts at those indexes, so concurrent appends to one list never
overlap. Every row is validated before anything is written. Phone numbers are
stored in E.164, read with the list's `defaultCountry` when written in national
format (`campaigns.domain.phones`). Duplicates are refused (422) on the E.164
number, within the request and against the list, because a campaign must never
message a number twice. (Two appends racing with the same new number can both
pass the check; the runner messages by contact, so such a number would receive
the campaign twice.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from campaigns.api.errors import summarise
from campaigns.api.media_urls import require_public_media_url
from campaigns.api.models import (
    ContactListOut,
    ContactListPage,
    MediaItemOut,
    MediaItemPage,
    MediaUploadIn,
    MediaUploadOut,
    TemplateOut,
    TemplatePage,
)
from campaigns.config import settings
from campaigns.data import contact_lists, media, media_objects, templates
from campaigns.data.contact_lists import ContactRow
from campaigns.data.erasure import forget_contacts
from campaigns.data.models import ContactList
from campaigns.domain.errors import Invalid, NotFound, WrongState
from campaigns.domain.media_uploads import StoredObject, object_key
from campaigns.domain.phones import PhoneNumberRefused, to_e164


class NewContact(Protocol):
    """A contact as the request gives it: the number as written."""

    phone_number: str
    first_name: str | None


# ------------------------------------------------------------------ contact lists


def owned_contact_list(user_id: str, list_id: str) -> ContactList:
    contact_list = contact_lists.get(user_id, list_id)
    if contact_list is None:
        raise NotFound("Contact list not found")
    return contact_list


def get_contact_list(user_id: str, list_id: str) -> ContactListOut:
    return ContactListOut.from_item(owned_contact_list(user_id, list_id))


def list_contact_lists(user_id: str, limit: int, token: str | None) -> ContactListPage:
    return ContactListPage.of(contact_lists.page(user_id, limit, token), ContactListOut.from_item)


def create_contact_list(
    user_id: str,
    name: str,
    contacts: Sequence[NewContact],
    now: datetime,
    default_country: str | None = None,
) -> ContactListOut:
    rows = _rows(contacts, default_country)
    _refuse_duplicates(rows, existing={})
    return ContactListOut.from_item(contact_lists.create(user_id, name, default_country, rows, now))


def append_contacts(
    user_id: str, list_id: str, contacts: Sequence[NewContact], now: datetime
) -> ContactListOut:
    contact_list = owned_contact_list(user_id, list_id)
    rows = _rows(contacts, contact_list.default_country)
    _refuse_duplicates(rows, existing=contact_lists.phone_numbers(list_id))
    start = contact_lists.reserve(contact_list, len(rows), now)
    contact_lists.write_contacts(list_id, start, rows)
    if contact_lists.get(user_id, list_id) is None:
        # The list's deletion started meanwhile and may have passed these indexes:
        # the append takes its own contacts away rather than leave them behind.
        forget_contacts(list_id, start, len(rows))
        raise NotFound("Contact list not found")
    return ContactListOut.from_item(contact_list)


def _rows(contacts: Sequence[NewContact], default_country: str | None) -> list[ContactRow]:
    """The contacts with their numbers in E.164; every refused number is reported
    with its position, and then nothing is written."""
    rows: list[ContactRow] = []
    details: list[dict[str, Any]] = []
    for position, contact in enumerate(contacts):
        try:
            rows.append(ContactRow(to_e164(contact.phone_number, default_country), contact.first_name))
        except PhoneNumberRefused as exc:
            field = f"contacts[{position}].phoneNumber"
            details.append({"in": "body", "field": field, "message": str(exc), "position": position})
    if details:
        raise Invalid(summarise(details), details)
    return rows


def _refuse_duplicates(contacts: Sequence[ContactRow], existing: dict[str, int]) -> None:
    seen: dict[str, int] = {}
    details: list[dict[str, Any]] = []
    for position, contact in enumerate(contacts):
        number = contact.phone_number
        where = {"in": "body", "field": f"contacts[{position}].phoneNumber", "position": position}
        if number in existing:
            index = existing[number]
            message = f"already in the list at index {index}"
            details.append({**where, "phoneNumber": number, "message": message, "existingIndex": index})
        elif number in seen:
            message = f"duplicate of position {seen[number]}"
            details.append({**where, "phoneNumber": number, "message": message, "duplicateOf": seen[number]})
        else:
            seen[number] = position
    if details:
        raise Invalid(summarise(details, "Duplicate phone numbers (nothing was saved)"), details)


# ---------------------------------------------------------------------- templates


def create_template(user_id: str, name: str, text_content: str, now: datetime) -> TemplateOut:
    return TemplateOut.from_item(templates.create(user_id, name, text_content, now))


def list_templates(user_id: str, limit: int, token: str | None) -> TemplatePage:
    return TemplatePage.of(templates.page(user_id, limit, token), TemplateOut.from_item)


# -------------------------------------------------------------------- media items


def create_media_item(
    user_id: str, name: str, storage_path: str, mime_type: str, now: datetime
) -> MediaItemOut:
    require_public_media_url(storage_path)
    return MediaItemOut.from_item(media.create(user_id, name, storage_path, mime_type, now))


def create_media_upload(user_id: str, request: MediaUploadIn, now: datetime) -> MediaUploadOut:
    """A media item for a file the caller uploads to the media bucket, and the presigned
    form to upload it with: its own key under the caller's prefix, the declared type,
    at most the declared size. The form is signed before the item is saved, so no item
    is left behind without one."""
    bucket = settings().media_bucket
    if not bucket:
        raise WrongState(
            "Uploads are not available on this stack (no media bucket); "
            "give a media URL with POST /media-items instead"
        )
    media_id = media.new_media_id()
    key = object_key(user_id, media_id, request.name, request.mime_type)
    try:
        form = media_objects.upload_form(key, request.mime_type, request.size_bytes, now)
    except media_objects.MediaStorageUnavailable:
        raise WrongState("The media storage cannot take uploads right now; try again shortly") from None
    stored = StoredObject(bucket, key).storage_path
    item = media.create_uploaded(
        user_id, media_id, request.name, stored, request.mime_type, request.size_bytes, now
    )
    return MediaUploadOut(
        upload_url=form.url,
        fields=form.fields,
        expires_at=form.expires_at,
        max_size_bytes=request.size_bytes,
        media_item=MediaItemOut.from_item(item),
    )


def list_media_items(user_id: str, limit: int, token: str | None) -> MediaItemPage:
    return MediaItemPage.of(media.page(user_id, limit, token), MediaItemOut.from_item)


__all__ = [
    "append_contacts",
    "create_contact_list",
    "create_media_item",
    "create_media_upload",
    "create_template",
    "get_contact_list",
    "list_contact_lists",
    "list_media_items",
    "list_templates",
    "owned_contact_list",
]
