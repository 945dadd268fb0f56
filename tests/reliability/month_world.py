"""A scenario on the simulation (`month_sim`): one owner's WhatsApp numbers, campaigns
created as the API creates them, a script of what users and contacts do, and what
came of it, examined against the contract (`month_checks`, `invariants`).

The schedule ticks every minute. A tick finds work only where a campaign's `dueAt`
has come; the world reads a campaign's `dueAt` again after anything could have
changed it (an invocation that did more than look, a user's command, a tick that
ran) and lets a tick before the earliest one pass without querying. Once a
simulated day such a tick runs anyway and must find nothing, which checks the
shortcut.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from campaigns import config
from campaigns.api import campaigns as campaign_api
from campaigns.api import library
from campaigns.api.models import CreateCampaignIn
from campaigns.data import sessions
from campaigns.data.models import Campaign, Delivery
from campaigns.data.store import CampaignStore
from campaigns.domain.errors import WrongStatus
from campaigns.runner.service import RunResult
from campaigns.schedule.tick import ScheduleTick
from tests.reliability import invariants
from tests.reliability.month_checks import (
    Gap,
    OptOut,
    OptOutFindings,
    by_session,
    gaps,
    in_window,
    most_in_a_day,
    opt_out_findings,
)
from tests.reliability.month_sim import (
    Invocation,
    Sent,
    SimInvoker,
    SimSender,
    Simulation,
    invoke_runner,
    runner_on,
    signed_message,
)

OWNER = "month-owner"
TEMPLATE = "Hola {Name}, our autumn offers are in store until Sunday."
WATCHED = {"Scheduled", "Running", "Paused", "Cancelled"}  # the statuses the schedule's tick reads
VERIFY_IDLE_TICK_EVERY = 1440  # ticks with nothing due, between two that run anyway


@dataclass(frozen=True)
class Plan:
    name: str
    number: str
    contacts: range  # positions in the scenario's pool of numbers, in list order
    window: dict[str, Any] | None
    min_delay_ms: int
    max_delay_ms: int
    scheduled_at: datetime | None  # None: the user starts it by hand (the script says when)
    typing: bool = False


@dataclass(frozen=True)
class Scenario:
    start: datetime
    days: int
    numbers: dict[str, int]  # WAHA name -> daily limit
    pool: list[str]  # the phone numbers the lists are made of
    plans: tuple[Plan, ...]
    # (when, kind, detail): ("user", (action, plan)) with action run, pause or resume;
    # ("stop", ("ahead", plan)) a STOP from one of its contacts it has not reached;
    # ("stop", ("sent", number)) a STOP from someone who got a message through it,
    # another campaign's contact still to reach where there is one.
    script: list[tuple[datetime, str, tuple[str, ...]]] = field(default_factory=list)
    not_on_whatsapp: frozenset[str] = frozenset()
    duplicate_p: float = 0.0
    lose_p: float = 0.0
    crashes: int = 0  # process deaths before a send, and as many after one
    crash_range: range = range(10, 250)  # among these send attempts
    slow_p: float = 0.02  # WAHA calls that take 1.5-4 s

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


@dataclass(frozen=True)
class NewContact:
    phone_number: str
    first_name: str | None


class World:
    """The scenario on the simulation: sets it up, drives it, and keeps what happened."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.rng = random.Random(seed)
        self.sim = Simulation(scenario.start)
        self.cfg = config.settings()
        self.invoker = SimInvoker(self.sim, random.Random(seed + 1), scenario.duplicate_p, scenario.lose_p)
        picked = random.Random(seed + 2).sample(scenario.crash_range, 2 * scenario.crashes)
        self.sender = SimSender(
            self.sim,
            random.Random(seed + 3),
            not_on_whatsapp=set(scenario.not_on_whatsapp),
            crash_before=set(picked[: scenario.crashes]),
            crash_after=set(picked[scenario.crashes :]),
            slow_p=scenario.slow_p,
        )
        self.runner_rng = random.Random(seed + 4)
        self.store = CampaignStore(self.cfg.lease_seconds)
        self.ids: dict[str, str] = {}  # plan name -> campaign id
        self.plans = {plan.name: plan for plan in scenario.plans}
        self.opt_outs: list[OptOut] = []
        self.user_refused: list[str] = []
        self.noted = Counter[str]()  # parks by reason, turns taken again
        self.ticks = Counter[str]()
        # Each campaign's dueAt as last read, and the campaigns written since.
        self._due: dict[str, datetime | None] = {}
        self._stale: set[str] = set()
        self.sim.handlers.update(
            {"invoke": self._invoke, "tick": self._tick, "stop": self._stop, "user": self._user}
        )
        self.sim.after_switch = self._ran

    def phones(self, plan: Plan) -> list[str]:
        return [self.scenario.pool[i] for i in plan.contacts]

    # ------------------------------------------------------------ setup, as a user would

    def set_up(self) -> World:
        start = self.scenario.start
        numbers = {
            name: sessions.create(OWNER, name, name, limit, "WORKING", start)
            for name, limit in self.scenario.numbers.items()
        }
        template = library.create_template(OWNER, "Autumn", TEMPLATE, start)
        for plan in self.scenario.plans:
            people = [
                NewContact(phone, None if n % 6 == 5 else f"Name{n}")
                for n, phone in zip(plan.contacts, self.phones(plan), strict=True)
            ]
            listed = library.create_contact_list(OWNER, plan.name, people, start)
            body: dict[str, Any] = {
                "name": plan.name,
                "contactListId": listed.id,
                "messageTemplateId": template.id,
                "defaultNameValue": "friend",
                "whatsappSessionId": numbers[plan.number].id,
                "minDelayMs": plan.min_delay_ms,
                "maxDelayMs": plan.max_delay_ms,
                "typing": plan.typing,
            }
            if plan.window is not None:
                body["sendWindow"] = plan.window
            if plan.scheduled_at is not None:
                body["scheduledAt"] = plan.scheduled_at.isoformat()
            created = campaign_api.create_campaign(OWNER, CreateCampaignIn.model_validate(body), start)
            self.ids[plan.name] = created.id
        self._stale = set(self.ids.values())
        for when, kind, detail in self.scenario.script:
            self.sim.at(when, kind, detail)
        self.sim.at(start, "tick")
        return self

    def run(self) -> World:
        self.sim.run_until(self.scenario.end)
        return self

    # ------------------------------------------------------------ events

    def _runner(self):
        return runner_on(self.sim, self.sender, self.invoker, self.cfg, self.runner_rng, self.noted)

    def _invoke(self, event: dict[str, Any]) -> None:
        invoke_runner(self.sim, self._runner, event, self.cfg.runner_timeout_ms)

    def _ran(self, task: Invocation) -> None:
        """An invocation ran: unless it only looked and left (a copy, an early or stale
        continuation: no write, no sleep), its campaign's dueAt may have changed."""
        if not (task.done and task.result is RunResult.SKIPPED and not task.slept):
            self._stale.add(task.event["campaignId"])

    def _next_due(self) -> datetime | None:
        for campaign_id in self._stale:
            item = Campaign.get(campaign_id, consistent_read=True)
            self._due[campaign_id] = item.due_at if item.status in WATCHED else None
        self._stale.clear()
        return min((due for due in self._due.values() if due is not None), default=None)

    def _tick(self, _: Any) -> None:
        self.sim.after(60, "tick")
        now = self.sim.now
        next_due = self._next_due()
        idle = next_due is None or now < next_due
        if idle:
            self.ticks["nothing due"] += 1
            if self.ticks["nothing due"] % VERIFY_IDLE_TICK_EVERY:
                return
        report = ScheduleTick(self.store, self.invoker, self.cfg).run(now)
        self.ticks["run"] += 1
        self._stale = set(self.ids.values())
        if idle:
            acted = report.started or report.taken_over or report.failed or report.settled
            assert not acted, f"a tick before the earliest dueAt acted: {report.as_dict()}"

    def _user(self, detail: tuple[str, ...]) -> None:
        action, name = detail
        campaign_id, now = self.ids[name], self.sim.now
        self._stale.add(campaign_id)
        try:
            if action == "run":
                campaign_api.run_campaign(OWNER, campaign_id, now, self.invoker)
            elif action == "resume":
                campaign_api.resume_campaign(OWNER, campaign_id, now, self.invoker)
            else:
                campaign_api.pause_campaign(OWNER, campaign_id, now)
        except WrongStatus as refused:
            self.user_refused.append(f"{action} {name}: {refused}")

    def _stop(self, detail: tuple[str, ...]) -> None:
        kind, target = detail
        opted = {o.phone for o in self.opt_outs}
        reached = self._reached()
        if kind == "sent":
            session = target
            candidates = [m.phone for m in self.sender.sent if m.session == session and m.phone not in opted]
            assert candidates, f"the script has a STOP through {session} before it sent anything"
            later = [
                p for p in candidates if any(self._ahead(plan, p, reached) for plan in self.scenario.plans)
            ]
            phone = self.rng.choice(later or candidates)
        else:
            plan = self.plans[target]
            session = plan.number
            ahead = [p for p in self.phones(plan) if p not in opted and self._ahead(plan, p, reached)]
            assert ahead, f"the script has a STOP for {target} after it reached every contact"
            phone = self.rng.choice(ahead[len(ahead) // 3 :] or ahead)
        was_sent = any(m.phone == phone for m in self.sender.sent)
        status = signed_message(session, phone, "Stop", self.sim.now, f"evt-{self.sim.step()}")
        assert status == 200, status
        self.opt_outs.append(OptOut(phone, self.sim.step(), self.sim.now, session, was_sent))

    def _reached(self) -> dict[str, int]:
        """The highest contact index each campaign sent to so far."""
        reached: dict[str, int] = {}
        for m in self.sender.sent:
            reached[m.campaign_id] = max(reached.get(m.campaign_id, -1), m.index)
        return reached

    def _ahead(self, plan: Plan, phone: str, reached: dict[str, int]) -> bool:
        phones = self.phones(plan)
        position = phones.index(phone) if phone in phones else -1
        return position > reached.get(self.ids[plan.name], -1) + 3


# ------------------------------------------------------------------ what came of it


@dataclass
class Findings:
    """What WhatsApp received and what the campaigns say, against the contract."""

    problems: list[str]
    log: dict[str, list[Delivery]]  # campaign id -> its deliveries
    gaps: dict[str, list[Gap]]  # number -> consecutive pairs of sends
    most_in_a_day: dict[str, int]  # number -> the most sends in any rolling 24 h
    outside_windows: list[Sent]
    opt_outs: OptOutFindings
    silent_skips: int
    statuses: Counter[str]


def examine(world: World, suite: str) -> Findings:
    """Every rule, checked on what WhatsApp received (the simulated WAHA's log) and on
    each campaign's own record (counters, deliveries, status)."""
    scenario, sent = world.scenario, world.sender.sent
    plans = {world.ids[p.name]: p for p in scenario.plans}
    problems: list[str] = []

    # Each campaign: every contact exactly once (Sent, Failed, Unknown or Skipped),
    # counters equal to the deliveries, Completed, no chat twice, Unknown only where
    # the process died (tests/reliability/invariants.py); Skipped only for a number
    # whose opt-out was recorded before.
    opted_at = {o.phone: o.at for o in world.opt_outs}
    log: dict[str, list[Delivery]] = {}
    silent = 0
    for campaign_id, plan in plans.items():
        snapshot = invariants.from_store(campaign_id)
        try:
            invariants.check(
                snapshot,
                world.phones(plan),
                [m.chat for m in sent if m.campaign_id == campaign_id],
                unknown_allowance=world.sender.crashes[campaign_id],
                suite=suite,
            )
        except invariants.InvariantViolation as violation:
            problems.append(str(violation)[:2000])
        if snapshot.status != "Completed":
            problems.append(
                f"{plan.name} ended {snapshot.status} (waiting: {snapshot.campaign.get('waitReason')}; "
                f"paused: {snapshot.campaign.get('pauseReason')})"
            )
        log[campaign_id] = list(Delivery.query(campaign_id, consistent_read=True))
        silent += max(0, len(plan.contacts) - len(log[campaign_id]))
        for delivery in log[campaign_id]:
            at = opted_at.get(delivery.phone_number)
            if delivery.status == "Skipped" and (
                at is None or at > delivery.at or "opted out" not in (delivery.error or "")
            ):
                silent += 1
                problems.append(f"{plan.name} skipped #{delivery.contact_index} without an opt-out before it")

    # WhatsApp's side, number by number.
    all_gaps = gaps(sent, {cid: p.min_delay_ms for cid, p in plans.items()})
    for number, pairs in all_gaps.items():
        close = [g for g in pairs if g.seconds < g.required_s]
        problems += [
            f"{number}: {g.seconds:.3f} s between {plans[g.first.campaign_id].name} #{g.first.index} at "
            f"{g.first.at:%m-%d %H:%M:%S.%f} and {plans[g.second.campaign_id].name} #{g.second.index}, "
            f"under {g.required_s:g} s"
            for g in close[:5]
        ]
        if close:
            problems.append(f"{number}: {len(close)} pair(s) of sends closer than the gap")
    most = {}
    for number, messages in by_session(sent).items():
        most[number], window_start = most_in_a_day(messages)
        limit = scenario.numbers[number]
        if most[number] > limit:
            problems.append(
                f"{number}: {most[number]} sends in the 24 h from {window_start}, over its limit {limit}"
            )
    outside = [
        m for m in sent if (window := plans[m.campaign_id].window) is not None and not in_window(window, m.at)
    ]
    problems += [
        f"{plans[m.campaign_id].name} sent #{m.index} at {m.at} outside its window" for m in outside[:5]
    ]
    twice = {k: n for k, n in Counter((m.campaign_id, m.chat) for m in sent).items() if n > 1}
    if twice:
        problems.append(f"chats messaged twice by one campaign: {twice}")
    findings = opt_out_findings(sent, world.opt_outs)
    problems += [
        f"{m.phone} was sent #{m.index} after its opt-out was recorded and read" for m in findings.after_check
    ]
    if findings.unchecked:
        problems.append(f"{len(findings.unchecked)} send(s) without an opt-out read first")
    statuses = Counter(d.status for deliveries in log.values() for d in deliveries)
    return Findings(problems, log, all_gaps, most, outside, findings, silent, statuses)
