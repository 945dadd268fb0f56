"""The product's errors, in the product's words. No HTTP here: the API edge maps
each family to its answer in one place (`campaigns.api.errors`).

- `NotFound`: missing, or another user's (the caller is never told which).
- `Invalid`: the request names something unusable (a bad field, a duplicate number,
  a reference to an item the caller does not have); `details` says where.
- `WrongState`: the item is not in a state that allows the action.
- `QuotaExceeded`: the caller is over a limit.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    """No such item, or it belongs to another user."""


class CampaignNotFound(NotFound):
    def __init__(self, campaign_id: str) -> None:
        super().__init__("Campaign not found")
        self.campaign_id = campaign_id


class Invalid(DomainError):
    """Well-formed, but not acceptable (the API answers 422)."""


class WrongState(DomainError):
    """The item is not in a state that allows the action (the API answers 409)."""


class WrongStatus(WrongState):
    """A user's command on a campaign whose status does not allow it."""

    def __init__(self, campaign_id: str, status: str, action: str) -> None:
        super().__init__(f"Campaign {campaign_id} is {status}; cannot {action} it")
        self.campaign_id = campaign_id
        self.status = status
        self.action = action


class StoreConflict(WrongState):
    """A conditional write lost: the campaign is not in the state the caller assumed."""

    def __init__(self, message: str = "The campaign changed meanwhile; reload it and try again") -> None:
        super().__init__(message)


class RunLost(StoreConflict):
    """The caller's run token no longer holds the campaign (paused, cancelled, taken over)."""


class QuotaExceeded(DomainError):
    """Over a per-user limit (the API answers 429)."""
