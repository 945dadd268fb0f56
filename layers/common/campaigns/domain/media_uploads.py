"""Media files uploaded to the stack's own bucket: the kinds WhatsApp takes, how large
each may be, where each user's files live, and how a media item refers to its file.

WhatsApp delivers images up to 5 MB, video and audio up to 16 MB and documents up to
100 MB; WAHA passes on whatever it is given, so a larger file would fail at WhatsApp
after the campaign has started. An upload declares its type and size first; the
presigned form S3 checks the file against admits that key, that `Content-Type` and
no more than the declared size, so what lands in the bucket is what was declared.

A media item refers to its uploaded file as `s3://<bucket>/<key>` in `storagePath`
(a URL of someone else's host stays an `https` URL). Keys are
`media/<owner, URL-encoded>/<media item id>/<file name>`: each user's files under a
prefix of their own, and the file name is what WhatsApp shows for a document.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

MB = 1_000_000
IMAGE_BYTES = 5 * MB
VIDEO_BYTES = 16 * MB
AUDIO_BYTES = 16 * MB
DOCUMENT_BYTES = 100 * MB
MEDIA_PREFIX = "media/"
STORED_SCHEME = "s3://"

# Type -> (what WhatsApp calls it, largest size, file extension)
_KINDS: dict[str, tuple[str, int, str]] = {
    "image/jpeg": ("image", IMAGE_BYTES, ".jpg"),
    "image/png": ("image", IMAGE_BYTES, ".png"),
    "video/mp4": ("video", VIDEO_BYTES, ".mp4"),
    "video/3gpp": ("video", VIDEO_BYTES, ".3gp"),
    "audio/aac": ("audio", AUDIO_BYTES, ".aac"),
    "audio/amr": ("audio", AUDIO_BYTES, ".amr"),
    "audio/mp4": ("audio", AUDIO_BYTES, ".m4a"),
    "audio/mpeg": ("audio", AUDIO_BYTES, ".mp3"),
    "audio/ogg": ("audio", AUDIO_BYTES, ".ogg"),
    "application/pdf": ("document", DOCUMENT_BYTES, ".pdf"),
    "text/plain": ("document", DOCUMENT_BYTES, ".txt"),
    "application/msword": ("document", DOCUMENT_BYTES, ".doc"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        "document",
        DOCUMENT_BYTES,
        ".docx",
    ),
    "application/vnd.ms-excel": ("document", DOCUMENT_BYTES, ".xls"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (
        "document",
        DOCUMENT_BYTES,
        ".xlsx",
    ),
    "application/vnd.ms-powerpoint": ("document", DOCUMENT_BYTES, ".ppt"),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        "document",
        DOCUMENT_BYTES,
        ".pptx",
    ),
}
UPLOADABLE_TYPES = tuple(_KINDS)
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")
MAX_FILE_NAME_CHARS = 100


class UploadRefused(ValueError):
    """Not a file the bucket takes; the message says why."""


@dataclass(frozen=True)
class StoredObject:
    """Where an uploaded file is: its bucket and key."""

    bucket: str
    key: str

    @property
    def storage_path(self) -> str:
        return f"{STORED_SCHEME}{self.bucket}/{self.key}"


def size_limit(mime_type: str) -> int:
    """The largest file of this type WhatsApp delivers; UploadRefused for a type the
    bucket does not take."""
    kind = _KINDS.get(mime_type.lower())
    if kind is None:
        raise UploadRefused(f"{mime_type} is not a type WhatsApp sends; use one of: {', '.join(_KINDS)}")
    return kind[1]


def check_upload(mime_type: str, size_bytes: int) -> None:
    """UploadRefused unless a file of `size_bytes` of this type may be uploaded."""
    limit = size_limit(mime_type)
    if size_bytes < 1:
        raise UploadRefused("the file is empty")
    if size_bytes > limit:
        kind = _KINDS[mime_type.lower()][0]
        raise UploadRefused(
            f"WhatsApp delivers {kind} files of up to {limit // MB} MB ({limit:,} bytes); "
            f"this one is {size_bytes:,} bytes"
        )


def object_key(user_id: str, media_id: str, name: str, mime_type: str) -> str:
    """The key of a user's new file: under their own prefix, named after the item."""
    return f"{MEDIA_PREFIX}{quote(user_id, safe='')}/{media_id}/{file_name(name, mime_type)}"


def file_name(name: str, mime_type: str) -> str:
    """A file name made from the item's name: ASCII letters, digits, `.`, `_` and `-`,
    ending with the type's extension."""
    extension = _KINDS[mime_type.lower()][2]
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE_IN_NAME.sub("-", ascii_name).strip("-.")[:MAX_FILE_NAME_CHARS] or "file"
    return stem if stem.lower().endswith(extension) else f"{stem}{extension}"


def stored_object(storage_path: str) -> StoredObject | None:
    """The bucket and key a media item's `storagePath` names, or None for a URL."""
    if not storage_path.startswith(STORED_SCHEME):
        return None
    bucket, _, key = storage_path[len(STORED_SCHEME) :].partition("/")
    return StoredObject(bucket, key)


def stored_file_refusal(stored: StoredObject, media_bucket: str | None, mime_type: str) -> str | None:
    """Why an item's file cannot be in this stack's bucket at all (before looking for it)."""
    if not media_bucket:
        return "its file was uploaded to a media bucket this stack no longer has"
    if stored.bucket != media_bucket or not stored.key.startswith(MEDIA_PREFIX):
        return "its file is not in this stack's media bucket"
    if mime_type.lower() not in _KINDS:
        return f"its type {mime_type} is not one WhatsApp sends"
    return None


def uploaded_size_refusal(size_bytes: int | None, mime_type: str) -> str | None:
    """Why the file found (`size_bytes`, None when there is none) cannot be sent."""
    if size_bytes is None:
        return "its file was never uploaded (send it with the form POST /media-items/upload-url answered)"
    try:
        check_upload(mime_type, size_bytes)
    except UploadRefused as exc:
        return f"its file cannot be sent: {exc}"
    return None


__all__ = [
    "DOCUMENT_BYTES",
    "IMAGE_BYTES",
    "MB",
    "MEDIA_PREFIX",
    "UPLOADABLE_TYPES",
    "VIDEO_BYTES",
    "StoredObject",
    "UploadRefused",
    "check_upload",
    "file_name",
    "object_key",
    "size_limit",
    "stored_file_refusal",
    "stored_object",
    "uploaded_size_refusal",
]
