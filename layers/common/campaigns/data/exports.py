"""Where a large export goes: an object in the exports bucket, read through a
presigned link. The bucket's lifecycle rule deletes exports after a day; the link
lasts `EXPORT_LINK_SECONDS`. Also the deliveries as an export reads them: the whole
log in contact order, fetched a page at a time (never held whole)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import IO

from campaigns.config import settings
from campaigns.data.models import Delivery

PAGE = 1000
EXPORT_LINK_SECONDS = 900


def deliveries(campaign_id: str) -> Iterator[Delivery]:
    """Every delivery of the campaign in contact order, read lazily page by page."""
    return iter(Delivery.query(campaign_id, page_size=PAGE))


def _s3():
    import boto3
    from botocore.config import Config

    cfg = settings()
    return boto3.client(
        "s3",
        region_name=cfg.region,
        endpoint_url=cfg.s3_endpoint,
        config=Config(
            signature_version="s3v4", s3={"addressing_style": "path" if cfg.s3_endpoint else "auto"}
        ),
    )


def publish(body: IO[bytes], key: str, filename: str, now: datetime) -> tuple[str, datetime]:
    """Upload `body` (streamed, in parts) to the exports bucket; returns a presigned
    download link and when it expires."""
    bucket = settings().exports_bucket
    if not bucket:
        raise RuntimeError("EXPORTS_BUCKET is not set")
    client = _s3()
    extra = {
        "ContentType": "text/csv; charset=utf-8",
        "ContentDisposition": f'attachment; filename="{filename}"',
    }
    client.upload_fileobj(body, bucket, key, ExtraArgs=extra)
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=EXPORT_LINK_SECONDS
    )
    return url, now + timedelta(seconds=EXPORT_LINK_SECONDS)


__all__ = ["EXPORT_LINK_SECONDS", "deliveries", "publish"]
