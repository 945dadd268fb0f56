"""A WhatsApp number's send slots: the rule of `campaigns.domain.number_pacing`, applied
with one conditional write on the number's session item (a version number), so that
concurrent runner invocations, retries and takeovers cannot both take a slot.

A slot is decided from the number's state as last read or written here (`decide`), and
written as a `SlotWrite`: alone (`take`, a test send), or as one item of the runner's
claim, so that a paced contact's claim, opt-out check and slot are one request. A
write refused because another writer got there first makes the next decision read
the number again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, UpdateError

from campaigns.data.campaign_writes import TransactItem, conditional_failure
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
    turn = item.number_turn_id
    settled = turn is not None and item.number_settled_turn == turn
    return NumberState(
        last_send_at=item.number_last_send_at,
        last_min_gap_ms=int(item.number_last_gap_ms or 0),
        last_campaign_id=item.number_last_campaign,
        hourly={k: int(v) for k, v in json.loads(item.number_hourly or "{}").items()},
        waiting={c: parse_iso(t) for c, t in waiting.items()},
        turn_id=turn,
        last_send_from=item.number_last_send_from,
        settled_at=item.number_settled_at if settled else None,
    )


def _version(item: WhatsAppSession) -> int | None:
    return None if item.number_version is None else int(item.number_version)


def _version_holds(version: int | None):
    if version is None:
        return WhatsAppSession.number_version.does_not_exist()
    return WhatsAppSession.number_version == version


def _actions(version: int | None, state: NumberState) -> list:
    actions = [
        WhatsAppSession.number_hourly.set(json.dumps(state.hourly, sort_keys=True)),
        WhatsAppSession.number_waiting.set(json.dumps({c: to_iso(t) for c, t in state.waiting.items()})),
        WhatsAppSession.number_version.set((version or 0) + 1),
    ]
    if state.last_send_at is not None:
        actions += [
            WhatsAppSession.number_last_send_at.set(state.last_send_at),
            WhatsAppSession.number_last_gap_ms.set(state.last_min_gap_ms),
            WhatsAppSession.number_last_campaign.set(state.last_campaign_id or ""),
        ]
    if state.turn_id is not None:
        # A new turn always has a new id: no settlement of an older one can apply to it.
        actions.append(WhatsAppSession.number_turn_id.set(state.turn_id))
        if state.last_send_from is None:
            actions.append(WhatsAppSession.number_last_send_from.remove())
        else:
            actions.append(WhatsAppSession.number_last_send_from.set(state.last_send_from))
    return actions


def _write(name: str, version: int | None, state: NumberState) -> bool:
    """Store `state` if nobody wrote the number since it was at `version`."""
    try:
        WhatsAppSession(name).update(actions=_actions(version, state), condition=_version_holds(version))
        return True
    except UpdateError as exc:
        if conditional_failure(exc):
            return False
        raise


@dataclass
class SlotWrite:
    """A slot granted from the number's state as last known, not yet written: the
    session's update to `state`, conditioned on the version that state was known at.
    Written once, alone (`apply`) or in another request (`transact_item`); either way
    the outcome is noted on the state `slots` keeps."""

    slots: NumberSlots
    item: WhatsAppSession
    version: int | None
    state: NumberState

    def apply(self) -> bool:
        """Write it alone: False when another writer got there first."""
        if _write(self.item.name, self.version, self.state):
            self.written()
            return True
        self.refused()
        return False

    def transact_item(self) -> TransactItem:
        """The slot as an item of a transaction, named "number"."""
        return TransactItem(
            "number",
            "update",
            lambda tx: tx.update(
                WhatsAppSession(self.item.name),
                actions=_actions(self.version, self.state),
                condition=_version_holds(self.version),
            ),
            written=self.written,
            refused=self.refused,
        )

    def written(self) -> None:
        self.slots.wrote(self.item, self.version, self.state)

    @property
    def turn(self) -> tuple[str, str] | None:
        """(the number's session name, the turn's id), for its settlement."""
        return None if self.state.turn_id is None else (self.item.name, self.state.turn_id)

    def refused(self) -> None:
        self.slots.forget(self.item.name)


class NumberSlots:
    """Send slots of WhatsApp numbers. The state this object last read or wrote is
    kept, so a number only this run sends through is read once per invocation and
    then costs its slot's write alone; when another writer got there first, the write
    is refused and the item is read again."""

    def __init__(self) -> None:
        self._known: dict[str, WhatsAppSession] = {}

    def decide(
        self,
        session_name: str,
        campaign_id: str,
        min_gap_ms: int,
        send_at: datetime,
        now: datetime,
        sends_from: datetime | None = None,
        wait_turn: bool = True,
        settled_later: bool = True,
    ) -> tuple[Decision, SlotWrite | None]:
        """May this campaign send through the number, from the state last known, and the
        slot's write when it may (None: no session item, nothing to pace against). The
        send is judged at `sends_from`, the earliest it can reach WAHA, and recorded at
        `send_at`, the latest: whatever happens between, the next sender's gap holds. A
        campaign told to wait is remembered as waiting, for fair turns (unless
        `wait_turn` is False: a one-off send that will not ask again). A turn whose send
        will not be settled (`settled_later` False) is never asked again early."""
        item = self._current(session_name)
        if item is None:
            return Decision(True), None
        state = _state(item)
        limit = getattr(item, "daily_limit", None)  # None: the default limit
        # After its own send, a campaign's sends are both recorded at the latest: its
        # own pacing is unchanged. After another campaign's, judged at `sends_from`.
        judged_at = send_at if state.last_campaign_id == campaign_id else (sends_from or send_at)
        decision = decide(state, campaign_id, min_gap_ms, limit, judged_at, asked_at=now)
        if decision.granted:
            after = after_send(
                state, campaign_id, min_gap_ms, send_at, now, sends_from if settled_later else None
            )
            return decision, SlotWrite(self, item, _version(item), after)
        if wait_turn and campaign_id not in state.waiting:
            state.waiting[campaign_id] = now
            self._write(item, state)  # best effort: being remembered only makes turns fairer
            if decision.recheck:
                self.forget(session_name)  # its settlement does not change the version
        else:
            self.forget(session_name)  # another sender holds the number: read it again
        return decision, None

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
        """`decide`, and the slot written at once: a slot for one send, or when to ask again."""
        for _ in range(ATTEMPTS):
            decision, write = self.decide(
                session_name,
                campaign_id,
                min_gap_ms,
                send_at,
                now,
                sends_from,
                wait_turn,
                settled_later=False,
            )
            if write is None or write.apply():
                return decision
            # another send took the number meanwhile: read it again
        return Decision(False, now, "The WhatsApp number is busy; trying again")

    def move_later(self, session_name: str, campaign_id: str, send_at: datetime) -> bool:
        """Move this campaign's turn, still the number's last, later to `send_at` (its
        send is late): True when it may go out now; False when another campaign's turn
        was taken since (the send must wait for it)."""
        for _ in range(ATTEMPTS):
            item = self._current(session_name)
            if item is None:
                return True
            state = moved_later(_state(item), campaign_id, send_at)
            if state is None:
                self.forget(session_name)
                return False
            if self._write(item, state):
                return True
        return False

    def wrote(self, item: WhatsAppSession, version: int | None, state: NumberState) -> None:
        """`state` was written over `version` of `item`: the number's state as last known."""
        item.number_version = (version or 0) + 1
        item.number_last_send_at = state.last_send_at
        item.number_last_gap_ms = state.last_min_gap_ms
        item.number_last_campaign = state.last_campaign_id
        item.number_hourly = json.dumps(state.hourly, sort_keys=True)
        item.number_waiting = json.dumps({c: to_iso(t) for c, t in state.waiting.items()})
        item.number_turn_id = state.turn_id
        item.number_last_send_from = state.last_send_from
        self._known[item.name] = item

    def known(self, item: WhatsAppSession) -> None:
        """`item` was just read consistently: the number's state as last known, so the
        first turn of an invocation needs no read of its own."""
        self._known[item.name] = item

    def forget(self, session_name: str) -> None:
        """Another writer got there first: the number is read again when next asked."""
        self._known.pop(session_name, None)

    def _current(self, session_name: str) -> WhatsAppSession | None:
        item = self._known.get(session_name) or self._read(session_name)
        if item is not None:
            self._known[session_name] = item
        return item

    @staticmethod
    def _read(session_name: str) -> WhatsAppSession | None:
        try:
            return WhatsAppSession.get(session_name, consistent_read=True)
        except DoesNotExist:
            return None

    def _write(self, item: WhatsAppSession, state: NumberState) -> bool:
        version = _version(item)
        if _write(item.name, version, state):
            self.wrote(item, version, state)
            return True
        self.forget(item.name)
        return False


def settlement(session_name: str, turn_id: str, started_at: datetime) -> TransactItem:
    """A turn's settlement, as an item of the transaction that records its send: the
    moment the send's request really started. Unconditional and outside the version: a
    settlement that lands after another campaign's turn is told apart by its id, and
    ignored. Never in a transaction that also writes the number's next turn."""
    return TransactItem(
        "settle",
        "update",
        lambda tx: tx.update(
            WhatsAppSession(session_name),
            actions=[
                WhatsAppSession.number_settled_turn.set(turn_id),
                WhatsAppSession.number_settled_at.set(started_at),
            ],
        ),
    )


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
