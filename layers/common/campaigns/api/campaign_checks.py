"""What a new campaign must pass before it is stored, beyond ownership: its message
fits WhatsApp's limit with the longest name it will carry (and the opt-out footer when
it asks for one), and its media item is one WAHA may fetch: a URL of a public host
(the item may predate the media URL rules, or its name may resolve elsewhere now), or
a file that was uploaded to the media bucket."""

from __future__ import annotations

from campaigns.api.media_urls import media_url_refusal
from campaigns.config import settings
from campaigns.data import contact_names, media_objects
from campaigns.data.models import MediaLibraryItem
from campaigns.domain.errors import Invalid, WrongState
from campaigns.domain.media_uploads import (
    StoredObject,
    stored_file_refusal,
    stored_object,
    uploaded_size_refusal,
)
from campaigns.domain.message_length import could_exceed, too_long_reason

# The longest first name the API accepts (ContactIn.first_name).
MAX_FIRST_NAME_CHARS = 100


def require_message_within_limit(
    template_text: str, list_id: str, default_name: str, footer: str | None = None
) -> None:
    """Invalid (422) when the template, personalised with the longest first name of the
    list or `default_name` when longer, and with `footer`, exceeds 4,096 characters."""
    if not could_exceed(template_text, max(MAX_FIRST_NAME_CHARS, len(default_name)), footer):
        return  # no name the list can hold takes it over: nothing to read
    longest = max(contact_names.longest_first_name(list_id), default_name, key=len)
    reason = too_long_reason(template_text, longest, footer)
    if reason is not None:
        raise Invalid(
            f"messageTemplateId: {reason}", [{"in": "body", "field": "messageTemplateId", "message": reason}]
        )


def require_usable_media(item: MediaLibraryItem) -> None:
    """Invalid (422) when WAHA must not fetch the item's URL, or its file was never
    uploaded (or is not what was declared)."""
    stored = stored_object(item.storage_path)
    if stored is None:
        reason = media_url_refusal(item.storage_path)
        message = None if reason is None else f"the media item's storagePath {reason}"
    else:
        reason = _uploaded_file_refusal(stored, item.mime_type)
        message = None if reason is None else f"the media item cannot be used: {reason}"
    if message is not None:
        raise Invalid(
            f"mediaLibraryItemId: {message}",
            [{"in": "body", "field": "mediaLibraryItemId", "message": message}],
        )


def _uploaded_file_refusal(stored: StoredObject, mime_type: str) -> str | None:
    reason = stored_file_refusal(stored, settings().media_bucket, mime_type)
    if reason is not None:
        return reason
    try:
        size = media_objects.uploaded_size(stored.key)
    except media_objects.MediaStorageUnavailable:
        raise WrongState("The media item's file could not be checked right now; try again shortly") from None
    return uploaded_size_refusal(size, mime_type)


__all__ = ["MAX_FIRST_NAME_CHARS", "require_message_within_limit", "require_usable_media"]
