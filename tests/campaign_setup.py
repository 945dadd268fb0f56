"""Campaigns made the way POST /campaigns makes them (recorded on the list, template
and media they use), then put in any state, for the tests of deletes, test sends,
retries and exports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from campaigns.data import campaigns as stored_campaigns
from campaigns.data.models import Campaign, ContactList, Delivery, MediaLibraryItem, MessageTemplate
from campaigns.domain.statuses import CampaignStatus
from campaigns.timeutil import utcnow


def campaign_over(
    contact_list: ContactList,
    template: MessageTemplate,
    media: MediaLibraryItem | None = None,
    status: CampaignStatus = CampaignStatus.SCHEDULED,
    **attributes: Any,
) -> Campaign:
    """A campaign over these items, created as the API does, then set to `status` and
    `attributes` (e.g. started_at, last_sent_at)."""
    campaign = stored_campaigns.create(
        contact_list.user_id,
        utcnow(),
        name="Spring sale",
        status=CampaignStatus.SCHEDULED.value,
        contact_list_id=contact_list.id,
        message_template_id=template.id,
        media_library_item_id=media.id if media else None,
        default_name_value="friend",
        waha_session="default",
        min_delay_ms=0,
        max_delay_ms=0,
        total_contacts=int(contact_list.contact_count),
    )
    started = {} if status is CampaignStatus.SCHEDULED else {"started_at": utcnow()}
    changes = {"status": status.value, **started, **attributes}
    campaign.update(actions=[getattr(Campaign, name).set(value) for name, value in changes.items()])
    return campaign


def record(campaign: Campaign, statuses: list[str], at: datetime | None = None, **fields: Any) -> None:
    """Deliveries for contacts 0, 1, ... with these statuses (numbers as the builder's lists)."""
    with Delivery.batch_write() as batch:
        for index, status in enumerate(statuses):
            batch.save(
                Delivery(
                    campaign_id=campaign.id,
                    contact_index=index,
                    phone_number=f"+1555{index:07d}",
                    status=status,
                    message_id=f"true_{index}@c.us_ID{index}" if status == "Sent" else None,
                    error=None if status == "Sent" else f"{status} for a reason",
                    at=at or utcnow(),
                    **fields,
                )
            )
