"""GET /campaigns/{id}/deliveries.csv: a campaign's whole delivery log as CSV.

The deliveries are read a page at a time and written to a spooled file (memory up
to `SPOOL_IN_MEMORY_BYTES`, then a temporary file), so a 100,000-row log never sits
in memory as objects. A CSV up to the inline limit is the answer's body; a larger
one, when an exports bucket is configured (in AWS: above Lambda's 6 MB response
limit), is uploaded and answered with a presigned link. Without a bucket (the
local stack) every export is answered inline. Every cell is spreadsheet-safe
(`campaigns.domain.csv_cells`).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from campaigns.config import settings
from campaigns.data import exports
from campaigns.data.campaign_reads import CampaignReads
from campaigns.data.models import Delivery
from campaigns.data.owned_items import plausible_id
from campaigns.domain.csv_cells import safe_cell
from campaigns.domain.errors import CampaignNotFound
from campaigns.timeutil import to_iso

COLUMNS = ("contactIndex", "phoneNumber", "status", "messageId", "ack", "error", "at")
SPOOL_IN_MEMORY_BYTES = 1_000_000


@dataclass(frozen=True)
class Export:
    filename: str
    body: str | None = None  # inline
    url: str | None = None  # or a link to it
    expires_at: datetime | None = None


def export_deliveries(user_id: str, campaign_id: str, now: datetime) -> Export:
    if not plausible_id(campaign_id):
        raise CampaignNotFound(campaign_id)
    campaign = CampaignReads().get_owned_campaign(campaign_id, user_id)
    filename = f"{campaign.id}-deliveries.csv"
    cfg = settings()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES, mode="w+b") as spool:
        size = write_csv(exports.deliveries(campaign.id), spool)
        spool.seek(0)
        if size <= cfg.export_inline_limit_bytes or not cfg.exports_bucket:
            return Export(filename, body=spool.read().decode("utf-8"))
        key = f"{user_id}/{campaign.id}/{now.strftime('%Y%m%dT%H%M%S')}-deliveries.csv"
        url, expires_at = exports.publish(spool, key, filename, now)
        return Export(filename, url=url, expires_at=expires_at)


def write_csv(deliveries: Iterable[Delivery], out: IO[bytes]) -> int:
    """The deliveries as CSV rows under a header; returns the bytes written."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for delivery in deliveries:
        writer.writerow([safe_cell(value) for value in _row(delivery)])
    text.flush()
    size = out.tell()
    text.detach()
    return size


def _row(delivery: Delivery) -> tuple[object, ...]:
    return (
        int(delivery.contact_index),
        delivery.phone_number,
        delivery.status,
        delivery.message_id,
        getattr(delivery, "ack", None),  # WhatsApp's acknowledgement, where deliveries carry one
        delivery.error,
        to_iso(delivery.at),
    )


__all__ = ["COLUMNS", "Export", "export_deliveries", "write_csv"]
