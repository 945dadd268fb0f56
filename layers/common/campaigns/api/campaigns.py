"""Campaign use cases of the HTTP API: create, list, show, run, resume, pause,
cancel, and the per-contact delivery log.

Every status change is one conditional write in `CampaignStore`; this module adds
ownership checks on what a campaign points to, and starts the runner. Another
user's campaign is "not found", exactly like a missing one.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import DoesNotExist

from campaigns.api.errors import NotFound, Unprocessable
from campaigns.api.library import first_session, get_contact_list, new_id, plausible_id
from campaigns.config import settings
from campaigns.data.models import Campaign, Delivery, MediaLibraryItem, MessageTemplate
from campaigns.data.pagination import KeyShape, Page, read_page
from campaigns.data.store import CampaignStore
from campaigns.domain.errors import CampaignNotFound
from campaigns.domain.statuses import CampaignStatus, DeliveryStatus
from campaigns.invoker import RunnerInvoker, default_invoker, runner_event
from campaigns.observability import logger
from campaigns.timeutil import to_iso

if TYPE_CHECKING:
    from campaigns.api.models import CreateCampaignIn

REGISTER_A_SESSION = (
    "You hold no WhatsApp session: register one with POST /whatsapp-sessions before creating a campaign"
)


def campaign_store() -> CampaignStore:
    return CampaignStore(settings().lease_seconds)


# -------------------------------------------------------------------- serialisers


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def campaign_json(item: Campaign) -> dict[str, Any]:
    """A campaign as the contract shows it (camelCase, ISO 8601 UTC times); run
    bookkeeping (run token, lease, in-flight index) stays inside."""
    return {
        "id": item.id,
        "name": item.name,
        "status": item.status,
        "contactListId": item.contact_list_id,
        "messageTemplateId": item.message_template_id,
        "mediaLibraryItemId": item.media_library_item_id,
        "defaultNameValue": item.default_name_value,
        "wahaSession": item.waha_session,
        "scheduledAt": to_iso(item.scheduled_at),
        "startedAt": to_iso(item.started_at),
        "completedAt": to_iso(item.completed_at),
        "createdAt": to_iso(item.created_at),
        "updatedAt": to_iso(item.updated_at),
        "lastProcessedContactIndex": _int_or_none(item.last_processed_contact_index),
        "totalContacts": int(item.total_contacts or 0),
        "sentCount": int(item.sent_count or 0),
        "failedCount": int(item.failed_count or 0),
        "unknownCount": int(item.unknown_count or 0),
        "pauseReason": item.pause_reason,
        "failureReason": item.failure_reason,
        "minDelayMs": int(item.min_delay_ms),
        "maxDelayMs": int(item.max_delay_ms),
        "typing": bool(item.typing),
        "checkNumbers": bool(item.check_numbers),
        "batchSize": _int_or_none(item.batch_size),
        "batchPauseMs": _int_or_none(item.batch_pause_ms),
    }


def delivery_json(item: Delivery) -> dict[str, Any]:
    return {
        "contactIndex": int(item.contact_index),
        "phoneNumber": item.phone_number,
        "status": item.status,
        "messageId": item.message_id,
        "error": item.error,
        "at": to_iso(item.at),
    }


# ----------------------------------------------------------------------- create


def create_campaign(user_id: str, request: CreateCampaignIn, now: datetime) -> Campaign:
    """A Scheduled campaign over the caller's own list, template, media and session.
    Anything it names that the caller does not own is a 422, never a campaign
    pointing at someone else's data."""
    contact_list = _owned_reference(
        lambda: get_contact_list(user_id, request.contact_list_id), "contactListId"
    )
    _owned_reference(lambda: _template(user_id, request.message_template_id), "messageTemplateId")
    if request.media_library_item_id is not None:
        _owned_reference(lambda: _media(user_id, request.media_library_item_id), "mediaLibraryItemId")
    session = _session_for(user_id, request.waha_session)

    campaign = Campaign(
        id=new_id("cmp"),
        user_id=user_id,
        name=request.name,
        status=CampaignStatus.SCHEDULED.value,
        contact_list_id=contact_list.id,
        message_template_id=request.message_template_id,
        media_library_item_id=request.media_library_item_id,
        default_name_value=request.default_name_value,
        waha_session=session,
        min_delay_ms=request.min_delay_ms,
        max_delay_ms=request.max_delay_ms,
        typing=request.typing,
        check_numbers=request.check_numbers,
        batch_size=request.batch_size,
        batch_pause_ms=request.batch_pause_ms,
        created_at=now,
        updated_at=now,
        scheduled_at=request.scheduled_at,
        # Without a start time the campaign waits for POST /run; dueAt keeps the
        # schedule's index sparse.
        due_at=request.scheduled_at,
        total_contacts=int(contact_list.contact_count or 0),
    )
    campaign.save(condition=Campaign.id.does_not_exist())
    return campaign


