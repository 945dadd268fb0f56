"""The runner's event and what one invocation ended with."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class RunResult(StrEnum):
    NOT_FOUND = "not_found"
    SKIPPED = "skipped"  # wrong status, stale or duplicated event, someone else holds the run
    COMPLETED = "completed"
    PAUSED = "paused"
    HANDED_OFF = "handed_off"
    HANDOFF_LOST = "handoff_lost"  # the next invocation could not be started: the schedule continues
    PARKED = "parked"  # waits for the schedule (pacing, batch pause, WAHA outage)
    STOPPED = "stopped"  # a pause/cancel/other runner stopped this one at its next contact
    FAILED = "failed"  # an unexpected error; the campaign is Failed only if this invocation held it


@dataclass
class RunEvent:
    campaign_id: str
    run_token: str | None = None
    hop: int = 0

    @classmethod
    def parse(cls, event: Any) -> RunEvent:
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("campaignId"), str)
            or not event["campaignId"]
        ):
            raise ValueError("runner event needs a non-empty string campaignId")
        token = event.get("runToken")
        hop = event.get("hop", 0)
        if token is not None and not isinstance(token, str):
            raise ValueError("runToken must be a string")
        if not isinstance(hop, int) or isinstance(hop, bool) or hop < 0:
            raise ValueError("hop must be a non-negative integer")
        return cls(campaign_id=event["campaignId"], run_token=token or None, hop=hop)


@dataclass
class RunStats:
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
