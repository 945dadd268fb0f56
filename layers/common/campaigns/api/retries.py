"""POST /campaigns/{id}/retry: a new Scheduled campaign over the contacts of a final
campaign whose deliveries have the chosen statuses.

`Failed` may always be retried; `Unknown` only when the request confirms it
(`confirmUnknown`), because those messages may have been delivered. The contacts
keep their order and go into a new contact list named after the campaign; the new
campaign copies the template, media, WhatsApp session and sending options, and
waits for POST /run like any campaign created without a start time.
"""

from __future__ import annotations

from datetime import datetime

from campaigns.api.models import CampaignOut, RetryCampaignIn
from campaigns.data import campaigns as stored_campaigns
from campaigns.data import contact_lists
from campaigns.data.campaign_reads import CampaignReads
from campaigns.data.models import Campaign
from campaigns.data.owned_items import plausible_id
from campaigns.data.retries import contacts_with_statuses
from campaigns.domain.errors import CampaignNotFound, Invalid, WrongStatus
from campaigns.domain.statuses import FINAL_STATUSES, CampaignStatus

# What a retry takes from its campaign, by attribute; progress and run bookkeeping stay behind.
COPIED = (
    "message_template_id",
    "media_library_item_id",
    "default_name_value",
    "whatsapp_session_id",
    "waha_session",
    "min_delay_ms",
    "max_delay_ms",
    "typing",
    "check_numbers",
    "batch_size",
    "batch_pause_ms",
    "send_window",
    "opt_out_footer",
)
_NAME_CHARS = 200


def retry_campaign(user_id: str, campaign_id: str, request: RetryCampaignIn, now: datetime) -> CampaignOut:
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    source = CampaignReads().get_owned_campaign(campaign_id, user_id)
    if source.status not in {status.value for status in FINAL_STATUSES}:
        raise WrongStatus(source.id, source.status, "retry")
    rows = contacts_with_statuses(source, request.statuses)
    if not rows:
        wanted = " or ".join(status.value for status in request.statuses)
        raise Invalid(
            f"No delivery of this campaign is {wanted}: there is nobody to retry",
            [{"in": "body", "field": "statuses", "message": "no delivery matches"}],
        )
    label = "/".join(status.value for status in request.statuses)
    list_name = f"{source.name} - retry of {label}"[:_NAME_CHARS]
    new_list = contact_lists.create(user_id, list_name, None, rows, now)
    campaign = stored_campaigns.create(
        user_id,
        now,
        **_settings_of(source),
        name=f"{source.name} (retry)"[:_NAME_CHARS],
        contact_list_id=new_list.id,
        status=CampaignStatus.SCHEDULED.value,
        total_contacts=len(rows),
    )
    return CampaignOut.from_item(campaign)


def _settings_of(source: Campaign) -> dict[str, object]:
    values = {name: getattr(source, name, None) for name in COPIED}
    return {name: value for name, value in values.items() if value is not None}


__all__ = ["COPIED", "retry_campaign"]
