"""Request bodies the routes read themselves: JSON that must fail as a 400 whatever
is wrong with it, and contact uploads given as JSON or as CSV (`phoneNumber,firstName`),
validated by the same request models either way."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from campaigns.api.errors import BadRequest, invalid_request, summarise
from campaigns.api.models import MAX_CONTACTS_PER_REQUEST
from campaigns.domain.errors import Invalid

M = TypeVar("M", bound=BaseModel)


def load_json_body(text: str) -> Any:
    """json.loads for request bodies: every way a body can fail to be JSON (including
    absurd nesting or integers too long to convert) is a JSONDecodeError, which the
    API answers with a 400."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise json.JSONDecodeError(f"unreadable JSON ({type(exc).__name__})", "", 0) from exc


CSV_MEDIA_TYPES = ("text/csv", "application/csv")


def parse_contacts_request(model: type[M], body: str | None, content_type: str, **fields: Any) -> M:
    """A contacts body as `model`, from JSON or from CSV (`phoneNumber,firstName`);
    `fields` supply what CSV cannot carry (a list's name). Same validation and same
    error answers either way; positions in errors are 0-based rows of this request."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in CSV_MEDIA_TYPES:
        data: Any = {
            **{k: v for k, v in fields.items() if v is not None},
            "contacts": contacts_from_csv(body or ""),
        }
    elif is_json(media_type):
        data = json_body(body)
    else:
        raise BadRequest(JSON_OR_CSV)
    return validated_body(model, data)


JSON_OR_CSV = "The request body must be JSON (application/json) or CSV (text/csv)"


def is_json(media_type: str) -> bool:
    return media_type in ("", "application/json") or media_type.endswith("+json")


def json_body(body: str | None) -> Any:
    """The request's JSON: 422 when there is no body, 400 when it is not JSON."""
    if not body:
        raise invalid_request([{"loc": ("body",), "type": "missing"}])
    try:
        return load_json_body(body)
    except json.JSONDecodeError as exc:
        raise BadRequest("The request body is not valid JSON") from exc


def validated_body(model: type[M], data: Any) -> M:
    """`data` as `model`, or 422 with where each problem is in the body."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_input=False)
        ]
        raise invalid_request(errors) from exc


def contacts_from_csv(text: str) -> list[dict[str, str]]:
    """Rows of a `phoneNumber,firstName` CSV as contact dicts, for the same validation
    as JSON. A BOM, CRLF line ends, quoted fields and blank lines are fine; the header
    is required (firstName is optional, column order free)."""
    text = text.removeprefix("\ufeff")
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise Invalid(f"The CSV cannot be read: {exc}") from exc
    if not rows:
        raise Invalid("The CSV is empty: expected a header line `phoneNumber,firstName`")
    columns = _columns(rows[0])
    body_rows = rows[1:]
    if len(body_rows) > MAX_CONTACTS_PER_REQUEST:
        raise Invalid(
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
        raise Invalid(summarise(bad_width, "Invalid CSV rows"), bad_width)
    return contacts


def _columns(header_row: list[str]) -> list[str | None]:
    """The contact field of each CSV column, from the header (any case, any order)."""
    header = [cell.strip() for cell in header_row]
    known = {"phonenumber": "phoneNumber", "firstname": "firstName"}
    columns = [known.get(cell.lower()) for cell in header]
    unknown = [cell for cell, column in zip(header, columns, strict=True) if column is None]
    if "phoneNumber" not in columns or unknown or len(set(columns)) != len(columns):
        raise Invalid(
            "The CSV header must be `phoneNumber,firstName` (firstName optional)",
            [{"in": "body", "field": "header", "message": f"got {','.join(header)[:200]}"}],
        )
    return columns


__all__ = ["CSV_MEDIA_TYPES", "contacts_from_csv", "load_json_body", "parse_contacts_request"]
