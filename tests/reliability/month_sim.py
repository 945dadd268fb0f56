"""A discrete-event simulation of the product on a fake clock, for the simulated month.

Time is one fake UTC instant (`Simulation.now`) that everything reads: the runner
(its clock, monotonic time and sleep), so its pacing, the number slots and the send
windows; the schedule's tick; the signed webhook; the user's commands. Nothing waits
for real.

Events wait in a priority queue ordered by fake time: runner invocations (a first
event, a hand-off, a continuation delivered after its delay, a duplicated copy),
schedule ticks, inbound webhooks and user actions. Each runner invocation runs in a
thread of its own, but only one thread runs at a time: an invocation that sleeps (a
pacing gap, typing, the latency of a WAHA call) hands control back to the loop, which
delivers whatever comes due meanwhile (another campaign's turn on the same number, a
STOP, a user's pause) and resumes the sleeper when its time comes. Invocations thus
interleave wherever a real one can be overtaken while time passes, and a run is
reproducible from its seed.

`SimInvoker` is Lambda's asynchronous invocation and the SQS continuation queue:
at least once (a copy now and then), a continuation never early and sometimes lost.
`SimSender` is WhatsApp behind WAHA: every call takes time, a few take seconds, some
numbers are not on WhatsApp, and the process dies just before or just after chosen
sends; every message it takes is logged with its fake time, its number (session),
its campaign and whether the runner had checked the opt-out list for it.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from campaigns.api import webhooks
from campaigns.config import Settings
from campaigns.data.run_writes import Claim, Recipient
from campaigns.data.session_keys import session_keys
from campaigns.data.store import CampaignStore
from campaigns.runner.service import CampaignRunner, RunEvent, RunResult
from campaigns.sending.sender import OutgoingMessage, SendPlan, SendResult, SessionState, require_on_time
from campaigns.sending.waha_client import chat_id_for
from tests.reliability.faults import SimulatedCrash

# Monotonic time is seconds since this instant of the fake clock.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# A simulated invocation that neither sleeps nor ends within this many real seconds hangs.
HANG_S = 60.0


@dataclass
class Invocation:
    """One simulated runner invocation (a thread that runs only when the loop lets it)."""

    number: int
    event: dict[str, Any]
    go: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    slept: bool = False
    crashed: bool = False
    result: RunResult | None = None
    error: BaseException | None = None
    # The step at which this invocation last checked the opt-out list, per number.
    checked: dict[str, int] = field(default_factory=dict)


class Simulation:
    """The fake clock and the event loop."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._queue: list[tuple[datetime, int, str, Any]] = []
        self._order = itertools.count()
        self._steps = itertools.count(1)
        self._yielded = threading.Event()
        self._local = threading.local()
        self._invocations = itertools.count()
        self.handlers: dict[str, Callable[[Any], None]] = {}
        # Called in the loop each time an invocation has run (until it slept or ended).
        self.after_switch: Callable[[Invocation], None] = lambda task: None
        self.events = Counter[str]()

    # ------------------------------------------------------------ time, as the product reads it

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - EPOCH).total_seconds()

    def sleep(self, seconds: float) -> None:
        """An invocation waits: the loop runs whatever comes due meanwhile."""
        task = self.current()
        if task is None:
            raise RuntimeError("only a simulated invocation sleeps on the fake clock")
        task.slept = True
        self.at(self.now + timedelta(seconds=max(0.0, seconds)), "resume", task)
        self._yielded.set()
        task.go.wait()
        task.go.clear()

    def step(self) -> int:
        """A number that orders what happened (sends, opt-out checks, recorded opt-outs)."""
        return next(self._steps)

    def current(self) -> Invocation | None:
        return getattr(self._local, "task", None)

    # ------------------------------------------------------------ events

    def at(self, when: datetime, kind: str, payload: Any = None) -> None:
        heapq.heappush(self._queue, (when, next(self._order), kind, payload))

    def after(self, seconds: float, kind: str, payload: Any = None) -> None:
        self.at(self.now + timedelta(seconds=seconds), kind, payload)

    def run_until(self, end: datetime) -> None:
        while self._queue and self._queue[0][0] <= end:
            when, _, kind, payload = heapq.heappop(self._queue)
            self.now = max(self.now, when)
            self.events[kind] += 1
            if kind == "resume":
                self._switch(payload, resume=True)
            else:
                self.handlers[kind](payload)
        self.now = max(self.now, end)

    def spawn(self, event: dict[str, Any], body: Callable[[Invocation], None]) -> Invocation:
        """Start an invocation now; returns once it sleeps or ends."""
        task = Invocation(next(self._invocations), event)

        def thread_body() -> None:
            self._local.task = task
            try:
                body(task)
            except SimulatedCrash:
                task.crashed = True
            except BaseException as exc:  # surfaced in the loop's thread
                task.error = exc
            finally:
                task.done = True
                self._yielded.set()

        self._switch(task, resume=False, thread=threading.Thread(target=thread_body, daemon=True))
        return task

    def _switch(self, task: Invocation, *, resume: bool, thread: threading.Thread | None = None) -> None:
        self._yielded.clear()
        if resume:
            task.go.set()
        else:
            assert thread is not None
            thread.start()
        if not self._yielded.wait(HANG_S):
            raise AssertionError(f"simulated invocation {task.number} hung ({task.event})")
        if task.error is not None:
            raise task.error
        self.after_switch(task)


