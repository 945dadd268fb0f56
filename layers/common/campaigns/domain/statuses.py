"""Campaign and delivery statuses, and which statuses each action may start from."""

from __future__ import annotations

from enum import StrEnum


class CampaignStatus(StrEnum):
    SCHEDULED = "Scheduled"
    RUNNING = "Running"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class DeliveryStatus(StrEnum):
    SENT = "Sent"
    FAILED = "Failed"
    UNKNOWN = "Unknown"
    SKIPPED = "Skipped"  # never attempted by rule: the number opted out


FINAL_STATUSES = frozenset({CampaignStatus.COMPLETED, CampaignStatus.FAILED, CampaignStatus.CANCELLED})

# Who may move a campaign from where to where (see CONTRACT.md).
# The runner takes only a Scheduled campaign that is due: run and resume flip
# Paused to Scheduled first, so a late or duplicated runner event can never restart
# a campaign the user paused.
TAKEABLE = frozenset({CampaignStatus.SCHEDULED})
RUNNABLE = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.PAUSED})  # POST /run
RESUMABLE = frozenset({CampaignStatus.PAUSED})  # POST /resume
PAUSABLE = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING})  # POST /pause
CANCELLABLE = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED})
