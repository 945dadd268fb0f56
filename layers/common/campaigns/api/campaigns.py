"""Campaign use cases of the HTTP API: create, list, show, run, resume, pause,
cancel, and the per-contact delivery log. Each returns the answer's model.

Every status change is one conditional write of the user's commands, reached
through `campaign_store()`; this module adds ownership checks on what a campaign
points to, and starts the runner. Another user's campaign is "not found", exactly
like a missing one.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from campaigns.api.campaign_checks import require_message_within_limit, require_usable_media
from campaigns.api.models import CampaignOut, CampaignPage, DeliveryOut, DeliveryPage
from campaigns.config import settings
from campaigns.data import campaigns as stored_campaigns
from campaigns.data import contact_lists, deliveries, media, sessions, templates
from campaigns.data.number_slots import number_load
from campaigns.data.owned_items import plausible_id
from campaigns.data.store import CampaignStore
from campaigns.domain.errors import CampaignNotFound, Invalid
from campaigns.domain.statuses import CampaignStatus, DeliveryStatus
from campaigns.invoker import RunnerInvoker, default_invoker, runner_event
from campaigns.observability import logger
from campaigns.timeutil import utcnow

if TYPE_CHECKING:
    from campaigns.api.models import CreateCampaignIn
    from campaigns.data.models import Campaign

T = TypeVar("T")

REGISTER_A_SESSION = (
    "You have no WhatsApp number connected: connect one with POST /whatsapp-sessions "
    "before creating a campaign"
)


def campaign_store() -> CampaignStore:
    """Where a user's campaign is read with its owner checked, and where the user's
    commands are written."""
    return CampaignStore(settings().lease_seconds)


# ----------------------------------------------------------------------- create


def create_campaign(user_id: str, request: CreateCampaignIn, now: datetime) -> CampaignOut:
    """A Scheduled campaign over the caller's own list, template, media and session.
    Anything it names that the caller does not own is a 422, never a campaign
    pointing at someone else's data; so is a message over WhatsApp's length limit (the
    opt-out footer included) or a media item WAHA must not fetch, or whose file was
    never uploaded (`campaigns.api.campaign_checks`)."""
    contact_list = _owned(
        contact_lists.get(user_id, request.contact_list_id), "Contact list", "contactListId"
    )
    template = _owned(
        templates.get(user_id, request.message_template_id), "Message template", "messageTemplateId"
    )
    if request.media_library_item_id is not None:
        item = _owned(media.get(user_id, request.media_library_item_id), "Media item", "mediaLibraryItemId")
        require_usable_media(item)
    footer = settings().opt_out_footer if request.opt_out_footer else None
    require_message_within_limit(template.text_content, contact_list.id, request.default_name_value, footer)
    campaign = stored_campaigns.create(
        user_id,
        now,
        # The request's fields are the campaign's settings, by the same names.
        **request.model_dump(exclude={"whatsapp_session_id"}),
        **_session_for(user_id, request.whatsapp_session_id),
        status=CampaignStatus.SCHEDULED.value,
        # Without a start time the campaign waits for POST /run; dueAt keeps the
        # schedule's index sparse.
        due_at=request.scheduled_at,
        total_contacts=int(contact_list.contact_count or 0),
    )
    return CampaignOut.from_item(campaign)


def _owned(item: T | None, what: str, field: str) -> T:
    """The item the request names in `field`, or Invalid: a reference to something
    the caller does not have is a bad request, not a missing campaign."""
    if item is None:
        message = f"{field}: {what.lower()} not found (it does not exist or is not yours)"
        raise Invalid(message, [{"in": "body", "field": field, "message": "not found"}])
    return item


def _session_for(user_id: str, requested: str | None) -> dict[str, str]:
    """The campaign's session: its id, and its WAHA name for the runner to check."""
    if requested is None:
        session = sessions.first(user_id)
        if session is None:
            raise Invalid(
                REGISTER_A_SESSION,
                [{"in": "body", "field": "whatsappSessionId", "message": "none connected"}],
            )
    else:
        session = _owned(sessions.find(user_id, requested), "WhatsApp session", "whatsappSessionId")
    return {"whatsapp_session_id": session.id or "", "waha_session": session.name}


# ------------------------------------------------------------------------ reads


def _owned_campaign(user_id: str, campaign_id: str) -> Campaign:
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    return campaign_store().reads.get_owned_campaign(campaign_id, user_id)


def get_campaign(user_id: str, campaign_id: str) -> CampaignOut:
    item = _owned_campaign(user_id, campaign_id)
    number = None
    if item.status == CampaignStatus.RUNNING.value:
        number = number_load(item.waha_session, item.id, int(item.min_delay_ms), utcnow())
    return CampaignOut.from_item(item, number)


def list_campaigns(user_id: str, limit: int, token: str | None) -> CampaignPage:
    """The caller's campaigns, newest first."""
    return CampaignPage.of(stored_campaigns.page(user_id, limit, token), CampaignOut.from_item)


def list_deliveries(
    user_id: str, campaign_id: str, status: DeliveryStatus | None, limit: int, token: str | None
) -> DeliveryPage:
    """The campaign's per-contact log in contact order, optionally one status only."""
    campaign = _owned_campaign(user_id, campaign_id)
    return DeliveryPage.of(deliveries.page(campaign.id, user_id, status, limit, token), DeliveryOut.from_item)


# ---------------------------------------------------------------- status changes


def run_campaign(
    user_id: str, campaign_id: str, now: datetime, invoker: RunnerInvoker | None = None
) -> CampaignOut:
    """Start now: a Scheduled or Paused campaign becomes Scheduled and due now, and
    the runner is invoked asynchronously. The request never waits for the run."""
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    campaign = campaign_store().commands.run(campaign_id, user_id, now)
    _start_runner(campaign.id, invoker)
    return CampaignOut.from_item(campaign)


def resume_campaign(
    user_id: str, campaign_id: str, now: datetime, invoker: RunnerInvoker | None = None
) -> CampaignOut:
    """Paused -> Scheduled (one conditional write: of two resumes, one wins), then the
    runner is invoked at once."""
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    campaign = campaign_store().commands.resume(campaign_id, user_id, now)
    _start_runner(campaign.id, invoker)
    return CampaignOut.from_item(campaign)


def pause_campaign(user_id: str, campaign_id: str, now: datetime) -> CampaignOut:
    """Scheduled or Running -> Paused; a runner notices at its next contact."""
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    return CampaignOut.from_item(campaign_store().commands.pause(campaign_id, user_id, now))


def cancel_campaign(user_id: str, campaign_id: str, now: datetime) -> CampaignOut:
    """Scheduled, Running or Paused -> Cancelled; a runner notices at its next contact."""
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    return CampaignOut.from_item(campaign_store().commands.cancel(campaign_id, user_id, now))


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
    "campaign_store",
    "cancel_campaign",
    "create_campaign",
    "get_campaign",
    "list_campaigns",
    "list_deliveries",
    "pause_campaign",
    "resume_campaign",
    "run_campaign",
]
