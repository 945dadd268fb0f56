"""A WhatsApp number's send slots: the rule of `campaigns.domain.number_pacing`, applied
with one conditional write on the number's session item (a version number), so that
concurrent runner invocations, retries and takeovers cannot both take a slot."""

from __future__ import annotations

import json
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, UpdateError

from campaigns.data.campaign_writes import conditional_failure
from campaigns.data.models import WhatsAppSession
from campaigns.domain.eta import NumberLoad
from campaigns.domain.number_pacing import (
    DEFAULT_DAILY_LIMIT,
    WAITER_MEMORY,
    Decision,
    NumberState,
    after_send,
    decide,
    moved_later,
    sent_in_last_day,
)
from campaigns.timeutil import parse_iso, to_iso

ATTEMPTS = 5


def _state(item: WhatsAppSession) -> NumberState:
    waiting = json.loads(item.number_waiting or "{}")
    return NumberState(
        last_send_at=item.number_last_send_at,
        last_min_gap_ms=int(item.number_last_gap_ms or 0),
        last_campaign_id=item.number_last_campaign,
        hourly={k: int(v) for k, v in json.loads(item.number_hourly or "{}").items()},
        waiting={c: parse_iso(t) for c, t in waiting.items()},
    )


def _version_holds(item: WhatsAppSession):
    if item.number_version is None:
        return WhatsAppSession.number_version.does_not_exist()
    return WhatsAppSession.number_version == item.number_version


def _write(item: WhatsAppSession, state: NumberState) -> bool:
    """Store `state` if nobody wrote the number since `item` was read."""
    actions = [
        WhatsAppSession.number_hourly.set(json.dumps(state.hourly, sort_keys=True)),
        WhatsAppSession.number_waiting.set(json.dumps({c: to_iso(t) for c, t in state.waiting.items()})),
        WhatsAppSession.number_version.set(int(item.number_version or 0) + 1),
    ]
    if state.last_send_at is not None:
        actions += [
            WhatsAppSession.number_last_send_at.set(state.last_send_at),
            WhatsAppSession.number_last_gap_ms.set(state.last_min_gap_ms),
            WhatsAppSession.number_last_campaign.set(state.last_campaign_id or ""),
        ]
    try:
        WhatsAppSession(item.name).update(actions=actions, condition=_version_holds(item))
        return True
    except UpdateError as exc:
        if conditional_failure(exc):
            return False
        raise


class NumberSlots:
    """Send slots of WhatsApp numbers. The state this object last wrote is kept, so a
    number only this run sends through costs one conditional write per send; when
    another writer got there first, the item is read again."""

    def __init__(self) -> None:
        self._known: dict[str, WhatsAppSession] = {}

    def take(
        self,
        session_name: str,
        campaign_id: str,
        min_gap_ms: int,
        send_at: datetime,
        now: datetime,
        sends_from: datetime | None = None,
        wait_turn: bool = True,
    ) -> Decision:
        """A slot for one send through the number, or when to ask again. The send is
        judged at `sends_from`, the earliest it can reach WAHA, and recorded at
        `send_at`, the latest: whatever happens between, the next sender's gap holds.
        A campaign told to wait is remembered as waiting, for fair turns (unless
        `wait_turn` is False: a one-off send that will not ask again)."""
        earliest = sends_from or send_at
        for _ in range(ATTEMPTS):
            item = self._known.pop(session_name, None) or self._read(session_name)
            if item is None:
                return Decision(True)  # no session item: nothing to pace against
            state = _state(item)
            limit = getattr(item, "daily_limit", None)  # None: the default limit
            # After its own send, a campaign's sends are both recorded at the latest: its
            # own pacing is unchanged. After another campaign's, judged at the earliest.
            judged_at = send_at if state.last_campaign_id == campaign_id else earliest
            decision = decide(state, campaign_id, min_gap_ms, limit, judged_at)
            if decision.granted:
                if self._write(item, after_send(state, campaign_id, min_gap_ms, send_at, now)):
                    return decision
                continue  # another send took the number meanwhile: read it again
            if wait_turn and campaign_id not in state.waiting:
                state.waiting[campaign_id] = now
                self._write(item, state)  # best effort: being remembered only makes turns fairer
            return decision
        return Decision(False, now, "The WhatsApp number is busy; trying again")

    def move_later(self, session_name: str, campaign_id: str, send_at: datetime) -> bool:
        """Move this campaign's turn, still the number's last, later to `send_at` (its
        send is late): True when it may go out now; False when another campaign's turn
        was taken since (the send must wait for it)."""
        for _ in range(ATTEMPTS):
            item = self._known.pop(session_name, None) or self._read(session_name)
            if item is None:
                return True
            state = moved_later(_state(item), campaign_id, send_at)
            if state is None:
                return False
            if self._write(item, state):
                return True
        return False

    @staticmethod
    def _read(session_name: str) -> WhatsAppSession | None:
        try:
            return WhatsAppSession.get(session_name, consistent_read=True)
        except DoesNotExist:
            return None

    def _write(self, item: WhatsAppSession, state: NumberState) -> bool:
        if not _write(item, state):
            return False
        item.number_version = int(item.number_version or 0) + 1
        item.number_last_send_at = state.last_send_at
        item.number_last_gap_ms = state.last_min_gap_ms
        item.number_last_campaign = state.last_campaign_id
        item.number_hourly = json.dumps(state.hourly, sort_keys=True)
        item.number_waiting = json.dumps({c: to_iso(t) for c, t in state.waiting.items()})
        self._known[item.name] = item
        return True


def number_load(
    session_name: str | None, campaign_id: str, min_gap_ms: int, now: datetime
) -> NumberLoad | None:
    """How the campaigns sending through a number share it now, for an estimate (one
    eventually consistent read): the campaigns that sent or asked for a turn lately."""
    if not session_name:
        return None
    try:
        item = WhatsAppSession.get(session_name)
    except DoesNotExist:
        return None
    state = _state(item)
    recent = now - WAITER_MEMORY
    others = {c for c, since in state.waiting.items() if c != campaign_id and since > recent}
    if (
        state.last_campaign_id not in (None, campaign_id)
        and state.last_send_at
        and state.last_send_at > recent
    ):
        others.add(state.last_campaign_id)
    gap = min(min_gap_ms, int(state.last_min_gap_ms)) if others and state.last_min_gap_ms else min_gap_ms
    limit = DEFAULT_DAILY_LIMIT if item.daily_limit is None else int(item.daily_limit)
    return NumberLoad(
        sharing=1 + len(others),
        min_gap_ms=gap,
        daily_limit=limit,
        sent_last_day=sent_in_last_day(state, now)[0],
    )
