"""The delivery guarantees of CONTRACT.md, written once and checked everywhere.

Given what the campaign says (its counters and delivery log, read from the store or
over HTTP) and what WhatsApp received (the fake WAHA's record, or a recording
sender's), `check` asserts:

- no contact received the campaign's message twice (a retried send that carries the
  same pre-generated message id is deduplicated by the fake, as WhatsApp does, and
  so is not a second message);
- each contact index has at most one delivery, with a status in {Sent, Failed,
  Unknown}, and a Completed campaign has exactly one for every contact;
- the handled contacts are 0..n-1 with none skipped, and `lastProcessedContactIndex`
  is n-1 (None before the first contact and once Completed);
- sentCount, failedCount, unknownCount and skippedCount equal the deliveries by status;
- unknownCount is at most the number of faults that can leave a send's outcome
  unknown (runner crashes, ambiguous WAHA failures that outlast the retries);
- WhatsApp's record agrees with the log: a Sent contact received exactly one
  message, a Failed one none, an Unknown one at most one; a message without a
  delivery is allowed only for the one contact a runner holds in flight;
- a finished campaign (Completed, Failed, Cancelled) holds no contact in flight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from campaigns.api.models import CampaignOut, DeliveryOut
from campaigns.data.models import Campaign, Delivery
from campaigns.sending.sender import ContactRejected
from campaigns.sending.waha_client import chat_id_for
from tests.reliability.figures import FIGURES

DELIVERY_STATUSES = frozenset({"Sent", "Failed", "Unknown", "Skipped"})
CAMPAIGN_STATUSES = frozenset({"Scheduled", "Running", "Paused", "Completed", "Failed", "Cancelled"})
FINAL = frozenset({"Completed", "Failed", "Cancelled"})

# Gaps a test may knowingly tolerate, each with the test that pins it down (xfail).
KNOWN_GAPS: dict[str, str] = {}


class InvariantViolation(AssertionError):
    pass


@dataclass(frozen=True)
class Snapshot:
    campaign: dict[str, Any]
    deliveries: list[dict[str, Any]]
    # Known only when read from the store; over HTTP the run's bookkeeping stays inside.
    in_flight_index: int | None = None
    in_flight_known: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.campaign["status"]


def from_store(campaign_id: str) -> Snapshot:
    campaign = Campaign.get(campaign_id, consistent_read=True)
    log = [_as_api(DeliveryOut, item) for item in Delivery.query(campaign_id, consistent_read=True)]
    in_flight = None if campaign.in_flight_index is None else int(campaign.in_flight_index)
    return Snapshot(
        _as_api(CampaignOut, campaign),
        log,
        in_flight_index=in_flight,
        in_flight_known=True,
        raw={
            "runToken": campaign.run_token,
            "leaseExpiresAt": campaign.lease_expires_at,
            "dueAt": campaign.due_at,
        },
    )


def from_api(client: Any, campaign_id: str) -> Snapshot:
    """`client`: a tests.stack_fixtures.ApiClient of the campaign's owner."""
    return Snapshot(client.get_campaign(campaign_id), client.deliveries(campaign_id))


def chat_of(phone_number: str) -> str:
    try:
        return chat_id_for(phone_number)
    except ContactRejected:
        return f"invalid:{phone_number}"


def chats_from_fake(fake: Any) -> list[str]:
    """Every message the fake WAHA delivered (deduplicated retries are not messages)."""
    return [message["chatId"] for message in fake.sent()]


def chats_from_sender(sender: Any) -> list[str]:
    """Every message a recording sender (tests.runner_harness.RecordingSender) sent."""
    return [chat_of(message.phone_number) for message in list(sender.sent)]