# ------------------------------------------------------------------ Lambda and SQS


@dataclass
class SimInvoker:
    """Lambda's Event invocation and the runner's SQS continuation queue, on the
    simulation: an invocation starts a moment later, a continuation after its
    whole-second delay (never early, up to a second late). At least once: now and then
    a copy arrives again up to `copy_late_s` later; a continuation is sometimes lost."""

    sim: Simulation
    rng: random.Random
    duplicate_p: float
    lose_p: float
    copy_late_s: float = 90.0
    faults: Counter[str] = field(default_factory=Counter)

    def invoke(self, event: dict[str, Any], function_name: str | None = None) -> None:
        self._deliver(event, self.rng.uniform(0.05, 0.5))

    def continue_later(self, event: dict[str, Any], delay_s: int) -> None:
        if self.rng.random() < self.lose_p:
            self.faults["lost continuation"] += 1
            return
        self._deliver(event, delay_s + self.rng.uniform(0.0, 1.0))

    def _deliver(self, event: dict[str, Any], after_s: float) -> None:
        self.sim.after(after_s, "invoke", dict(event))
        if self.rng.random() < self.duplicate_p:
            self.faults["duplicated invocation"] += 1
            self.sim.after(after_s + self.rng.uniform(0.0, self.copy_late_s), "invoke", dict(event))


# ------------------------------------------------------------------ WhatsApp behind WAHA


@dataclass(frozen=True)
class Sent:
    """A message WAHA took: at the start of its delivering request (where pacing counts from)."""

    step: int
    at: datetime
    session: str
    phone: str
    campaign_id: str
    index: int
    checked_step: int | None  # when the runner checked the opt-out list for this number

    @property
    def chat(self) -> str:
        return chat_id_for(self.phone)


class SimSender:
    """WAHA and WhatsApp on the fake clock. Each call takes 50-400 ms, one in `slow_p`
    takes 1.5-4 s; `not_on_whatsapp` numbers fail the number check; the process dies
    just before the send attempts numbered in `crash_before` (claimed, nothing sent) and
    just after those in `crash_after` (sent, nothing recorded)."""

    WORST_CASE_MS = 15_000

    def __init__(
        self,
        sim: Simulation,
        rng: random.Random,
        *,
        not_on_whatsapp: set[str],
        crash_before: set[int],
        crash_after: set[int],
        slow_p: float = 0.02,
    ) -> None:
        self.sim = sim
        self.rng = rng
        self.not_on_whatsapp = set(not_on_whatsapp)
        self.crash_before = set(crash_before)
        self.crash_after = set(crash_after)
        self.slow_p = slow_p
        self.sent: list[Sent] = []
        self.attempts = 0
        self.crashes: Counter[str] = Counter()  # by campaign
        self.slow_calls = 0

    def _call(self) -> float:
        """One WAHA round trip: the time it takes passes on the fake clock."""
        if self.rng.random() < self.slow_p:
            self.slow_calls += 1
            seconds = self.rng.uniform(1.5, 4.0)
        else:
            seconds = self.rng.uniform(0.05, 0.4)
        self.sim.sleep(seconds)
        return seconds

    def worst_case_ms(self, plan: SendPlan) -> int:
        return self.WORST_CASE_MS

    def session_state(self, session: str) -> SessionState:
        self._call()
        return SessionState(name=session, status="WORKING")

    def number_exists(self, session: str, phone_number: str) -> bool | None:
        self._call()
        return phone_number not in self.not_on_whatsapp

    def start_typing(self, session: str, phone_number: str) -> None:
        self._call()

    def stop_typing(self, session: str, phone_number: str) -> None:
        self._call()

    def send(self, message: OutgoingMessage) -> SendResult:
        number = self.attempts
        self.attempts += 1
        campaign_id, index = message.idempotency_key.rsplit(":", 1)
        if number in self.crash_before:
            self.crashes[campaign_id] += 1
            raise SimulatedCrash(f"died before send attempt {number}")
        prepared_s = self._call()  # a pre-generated message id
        require_on_time(message)  # as the WAHA sender asks, just before the delivering request
        started = self.sim.monotonic()
        task = self.sim.current()
        checked = task.checked.get(message.phone_number) if task is not None else None
        self.sent.append(
            Sent(
                self.sim.step(),
                self.sim.now,
                message.session,
                message.phone_number,
                campaign_id,
                int(index),
                checked,
            )
        )
        self._call()
        if number in self.crash_after:
            self.crashes[campaign_id] += 1
            raise SimulatedCrash(f"died after send attempt {number}")
        return SendResult(
            message_id=f"true_{chat_id_for(message.phone_number)}_{number:08X}",
            delivery_lag_s=self.sim.monotonic() - started,
            prepared_s=prepared_s,
        )


