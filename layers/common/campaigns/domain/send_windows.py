"""Send windows: the hours, in the recipients' time zone, when a campaign may send.

`{start: "09:00", end: "20:00", timeZone: "Europe/Madrid", days?: ["Mon", ...]}`.
A window whose end is not after its start spans midnight (`22:00`-`06:00`); its
day is the day it opens. Times are wall-clock times in the zone, so a window keeps
its hours across daylight-saving changes; an opening that falls in a skipped hour
(spring forward) opens at the same wall time shifted by the change, never earlier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class InvalidSendWindow(ValueError):
    pass


def _clock(value: Any, field: str) -> time:
    try:
        hours, minutes = str(value).split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise InvalidSendWindow(f"{field} must be a time of day as HH:MM, e.g. 09:00") from None


def _zone(value: Any) -> ZoneInfo:
    if not isinstance(value, str) or not value or value.startswith(("/", ".")) or ".." in value:
        raise InvalidSendWindow("timeZone must be an IANA time zone such as Europe/Madrid")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSendWindow(f"timeZone {value!r} is not a known IANA time zone") from None


@dataclass(frozen=True)
class SendWindow:
    start: time
    end: time
    zone: ZoneInfo
    days: frozenset[int] | None = None  # 0 = Monday; None = every day

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> SendWindow:
        """From the API's / the stored shape; raises InvalidSendWindow with a reason."""
        start, end = _clock(raw.get("start"), "start"), _clock(raw.get("end"), "end")
        if start == end:
            raise InvalidSendWindow("the window is empty: start and end are the same time")
        days = raw.get("days")
        if days is None:
            return cls(start, end, _zone(raw.get("timeZone")))
        if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
            raise InvalidSendWindow(f"days must be a non-empty list of {', '.join(DAYS)}")
        return cls(start, end, _zone(raw.get("timeZone")), frozenset(DAYS.index(d) for d in days))

    def as_dict(self) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
            "timeZone": self.zone.key,
        }
        if self.days is not None:
            shape["days"] = [DAYS[d] for d in sorted(self.days)]
        return shape

    def _span(self, day: date) -> tuple[datetime, datetime]:
        """The window that opens on local `day`, in UTC."""
        opens = datetime.combine(day, self.start, tzinfo=self.zone)
        closes_on = day + timedelta(days=1) if self.end <= self.start else day
        closes = datetime.combine(closes_on, self.end, tzinfo=self.zone)
        return opens.astimezone(UTC), closes.astimezone(UTC)

    def next_opening(self, at: datetime) -> datetime:
        """`at` itself when the window is open then, else when it next opens (UTC)."""
        local_day = at.astimezone(self.zone).date()
        best: datetime | None = None
        for offset in range(-1, 9):
            day = local_day + timedelta(days=offset)
            if self.days is not None and day.weekday() not in self.days:
                continue
            opens, closes = self._span(day)
            if opens <= at < closes:
                return at
            if opens > at and (best is None or opens < best):
                best = opens
        assert best is not None  # a non-empty window opens within any eight days
        return best

    def closes_after(self, at: datetime) -> datetime:
        """When the window open at `at` closes (UTC); `at` must be inside an opening."""
        local_day = at.astimezone(self.zone).date()
        for offset in (-1, 0):
            day = local_day + timedelta(days=offset)
            if self.days is not None and day.weekday() not in self.days:
                continue
            opens, closes = self._span(day)
            if opens <= at < closes:
                return closes
        raise ValueError("the window is not open at that time")

    def is_open(self, at: datetime) -> bool:
        return self.next_opening(at) == at

    def describe(self) -> str:
        days = "every day" if self.days is None else ", ".join(DAYS[d] for d in sorted(self.days))
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone.key}, {days}"
