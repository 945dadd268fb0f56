"""Builders that put a user's data straight into the tables (Given ... steps)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from campaigns.data.models import (
    Campaign,
    Contact,
    ContactList,
    Delivery,
    MediaLibraryItem,
    MessageTemplate,
    WhatsAppSession,
)
from campaigns.domain.statuses import CampaignStatus
from campaigns.timeutil import utcnow


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@dataclass
class Builder:
    user_id: str = "user-a"
    session_name: str = "default"

    def session(self, name: str | None = None, user_id: str | None = None) -> WhatsAppSession:
        """A connected number (WORKING) with its WAHA name."""
        item = WhatsAppSession(
            name=name or self.session_name,
            user_id=user_id or self.user_id,
            id=_id("wa"),
            status="WORKING",
            daily_limit=1000,
            created_at=utcnow(),
        )
        item.save()
        return item

    def contact_list(
        self, contacts: list[tuple[str, str | None]] | int, user_id: str | None = None
    ) -> ContactList:
        if isinstance(contacts, int):
            contacts = [(f"+1555{index:07d}", f"Name{index}") for index in range(contacts)]
        item = ContactList(
            user_id=user_id or self.user_id,
            id=_id("list"),
            name="Customers",
            contact_count=len(contacts),
            created_at=utcnow(),
        )
        item.save()
        with Contact.batch_write() as batch:
            for index, (phone, first_name) in enumerate(contacts):
                batch.save(Contact(list_id=item.id, index=index, phone_number=phone, first_name=first_name))
        return item

    def template(self, text: str = "Hello {Name}!", user_id: str | None = None) -> MessageTemplate:
        item = MessageTemplate(
            user_id=user_id or self.user_id,
            id=_id("tpl"),
            name="Greeting",
            text_content=text,
            created_at=utcnow(),
        )
        item.save()
        return item

    def media(
        self,
        url: str = "https://cdn.example.com/promo/banner.jpg",
        mime_type: str = "image/jpeg",
        user_id: str | None = None,
    ) -> MediaLibraryItem:
        item = MediaLibraryItem(
            user_id=user_id or self.user_id,
            id=_id("media"),
            name="Banner",
            storage_path=url,
            mime_type=mime_type,
            created_at=utcnow(),
        )
        item.save()
        return item

    def campaign(
        self,
        contacts: list[tuple[str, str | None]] | int = 3,
        text: str = "Hello {Name}!",
        *,
        status: CampaignStatus = CampaignStatus.SCHEDULED,
        default_name: str = "friend",
        media: MediaLibraryItem | None = None,
        min_delay_ms: int = 0,
        max_delay_ms: int = 0,
        last_processed: int | None = None,
        scheduled_at: datetime | None = None,
        register_session: bool = True,
        campaign_id: str | None = None,
        due: bool = True,
        **options: object,
    ) -> Campaign:
        if register_session:
            self.session()
        contact_list = self.contact_list(contacts)
        template = self.template(text)
        now = utcnow()
        item = Campaign(
            id=campaign_id or _id("cmp"),
            user_id=self.user_id,
            name="Spring sale",
            status=status.value,
            contact_list_id=contact_list.id,
            message_template_id=template.id,
            media_library_item_id=media.id if media else None,
            default_name_value=default_name,
            waha_session=self.session_name,
            min_delay_ms=min_delay_ms,
            max_delay_ms=max_delay_ms,
            created_at=now,
            scheduled_at=scheduled_at,
            # A Scheduled campaign is due at its start time, or (as after POST /run)
            # now; `due=False` leaves it waiting for a manual run.
            due_at=scheduled_at or (now if due and status is CampaignStatus.SCHEDULED else None),
            total_contacts=contact_list.contact_count,
            last_processed_contact_index=last_processed,
            check_numbers=bool(options.pop("check_numbers", True)),
            **options,
        )
        item.save()
        return item


def reload(campaign: Campaign) -> Campaign:
    return Campaign.get(campaign.id, consistent_read=True)


def deliveries(campaign: Campaign) -> list[Delivery]:
    return list(Delivery.query(campaign.id, consistent_read=True))
