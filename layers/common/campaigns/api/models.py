"""The HTTP API's request and response bodies (pydantic v2).

Fields are snake_case in Python and camelCase on the wire (the contract's names).
Request models forbid unknown fields, so a typo is a 422 rather than silently
ignored. Response models describe what the serialisers in `library` and
`campaign_service` produce; the API validates every answer against them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from campaigns.api.errors import BadRequest, invalid_request
from campaigns.api.library import MAX_CONTACTS_PER_REQUEST, contacts_from_csv
from campaigns.config import settings
from campaigns.domain.phones import normalise_country
from campaigns.domain.statuses import CampaignStatus, DeliveryStatus

M = TypeVar("M", bound=BaseModel)

MAX_DELAY_MS = 600_000
SESSION_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_MIME_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
MIME_TYPE_PATTERN = rf"^{_MIME_TOKEN}/{_MIME_TOKEN}$"
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ItemId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
SessionName = Annotated[str, StringConstraints(pattern=SESSION_NAME_PATTERN)]
DelayMs = Annotated[StrictInt, Field(ge=0, le=MAX_DELAY_MS)]


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, validate_by_name=False)


class ResponseModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_alias=True, validate_by_name=True)


# ----------------------------------------------------------------------- requests


class ContactIn(RequestModel):
    phone_number: Annotated[
        str,
        Field(
            max_length=64,
            description="Starting with + or 00 and the country code, or in national format "
            "when the list has a defaultCountry; spaces and punctuation are ignored. Stored "
            "in E.164; a number that does not fit its country is refused.",
            examples=["+15551234567"],
        ),
    ]
    first_name: Annotated[str | None, Field(max_length=100, examples=["Ana"])] = None

    @field_validator("first_name")
    @classmethod
    def _trimmed(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None


Contacts = Annotated[list[ContactIn], Field(max_length=MAX_CONTACTS_PER_REQUEST)]
Country = Annotated[
    str,
    Field(
        max_length=8,
        description="ISO 3166 alpha-2: the country of numbers written in national format, "
        "in this request and in later appends.",
        examples=["GB"],
    ),
]


class CreateContactListIn(RequestModel):
    """A list and its first contacts (up to 1,000; append more with
    POST /contact-lists/{id}/contacts). Also accepted as text/csv with a
    `phoneNumber,firstName` header, the name in `?name=` and the default country
    in `?defaultCountry=`."""

    name: Name
    default_country: Country | None = None
    contacts: Contacts = Field(default_factory=list)

    @field_validator("default_country")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return None if value is None else normalise_country(value)


class AppendContactsIn(RequestModel):
    """Contacts appended in order after the list's last one. Also accepted as text/csv."""

    contacts: Annotated[list[ContactIn], Field(min_length=1, max_length=MAX_CONTACTS_PER_REQUEST)]


