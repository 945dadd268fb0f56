"""The campaign's media as WAHA may fetch it: checked again before the first media send
of each invocation, and an uploaded file handed over as a short-lived link.

A media item was checked when it was created and when its campaign was, but what it
points at can change before the run reaches a contact:

- a URL's host name may since resolve to a loopback, private or link-local address
  (DNS rebinding), and WAHA would fetch an internal page and send it to every
  contact. The name is resolved again once per invocation, not once per contact;
- an uploaded file may be missing (its upload never happened), or not the type and
  size it was declared with; its size and type are read once per invocation.

A refusal pauses the campaign (`SendNotAttempted`) with a reason that names the media
item and never an address. Every send of an uploaded file then gets a presigned GET
link of its own, valid for `MEDIA_LINK_SECONDS` and signed with the runner's grant,
which WAHA fetches at once.
"""

from __future__ import annotations

from dataclasses import replace

from campaigns.api.media_urls import media_url_refusal
from campaigns.config import settings
from campaigns.data import media_objects
from campaigns.domain.media_uploads import (
    StoredObject,
    stored_file_refusal,
    stored_object,
    uploaded_size_refusal,
)
from campaigns.observability import logger
from campaigns.sending.sender import Media, SendNotAttempted

STORAGE_UNAVAILABLE = (
    "The campaign's media file could not be checked: the media storage did not answer. "
    "Resume the campaign to try again."
)


class RunMedia:
    """One invocation's media: the first send checks it, the following ones reuse the answer."""

    def __init__(self) -> None:
        self._checked: Media | None = None

    def check(self, media: Media, item_id: str | None) -> None:
        """SendNotAttempted (pause) when WAHA must not fetch `media` now; once per invocation."""
        if media is self._checked:
            return
        stored = stored_object(media.url)
        reason = media_url_refusal(media.url) if stored is None else self._file_refusal(stored, media)
        if reason is not None:
            logger.warning("Media refused at send time", extra={"media_item_id": item_id, "reason": reason})
            raise SendNotAttempted(_refused(media, item_id, reason))
        self._checked = media

    def link(self, media: Media) -> Media:
        """`media` as WAHA fetches it: a URL as it is, an uploaded file through a fresh
        presigned link."""
        stored = stored_object(media.url)
        if stored is None:
            return media
        try:
            return replace(media, url=media_objects.download_link(stored.key))
        except Exception:
            logger.exception("Could not sign the media file's link")
            raise SendNotAttempted(STORAGE_UNAVAILABLE) from None

    @staticmethod
    def _file_refusal(stored: StoredObject, media: Media) -> str | None:
        reason = stored_file_refusal(stored, settings().media_bucket, media.mime_type)
        if reason is not None:
            return reason
        try:
            found = media_objects.stored_file(stored.key)
        except media_objects.MediaStorageUnavailable as exc:
            logger.warning("Media storage unavailable", extra={"reason": str(exc)})
            raise SendNotAttempted(STORAGE_UNAVAILABLE) from None
        reason = uploaded_size_refusal(found.size_bytes if found else None, media.mime_type)
        if reason is None and found is not None and found.content_type:
            stored_type = found.content_type.split(";", 1)[0].strip().lower()
            if stored_type != media.mime_type.lower():
                reason = f"its file was stored as {stored_type}, not the {media.mime_type} it was declared"
        return reason


def _refused(media: Media, item_id: str | None, reason: str) -> str:
    named = f'"{media.filename}"' if media.filename else "of this campaign"
    if item_id:
        named += f" ({item_id})"
    return (
        f"Sending stopped before this contact: the media item {named} cannot be sent now: {reason}. "
        "Resume the campaign once its media can be fetched, or cancel it."
    )


__all__ = ["STORAGE_UNAVAILABLE", "RunMedia"]
