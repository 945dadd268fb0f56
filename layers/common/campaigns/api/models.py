"""The HTTP API's request and response bodies (pydantic v2).

Fields are snake_case in Python and camelCase on the wire (the contract's names).
Request models forbid unknown fields, so a typo is a 422 rather than silently
ignored. Response models are what the use cases return, each read from its
DynamoDB item by `from_item`: a field takes the item's attribute of the same name,
so run bookkeeping (the run token, the lease) stays inside because no field names
it. The API validates every answer against them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from campaigns.api.send_window_models import SendWindowIn, SendWindowOut
from campaigns.config import settings
from campaigns.domain.eta import NumberLoad, Progress, estimated_finish
from campaigns.domain.media_uploads import DOCUMENT_BYTES, UPLOADABLE_TYPES, UploadRefused, check_upload
from campaigns.domain.media_urls import media_host
from campaigns.domain.phones import normalise_country
from campaigns.domain.send_windows import SendWindow
from campaigns.domain.statuses import CampaignStatus, DeliveryStatus
from campaigns.timeutil import to_iso, utcnow

if TYPE_CHECKING:
    from campaigns.data.models import WhatsAppSession
    from campaigns.data.pagination import Page

T = TypeVar("T")
P = TypeVar("P", bound="PageOut")
Out = TypeVar("Out", bound="ItemOut")

MAX_CONTACTS_PER_REQUEST = 1000
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
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_alias=True, validate_by_name=True, from_attributes=True
    )


def _iso(value: Any) -> Any:
    return to_iso(value) if isinstance(value, datetime) else value


# A stored time, answered as ISO 8601 UTC (`2026-01-31T09:30:00.000Z`).
Timestamp = Annotated[str, BeforeValidator(_iso)]


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
            description="An https URL of a public host WAHA can fetch (no credentials, no internal, "
            "private or loopback address, before or after DNS resolution).",
            examples=["https://cdn.example.com/a.jpg"],
        ),
    ]
    mime_type: Annotated[str, StringConstraints(pattern=MIME_TYPE_PATTERN), Field(examples=["image/jpeg"])]

    @field_validator("storage_path")
    @classmethod
    def _https_url(cls, value: str) -> str:
        media_host(value)  # the rules a URL alone breaks; its name is resolved later
        return value

    @field_validator("mime_type")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class MediaUploadIn(RequestModel):
    """A file to upload to the stack's media bucket: its type and size come first, and
    the upload form admits no other type and nothing larger."""

    name: Name
    mime_type: Annotated[
        str,
        StringConstraints(pattern=MIME_TYPE_PATTERN),
        Field(description=f"One of: {', '.join(UPLOADABLE_TYPES)}.", examples=["image/png"]),
    ]
    size_bytes: Annotated[
        StrictInt,
        Field(
            ge=1,
            le=DOCUMENT_BYTES,
            description="The file's size in bytes; WhatsApp takes images up to 5 MB, video and "
            "audio up to 16 MB, documents up to 100 MB.",
            examples=[48213],
        ),
    ]

    @field_validator("mime_type")
    @classmethod
    def _uploadable(cls, value: str) -> str:
        value = value.lower()
        if value not in UPLOADABLE_TYPES:
            raise ValueError(f"must be one of: {', '.join(UPLOADABLE_TYPES)}")
        return value

    @field_validator("size_bytes")
    @classmethod
    def _within_whatsapps_limit(cls, value: int, info: ValidationInfo) -> int:
        mime_type = info.data.get("mime_type")
        if mime_type is not None:  # (a refused type is reported on its own)
            try:
                check_upload(mime_type, value)
            except UploadRefused as exc:
                raise ValueError(str(exc)) from None
        return value


Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
DailyLimit = Annotated[StrictInt, Field(ge=1, le=100_000, description="Messages a day through this number.")]


class CreateSessionIn(RequestModel):
    """The server names the WAHA session; a request cannot."""

    label: Annotated[Label | None, Field(description="Your name for this number.")] = None
    daily_limit: DailyLimit = 1000


class ChangeSessionIn(RequestModel):
    label: Label | None = None
    daily_limit: DailyLimit | None = None


class PairingCodeIn(RequestModel):
    phone_number: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
        Field(description="The number to connect, in international format.", examples=["+14155550100"]),
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
    whatsapp_session_id: Annotated[
        ItemId | None, Field(description="One of the caller's sessions (its id); default: their first.")
    ] = None
    min_delay_ms: Annotated[DelayMs | None, Field(description="Default 30000.")] = None
    max_delay_ms: Annotated[DelayMs | None, Field(description="Default 60000.")] = None
    typing: StrictBool = False
    check_numbers: StrictBool = True
    batch_size: Annotated[StrictInt | None, Field(ge=1, le=10_000)] = None
    batch_pause_ms: Annotated[StrictInt | None, Field(ge=0, le=86_400_000)] = None
    send_window: Annotated[
        SendWindowIn | None, Field(description="Hours, in the recipients' time zone, when it may send.")
    ] = None
    opt_out_footer: Annotated[
        StrictBool,
        Field(
            description="End every message with the opt-out footer (OPT_OUT_FOOTER, by default "
            '"Reply STOP to stop receiving these messages") on a line of its own; it counts '
            "in the 4,096-character limit."
        ),
    ] = False

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


class SendTestIn(RequestModel):
    phone_number: Annotated[
        str,
        Field(
            max_length=64,
            description="Where to send the test: starting with + or 00 and the country code.",
            examples=["+15551234567"],
        ),
    ]


RetryableStatus = Literal[DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN]


class RetryCampaignIn(RequestModel):
    statuses: Annotated[
        list[RetryableStatus],
        Field(min_length=1, max_length=2, description="Retry the contacts whose deliveries have these."),
    ]
    confirm_unknown: Annotated[
        StrictBool,
        Field(description="Required to retry Unknown deliveries: those messages may have been delivered."),
    ] = False

    @model_validator(mode="after")
    def _unknown_confirmed(self) -> RetryCampaignIn:
        if DeliveryStatus.UNKNOWN in self.statuses and not self.confirm_unknown:
            raise ValueError(
                "Unknown deliveries may have been delivered: retry them only with confirmUnknown: true"
            )
        self.statuses = sorted(set(self.statuses), key=list(DeliveryStatus).index)
        return self


# ---------------------------------------------------------------------- responses


class ErrorOut(ResponseModel):
    message: str
    details: list[dict[str, Any]] | None = None


class HealthOut(ResponseModel):
    status: Literal["ok"]


class ItemOut(ResponseModel):
    """An answer about one stored item."""

    @classmethod
    def from_item(cls: type[Out], item: object) -> Out:
        return cls.model_validate(item)


class ContactListOut(ItemOut):
    id: str
    name: str
    contact_count: int
    default_country: str | None
    created_at: Timestamp
    updated_at: Timestamp | None


class TemplateOut(ItemOut):
    id: str
    name: str
    text_content: str
    created_at: Timestamp


class MediaItemOut(ItemOut):
    id: str
    name: str
    storage_path: str = Field(
        description="An https URL, or `s3://<media bucket>/<key>` for a file uploaded through "
        "POST /media-items/upload-url."
    )
    mime_type: str
    size_bytes: int | None = Field(None, description="An uploaded file's declared size (its upload's limit).")
    created_at: Timestamp


class MediaUploadOut(ResponseModel):
    upload_url: str = Field(description="POST the file here as multipart/form-data.")
    fields: dict[str, str] = Field(
        description="Form fields to send first, as they are; the file goes last, in a field named `file`."
    )
    expires_at: Timestamp = Field(description="The form is refused after this.")
    max_size_bytes: int = Field(description="The largest file the form admits: the declared size.")
    media_item: MediaItemOut = Field(
        description="The new media item; a campaign can use it once its file is uploaded."
    )


class SessionOut(ResponseModel):
    id: str
    label: str | None
    daily_limit: int
    status: str = Field(description="WAHA's status (STARTING, SCAN_QR_CODE, WORKING, FAILED, ...).")
    status_at: Timestamp | None = Field(None, description="When WAHA reported that status.")
    phone_number: str | None = Field(None, description="The paired number, once WORKING.")
    push_name: str | None = Field(None, description="The paired account's WhatsApp name.")
    created_at: Timestamp

    @classmethod
    def from_item(cls, item: WhatsAppSession) -> SessionOut:
        return cls(
            id=item.id or "",
            label=item.label,
            daily_limit=int(item.daily_limit or 1000),
            status=item.status or "STARTING",
            status_at=item.status_at,
            phone_number=item.phone_number,
            push_name=item.push_name,
            created_at=item.created_at,
        )


class PairingCodeOut(ResponseModel):
    code: str


class QrValueOut(ResponseModel):
    value: str


class CampaignOut(ItemOut):
    id: str
    name: str
    status: CampaignStatus
    contact_list_id: str
    message_template_id: str
    media_library_item_id: str | None
    default_name_value: str
    whatsapp_session_id: str | None
    scheduled_at: Timestamp | None
    started_at: Timestamp | None
    completed_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp | None
    last_processed_contact_index: int | None
    total_contacts: int
    sent_count: int
    failed_count: int
    unknown_count: int
    skipped_count: int = Field(0, description="Contacts never attempted by rule (opted out).")
    delivered_count: int = Field(0, description="Deliveries WhatsApp reports Delivered or later.")
    read_count: int = Field(0, description="Deliveries WhatsApp reports Read or later.")
    pause_reason: str | None
    failure_reason: str | None
    waiting_until: Timestamp | None = Field(
        None, description="While a Running campaign waits (pacing, batch pause, WAHA outage): until when."
    )
    wait_reason: str | None = Field(None, description="Why a Running campaign is waiting.")
    min_delay_ms: int
    max_delay_ms: int
    typing: bool
    check_numbers: bool
    batch_size: int | None
    batch_pause_ms: int | None
    send_window: SendWindowOut | None = None
    opt_out_footer: bool = Field(False, description="Messages end with the opt-out footer.")
    eta_at: Timestamp | None = Field(
        None,
        description="While Running: when the last contact should be sent, from the contacts left, "
        "the pacing (the middle of minDelayMs..maxDelayMs each), batch pauses, any wait, the send "
        "window and, for one campaign read by id, the turns and daily limit of its WhatsApp number.",
    )

    @classmethod
    def from_item(cls, item: object, number: NumberLoad | None = None) -> CampaignOut:
        """The campaign as answered; `number`: how its WhatsApp number is shared now."""
        out = cls.model_validate(item)
        if out.status is not CampaignStatus.RUNNING:
            return out
        progress = Progress(
            total_contacts=out.total_contacts,
            last_processed_contact_index=out.last_processed_contact_index,
            min_delay_ms=out.min_delay_ms,
            max_delay_ms=out.max_delay_ms,
            batch_size=out.batch_size,
            batch_pause_ms=out.batch_pause_ms,
            sent_in_batch=int(getattr(item, "sent_in_batch", 0) or 0),
            waiting_until=getattr(item, "waiting_until", None),
            window=SendWindow.parse(out.send_window.model_dump(by_alias=True, exclude_none=True))
            if out.send_window
            else None,
            number=number,
        )
        return out.model_copy(update={"eta_at": to_iso(estimated_finish(progress, utcnow()))})


class DeliveryOut(ItemOut):
    contact_index: int
    phone_number: str
    status: DeliveryStatus
    message_id: str | None
    ack: str | None = Field(
        None, description="WhatsApp's latest acknowledgement: Server, Delivered, Read, ..."
    )
    error: str | None
    at: Timestamp


class SendTestOut(ResponseModel):
    phone_number: str = Field(description="The number the test went to, in E.164.")
    message_id: str | None = Field(description="WhatsApp's id of the test message (none in a dry run).")
    sent_today: int = Field(description="Test sends of this campaign today (UTC), this one included.")
    left_today: int


class DeletionPendingOut(ResponseModel):
    message: str = Field(description="The item is gone from every listing; DELETE it again to finish.")


class ExportLinkOut(ResponseModel):
    url: str = Field(description="A presigned download link to the CSV.")
    expires_at: Timestamp


class PageOut(ResponseModel):
    """A page of a listing: `items` and the `nextToken` of the next page, if any.
    Subclasses declare both fields with their item model."""

    @classmethod
    def of(cls: type[P], page: Page[T], item_out: Callable[[T], ResponseModel]) -> P:
        return cls(items=[item_out(item) for item in page.items], next_token=page.next_token)


class ContactListPage(PageOut):
    items: list[ContactListOut]
    next_token: str | None


class TemplatePage(PageOut):
    items: list[TemplateOut]
    next_token: str | None


class MediaItemPage(PageOut):
    items: list[MediaItemOut]
    next_token: str | None


class SessionPage(PageOut):
    items: list[SessionOut]
    next_token: str | None


class CampaignPage(PageOut):
    items: list[CampaignOut]
    next_token: str | None


class DeliveryPage(PageOut):
    items: list[DeliveryOut]
    next_token: str | None


# ---------------------------------------------------------------------- opt-outs

PhoneNumberAsWritten = Annotated[str, Field(max_length=64, examples=["+15551234567"])]


class AddOptOutsIn(RequestModel):
    """Numbers to put on the caller's opt-out list (up to 1,000 a request). Also
    accepted as text/csv: one number per line, or a header with a `phoneNumber`
    column (other columns ignored). National formats need `?defaultCountry=`."""

    phone_numbers: Annotated[
        list[PhoneNumberAsWritten], Field(min_length=1, max_length=MAX_CONTACTS_PER_REQUEST)
    ]


class OptOutOut(ItemOut):
    phone_number: str = Field(description="E.164.")
    opted_out_at: Timestamp
    source: Literal["keyword", "manual", "import"] = Field(
        description="keyword: the contact sent an opt-out word to one of your numbers; "
        "manual: added with JSON; import: uploaded as CSV."
    )
    keyword: str | None = Field(None, description="The word the contact sent (source keyword).")
    whatsapp_session_id: str | None = Field(None, description="The number they sent it to (source keyword).")


class OptOutPage(PageOut):
    items: list[OptOutOut]
    next_token: str | None


class OptOutsAddedOut(ResponseModel):
    added: list[str] = Field(description="Numbers now on the list, in E.164, in the request's order.")
    already_opted_out: list[str] = Field(
        description="Numbers that were on the list already (kept as they were)."
    )


__all__ = [
    "MAX_CONTACTS_PER_REQUEST",
    "AddOptOutsIn",
    "AppendContactsIn",
    "CampaignOut",
    "CampaignPage",
    "ChangeSessionIn",
    "ContactIn",
    "ContactListOut",
    "ContactListPage",
    "CreateCampaignIn",
    "CreateContactListIn",
    "CreateMediaItemIn",
    "CreateSessionIn",
    "CreateTemplateIn",
    "DeletionPendingOut",
    "DeliveryOut",
    "DeliveryPage",
    "ErrorOut",
    "ExportLinkOut",
    "HealthOut",
    "ItemOut",
    "MediaItemOut",
    "MediaItemPage",
    "MediaUploadIn",
    "MediaUploadOut",
    "OptOutOut",
    "OptOutPage",
    "OptOutsAddedOut",
    "PageOut",
    "PairingCodeIn",
    "PairingCodeOut",
    "QrValueOut",
    "RetryCampaignIn",
    "SendTestIn",
    "SendTestOut",
    "SessionOut",
    "SessionPage",
    "TemplateOut",
    "TemplatePage",
]
