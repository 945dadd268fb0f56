"""A user's library: contact lists and their contacts, message templates, media
items, and the WhatsApp sessions (numbers) they hold.

Lists, templates and media are keyed by (userId, id), so another user's item is
simply not found. A WhatsApp session name is held by one user at a time, taken
with a conditional write.

Contacts keep a stable, 0-based order. Appending reserves an index range with one
atomic ADD on the list's `contactCount` and writes the contacts at those indexes,
so concurrent appends to one list never overlap. Every row is validated before
anything is written. Phone numbers are stored in E.164, read with the list's
`defaultCountry` when written in national format (`campaigns.domain.phones`).
Duplicates are refused (422) on the E.164 number, within the request and against
the list, because a campaign must never message a number twice. (Two appends
racing with the same new number can both pass the check; the runner messages by
contact, so such a number would receive the campaign twice.)
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pynamodb.exceptions import DoesNotExist, PutError

from campaigns.api.errors import Conflict, NotFound, Unprocessable, summarise
from campaigns.data.models import Contact, ContactList, MediaLibraryItem, MessageTemplate, WhatsAppSession
from campaigns.data.pagination import KeyShape, Page, read_page
from campaigns.domain.phones import PhoneNumberRefused, to_e164
from campaigns.observability import logger
from campaigns.timeutil import to_iso

MAX_CONTACTS_PER_REQUEST = 1000
MAX_ID_CHARS = 128
UNKNOWN_STATUS = "unknown"
SESSION_STATUS_DEADLINE_S = 8.0


class NewContact(Protocol):
    """A contact as the request gives it: the number as written."""

    phone_number: str
    first_name: str | None


@dataclass(frozen=True)
class ContactRow:
    """A contact as it is stored: the number in E.164."""

    phone_number: str
    first_name: str | None


def new_id(prefix: str) -> str:
    """`<prefix>_<ms since epoch, hex><random>`: unique, and in creation order when sorted."""
    return f"{prefix}_{int(time.time() * 1000):012x}{os.urandom(5).hex()}"


def plausible_id(item_id: str) -> bool:
    """Ids this API hands out are short; anything else cannot exist (and must not reach
    DynamoDB, which refuses oversized keys with an error)."""
    return 0 < len(item_id) <= MAX_ID_CHARS


# ------------------------------------------------------------------ contact lists


def contact_list_json(item: ContactList) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "contactCount": int(item.contact_count or 0),
        "defaultCountry": item.default_country,
        "createdAt": to_iso(item.created_at),
        "updatedAt": to_iso(item.updated_at),
    }


def get_contact_list(user_id: str, list_id: str) -> ContactList:
    if plausible_id(list_id):
        try:
            return ContactList.get(user_id, list_id, consistent_read=True)
        except DoesNotExist:
            pass
    raise NotFound("Contact list not found")


def list_contact_lists(user_id: str, limit: int, token: str | None) -> Page[ContactList]:
    shape = KeyShape(types={"userId": "S", "id": "S"}, fixed={"userId": user_id})
    return read_page(
        lambda **kw: ContactList.query(user_id, scan_index_forward=False, **kw), user_id, shape, limit, token
    )


def create_contact_list(
    user_id: str,
    name: str,
    contacts: Sequence[NewContact],
    now: datetime,
    default_country: str | None = None,
) -> ContactList:
    rows = _rows(contacts, default_country)
    _refuse_duplicates(rows, existing={})
    item = ContactList(
        user_id=user_id,
        id=new_id("list"),
        name=name,
        default_country=default_country,
        contact_count=len(rows),
        created_at=now,
        updated_at=now,
    )
    # Contacts first: if the list item cannot be written, they are orphans no one reads.
    _write_contacts(item.id, 0, rows)
    item.save(condition=ContactList.id.does_not_exist())
    return item


def append_contacts(user_id: str, list_id: str, contacts: Sequence[NewContact], now: datetime) -> ContactList:
    contact_list = get_contact_list(user_id, list_id)
    rows = _rows(contacts, contact_list.default_country)
    _refuse_duplicates(rows, existing=_phone_numbers_of(list_id))
    # ADD is atomic: concurrent appends each get their own range of indexes.
    contact_list.update(
        actions=[ContactList.contact_count.add(len(rows)), ContactList.updated_at.set(now)],
        condition=ContactList.id.exists(),
    )
    start = int(contact_list.contact_count) - len(rows)
    _write_contacts(list_id, start, rows)
    return contact_list


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
        raise Unprocessable(summarise(details), details)
    return rows


def _phone_numbers_of(list_id: str) -> dict[str, int]:
    numbers: dict[str, int] = {}
    for contact in Contact.query(list_id, attributes_to_get=["phoneNumber", "index"], page_size=1000):
        numbers.setdefault(contact.phone_number, int(contact.index))
    return numbers


def _refuse_duplicates(contacts: Sequence[ContactRow], existing: dict[str, int]) -> None:
    seen: dict[str, int] = {}
    details: list[dict[str, Any]] = []
    for position, contact in enumerate(contacts):
        number = contact.phone_number
        if number in existing:
            details.append(
                {
                    "in": "body",
                    "field": f"contacts[{position}].phoneNumber",
                    "position": position,
                    "phoneNumber": number,
                    "message": f"already in the list at index {existing[number]}",
                    "existingIndex": existing[number],
                }
            )
        elif number in seen:
            details.append(
                {
                    "in": "body",
                    "field": f"contacts[{position}].phoneNumber",
                    "position": position,
                    "phoneNumber": number,
                    "message": f"duplicate of position {seen[number]}",
                    "duplicateOf": seen[number],
                }
            )
        else:
            seen[number] = position
    if details:
        raise Unprocessable(summarise(details, "Duplicate phone numbers (nothing was saved)"), details)


def _write_contacts(list_id: str, start: int, contacts: Iterable[ContactRow]) -> None:
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


def contacts_from_csv(text: str) -> list[dict[str, str]]:
    """Rows of a `phoneNumber,firstName` CSV as contact dicts, for the same validation
    as JSON. A BOM, CRLF line ends, quoted fields and blank lines are fine; the header
    is required (firstName is optional, column order free)."""
    text = text.removeprefix("\ufeff")
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise Unprocessable(f"The CSV cannot be read: {exc}") from exc
    if not rows:
        raise Unprocessable("The CSV is empty: expected a header line `phoneNumber,firstName`")
    header = [cell.strip() for cell in rows[0]]
    known = {"phonenumber": "phoneNumber", "firstname": "firstName"}
    columns = [known.get(cell.lower()) for cell in header]
    unknown = [cell for cell, column in zip(header, columns, strict=True) if column is None]
    if "phoneNumber" not in columns or unknown or len(set(columns)) != len(columns):
        raise Unprocessable(
            "The CSV header must be `phoneNumber,firstName` (firstName optional)",
            [{"in": "body", "field": "header", "message": f"got {','.join(header)[:200]}"}],
        )
    body_rows = rows[1:]
    if len(body_rows) > MAX_CONTACTS_PER_REQUEST:
        raise Unprocessable(
            f"Too many contacts: at most {MAX_CONTACTS_PER_REQUEST} per request "
            f"(got {len(body_rows)}); send the rest in further requests"
        )
    contacts: list[dict[str, str]] = []
    bad_width: list[dict[str, Any]] = []
    for position, row in enumerate(body_rows):
        if len(row) > len(columns):
            bad_width.append(
                {
                    "in": "body",
                    "field": f"contacts[{position}]",
                    "position": position,
                    "message": f"has {len(row)} fields, the header {len(columns)}",
                }
            )
            continue
        contacts.append({col: cell for col, cell in zip(columns, row, strict=False) if col and cell != ""})
    if bad_width:
        raise Unprocessable(summarise(bad_width, "Invalid CSV rows"), bad_width)
    return contacts


# ---------------------------------------------------------------------- templates


def template_json(item: MessageTemplate) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "textContent": item.text_content,
        "createdAt": to_iso(item.created_at),
    }


def create_template(user_id: str, name: str, text_content: str, now: datetime) -> MessageTemplate:
    item = MessageTemplate(
        user_id=user_id, id=new_id("tpl"), name=name, text_content=text_content, created_at=now
    )
    item.save(condition=MessageTemplate.id.does_not_exist())
    return item


def list_templates(user_id: str, limit: int, token: str | None) -> Page[MessageTemplate]:
    shape = KeyShape(types={"userId": "S", "id": "S"}, fixed={"userId": user_id})
    return read_page(
        lambda **kw: MessageTemplate.query(user_id, scan_index_forward=False, **kw),
        user_id,
        shape,
        limit,
        token,
    )


# -------------------------------------------------------------------- media items


def media_item_json(item: MediaLibraryItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "storagePath": item.storage_path,
        "mimeType": item.mime_type,
        "createdAt": to_iso(item.created_at),
    }


def create_media_item(
    user_id: str, name: str, storage_path: str, mime_type: str, now: datetime
) -> MediaLibraryItem:
    item = MediaLibraryItem(
        user_id=user_id,
        id=new_id("media"),
        name=name,
        storage_path=storage_path,
        mime_type=mime_type,
        created_at=now,
    )
    item.save(condition=MediaLibraryItem.id.does_not_exist())
    return item


def list_media_items(user_id: str, limit: int, token: str | None) -> Page[MediaLibraryItem]:
    shape = KeyShape(types={"userId": "S", "id": "S"}, fixed={"userId": user_id})
    return read_page(
        lambda **kw: MediaLibraryItem.query(user_id, scan_index_forward=False, **kw),
        user_id,
        shape,
        limit,
        token,
    )


# -------------------------------------------------------------- WhatsApp sessions


def session_json(item: WhatsAppSession, status: str = UNKNOWN_STATUS) -> dict[str, Any]:
    return {"name": item.name, "status": status, "createdAt": to_iso(item.created_at)}


def register_session(user_id: str, name: str, now: datetime) -> tuple[WhatsAppSession, bool]:
    """The caller holds `name` from now on. Returns (session, created); registering
    one's own session again changes nothing. Raises Conflict if another user holds it."""
    item = WhatsAppSession(name=name, user_id=user_id, created_at=now)
    try:
        item.save(condition=WhatsAppSession.name.does_not_exist())
        return item, True
    except PutError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
    try:
        current = WhatsAppSession.get(name, consistent_read=True)
    except DoesNotExist:
        current = None
    if current is not None and current.user_id == user_id:
        return current, False
    raise Conflict(f"The WhatsApp session {name!r} is held by another user")


def list_sessions(user_id: str, limit: int, token: str | None) -> Page[WhatsAppSession]:
    """The caller's sessions, the first registered first."""
    shape = KeyShape(types={"name": "S", "userId": "S", "createdAt": "S"}, fixed={"userId": user_id})
    return read_page(
        lambda **kw: WhatsAppSession.by_user.query(user_id, scan_index_forward=True, **kw),
        user_id,
        shape,
        limit,
        token,
    )


def first_session(user_id: str) -> str | None:
    for item in WhatsAppSession.by_user.query(user_id, scan_index_forward=True, limit=1):
        return item.name
    return None


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
    "MAX_CONTACTS_PER_REQUEST",
    "UNKNOWN_STATUS",
    "append_contacts",
    "contact_list_json",
    "contacts_from_csv",
    "create_contact_list",
    "create_media_item",
    "create_template",
    "first_session",
    "get_contact_list",
    "list_contact_lists",
    "list_media_items",
    "list_sessions",
    "list_templates",
    "media_item_json",
    "new_id",
    "plausible_id",
    "register_session",
    "session_json",
    "session_statuses",
    "template_json",
]