def _owned_reference(load, field: str):
    try:
        return load()
    except NotFound as exc:
        message = f"{field}: {exc.message.lower()} (it does not exist or is not yours)"
        raise Unprocessable(message, [{"in": "body", "field": field, "message": "not found"}]) from exc


def _template(user_id: str, template_id: str) -> MessageTemplate:
    if plausible_id(template_id):
        try:
            return MessageTemplate.get(user_id, template_id)
        except DoesNotExist:
            pass
    raise NotFound("Message template not found")


def _media(user_id: str, media_id: str) -> MediaLibraryItem:
    if plausible_id(media_id):
        try:
            return MediaLibraryItem.get(user_id, media_id)
        except DoesNotExist:
            pass
    raise NotFound("Media item not found")


def _session_for(user_id: str, requested: str | None) -> str:
    if requested is None:
        first = first_session(user_id)
        if first is None:
            raise Unprocessable(
                REGISTER_A_SESSION, [{"in": "body", "field": "wahaSession", "message": "none held"}]
            )
        return first
    if campaign_store().reads.session_holder(requested) != user_id:
        raise Unprocessable(
            f"wahaSession: you do not hold the WhatsApp session {requested!r}; register it first",
            [{"in": "body", "field": "wahaSession", "message": "not one of your sessions"}],
        )
    return requested


# ------------------------------------------------------------------------ reads


def get_campaign(user_id: str, campaign_id: str) -> Campaign:
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    return campaign_store().reads.get_owned_campaign(campaign_id, user_id)


def list_campaigns(user_id: str, limit: int, token: str | None) -> Page[Campaign]:
    """The caller's campaigns, newest first."""
    shape = KeyShape(types={"id": "S", "userId": "S", "createdAt": "S"}, fixed={"userId": user_id})
    return read_page(
        lambda **kw: Campaign.by_user.query(user_id, scan_index_forward=False, **kw),
        user_id,
        shape,
        limit,
        token,
    )


def list_deliveries(
    user_id: str, campaign_id: str, status: DeliveryStatus | None, limit: int, token: str | None
) -> Page[Delivery]:
    """The campaign's per-contact log in contact order, optionally one status only."""
    campaign = get_campaign(user_id, campaign_id)
    shape = KeyShape(types={"campaignId": "S", "contactIndex": "N"}, fixed={"campaignId": campaign.id})
    condition = (Delivery.status == status.value) if status is not None else None
    return read_page(
        lambda **kw: Delivery.query(campaign.id, filter_condition=condition, **kw),
        user_id,
        shape,
        limit,
        token,
    )


# ---------------------------------------------------------------- status changes


def run_campaign(
    user_id: str, campaign_id: str, now: datetime, invoker: RunnerInvoker | None = None
) -> Campaign:
    """Start now: a Scheduled or Paused campaign becomes Scheduled and due now, and
    the runner is invoked asynchronously. The request never waits for the run."""
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    campaign = campaign_store().commands.run(campaign_id, user_id, now)
    _start_runner(campaign.id, invoker)
    return campaign


def resume_campaign(
    user_id: str, campaign_id: str, now: datetime, invoker: RunnerInvoker | None = None
) -> Campaign:
    """Paused -> Scheduled (one conditional write: of two resumes, one wins), then the
    runner is invoked at once."""
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    campaign = campaign_store().commands.resume(campaign_id, user_id, now)
    _start_runner(campaign.id, invoker)
    return campaign


def pause_campaign(user_id: str, campaign_id: str, now: datetime) -> Campaign:
    """Scheduled or Running -> Paused; a runner notices at its next contact."""
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    return campaign_store().commands.pause(campaign_id, user_id, now)


def cancel_campaign(user_id: str, campaign_id: str, now: datetime) -> Campaign:
    """Scheduled, Running or Paused -> Cancelled; a runner notices at its next contact."""
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    return campaign_store().commands.cancel(campaign_id, user_id, now)


def _start_runner(campaign_id: str, invoker: RunnerInvoker | None) -> bool:
    """Invoke the runner; a lost invocation is not the caller's problem: the campaign
    is Scheduled and due now, so the schedule's next tick starts it."""
    try:
        (invoker or default_invoker()).invoke(runner_event(campaign_id))
        return True
    except Exception:
        logger.exception(
            "Runner invocation failed; the schedule will start the campaign",
            extra={"campaign_id": campaign_id},
        )
        return False


__all__ = [
    "REGISTER_A_SESSION",
    "campaign_json",
    "campaign_store",
    "cancel_campaign",
    "create_campaign",
    "delivery_json",
    "get_campaign",
    "list_campaigns",
    "list_deliveries",
    "pause_campaign",
    "resume_campaign",
    "run_campaign",
]