# ------------------------------------------------------------------ the product on the simulation


def runner_on(
    sim: Simulation,
    sender: SimSender,
    invoker: SimInvoker,
    cfg: Settings,
    rng: random.Random,
    noted: Counter[str],
) -> CampaignRunner:
    """The real runner, reading the fake clock. Each opt-out check it makes (in a claim's
    request) is noted on the invocation; each park is counted in `noted` by its reason, a late turn moved
    later as "turn moved later", a send that overran its turn and took it again as
    "turn taken again" (the check, the park and the turns are the runner's own)."""
    runner = CampaignRunner(
        CampaignStore(cfg.lease_seconds),
        sender,
        invoker,
        cfg,
        sleep=sim.sleep,
        monotonic=sim.monotonic,
        clock=sim.wall,
        rng=rng,
    )
    writes = runner.store.run
    claim, record = writes.claim, writes.record

    def note_check(recipient: Recipient | None) -> None:
        task = sim.current()
        if recipient is not None and task is not None:
            task.checked[recipient.phone_number] = sim.step()

    def checked_claim(campaign_id: str, token: str, index: int, recipient: Recipient, *args: Any) -> Claim:
        note_check(recipient)  # the claim checks the opt-out list in its own request
        return claim(campaign_id, token, index, recipient, *args)

    def checked_record(*args: Any, claim_next: Recipient | None = None, **options: Any) -> bool:
        note_check(claim_next)  # and so does the next contact's claim merged into a record
        return record(*args, claim_next=claim_next, **options)

    writes.claim = checked_claim  # type: ignore[method-assign]
    writes.record = checked_record  # type: ignore[method-assign]
    parked = runner.end.parked  # after every park written, its own or a record's

    def noted_park(run: Any, wait: Any, delay_s: int) -> RunResult:
        noted[f"park: {wait.reason}"] += 1
        return parked(run, wait, delay_s)

    runner.end.parked = noted_park  # type: ignore[method-assign]
    overran = runner.step.turn.overran

    def noted_overrun() -> bool:
        late = overran()
        if late:
            noted["turn taken again"] += 1
        return late

    runner.step.turn.overran = noted_overrun  # type: ignore[method-assign]
    move_later = runner.waits.slots.move_later

    def noted_move(session: str, campaign_id: str, send_at: datetime) -> bool:
        moved = move_later(session, campaign_id, send_at)
        noted["turn moved later" if moved else "turn not movable"] += 1
        return moved

    runner.waits.slots.move_later = noted_move  # type: ignore[method-assign]
    return runner


def invoke_runner(
    sim: Simulation, runner: Callable[[], CampaignRunner], event: dict[str, Any], timeout_ms: int
) -> Invocation:
    """One runner invocation with a Lambda-like time budget counting down on the fake clock."""
    deadline = sim.monotonic() + timeout_ms / 1000

    def body(task: Invocation) -> None:
        remaining = lambda: int((deadline - sim.monotonic()) * 1000)  # noqa: E731
        task.result = runner().run(RunEvent.parse(event), remaining, "runner")

    return sim.spawn(event, body)


def signed_message(session_name: str, from_phone: str, text: str, now: datetime, event_id: str) -> int:
    """A contact's message to the number, as WAHA posts it to POST /webhooks/waha: signed
    (HMAC-SHA512 of the raw body with the session's key) and stamped with the fake time;
    handed to the webhook's own entry point with that time. Returns the answer's status."""
    now_ms = int(now.timestamp() * 1000)
    digits = from_phone.lstrip("+")
    envelope = {
        "id": event_id,
        "timestamp": now_ms,
        "event": "message",
        "session": session_name,
        "payload": {
            "id": f"false_{digits}@c.us_{event_id}",
            "from": f"{digits}@c.us",
            "fromMe": False,
            "body": text,
        },
    }
    raw = json.dumps(envelope).encode()
    key = session_keys().get(session_name) or ""
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Timestamp": str(now_ms),
        "X-Webhook-Hmac": hmac.new(key.encode(), raw, hashlib.sha512).hexdigest(),
        "X-Webhook-Hmac-Algorithm": "sha512",
    }
    return webhooks.receive(session_name, headers, raw, now).status
