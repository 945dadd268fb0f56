"""A user's library: contact lists and their contacts, message templates, media
items, and the WhatsApp sessions (numbers) they hold. Each use case returns the
answer's model; the items live behind the repositories in `campaigns.data`.

Lists, templates and media are keyed by (userId, id), so another user's item is
simply not found. A WhatsApp session name is held by one user at a time.

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
    SessionOut,
    SessionPage,
    TemplateOut,
    TemplatePage,
)
from campaigns.data import contact_lists, media, sessions, templates
from campaigns.data.contact_lists import ContactRow
from campaigns.data.erasure import forget_contacts
from campaigns.data.models import ContactList
from campaigns.domain.errors import Invalid, NotFound, WrongState
from campaigns.domain.phones import PhoneNumberRefused, to_e164
from campaigns.observability import logger

UNKNOWN_STATUS = "unknown"
SESSION_STATUS_DEADLINE_S = 8.0


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


def list_media_items(user_id: str, limit: int, token: str | None) -> MediaItemPage:
    return MediaItemPage.of(media.page(user_id, limit, token), MediaItemOut.from_item)


# -------------------------------------------------------------- WhatsApp sessions


def register_session(user_id: str, name: str, now: datetime) -> tuple[SessionOut, bool]:
    """The caller holds `name` from now on. Returns (session, created); registering
    one's own session again changes nothing. WrongState if another user holds it."""
    item, created = sessions.hold(name, user_id, now)
    if item is None or item.user_id != user_id:
        raise WrongState(f"The WhatsApp session {name!r} is held by another user")
    return SessionOut.from_item(item, session_statuses([item.name])[item.name]), created


def list_sessions(user_id: str, limit: int, token: str | None) -> SessionPage:
    """The caller's sessions, the first registered first, with WAHA's live status."""
    page = sessions.page(user_id, limit, token)
    statuses = session_statuses([item.name for item in page.items])
    return SessionPage.of(page, lambda item: SessionOut.from_item(item, statuses[item.name]))


def session_statuses(names: Sequence[str]) -> dict[str, str]:
    """WAHA's live status of each session, asked in parallel within a deadline; "unknown"
    in dry-run mode, when WAHA fails, or when it is too slow for an API answer."""
    from campaigns.config import settings

    statuses = dict.fromkeys(names, UNKNOWN_STATUS)
    if not names or not settings().waha_base_url:
        return statuses
    from concurrent.futures import ThreadPoolExecutor, wait

    from campaigns.sending.factory import build_sender  # only this route talks to WAHA

    try:
        sender = build_sender()
    except Exception:
        logger.exception("WAHA sender unavailable; session statuses unknown")
        return statuses
    pool = ThreadPoolExecutor(max_workers=min(8, len(names)))
    try:
        futures = {pool.submit(sender.session_state, name): name for name in names}
        done, _ = wait(futures, timeout=SESSION_STATUS_DEADLINE_S)
        for future in done:
            name = futures[future]
            try:
                statuses[name] = future.result().status or UNKNOWN_STATUS
            except Exception as exc:
                logger.warning(
                    "WAHA session status failed", extra={"session": name, "error": type(exc).__name__}
                )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return statuses


__all__ = [
    "UNKNOWN_STATUS",
    "append_contacts",
    "create_contact_list",
    "create_media_item",
    "create_template",
    "get_contact_list",
    "list_contact_lists",
    "list_media_items",
    "list_sessions",
    "list_templates",
    "owned_contact_list",
    "register_session",
    "session_statuses",
]