class CreateTemplateIn(RequestModel):
    name: Name
    text_content: Annotated[
        str,
        StringConstraints(min_length=1, max_length=4096),
        Field(description="The message; {Name} (any case) becomes the contact's first name."),
    ]

    @field_validator("text_content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class CreateMediaItemIn(RequestModel):
    name: Name
    storage_path: Annotated[
        str,
        Field(
            max_length=2048,
            description="An https URL WAHA can fetch.",
            examples=["https://cdn.example.com/a.jpg"],
        ),
    ]
    mime_type: Annotated[str, StringConstraints(pattern=MIME_TYPE_PATTERN), Field(examples=["image/jpeg"])]

    @field_validator("storage_path")
    @classmethod
    def _https_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname or any(ch.isspace() for ch in value):
            raise ValueError("must be an https URL")
        return value

    @field_validator("mime_type")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class RegisterSessionIn(RequestModel):
    name: Annotated[
        SessionName,
        Field(
            description="The WAHA session name (letters, digits, _ and -; up to 64).", examples=["default"]
        ),
    ]


class CreateCampaignIn(RequestModel):
    name: Name
    contact_list_id: ItemId
    message_template_id: ItemId
    media_library_item_id: ItemId | None = None
    default_name_value: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
        Field(description="Replaces {Name} where a contact has no first name."),
    ]
    scheduled_at: Annotated[
        AwareDatetime | None,
        Field(description="ISO 8601 with an offset. Omitted: the campaign waits for POST /run."),
    ] = None
    waha_session: Annotated[
        SessionName | None, Field(description="One of the caller's sessions; default: their first.")
    ] = None
    min_delay_ms: Annotated[DelayMs | None, Field(description="Default 30000.")] = None
    max_delay_ms: Annotated[DelayMs | None, Field(description="Default 60000.")] = None
    typing: StrictBool = False
    check_numbers: StrictBool = True
    batch_size: Annotated[StrictInt | None, Field(ge=1, le=10_000)] = None
    batch_pause_ms: Annotated[StrictInt | None, Field(ge=0, le=86_400_000)] = None

    @field_validator("scheduled_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            value = value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("is out of range") from exc
        if not _EARLIEST <= value < _LATEST:
            raise ValueError("must be between the years 2000 and 2099")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CreateCampaignIn:
        cfg = settings()
        if self.min_delay_ms is None:
            # A lone bound moves the other default rather than contradict it
            ceiling = cfg.default_min_delay_ms if self.max_delay_ms is None else self.max_delay_ms
            self.min_delay_ms = min(cfg.default_min_delay_ms, ceiling)
        if self.max_delay_ms is None:
            self.max_delay_ms = max(cfg.default_max_delay_ms, self.min_delay_ms)
        if self.min_delay_ms > self.max_delay_ms:
            raise ValueError("minDelayMs must not exceed maxDelayMs")
        if (self.batch_size is None) != (self.batch_pause_ms is None):
            raise ValueError("batchSize and batchPauseMs go together: give both or neither")
        return self


# ---------------------------------------------------------------------- responses


class ErrorOut(ResponseModel):
    message: str
    details: list[dict[str, Any]] | None = None


class HealthOut(ResponseModel):
    status: Literal["ok"]


class ContactListOut(ResponseModel):
    id: str
    name: str
    contact_count: int
    default_country: str | None
    created_at: str
    updated_at: str | None


class TemplateOut(ResponseModel):
    id: str
    name: str
    text_content: str
    created_at: str


class MediaItemOut(ResponseModel):
    id: str
    name: str
    storage_path: str
    mime_type: str
    created_at: str


class SessionOut(ResponseModel):
    name: str
    status: str = Field(description="WAHA's status (WORKING, SCAN_QR_CODE, ...) or unknown.")
    created_at: str


class CampaignOut(ResponseModel):
    id: str
    name: str
    status: CampaignStatus
    contact_list_id: str
    message_template_id: str
    media_library_item_id: str | None
    default_name_value: str
    waha_session: str | None
    scheduled_at: str | None
    started_at: str | None
    completed_at: str | None
    created_at: str
    updated_at: str | None
    last_processed_contact_index: int | None
    total_contacts: int
    sent_count: int
    failed_count: int
    unknown_count: int
    pause_reason: str | None
    failure_reason: str | None
    min_delay_ms: int
    max_delay_ms: int
    typing: bool
    check_numbers: bool
    batch_size: int | None
    batch_pause_ms: int | None


class DeliveryOut(ResponseModel):
    contact_index: int
    phone_number: str
    status: DeliveryStatus
    message_id: str | None
    error: str | None
    at: str


class ContactListPage(ResponseModel):
    items: list[ContactListOut]
    next_token: str | None


class TemplatePage(ResponseModel):
    items: list[TemplateOut]
    next_token: str | None


class MediaItemPage(ResponseModel):
    items: list[MediaItemOut]
    next_token: str | None


class SessionPage(ResponseModel):
    items: list[SessionOut]
    next_token: str | None


class CampaignPage(ResponseModel):
    items: list[CampaignOut]
    next_token: str | None


class DeliveryPage(ResponseModel):
    items: list[DeliveryOut]
    next_token: str | None


# ------------------------------------------------------------------ body parsing


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
    elif media_type in ("", "application/json") or media_type.endswith("+json"):
        if not body:
            raise invalid_request([{"loc": ("body",), "type": "missing"}])
        try:
            data = load_json_body(body)
        except json.JSONDecodeError as exc:
            raise BadRequest("The request body is not valid JSON") from exc
    else:
        raise BadRequest("The request body must be JSON (application/json) or CSV (text/csv)")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_input=False)
        ]
        raise invalid_request(errors) from exc


