"""The runner's writes: every step of a run is one conditional write on the campaign.

The protocol (README, "How a run stays exactly-once"):

- `take`: a Scheduled campaign that is due becomes Running with a fresh run token.
- `continue_run`: a continuation event is accepted once, for the hop the last
  hand-off named, and never before a parked run's `waitingUntil`.
- `claim`: contact `i` goes in flight only while the run holds the campaign,
  nothing else is in flight and contact `i - 1` is recorded. A pause, a cancel or
  another runner therefore stops a run at its next contact, and no contact is
  stepped over. The same transaction checks that the contact's number is not on
  the owner's opt-out list and writes the WhatsApp number's slot for the send
  (`Recipient`): a paced contact costs this request and its record's.
- `skip`: a contact whose number opted out is recorded Skipped, never claimed nor
  sent, conditioned as its claim would have been.
- `record`: the delivery and the progress in one transaction, conditioned on the
  token and the in-flight index (not on the status: a pause during the send must
  not lose what happened). When the next send follows at once, the same
  transaction claims the next contact, with its own checks.
- `complete`: only once the last contact (`totalContacts - 1`) is recorded.
- `fail`: only by the run that holds the campaign; a user's pause or resume is
  never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from campaigns.data.campaign_writes import (
    COUNTERS,
    TransactItem,
    attempt,
    campaign_item,
    failed,
    holds,
    record_delivery,
    settle_in_flight,
    stop_watching,
    transact,
    update,
    write_settling,
)
from campaigns.data.models import Campaign
from campaigns.data.number_slots import SlotWrite
from campaigns.data.optouts import not_opted_out
from campaigns.domain.errors import RunLost, StoreConflict
from campaigns.domain.outcomes import Outcome
from campaigns.domain.statuses import TAKEABLE, CampaignStatus, DeliveryStatus


def new_run_token() -> str:
    import uuid

    return uuid.uuid4().hex


def _after(index: int):
    """Contact `index` is next: the one before it is recorded."""
    if index == 0:
        return Campaign.last_processed_contact_index.does_not_exist()
    return Campaign.last_processed_contact_index == index - 1


def _progress(index: int, outcome: Outcome, now: datetime) -> list:
    """Contact `index` handled with `outcome`: the progress and counters it moves."""
    actions = [
        Campaign.last_processed_contact_index.set(index),
        COUNTERS[outcome.status].add(1),
        Campaign.no_progress_count.set(0),
        Campaign.outage_since.remove(),
        Campaign.pending_message_id.remove(),
        Campaign.pending_message_index.remove(),
        Campaign.updated_at.set(now),
    ]
    if outcome.status is DeliveryStatus.SENT:
        actions += [Campaign.last_sent_at.set(now), Campaign.sent_in_batch.add(1)]
    return actions


_NOT_WAITING = [Campaign.waiting_until.remove(), Campaign.wait_reason.remove()]


@dataclass(frozen=True)
class Recipient:
    """Who a claimed contact's message goes to, checked in the claim's own request: the
    number is not on the owner's opt-out list, and the WhatsApp number's slot for the
    send is still free (None: no number item, nothing to pace against)."""

    owner_id: str
    phone_number: str
    slot: SlotWrite | None = None

    def checks(self) -> list[TransactItem]:
        items = [not_opted_out(self.owner_id, self.phone_number)]
        if self.slot is not None:
            items.append(self.slot.transact_item())
        return items


class Claim(Enum):
    CLAIMED = "claimed"
    # Nothing written: the number is on the owner's opt-out list (record it Skipped).
    OPTED_OUT = "opted out"
    # Nothing written: another send took the WhatsApp number since its slot was decided.
    NUMBER_TAKEN = "number taken"


@dataclass(frozen=True)
class Wait:
    """A parked run: until when, why, and the hop of the continuation that ends it."""

    until: datetime
    reason: str
    next_hop: int


class RunWrites:
    def __init__(self, lease_seconds: int = 120) -> None:
        self.lease_seconds = lease_seconds

    def _lease(self, now: datetime, extra_ms: int = 0) -> list:
        lease = now + timedelta(seconds=self.lease_seconds, milliseconds=extra_ms)
        return [Campaign.lease_expires_at.set(lease), Campaign.due_at.set(lease)]

    def take(self, campaign: Campaign, now: datetime, total_contacts: int, lease_extra_ms: int = 0) -> str:
        """Scheduled and due -> Running with a fresh token, returned. Raises
        StoreConflict when another runner took it first or a send may be in flight."""
        token = new_run_token()
        actions = [
            Campaign.status.set(CampaignStatus.RUNNING.value),
            Campaign.run_token.set(token),
            Campaign.started_at.set(Campaign.started_at | now),
            *self._lease(now, lease_extra_ms),
            Campaign.pause_reason.remove(),
            Campaign.total_contacts.set(total_contacts),
            Campaign.no_progress_count.set(0),
            Campaign.sent_in_batch.set(0),
            Campaign.invocation_count.add(1),
            Campaign.dispatched_at.remove(),
            Campaign.pending_hop.remove(),
            Campaign.outage_since.remove(),
            *_NOT_WAITING,
            Campaign.updated_at.set(now),
        ]
        condition = Campaign.status.is_in(*[s.value for s in TAKEABLE]) & (Campaign.due_at <= now)
        in_flight = campaign.in_flight_index
        if in_flight is None:
            update(campaign, actions, condition & Campaign.in_flight_index.does_not_exist(), StoreConflict)
        else:
            # A runner died mid-send before this campaign was paused and resumed:
            # its contact becomes Unknown, and the take proceeds after it.
            condition &= (Campaign.in_flight_index == in_flight) & (Campaign.lease_expires_at < now)
            settle_in_flight(campaign, int(in_flight), now, actions, condition)
        return token

    def continue_run(
        self, campaign_id: str, token: str, hop: int, now: datetime, lease_extra_ms: int = 0
    ) -> None:
        """Accept the continuation for `hop` once. Raises RunLost for a stale, duplicated
        or early event."""
        not_waiting = Campaign.waiting_until.does_not_exist() | (Campaign.waiting_until <= now)
        update(
            campaign_id,
            [
                *self._lease(now, lease_extra_ms),
                Campaign.no_progress_count.add(1),
                Campaign.invocation_count.add(1),
                Campaign.pending_hop.remove(),
                *_NOT_WAITING,
                Campaign.updated_at.set(now),
            ],
            holds(token)
            & Campaign.in_flight_index.does_not_exist()
            & (Campaign.pending_hop == hop)
            & not_waiting,
        )

    def claim(
        self,
        campaign_id: str,
        token: str,
        index: int,
        recipient: Recipient,
        now: datetime,
        lease_extra_ms: int = 0,
    ) -> Claim:
        """Contact `index` in flight, in one transaction with its recipient's checks; the
        run's refusal comes first, then the opt-out's, then the number's. Raises RunLost
        when the run may not send it."""
        refused = transact(
            [
                campaign_item(
                    campaign_id,
                    [Campaign.in_flight_index.set(index), *self._lease(now, lease_extra_ms)],
                    holds(token) & Campaign.in_flight_index.does_not_exist() & _after(index),
                ),
                *recipient.checks(),
            ]
        )
        if "campaign" in refused:
            raise RunLost(f"claim of contact {index} of campaign {campaign_id} refused")
        if "opt-out" in refused:
            return Claim.OPTED_OUT
        if "number" in refused:
            return Claim.NUMBER_TAKEN
        return Claim.CLAIMED

    def skip(
        self,
        campaign_id: str,
        token: str,
        index: int,
        phone_number: str,
        outcome: Outcome,
        now: datetime,
        lease_extra_ms: int = 0,
    ) -> None:
        """Contact `index` recorded with `outcome` (Skipped: its number opted out), never
        claimed nor sent, on the claim's own condition; the lease is renewed as a claim
        renews it. Raises RunLost when the run may not handle it."""
        record_delivery(
            campaign_id,
            index,
            phone_number,
            outcome,
            now,
            [*self._lease(now, lease_extra_ms), *_progress(index, outcome, now)],
            holds(token) & Campaign.in_flight_index.does_not_exist() & _after(index),
        )

    def record(
        self,
        campaign_id: str,
        token: str,
        index: int,
        phone_number: str,
        outcome: Outcome,
        now: datetime,
        *,
        claim_next: Recipient | None = None,
        park: Wait | None = None,
        lease_extra_ms: int = 0,
        settle: TransactItem | None = None,
    ) -> bool:
        """Contact `index`'s delivery and progress in one transaction, with the
        settlement of its turn on the number (`settle`) when given. The next step may
        ride in the same write while the campaign is still Running: with `claim_next`,
        the claim of `index + 1` with that recipient's checks; with `park`, the run
        parked for the wait before it (as `park`). When that step is refused (paused or
        cancelled meanwhile, the number opted out or taken) the contact is recorded
        alone, and the next claim finds out why. Returns whether the step was written.
        Raises RunLost when the run changed hands (nothing is written then)."""
        mine = (Campaign.run_token == token) & (Campaign.in_flight_index == index)
        alone = [Campaign.in_flight_index.remove(), *_progress(index, outcome, now)]
        settled = [settle] if settle else []
        step: tuple[list, list[TransactItem]] | None = None
        if claim_next is not None:
            claim = [Campaign.in_flight_index.set(index + 1), *self._lease(now, lease_extra_ms)]
            # The next turn supersedes this one's settlement (one write per item).
            also = claim_next.checks() + (settled if claim_next.slot is None else [])
            step = (claim + _progress(index, outcome, now), also)
        elif park is not None:
            step = ([*alone, *self._parked(park)], settled)  # progress sets updatedAt
        if step is not None:
            actions, also = step
            running = mine & (Campaign.status == CampaignStatus.RUNNING.value)
            try:
                if not record_delivery(
                    campaign_id, index, phone_number, outcome, now, actions, running, also
                ):
                    return True
            except RunLost:
                pass  # paused or cancelled meanwhile; if the run was lost, recording alone says so
        record_delivery(campaign_id, index, phone_number, outcome, now, alone, mine, settled)
        return False

    def release(self, campaign_id: str, token: str, index: int, message_id: str | None = None) -> None:
        """Give back a claim whose send did not happen, or (with `message_id`) whose
        unconfirmed send may be repeated with that id only."""
        actions = [Campaign.in_flight_index.remove()]
        if message_id:
            actions += [
                Campaign.pending_message_id.set(message_id),
                Campaign.pending_message_index.set(index),
            ]
        update(campaign_id, actions, (Campaign.run_token == token) & (Campaign.in_flight_index == index))

    def pause(self, campaign_id: str, token: str, reason: str, now: datetime) -> bool:
        """Running -> Paused by the runner. False when the run was no longer ours."""
        return attempt(
            campaign_id,
            [
                Campaign.status.set(CampaignStatus.PAUSED.value),
                Campaign.pause_reason.set(reason[:1000]),
                Campaign.due_at.remove(),
                Campaign.pending_hop.remove(),
                Campaign.outage_since.remove(),
                *_NOT_WAITING,
                Campaign.updated_at.set(now),
            ],
            holds(token) & Campaign.in_flight_index.does_not_exist(),
        )

    def hand_off(
        self, campaign_id: str, token: str, next_hop: int, now: datetime, lease_extra_ms: int = 0
    ) -> bool:
        """Renew the lease and name the hop the next invocation continues. False when
        the run is no longer ours."""
        return attempt(
            campaign_id,
            [
                *self._lease(now, lease_extra_ms),
                Campaign.pending_hop.set(next_hop),
                Campaign.updated_at.set(now),
            ],
            holds(token) & Campaign.in_flight_index.does_not_exist(),
        )

    def park(
        self,
        campaign_id: str,
        token: str,
        wait: Wait,
        now: datetime,
        *,
        end_batch: bool = False,
        outage: bool = False,
    ) -> bool:
        """End this invocation until `wait.until`: the run stays Running with
        `waitingUntil` and `waitReason`, and names the hop its delayed continuation
        carries (accepted once, not before `waitingUntil`). The lease outlasts the wait,
        so the schedule continues the run only if that continuation is lost. A wait is
        progress of its own kind: it does not count toward the runaway guard."""
        actions = [*self._parked(wait), Campaign.no_progress_count.set(0), Campaign.updated_at.set(now)]
        if end_batch:
            actions.append(Campaign.sent_in_batch.set(0))
        if outage:
            actions.append(Campaign.outage_since.set(Campaign.outage_since | now))
        return attempt(campaign_id, actions, holds(token) & Campaign.in_flight_index.does_not_exist())

    def _parked(self, wait: Wait) -> list:
        """The run waits until `wait.until`; its lease outlasts the wait."""
        lease = wait.until + timedelta(seconds=self.lease_seconds)
        return [
            Campaign.lease_expires_at.set(lease),
            Campaign.due_at.set(lease),
            Campaign.waiting_until.set(wait.until),
            Campaign.wait_reason.set(wait.reason[:500]),
            Campaign.pending_hop.set(wait.next_hop),
        ]

    def note_outage(self, campaign_id: str, token: str, now: datetime) -> datetime:
        """Remember when WAHA started failing for this run (the first time only); returns it."""
        campaign = update(
            campaign_id,
            [Campaign.outage_since.set(Campaign.outage_since | now)],
            holds(token),
        )
        return campaign.outage_since or now

    def complete(self, campaign_id: str, token: str, total_contacts: int, now: datetime) -> bool:
        """Running -> Completed, only once every contact below `total_contacts` is recorded."""
        if total_contacts == 0:
            all_recorded = Campaign.last_processed_contact_index.does_not_exist()
        else:
            all_recorded = Campaign.last_processed_contact_index == total_contacts - 1
        completed = [
            Campaign.status.set(CampaignStatus.COMPLETED.value),
            Campaign.completed_at.set(now),
            Campaign.last_processed_contact_index.remove(),
            Campaign.pause_reason.remove(),
            *stop_watching(now),
        ]
        all_done = (Campaign.total_contacts == total_contacts) & all_recorded
        return attempt(
            campaign_id, completed, holds(token) & Campaign.in_flight_index.does_not_exist() & all_done
        )

    def fail(self, campaign: Campaign, token: str, reason: str, now: datetime) -> bool:
        """Running -> Failed with a generic reason, only while the run with `token` holds
        it; a contact left in flight becomes Unknown (never resent)."""
        campaign.refresh(consistent_read=True)
        try:
            write_settling(campaign, failed(reason, now), holds(token), now)
            return True
        except RunLost:
            return False
