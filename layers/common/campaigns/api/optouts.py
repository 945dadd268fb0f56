"""The caller's opt-out list (GET, POST, DELETE /opt-outs) and the opt-out rules for
inbound WhatsApp messages.

Numbers are read with the contract's phone rules (`campaigns.domain.phones`) and kept
in E.164, so however a number is written it meets the runner's check as the same
string. A POST is all or nothing: one bad number refuses the request (422 with the
positions) and nothing is written. JSON adds numbers as `manual`, CSV as `import`.

Inbound messages (WAHA's `message` webhook, not `fromMe`) reach `OptOutKeywords`
through `campaigns.inbound`'s hook: a message whose whole text is an opt-out keyword
puts the sender on the session owner's list, START/UNSTOP takes it off.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from campaigns.api.bodies import CSV_MEDIA_TYPES, JSON_OR_CSV, is_json, json_body, validated_body
from campaigns.api.errors import BadRequest, summarise
from campaigns.api.models import (
    MAX_CONTACTS_PER_REQUEST,
    AddOptOutsIn,
    OptOutOut,
    OptOutPage,
    OptOutsAddedOut,
)
from campaigns.data import optouts
from campaigns.data.optouts import NewOptOut
from campaigns.domain.errors import Invalid, NotFound
from campaigns.domain.optouts import Intent, OptOutSource, intent_of, keyword_in
from campaigns.domain.phones import PhoneNumberRefused, normalise_country, to_e164
from campaigns.observability import logger
from campaigns.timeutil import utcnow

if TYPE_CHECKING:
    from campaigns.inbound import InboundMessage

_PHONE_COLUMN = "phonenumber"


@dataclass(frozen=True)
class OptOutRequest:
    numbers: list[str]  # as written
    source: OptOutSource


# ------------------------------------------------------------------------ routes


def list_opt_outs(user_id: str, limit: int, token: str | None) -> OptOutPage:
    return OptOutPage.of(optouts.page(user_id, limit, token), OptOutOut.from_item)


def add_opt_outs(
    user_id: str, request: OptOutRequest, default_country: str | None, now: datetime
) -> OptOutsAddedOut:
    """Every number of the request on the list (each once); those already there keep
    their first record."""
    country = _country(default_country)
    numbers = list(dict.fromkeys(_e164_numbers(request.numbers, country)))
    entries = [NewOptOut(number, request.source, now) for number in numbers]
    added = set(optouts.record_many(user_id, entries))
    return OptOutsAddedOut(
        added=[n for n in numbers if n in added], already_opted_out=[n for n in numbers if n not in added]
    )


def remove_opt_out(user_id: str, phone_number: str) -> None:
    """Take a number (E.164, URL-encoded or not) off the caller's list."""
    written = unquote(phone_number).strip()
    try:
        number = to_e164(written)
    except PhoneNumberRefused as exc:
        detail = {"in": "path", "field": "phoneNumber", "message": str(exc)}
        raise Invalid(summarise([detail]), [detail]) from None
    if not optouts.remove(user_id, number):
        raise NotFound("That number is not on your opt-out list")


def _country(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return normalise_country(value)
    except ValueError as exc:
        detail = {"in": "query", "field": "defaultCountry", "message": str(exc)}
        raise Invalid(summarise([detail]), [detail]) from None


def _e164_numbers(written: list[str], country: str | None) -> list[str]:
    numbers: list[str] = []
    details: list[dict[str, Any]] = []
    for position, raw in enumerate(written):
        try:
            numbers.append(to_e164(raw, country))
        except PhoneNumberRefused as exc:
            field = f"phoneNumbers[{position}]"
            details.append({"in": "body", "field": field, "message": str(exc), "position": position})
    if details:
        raise Invalid(summarise(details, "Invalid phone numbers (nothing was saved)"), details)
    return numbers


# ------------------------------------------------------------------------ bodies


def parse_opt_outs_body(body: str | None, content_type: str) -> OptOutRequest:
    """`{phoneNumbers: [...]}` (manual) or a CSV (import)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in CSV_MEDIA_TYPES:
        return OptOutRequest(numbers_from_csv(body or ""), OptOutSource.IMPORT)
    if not is_json(media_type):
        raise BadRequest(JSON_OR_CSV)
    request = validated_body(AddOptOutsIn, json_body(body))
    return OptOutRequest(list(request.phone_numbers), OptOutSource.MANUAL)


def numbers_from_csv(text: str) -> list[str]:
    """The numbers of a CSV: one per line, or the `phoneNumber` column of a CSV with
    a header (any case, other columns ignored). Blank lines are skipped."""
    try:
        rows = [
            [cell.strip() for cell in row]
            for row in csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
            if any(cell.strip() for cell in row)
        ]
    except csv.Error as exc:
        raise Invalid(f"The CSV cannot be read: {exc}") from exc
    header = [cell.lower() for cell in rows[0]] if rows else []
    if _PHONE_COLUMN in header:
        column = header.index(_PHONE_COLUMN)
        numbers = [row[column] if column < len(row) else "" for row in rows[1:]]
    else:
        _refuse_wide_rows(rows)
        numbers = [row[0] for row in rows]
    if not numbers:
        raise Invalid("The CSV has no numbers: one per line, or a `phoneNumber` column")
    if len(numbers) > MAX_CONTACTS_PER_REQUEST:
        raise Invalid(
            f"Too many numbers: at most {MAX_CONTACTS_PER_REQUEST} per request (got {len(numbers)}); "
            "send the rest in further requests"
        )
    return numbers


def _refuse_wide_rows(rows: list[list[str]]) -> None:
    wide = [
        {"in": "body", "field": f"rows[{p}]", "position": p, "message": f"has {len(row)} fields"}
        for p, row in enumerate(rows)
        if len([cell for cell in row if cell]) > 1
    ]
    if wide:
        message = "Without a `phoneNumber` header, the CSV must have one number per line"
        raise Invalid(summarise(wide, message), wide)


# -------------------------------------------------------------- inbound messages


class OptOutKeywords:
    """The opt-out hook of inbound messages (`campaigns.inbound.OptOutHook`)."""

    def inbound(self, message: InboundMessage) -> None:
        at = message.at or utcnow()
        record_inbound(
            message.owner_user_id, message.from_phone, message.text, at, message.session_id or None
        )


def record_inbound(
    owner_user_id: str, from_phone_e164: str | None, text: str, at: datetime, session_id: str | None = None
) -> Intent | None:
    """Act on one inbound message to a number `owner_user_id` holds: an opt-out
    keyword puts the sender on the owner's list, START/UNSTOP takes it off. Returns
    what the message asked for (None: not a keyword, or no usable sender)."""
    intent = intent_of(text)
    if intent is None or not owner_user_id or not from_phone_e164:
        return None
    try:
        number = to_e164(from_phone_e164)
    except PhoneNumberRefused:
        return None
    if intent is Intent.OPT_OUT:
        entry = NewOptOut(number, OptOutSource.KEYWORD, at, keyword_in(text), session_id)
        changed = optouts.record(owner_user_id, entry)
    else:
        changed = optouts.remove_unless_newer(owner_user_id, number, at)
    logger.info("Inbound opt-out keyword", extra={"intent": intent.value, "changed": changed})
    return intent


__all__ = [
    "OptOutKeywords",
    "OptOutRequest",
    "add_opt_outs",
    "list_opt_outs",
    "numbers_from_csv",
    "parse_opt_outs_body",
    "record_inbound",
    "remove_opt_out",
]
