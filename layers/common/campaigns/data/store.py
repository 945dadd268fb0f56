"""The campaign tables by role: one object per caller, each listing exactly what
that caller may do.

- `reads`: a campaign and what its run needs (contacts, template, media, session).
- `run`: the runner's conditional writes (take, continue, claim, record, release,
  pause, hand off, park, complete, fail): `campaigns.data.run_writes`.
- `schedule`: the schedule's (start once, take over, settle, runaway guard):
  `campaigns.data.schedule_writes`.
- `commands`: the user's (run, resume, pause, cancel): `campaigns.data.user_commands`.
- `numbers`: the WhatsApp numbers' send slots (per-number pacing, daily limits):
  `campaigns.data.number_slots`.
"""

from __future__ import annotations

from campaigns.data.campaign_reads import CampaignReads
from campaigns.data.number_slots import NumberSlots
from campaigns.data.run_writes import RunWrites
from campaigns.data.schedule_writes import ScheduleWrites
from campaigns.data.user_commands import UserCommands


class CampaignStore:
    def __init__(self, lease_seconds: int = 120) -> None:
        self.lease_seconds = lease_seconds
        self.reads = CampaignReads()
        self.run = RunWrites(lease_seconds)
        self.schedule = ScheduleWrites(lease_seconds)
        self.commands = UserCommands(self.reads)
        self.numbers = NumberSlots()