# ------------------------------------------------------------- OpenAPI helpers

_ERROR_DESCRIPTIONS = {
    400: "Not JSON, or a bad nextToken",
    401: "No authenticated user",
    404: "Not found, or not yours",
    409: "Wrong state for this action",
    422: "Validation failed",
    500: "Unexpected error (a bug or an outage, never the request's fault)",
}


def error_answers(*codes: int) -> dict[int, dict[str, Any]]:
    """OpenAPI `responses` entries for error codes, all with the ErrorOut shape."""
    return {
        code: {"description": _ERROR_DESCRIPTIONS[code], "content": {"application/json": {"model": ErrorOut}}}
        for code in codes
    }


def answers(status: int, description: str, *errors: int, authed: bool = True) -> dict[int, dict[str, Any]]:
    """The documented answers of a route: its success, its errors, and the ones every
    route can give (the generator's own 422/500 entries describe another error shape)."""
    codes = {*errors, 422, 500} | ({401} if authed else set())
    return {status: {"description": description}, **error_answers(*sorted(codes))}


# Bodies these routes read themselves (they also accept text/csv), so the generator
# does not see them.
CONTACT_UPLOADS: dict[tuple[str, str], type[BaseModel]] = {
    ("/contact-lists", "post"): CreateContactListIn,
    ("/contact-lists/{list_id}/contacts", "post"): AppendContactsIn,
}
_CSV_BODY = {
    "type": "string",
    "description": "CSV with a header line `phoneNumber,firstName` (firstName optional), at most "
    "1,000 rows. For POST /contact-lists the name comes from `?name=` and the default "
    "country from `?defaultCountry=`.",
}


def complete_openapi_document(schema: dict[str, Any]) -> str:
    """The generated document, completed with what the generator cannot see (the
    contact uploads' JSON and CSV bodies, the document's own route) and without its
    unused validation-error schemas; as deterministic JSON text."""
    from pydantic.json_schema import models_json_schema

    _, definitions = models_json_schema(
        [(model, "validation") for model in CONTACT_UPLOADS.values()],
        ref_template="#/components/schemas/{model}",
    )
    schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))
    for (path, method), model in CONTACT_UPLOADS.items():
        schema["paths"][path][method]["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
                "text/csv": {"schema": _CSV_BODY},
            },
        }
    schema["paths"]["/openapi.json"] = {
        "get": {
            "summary": "This document",
            "operationId": "openapi_json",
            "tags": ["meta"],
            "security": [{}],
            "responses": {
                "200": {"description": "The OpenAPI document", "content": {"application/json": {}}}
            },
        }
    }
    _drop_unused_schemas(schema)
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _schema_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            yield ref.rsplit("/", 1)[1]
        for value in node.values():
            yield from _schema_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schema_refs(value)


def _drop_unused_schemas(schema: dict[str, Any]) -> None:
    schemas = schema.get("components", {}).get("schemas", {})
    used: set[str] = set()
    pending = list(_schema_refs(schema["paths"]))
    while pending:
        name = pending.pop()
        if name not in used:
            used.add(name)
            pending.extend(_schema_refs(schemas.get(name)))
    for name in set(schemas) - used:
        del schemas[name]


__all__ = [
    "AppendContactsIn",
    "CampaignOut",
    "CampaignPage",
    "ContactIn",
    "ContactListOut",
    "ContactListPage",
    "CreateCampaignIn",
    "CreateContactListIn",
    "CreateMediaItemIn",
    "CreateTemplateIn",
    "DeliveryOut",
    "DeliveryPage",
    "ErrorOut",
    "HealthOut",
    "MediaItemOut",
    "MediaItemPage",
    "RegisterSessionIn",
    "SessionOut",
    "SessionPage",
    "TemplateOut",
    "TemplatePage",
    "answers",
    "complete_openapi_document",
    "error_answers",
    "load_json_body",
    "parse_contacts_request",
]
