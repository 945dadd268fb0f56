"""Pacing per WhatsApp number: whatever campaigns share a number, two sends through it
are never closer than the smaller `minDelayMs` of the two campaigns, never more than
the number's daily limit go out in any rolling 24 hours, and campaigns take turns.

`decide` is the rule, pure: given what the number last did, may this campaign send
now, and if not, from when? `campaigns.data.number_slots` applies it with one
conditional write on the session, so it holds across invocations and processes.

A send is recorded when its turn is taken, at the latest moment it can go out; once
it has gone out, the runner settles the turn with the moment its request really
started (`settled_at`). Another campaign counts its gap from the settled moment when
there is one, and from the latest otherwise; while a turn is still unsettled it asks
again from the earliest the turn could have gone out, so that the number is not left
idle for the room a turn keeps.

The rolling count is kept in hourly buckets; a bucket counts while any part of it
is inside the last 24 hours, so the count is never below the real one (a send may
wait up to an hour longer than strictly needed at the limit, never go over it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
# How often a campaign waiting for another's unsettled turn asks again.
SETTLE_POLL = timedelta(milliseconds=100)
DAY = timedelta(hours=24)
DEFAULT_DAILY_LIMIT = 1_000
# A waiting campaign is remembered this long; a campaign that stopped asking is forgotten.
WAITER_MEMORY = timedelta(minutes=10)

BUSY = "Another campaign is sending through this WhatsApp number; taking turns"
AT_LIMIT = (
    "This WhatsApp number reached its daily limit of {limit} messages; waiting for the rolling 24 hours"
)


def hour_key(at: datetime) -> str:
    return at.strftime("%Y%m%d%H")


def hour_start(key: str) -> datetime:
    from datetime import UTC

    return datetime.strptime(key, "%Y%m%d%H").replace(tzinfo=UTC)


@dataclass
class NumberState:
    """What the number did last, as stored on its session."""

    last_send_at: datetime | None = None
    last_min_gap_ms: int = 0
    last_campaign_id: str | None = None
    hourly: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, datetime] = field(default_factory=dict)
    # The last turn: its id, the earliest its send could go out, and when it really
    # did, once settled (None until then).
    turn_id: str | None = None
    last_send_from: datetime | None = None
    settled_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    granted: bool
    not_before: datetime | None = None
    reason: str | None = None
    # Asked again at `not_before` from the number as stored then: the turn waited for
    # may be settled by then, earlier than its latest.
    recheck: bool = False
    # Granted after another campaign's turn: the send must not start before this.
    allowed_from: datetime | None = None


def sent_in_last_day(state: NumberState, now: datetime) -> tuple[int, datetime | None]:
    """Sends counted in the rolling 24 hours, and when the oldest counted hour leaves it."""
    counted = {k: v for k, v in state.hourly.items() if hour_start(k) + HOUR > now - DAY}
    if not counted:
        return 0, None
    oldest = min(hour_start(k) for k in counted)
    return sum(counted.values()), oldest + HOUR + DAY


def decide(
    state: NumberState,
    campaign_id: str,
    min_gap_ms: int,
    daily_limit: int | None,
    now: datetime,
    asked_at: datetime | None = None,
) -> Decision:
    """May `campaign_id` send through the number at `now`, asked at `asked_at` (`now`
    unless the send is judged at a later moment than the question)?"""
    asked_at = asked_at or now
    limit = DEFAULT_DAILY_LIMIT if daily_limit is None else int(daily_limit)
    count, frees_at = sent_in_last_day(state, now)
    if count >= limit:
        return Decision(False, frees_at or now + HOUR, AT_LIMIT.format(limit=limit))
    if state.last_send_at is None:
        return Decision(True)
    gap = timedelta(milliseconds=min(state.last_min_gap_ms, min_gap_ms))
    earliest = (state.settled_at or state.last_send_at) + gap
    # How soon a campaign waiting on a turn that may change asks again.
    poll = max(SETTLE_POLL, gap / 10)
    mine = state.last_campaign_id == campaign_id
    if earliest > now:
        if state.settled_at is None and state.last_send_from is not None and not mine:
            # Once settled, the turn may free the number sooner: ask again from its earliest.
            hopeful = max(state.last_send_from + gap, now + poll)
            if hopeful < earliest:
                return Decision(False, hopeful, BUSY, recheck=True)
        return Decision(False, earliest, BUSY)
    others = [c for c, since in state.waiting.items() if c != campaign_id and since > now - WAITER_MEMORY]
    if others and mine and asked_at < earliest + gap:
        # Fair turns: the campaign that sent last lets a waiting one go first, for up to
        # a gap; it asks again meanwhile, to follow the turn the other one takes.
        return Decision(False, min(earliest + gap, max(earliest, asked_at) + poll), BUSY, recheck=True)
    return Decision(True, allowed_from=None if mine else earliest)


def after_send(
    state: NumberState,
    campaign_id: str,
    min_gap_ms: int,
    send_at: datetime,
    now: datetime,
    sends_from: datetime | None = None,
) -> NumberState:
    """The state once `campaign_id` takes a turn to send at `send_at` at the latest
    (`sends_from` at the earliest, given when the turn will be settled after its send):
    a new, unsettled turn with an id of its own; old hours and waiters dropped."""
    hourly = {k: v for k, v in state.hourly.items() if hour_start(k) + HOUR > now - DAY}
    key = hour_key(send_at)
    hourly[key] = hourly.get(key, 0) + 1
    waiting = {c: t for c, t in state.waiting.items() if c != campaign_id and t > now - WAITER_MEMORY}
    return NumberState(send_at, min_gap_ms, campaign_id, hourly, waiting, uuid.uuid4().hex[:16], sends_from)


def moved_later(state: NumberState, campaign_id: str, send_at: datetime) -> NumberState | None:
    """The state once the number's last turn, `campaign_id`'s, moves later to `send_at`
    (its send is late: the calls before it took longer than its turn allowed); None when
    the last turn is another campaign's, taken since (then the send must wait for it)."""
    if state.last_campaign_id != campaign_id or state.last_send_at is None:
        return None
    if send_at <= state.last_send_at:
        return state
    hourly = dict(state.hourly)
    old, new = hour_key(state.last_send_at), hour_key(send_at)
    if old != new and hourly.get(old):
        hourly[old] -= 1
        if not hourly[old]:
            del hourly[old]
        hourly[new] = hourly.get(new, 0) + 1
    return replace(state, last_send_at=send_at, hourly=hourly)
