"""What a new campaign must pass before it is stored, beyond ownership: its media
item (which may predate the media URL rules) points at a public host."""

from __future__ import annotations

from campaigns.api.media_urls import media_url_refusal
from campaigns.domain.errors import Invalid


def require_public_media(storage_path: str) -> None:
    """Invalid (422) when the media item's URL is not one WAHA may fetch."""
    reason = media_url_refusal(storage_path)
    if reason is not None:
        message = f"the media item's storagePath {reason}"
        raise Invalid(
            f"mediaLibraryItemId: {message}",
            [{"in": "body", "field": "mediaLibraryItemId", "message": message}],
        )


__all__ = ["require_public_media"]
