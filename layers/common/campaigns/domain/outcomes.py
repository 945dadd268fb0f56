"""What happened to one contact, with its reason."""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.domain.statuses import DeliveryStatus


@dataclass(frozen=True)
class Outcome:
    status: DeliveryStatus
    message_id: str | None = None
    error: str | None = None
