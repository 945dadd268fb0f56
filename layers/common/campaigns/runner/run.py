"""One invocation's hold on a campaign: what the runner's steps share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from campaigns.data.models import Campaign
from campaigns.runner.contacts import ContactCursor
from campaigns.runner.events import RunEvent, RunStats
from campaigns.runner.send_step import Message
from campaigns.sending.pacing import Pacer


@dataclass
class Run:
    """This invocation's hold on a campaign: what its steps share."""

    campaign: Campaign
    token: str
    event: RunEvent
    remaining_ms: Callable[[], int]
    function_name: str | None
    stats: RunStats
    _message: Message | None = field(default=None, init=False, repr=False)
    pacer: Pacer | None = None
    cursor: ContactCursor | None = None
    worst_send_ms: int = 0
    sent_here: int = 0
    ride_outs_here: int = 0  # WAHA blips waited out inside this invocation

    @property
    def message(self) -> Message | None:
        """What every contact of this run gets, before personalisation."""
        return self._message

    @message.setter
    def message(self, message: Message | None) -> None:
        # Whoever prepares the run's message, it is sent as this campaign sends it:
        # with its opt-out footer, and its media item known for a refusal.
        self._message = None if message is None else message.for_campaign(self.campaign)

    def lease_extra_ms(self) -> int:
        """The lease must outlive the longest wait plus one send with its retries."""
        return int(self.campaign.max_delay_ms or 0) + self.worst_send_ms

    def can_afford(self, wait_ms: float, margin_ms: int) -> bool:
        """This invocation has time for `wait_ms`, then one send at its worst, then a margin."""
        return self.remaining_ms() > wait_ms + self.worst_send_ms + margin_ms
