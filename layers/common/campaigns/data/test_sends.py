"""The daily quota of a campaign's test sends (POST /campaigns/{id}/test), counted on
the campaign item itself: `testSendDay` (a UTC date) and `testSendCount`.

Taking a send is one conditional write: +1 while the day is today and the count is
under the limit, or a fresh count of 1 when the stored day is another. Two requests
racing on the last send cannot both win. The campaign's own counters are untouched.
"""

from __future__ import annotations

import contextlib

from campaigns.data.campaign_writes import update
from campaigns.data.models import Campaign
from campaigns.domain.errors import QuotaExceeded, StoreConflict

_ATTEMPTS = 3


def take(campaign_id: str, user_id: str, day: str, limit: int) -> int:
    """Count one test send on `day`; returns how many that day has now. QuotaExceeded
    when `limit` were taken already."""
    owner = Campaign.user_id == user_id
    same_day = (Campaign.test_send_day == day) & (Campaign.test_send_count < limit)
    other_day = Campaign.test_send_day.does_not_exist() | (Campaign.test_send_day != day)
    for _ in range(_ATTEMPTS):
        try:
            campaign = update(campaign_id, [Campaign.test_send_count.add(1)], owner & same_day, StoreConflict)
            return int(campaign.test_send_count)
        except StoreConflict:
            pass
        try:
            actions = [Campaign.test_send_day.set(day), Campaign.test_send_count.set(1)]
            update(campaign_id, actions, owner & other_day, StoreConflict)
            return 1
        except StoreConflict:
            pass  # today's count is at the limit, or another request just started the day
    raise QuotaExceeded(
        f"This campaign has had its {limit} test sends today (UTC); try again tomorrow",
        [{"limit": limit, "day": day}],
    )


def give_back(campaign_id: str, day: str) -> None:
    """Return a send that was never attempted (nothing went out)."""
    condition = (Campaign.test_send_day == day) & (Campaign.test_send_count > 0)
    with contextlib.suppress(StoreConflict):  # the day turned meanwhile: nothing to give back
        update(campaign_id, [Campaign.test_send_count.add(-1)], condition, StoreConflict)


__all__ = ["give_back", "take"]
