"""Reads of the per-contact delivery log; the run's conditional writes record it."""

from __future__ import annotations

from campaigns.data.models import Delivery
from campaigns.data.pagination import KeyShape, Page, read_page
from campaigns.domain.statuses import DeliveryStatus


def page(
    campaign_id: str, owner: str, status: DeliveryStatus | None, limit: int, token: str | None
) -> Page[Delivery]:
    """A campaign's deliveries in contact order, optionally one status only; `owner`
    is the user the page token is bound to."""
    shape = KeyShape(types={"campaignId": "S", "contactIndex": "N"}, fixed={"campaignId": campaign_id})
    condition = (Delivery.status == status.value) if status is not None else None
    return read_page(
        lambda **kw: Delivery.query(campaign_id, filter_condition=condition, **kw), owner, shape, limit, token
    )


__all__ = ["page"]
