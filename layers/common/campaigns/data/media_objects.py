"""The media bucket (`MEDIA_BUCKET`): a presigned form to upload one file, whether a
file is there, and a short-lived link for WAHA to fetch it.

Each function needs only its caller's grant: the API signs upload forms (S3 checks
an upload against the signer's `s3:PutObject`) and lists a key to see that its file
arrived (`s3:ListBucket` on the media prefix: the API never reads a file); the
runner reads a file's size and type (`HeadObject`) and signs the download links it
hands WAHA (`s3:GetObject`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from campaigns.config import settings

UPLOAD_FORM_SECONDS = 900
MEDIA_LINK_SECONDS = 900


class MediaStorageUnavailable(RuntimeError):
    """The bucket did not answer (or refused this function); nothing can be said about the file."""


@dataclass(frozen=True)
class UploadForm:
    """Where the browser POSTs the file (multipart/form-data), with these fields first."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class StoredFile:
    size_bytes: int
    content_type: str | None


def upload_form(key: str, mime_type: str, max_bytes: int, now: datetime) -> UploadForm:
    """A presigned POST for exactly `key`, with exactly this `Content-Type` and at most
    `max_bytes`, valid for UPLOAD_FORM_SECONDS."""
    presigned = _call(
        "generate_presigned_post",
        Bucket=_bucket(),
        Key=key,
        Fields={"Content-Type": mime_type},
        Conditions=[{"Content-Type": mime_type}, ["content-length-range", 1, max_bytes]],
        ExpiresIn=UPLOAD_FORM_SECONDS,
    )
    fields = {str(name): str(value) for name, value in presigned["fields"].items()}
    return UploadForm(presigned["url"], fields, now + timedelta(seconds=UPLOAD_FORM_SECONDS))


def uploaded_size(key: str) -> int | None:
    """The size of the file at `key`, or None when none was uploaded (a listing of the
    key itself: the API's grant)."""
    answer = _call("list_objects_v2", Bucket=_bucket(), Prefix=key, MaxKeys=1)
    for found in answer.get("Contents", []):
        if found.get("Key") == key:
            return int(found.get("Size", 0))
    return None


def stored_file(key: str) -> StoredFile | None:
    """The file at `key` (HeadObject: the runner's grant), or None when there is none."""
    from botocore.exceptions import ClientError

    try:
        head = _client().head_object(Bucket=_bucket(), Key=key)
    except ClientError as exc:
        if _status(exc) == 404:
            return None
        raise MediaStorageUnavailable(str(exc)) from exc
    except Exception as exc:  # endpoint unreachable, timeouts
        raise MediaStorageUnavailable(str(exc)) from exc
    return StoredFile(int(head.get("ContentLength", 0)), head.get("ContentType"))


def delete_file(key: str) -> None:
    """Remove the file at `key` (its media item was deleted); absent already is fine."""
    _call("delete_object", Bucket=_bucket(), Key=key)


def download_link(key: str) -> str:
    """A presigned GET of `key`, valid for MEDIA_LINK_SECONDS (computed here, no request)."""
    return _client().generate_presigned_url(
        "get_object", Params={"Bucket": _bucket(), "Key": key}, ExpiresIn=MEDIA_LINK_SECONDS
    )


def _bucket() -> str:
    bucket = settings().media_bucket
    if not bucket:
        raise MediaStorageUnavailable("MEDIA_BUCKET is not set")
    return bucket


def _call(operation: str, **params: Any) -> dict[str, Any]:
    try:
        return getattr(_client(), operation)(**params)
    except Exception as exc:
        raise MediaStorageUnavailable(str(exc)) from exc


def _status(exc: Any) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _client() -> Any:
    cfg = settings()
    return _client_for(cfg.region, cfg.s3_endpoint)


@lru_cache(maxsize=4)
def _client_for(region: str, endpoint: str | None) -> Any:
    """One client per region and endpoint (created once per warm function). In AWS, forms
    and links name the bucket's regional host (`<bucket>.s3.<region>.amazonaws.com`,
    the bucket's RegionalDomainName) in every region, us-east-1 included."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        config=Config(
            signature_version="s3v4",
            s3={
                "addressing_style": "path" if endpoint else "virtual",
                "us_east_1_regional_endpoint": "regional",
            },
            connect_timeout=3,
            read_timeout=10,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


__all__ = [
    "MEDIA_LINK_SECONDS",
    "UPLOAD_FORM_SECONDS",
    "MediaStorageUnavailable",
    "StoredFile",
    "UploadForm",
    "download_link",
    "stored_file",
    "upload_form",
    "uploaded_size",
]
