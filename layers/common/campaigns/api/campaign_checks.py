"""What a new campaign must pass before it is stored, beyond ownership: its message
fits WhatsApp's limit with the longest name it will carry, and its media item (which
may predate the media URL rules) points at a public host."""

from __future__ import annotations

from campaigns.api.media_urls import media_url_refusal
from campaigns.data import contact_names
from campaigns.domain.errors import Invalid
from campaigns.domain.message_length import could_exceed, too_long_reason

# The longest first name the API accepts (ContactIn.first_name).
MAX_FIRST_NAME_CHARS = 100


def require_message_within_limit(template_text: str, list_id: str, default_name: str) -> None:
    """Invalid (422) when the template, personalised with the longest first name of the
    list or `default_name` when longer, exceeds 4,096 characters."""
    if not could_exceed(template_text, max(MAX_FIRST_NAME_CHARS, len(default_name))):
        return  # no name the list can hold takes it over: nothing to read
    longest = max(contact_names.longest_first_name(list_id), default_name, key=len)
    reason = too_long_reason(template_text, longest)
    if reason is not None:
        raise Invalid(
            f"messageTemplateId: {reason}", [{"in": "body", "field": "messageTemplateId", "message": reason}]
        )


def require_public_media(storage_path: str) -> None:
    """Invalid (422) when the media item's URL is not one WAHA may fetch."""
    reason = media_url_refusal(storage_path)
    if reason is not None:
        message = f"the media item's storagePath {reason}"
        raise Invalid(
            f"mediaLibraryItemId: {message}",
            [{"in": "body", "field": "mediaLibraryItemId", "message": message}],
        )


__all__ = ["MAX_FIRST_NAME_CHARS", "require_message_within_limit", "require_public_media"]
