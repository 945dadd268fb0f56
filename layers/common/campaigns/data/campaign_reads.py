"""Reads of a campaign and of what its run needs: the list's contacts, template, media, session."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from campaigns.data import contact_lists, media, sessions, templates
from campaigns.data.models import (
    Campaign,
    Contact,
    ContactList,
    MediaLibraryItem,
    MessageTemplate,
    WhatsAppSession,
)
from campaigns.domain.errors import CampaignNotFound


class CampaignReads:
    def get_campaign(self, campaign_id: str) -> Campaign | None:
        try:
            return Campaign.get(campaign_id, consistent_read=True)
        except DoesNotExist:
            return None

    def get_owned_campaign(self, campaign_id: str, user_id: str) -> Campaign:
        campaign = self.get_campaign(campaign_id)
        # One being deleted (DELETE /campaigns/{id}) is gone for its owner already.
        if campaign is None or campaign.user_id != user_id or campaign.deleting_at is not None:
            raise CampaignNotFound(campaign_id)
        return campaign

    # What a run needs, through the library's repositories.
    def get_template(self, user_id: str, template_id: str) -> MessageTemplate | None:
        return templates.get(user_id, template_id)

    def get_media(self, user_id: str, media_id: str) -> MediaLibraryItem | None:
        return media.get(user_id, media_id)

    def get_contact_list(self, user_id: str, list_id: str) -> ContactList | None:
        return contact_lists.get(user_id, list_id)

    def session_holder(self, session_name: str) -> str | None:
        return sessions.holder(session_name)

    def waha_session_for(self, campaign: Campaign) -> str | None:
        """The WAHA name the campaign sends through, while its owner still has that
        session: found by the campaign's session id (its name is kept with it since
        creation); a campaign from before session ids by the name alone."""
        item = self.waha_session_item_for(campaign)
        return None if item is None else item.name

    def waha_session_item_for(self, campaign: Campaign) -> WhatsAppSession | None:
        """The session item itself (`waha_session_for`), as read consistently: it also
        holds the number's state for per-number pacing."""
        name = campaign.waha_session
        if campaign.whatsapp_session_id and not name:
            found = sessions.find(campaign.user_id, campaign.whatsapp_session_id)
            name = found.name if found is not None else None
        item = sessions.by_name(name) if name else None
        if item is None or item.user_id != campaign.user_id:
            return None
        if campaign.whatsapp_session_id and item.id != campaign.whatsapp_session_id:
            return None
        return item

    def contact_page(self, list_id: str, start_index: int, size: int) -> list[Contact]:
        """At most `size` contacts from `start_index` on, in index order, read
        consistently (a contact written a moment ago is seen). The caller checks for
        gaps: a contact whose write is still under way may be missing."""
        return list(
            Contact.query(
                list_id, Contact.index >= start_index, limit=size, page_size=size, consistent_read=True
            )
        )