def check(
    snapshot: Snapshot,
    contacts: Sequence[str],
    sent_to: Iterable[str],
    *,
    unknown_allowance: int,
    suite: str,
    settled: bool = True,
    tolerate: Collection[str] = (),
) -> None:
    """Assert every guarantee; `contacts` are the list's phone numbers in index order,
    `sent_to` the chat ids WhatsApp received messages for (any campaign's: only this
    campaign's contacts are looked at). `settled`: no runner can still be sending."""
    unknown_gaps = set(tolerate) - set(KNOWN_GAPS)
    if unknown_gaps:
        raise ValueError(f"not a known gap: {sorted(unknown_gaps)}")
    problems: list[str] = []
    campaign, log = snapshot.campaign, snapshot.deliveries
    status = campaign["status"]
    chats = [chat_of(phone) for phone in contacts]
    index_of_chat = {chat: index for index, chat in enumerate(chats)}
    received = Counter(chat for chat in sent_to if chat in index_of_chat)

    # No contact messaged twice.
    duplicates = {chat: count for chat, count in received.items() if count > 1}
    FIGURES.duplicates(suite, sum(count - 1 for count in duplicates.values()))
    if duplicates:
        problems.append(f"contacts messaged more than once: {duplicates}")

    if status not in CAMPAIGN_STATUSES:
        problems.append(f"campaign status {status!r} is not one of the contract's")

    # One delivery per contact at most, with a contract status, for a real contact.
    indexes = [int(d["contactIndex"]) for d in log]
    repeated = sorted(index for index, count in Counter(indexes).items() if count > 1)
    if repeated:
        problems.append(f"contact indexes with more than one delivery: {repeated}")
    for delivery in log:
        index = int(delivery["contactIndex"])
        if delivery["status"] not in DELIVERY_STATUSES:
            problems.append(f"delivery {index} has status {delivery['status']!r}")
        if not 0 <= index < len(contacts):
            problems.append(f"delivery for index {index}, outside the list of {len(contacts)}")
        elif delivery["phoneNumber"] != contacts[index]:
            problems.append(
                f"delivery {index} is for {delivery['phoneNumber']!r}, the contact is {contacts[index]!r}"
            )

    # Progress: contacts 0..n-1 handled, none skipped; the last processed index says so.
    handled = sorted(set(indexes))
    if handled != list(range(len(handled))):
        problems.append(f"handled contacts are not 0..n-1 (a contact was skipped): {handled}")
    last = campaign["lastProcessedContactIndex"]
    if status == "Completed":
        if handled != list(range(len(contacts))):
            problems.append(f"Completed, but deliveries cover {len(handled)} of {len(contacts)} contacts")
        if last is not None:
            problems.append(f"Completed, but lastProcessedContactIndex is {last}, not None")
        if int(campaign["totalContacts"]) != len(contacts):
            problems.append(f"totalContacts {campaign['totalContacts']} != {len(contacts)}")
    else:
        expected_last = handled[-1] if handled else None
        if last != expected_last:
            problems.append(f"lastProcessedContactIndex {last} != last handled contact {expected_last}")

    # Counters equal the deliveries.
    by_status = Counter(d["status"] for d in log)
    counters = (
        campaign["sentCount"],
        campaign["failedCount"],
        campaign["unknownCount"],
        campaign.get("skippedCount", 0),
    )
    expected = (by_status["Sent"], by_status["Failed"], by_status["Unknown"], by_status["Skipped"])
    if counters != expected:
        problems.append(f"counters (sent, failed, unknown) {counters} != deliveries {expected}")
    if campaign["unknownCount"] > unknown_allowance:
        problems.append(
            f"unknownCount {campaign['unknownCount']} > {unknown_allowance} fault(s) that can make "
            "an outcome unknown"
        )

    # WhatsApp's record agrees with the log.
    status_of = {int(d["contactIndex"]): d["status"] for d in log}
    for index, chat in enumerate(chats):
        count = received.get(chat, 0)
        delivery_status = status_of.get(index)
        if delivery_status == "Sent" and count != 1:
            problems.append(f"contact {index} is Sent but WhatsApp received {count} message(s)")
        elif delivery_status == "Failed" and count:
            problems.append(f"contact {index} is Failed but WhatsApp received {count} message(s)")
        elif delivery_status is None and count:
            if snapshot.in_flight_known:
                if index != snapshot.in_flight_index:
                    problems.append(
                        f"contact {index} received a message but has no delivery and is not in flight"
                    )
            elif settled or index != len(handled):
                problems.append(f"contact {index} received a message but has no delivery")

    # A stopped or finished campaign may hold a contact in flight only while the
    # schedule watches it (dueAt set): once the runner's lease is over, the schedule
    # records that contact; otherwise nobody ever would.
    if (
        snapshot.in_flight_known
        and snapshot.in_flight_index is not None
        and (status in FINAL or status == "Paused")
        and snapshot.raw.get("dueAt") is None
    ):
        problems.append(
            f"campaign is {status} with contact {snapshot.in_flight_index} still in flight and "
            "unwatched: its send may have happened and nothing will record it"
        )

    if problems:
        raise InvariantViolation(
            f"campaign {campaign.get('id')} ({status}): " + "; ".join(problems) + f"\nlog: {log}"
        )


def _as_api(model: Any, item: Any) -> dict[str, Any]:
    """A stored item exactly as the API answers it."""
    return model.from_item(item).model_dump(mode="json", by_alias=True)
