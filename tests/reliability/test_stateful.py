"""Property-based, stateful: random interleavings of what users, Lambda and WhatsApp
do to one campaign, with the invariants checked after every step.

Steps: run, pause, resume, cancel (the store's user transitions, as the API makes
them, each queueing the runner event the API would invoke); delivering a queued
runner event with a random time budget (so runs hand off to themselves); delivering
an old event again (Lambda's at-least-once delivery) or losing one; the WhatsApp
session dropping and coming back; the runner process dying just before or just
after a send; a send whose outcome is unknown; a number WhatsApp refuses; the
schedule's tick, now or past every lease. The campaign's own clock moves forward
instead of the test waiting for leases.

At the end of each example the faults stop and the campaign is driven to a final
state (resume, ticks, queued events), which must also satisfy the invariants.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from campaigns import config
from campaigns.data.store import CampaignStore
from campaigns.domain.errors import WrongStatus
from campaigns.domain.statuses import CampaignStatus
from campaigns.invoker import RecordingInvoker, runner_event
from campaigns.runner.service import RunEvent, RunResult
from campaigns.sending.sender import (
    ContactRejected,
    OutgoingMessage,
    SendNotAttempted,
    SendOutcomeUnknown,
    SendResult,
    SessionState,
    require_on_time,
)
from tests.builders import Builder
from tests.reliability import invariants
from tests.reliability.faults import Clock, SimulatedCrash, runner, tick
from tests.reliability.figures import FIGURES
from tests.runner_harness import Budget

SUITE = "stateful"
FINAL = {CampaignStatus.COMPLETED.value, CampaignStatus.FAILED.value, CampaignStatus.CANCELLED.value}
MAX_CONTACTS = 8
PICK = st.integers(min_value=0, max_value=9)
BUDGET = st.sampled_from([None, 1, 2, 3])  # time for this many contacts, then a hand-off
AT = st.integers(min_value=0, max_value=1)
# What the examples went through, so that the test can tell it explored something.
EXPLORED: Counter[str] = Counter()


FAULTS = ("crash-before", "crash-after", "unknown-sent", "unknown-not-sent", "session-drop")


class ScriptedSender:
    """A sender whose WhatsApp misbehaves on cue; `sent` is what WhatsApp received.

    `plan = (fault, n)`: the fault hits the n-th send from now (0 = the next one):
    the process dies just before it or just after it, its outcome is unknown (having
    gone out or not), or the session drops right before it."""

    def worst_case_ms(self, plan: object) -> int:
        return 0

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []
        self.status = "WORKING"
        self.plan: tuple[str, int] | None = None
        self.refused: set[str] = set()
        self.crashes = 0
        self.unknowns = 0

    def session_state(self, session: str) -> SessionState:
        return SessionState(name=session, status=self.status)

    def number_exists(self, session: str, phone_number: str) -> bool | None:
        return None

    def start_typing(self, session: str, phone_number: str) -> None:
        return None

    def stop_typing(self, session: str, phone_number: str) -> None:
        return None

    def _fault_now(self) -> str | None:
        if self.plan is None:
            return None
        fault, countdown = self.plan
        if countdown > 0:
            self.plan = (fault, countdown - 1)
            return None
        self.plan = None
        FIGURES.fault(SUITE)
        EXPLORED[fault] += 1
        return fault

    def send(self, message: OutgoingMessage) -> SendResult:
        fault = self._fault_now()
        if fault == "session-drop":
            self.status = "SCAN_QR_CODE"
        if fault == "crash-before":
            self.crashes += 1
            raise SimulatedCrash("died between claim and send")
        if self.status != "WORKING":
            raise SendNotAttempted(f"session is {self.status}")
        if message.phone_number in self.refused:
            raise ContactRejected("WhatsApp refused this number")
        require_on_time(message)  # as the WAHA sender asks, just before the delivering request
        if fault in ("unknown-sent", "unknown-not-sent"):
            self.unknowns += 1
            if fault == "unknown-sent":
                self.sent.append(message)
            raise SendOutcomeUnknown("the gateway timed out")
        self.sent.append(message)
        if fault == "crash-after":
            self.crashes += 1
            raise SimulatedCrash("died between send and record")
        return SendResult(message_id=f"id-{len(self.sent)}")


class CampaignMachine(RuleBasedStateMachine):
    endpoint: str = ""  # DynamoDB (moto) of this test session, set by the test

    def __init__(self) -> None:
        super().__init__()
        self.store = CampaignStore(config.settings().lease_seconds)
        self.clock = Clock()
        self.sender = ScriptedSender()
        self.invoker = RecordingInvoker()
        self.pending: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.status = CampaignStatus.SCHEDULED.value
        self.campaign_id = ""
        self.user_id = ""
        self.phones: list[str] = []
        FIGURES.case(SUITE)

    # ----------------------------------------------------------------- setup

    @initialize(count=st.integers(min_value=1, max_value=MAX_CONTACTS))
    def create_and_run_a_campaign(self, count: int) -> None:
        campaign = Builder().campaign(count)
        self.campaign_id, self.user_id = campaign.id, campaign.user_id
        self.phones = [f"+1555{index:07d}" for index in range(count)]
        assert self._user("run")  # POST /run: its runner event is queued

    # ----------------------------------------------------------------- users (the API)

    def _user(self, action: str) -> bool:
        transition = {
            "run": self.store.commands.run,
            "resume": self.store.commands.resume,
            "pause": self.store.commands.pause,
            "cancel": self.store.commands.cancel,
        }[action]
        try:
            transition(self.campaign_id, self.user_id, self.clock())
        except WrongStatus:
            return False
        if action in ("run", "resume"):
            self.pending.append(runner_event(self.campaign_id))
        return True

    @rule(action=st.sampled_from(["run", "pause", "resume", "run", "pause", "resume", "pause", "cancel"]))
    def user(self, action: str) -> None:
        """POST /run, /resume, /pause or /cancel (a wrong state is a 409: nothing changes)."""
        self._user(action)

    # ----------------------------------------------------------------- Lambda

    def _invoke(self, event: dict[str, Any], budget: int | None) -> RunResult | None:
        remaining = Budget(budget) if budget is not None else (lambda: 10**9)
        try:
            return runner(self.sender, self.invoker, self.clock).run(
                RunEvent.parse(event), remaining, "runner"
            )
        except SimulatedCrash:
            return None
        finally:
            self._collect_events()

    def _collect_events(self) -> None:
        """Runner events the runner and the schedule invoked, for this example's campaign
        (earlier examples' campaigns all ended final, so the schedule ignores them)."""
        self.pending.extend(e for e in self.invoker.pop_all() if e["campaignId"] == self.campaign_id)

    @precondition(lambda self: self.pending)
    @rule(pick=PICK, budget=BUDGET)
    def deliver_event(self, pick: int, budget: int | None) -> None:
        """A queued runner event is delivered; a small budget makes the run hand off."""
        event = self.pending.pop(pick % len(self.pending))
        self.delivered.append(event)
        self._invoke(event, budget)

    def _deliver_with(self, fault: str, pick: int, budget: int | None, at: int) -> None:
        """Deliver a queued event; `fault` hits the next send or the one after (in this
        invocation or a later one: it stays armed until it fires)."""
        self.sender.plan = (fault, at)
        self.deliver_event(pick, budget)

    @precondition(lambda self: self.pending)
    @rule(pick=PICK, budget=BUDGET, at=AT)
    def deliver_and_crash_before_a_send(self, pick: int, budget: int | None, at: int) -> None:
        """The process dies between claim and send."""
        self._deliver_with("crash-before", pick, budget, at)

    @precondition(lambda self: self.pending)
    @rule(pick=PICK, budget=BUDGET, at=AT)
    def deliver_and_crash_after_a_send(self, pick: int, budget: int | None, at: int) -> None:
        """The process dies between send and record."""
        self._deliver_with("crash-after", pick, budget, at)

    @precondition(lambda self: self.pending)
    @rule(pick=PICK, budget=BUDGET, at=AT)
    def deliver_and_a_sent_message_times_out(self, pick: int, budget: int | None, at: int) -> None:
        """WAHA times out after the message went out."""
        self._deliver_with("unknown-sent", pick, budget, at)

    @precondition(lambda self: self.pending)
    @rule(pick=PICK, budget=BUDGET, at=AT)
    def deliver_and_an_unsent_message_times_out(self, pick: int, budget: int | None, at: int) -> None:
        """WAHA times out; the message did not go out."""
        self._deliver_with("unknown-not-sent", pick, budget, at)

    @precondition(lambda self: self.pending)
    @rule(pick=PICK, budget=BUDGET, at=AT)
    def deliver_and_the_session_drops(self, pick: int, budget: int | None, at: int) -> None:
        """The session drops just before a send."""
        self._deliver_with("session-drop", pick, budget, at)

    @precondition(lambda self: self.delivered)
    @rule(pick=st.integers(min_value=0, max_value=9), now=st.booleans())
    def deliver_again(self, pick: int, now: bool) -> None:
        """Lambda delivers an event a second time, now or later."""
        FIGURES.fault(SUITE)
        event = dict(self.delivered[pick % len(self.delivered)])
        if now:
            self._invoke(event, None)
        else:
            self.pending.append(event)

    @precondition(lambda self: self.pending)
    @rule(pick=st.integers(min_value=0, max_value=9))
    def lose_event(self, pick: int) -> None:
        FIGURES.fault(SUITE)
        self.pending.pop(pick % len(self.pending))

    @rule(past_lease=st.booleans())
    def schedule_tick(self, past_lease: bool) -> None:
        if past_lease:
            self.clock.past_lease()
        tick(self.invoker, self.clock())
        self.pending.extend(self.invoker.pop_all())

    # ----------------------------------------------------------------- WhatsApp and crashes

    @rule(working=st.booleans())
    def session_changes(self, working: bool) -> None:
        """The WhatsApp session drops (needs a QR scan) or is paired again."""
        if not working:
            FIGURES.fault(SUITE)
        self.sender.status = "WORKING" if working else "SCAN_QR_CODE"

    @rule(pick=st.integers(min_value=0, max_value=MAX_CONTACTS - 1))
    def whatsapp_refuses_a_number(self, pick: int) -> None:
        FIGURES.fault(SUITE)
        self.sender.refused.add(self.phones[pick % len(self.phones)])

    # ----------------------------------------------------------------- invariants

    def _check(self) -> invariants.Snapshot:
        snapshot = invariants.from_store(self.campaign_id)
        invariants.check(
            snapshot,
            self.phones,
            invariants.chats_from_sender(self.sender),
            unknown_allowance=self.sender.crashes + self.sender.unknowns,
            suite=SUITE,
        )
        return snapshot

    @invariant()
    def guarantees_hold(self) -> None:
        if not self.campaign_id:
            return
        snapshot = self._check()
        EXPLORED[f"seen {snapshot.status}"] += 1
        EXPLORED["steps"] += 1
        if self.status in FINAL:
            assert snapshot.status == self.status, f"{self.status} campaign became {snapshot.status}"
        self.status = snapshot.status

    def teardown(self) -> None:
        """The faults stop; the campaign must reach a final state with the guarantees intact."""
        if not self.campaign_id:
            return
        self.sender.status = "WORKING"
        self.sender.plan = None
        for _ in range(40):
            if self.pending:
                self._invoke(self.pending.pop(0), None)
                continue
            status = self.store.reads.get_campaign(self.campaign_id).status
            if status in FINAL:
                break
            if status == CampaignStatus.PAUSED.value:
                assert self._user("resume")
            elif status == CampaignStatus.SCHEDULED.value:
                self.clock.past_lease()
                if self.campaign_id not in tick(self.invoker, self.clock()).started:
                    self._user("run")
                self._collect_events()
            else:
                self.clock.past_lease()
                tick(self.invoker, self.clock())
                self._collect_events()
        snapshot = self._check()
        EXPLORED[f"ended {snapshot.status}"] += 1
        EXPLORED["unknown deliveries"] += snapshot.campaign["unknownCount"]
        EXPLORED["failed deliveries"] += snapshot.campaign["failedCount"]
        assert snapshot.status in FINAL, f"campaign stuck in {snapshot.status}"
        if snapshot.status == CampaignStatus.COMPLETED.value:
            assert len(snapshot.deliveries) == len(self.phones)


def test_random_interleavings_keep_every_guarantee(tables: str) -> None:
    CampaignMachine.endpoint = tables
    EXPLORED.clear()
    run_state_machine_as_test(
        CampaignMachine,
        settings=settings(
            max_examples=80,
            stateful_step_count=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print(f"stateful exploration: {dict(sorted(EXPLORED.items()))}")
    # Not vacuous: the examples went through every kind of fault and every status.
    for what in (*FAULTS, "seen Paused", "seen Running", "ended Completed", "unknown deliveries"):
        assert EXPLORED[what] > 0, f"no example went through {what!r}: {dict(EXPLORED)}"
