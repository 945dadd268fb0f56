"""The original plan's runner, literally: the baseline the figures compare against.

Read the campaign, fetch ALL its contacts with one (paginated) Query into a list,
then for each contact: personalise, send, and write `lastProcessedContactIndex`
with one UpdateItem. No claim before a send, no delivery log, no session or number
check, no pacing, no time budget, no hand-off. It sends through the same sender
(WahaSender to the same WAHA, or the dry-run sender) as the real runner, so the
figures compare the two runners' own costs.

Not exactly-once: a crash between a send and its UpdateItem resends that contact,
and two invocations of the same campaign send everything twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import bench  # noqa: F401  (path and environment first)
from campaigns.data.models import Campaign, Contact, MessageTemplate
from campaigns.domain.personalise import render_message
from campaigns.domain.statuses import CampaignStatus
from campaigns.sending.sender import OutgoingMessage, Sender, SendError
from campaigns.timeutil import utcnow


@dataclass
class NaiveResult:
    sent: int = 0
    failed: int = 0
    contacts_fetched: int = 0


def run_naive(campaign_id: str, sender: Sender, *, max_contacts: int | None = None) -> NaiveResult:
    """Run the campaign to its end (or `max_contacts` sends, for the memory figure)."""
    campaign = Campaign.get(campaign_id, consistent_read=True)
    template = MessageTemplate.get(campaign.user_id, campaign.message_template_id)
    Campaign(campaign.id).update(
        actions=[Campaign.status.set(CampaignStatus.RUNNING.value), Campaign.started_at.set(utcnow())]
    )
    contacts = list(Contact.query(campaign.contact_list_id))  # every contact, in index order
    result = NaiveResult(contacts_fetched=len(contacts))
    start = (
        0 if campaign.last_processed_contact_index is None else int(campaign.last_processed_contact_index) + 1
    )
    for contact in contacts:
        index = int(contact.index)
        if index < start:
            continue
        if max_contacts is not None and result.sent + result.failed >= max_contacts:
            return result
        text = render_message(template.text_content, contact.first_name, campaign.default_name_value)
        message = OutgoingMessage(
            session=campaign.waha_session or "default",
            phone_number=contact.phone_number,
            text=text,
            idempotency_key=f"{campaign.id}:{index}",
        )
        try:
            sender.send(message)
            counter = Campaign.sent_count
            result.sent += 1
        except SendError:
            counter = Campaign.failed_count
            result.failed += 1
        Campaign(campaign.id).update(
            actions=[Campaign.last_processed_contact_index.set(index), counter.add(1)]
        )
    Campaign(campaign.id).update(
        actions=[Campaign.status.set(CampaignStatus.COMPLETED.value), Campaign.completed_at.set(utcnow())]
    )
    return result
