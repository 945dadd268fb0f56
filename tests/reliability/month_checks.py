"""What the simulated month checks on WhatsApp's side: the messages WAHA took, each
with its fake time, number, campaign and opt-out read (`month_sim.Sent`).

Written apart from the product's own rules so that they check it rather than repeat
it: a send window is read here with `zoneinfo` from the campaign's stored window, the
rolling 24 hours are counted send by send (not in the product's hourly buckets).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.reliability.month_sim import Sent

DAY = timedelta(hours=24)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def by_session(sent: Iterable[Sent]) -> dict[str, list[Sent]]:
    """Each number's messages in the order WhatsApp got them."""
    result: dict[str, list[Sent]] = defaultdict(list)
    for message in sorted(sent, key=lambda m: (m.at, m.step)):
        result[message.session].append(message)
    return dict(result)


@dataclass(frozen=True)
class Gap:
    seconds: float
    required_s: float
    first: Sent
    second: Sent


def gaps(sent: Iterable[Sent], min_delay_ms: Mapping[str, int]) -> dict[str, list[Gap]]:
    """Per number, each pair of consecutive messages with the gap the contract asks of
    them: the smaller minDelayMs of the two campaigns that sent them."""
    result: dict[str, list[Gap]] = {}
    for session, messages in by_session(sent).items():
        result[session] = [
            Gap(
                (b.at - a.at).total_seconds(),
                min(min_delay_ms[a.campaign_id], min_delay_ms[b.campaign_id]) / 1000,
                a,
                b,
            )
            for a, b in itertools.pairwise(messages)
        ]
    return result


def most_in_a_day(messages: list[Sent]) -> tuple[int, datetime | None]:
    """The most messages in any rolling 24 hours (a window [t, t + 24 h) starting at a
    message holds the most), and where that window starts."""
    times = [m.at for m in messages]
    best, start, j = 0, None, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + DAY:
            j += 1
        if j - i > best:
            best, start = j - i, t
    return best, start


def in_window(window: Mapping[str, Any], at: datetime) -> bool:
    """Whether `at` falls in the campaign's send window: wall-clock hours in its zone,
    so daylight-saving changes move them in UTC; a window whose end is not after its
    start spans midnight and belongs to the day it opens."""
    zone = ZoneInfo(window["timeZone"])
    local = at.astimezone(zone)
    start, end = time.fromisoformat(window["start"]), time.fromisoformat(window["end"])
    days = window.get("days")

    def listed(day: date) -> bool:
        return days is None or DAYS[day.weekday()] in days

    clock = local.time()
    if start < end:
        return start <= clock < end and listed(local.date())
    return (clock >= start and listed(local.date())) or (
        clock < end and listed(local.date() - timedelta(days=1))
    )


def utc_offsets(window: Mapping[str, Any], messages: Iterable[Sent]) -> set[timedelta]:
    """The zone's UTC offsets at the campaign's sends (two: it sent on both sides of a
    daylight-saving change)."""
    zone = ZoneInfo(window["timeZone"])
    return {offset for m in messages if (offset := m.at.astimezone(zone).utcoffset()) is not None}


@dataclass(frozen=True)
class OptOut:
    phone: str
    step: int
    at: datetime
    session: str
    reached_before: bool  # a campaign had already sent to it


@dataclass(frozen=True)
class OptOutFindings:
    # Sent although the runner read the list after the opt-out was recorded: a breach.
    after_check: list[Sent]
    # Sent after the opt-out was recorded, by a send already past its check (the one
    # contact in flight; the contract counts an opt-out from the next contact).
    in_flight: list[Sent]
    # Sent without any opt-out read in that invocation: a breach.
    unchecked: list[Sent]


def opt_out_findings(sent: Iterable[Sent], opt_outs: Iterable[OptOut]) -> OptOutFindings:
    recorded = {o.phone: o for o in opt_outs}
    after_check: list[Sent] = []
    in_flight: list[Sent] = []
    unchecked: list[Sent] = []
    for message in sent:
        if message.checked_step is None:
            unchecked.append(message)
        opt_out = recorded.get(message.phone)
        if opt_out is None or opt_out.step > message.step:
            continue
        if message.checked_step is not None and message.checked_step < opt_out.step:
            in_flight.append(message)
        else:
            after_check.append(message)
    return OptOutFindings(after_check, in_flight, unchecked)
