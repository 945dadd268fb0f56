"""The runner, against DynamoDB over HTTP (moto server) with the dry-run sender."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import timedelta

import pytest

from campaigns.data.store import CampaignStore
from campaigns.domain.statuses import CampaignStatus
from campaigns.invoker import RecordingInvoker, runner_event
from campaigns.runner.contacts import ContactCursor
from campaigns.runner.service import GENERIC_FAILURE, RunResult
from campaigns.schedule.tick import ScheduleTick
from campaigns.sending.pacing import transit_s
from campaigns.sending.sender import DryRunSender, Media, OutgoingMessage
from campaigns.timeutil import utcnow
from tests.builders import deliveries, reload
from tests.runner_harness import (
    Budget,
    FakeClock,
    Harness,
    RecordingSender,
    count_dynamodb_requests,
    dynamodb_fault,
    runner_settings,
)

MIXED = [
    ("+15550000001", "Ana"),
    ("+15550000002", None),
    ("+15550000003", ""),
    ("+15550000004", "  Bo  "),
    ("+15550000005", "   "),
]


def test_processes_a_scheduled_campaign_to_completed(build):
    campaign = build.campaign(MIXED)
    harness = Harness()

    result = harness.run(campaign.id)

    assert result is RunResult.COMPLETED
    after = reload(campaign)
    assert after.status == "Completed"
    assert after.completed_at is not None and after.started_at is not None
    assert after.last_processed_contact_index is None
    assert (after.sent_count, after.failed_count, after.unknown_count) == (5, 0, 0)
    assert after.total_contacts == 5
    assert [d.status for d in deliveries(campaign)] == ["Sent"] * 5
    assert [m.phone_number for m in harness.sender.sent] == [p for p, _ in MIXED]


def test_personalises_with_first_name_and_default_for_missing_empty_or_blank(build):
    campaign = build.campaign(MIXED, text="Hi {Name}, {name} and {NAME}!", default_name="friend")
    harness = Harness()

    harness.run(campaign.id)

    assert [m.text for m in harness.sender.sent] == [
        "Hi Ana, Ana and Ana!",
        "Hi friend, friend and friend!",
        "Hi friend, friend and friend!",
        "Hi Bo, Bo and Bo!",
        "Hi friend, friend and friend!",
    ]


def test_a_first_name_containing_the_placeholder_is_not_expanded_again(build):
    campaign = build.campaign([("+15550000001", "{Name}\\1")], text="Hi {Name}")
    harness = Harness()
    harness.run(campaign.id)
    assert harness.sender.sent[0].text == "Hi {Name}\\1"


def test_includes_the_media_path_when_the_campaign_has_media(build, caplog):
    media = build.media("https://cdn.example.com/promo/banner.jpg?v=2", "image/jpeg")
    campaign = build.campaign(2, media=media)
    log = logging.getLogger("dry-run-test")
    harness = Harness(sender=DryRunSender(log=log))

    with caplog.at_level(logging.INFO, logger="dry-run-test"):
        harness.run(campaign.id)

    assert harness.sender.sent[0].media == Media(
        url="https://cdn.example.com/promo/banner.jpg?v=2", mime_type="image/jpeg", filename="banner.jpg"
    )
    lines = [r.getMessage() for r in caplog.records if r.name == "dry-run-test"]
    assert lines == [
        'Would send to +15550000000: "Hello Name0!" with media https://cdn.example.com/promo/banner.jpg?v=2',
        'Would send to +15550000001: "Hello Name1!" with media https://cdn.example.com/promo/banner.jpg?v=2',
    ]


def test_without_media_the_line_has_no_media_part(build, caplog):
    campaign = build.campaign(1)
    log = logging.getLogger("dry-run-test-2")
    with caplog.at_level(logging.INFO, logger="dry-run-test-2"):
        Harness(sender=DryRunSender(log=log)).run(campaign.id)
    assert [r.getMessage() for r in caplog.records if r.name == "dry-run-test-2"] == [
        'Would send to +15550000000: "Hello Name0!"'
    ]


def test_saves_last_processed_index_after_each_contact(build):
    campaign = build.campaign(4)
    seen: list[int | None] = []

    def before_send(message: OutgoingMessage, count: int) -> None:
        current = reload(campaign)
        seen.append(current.last_processed_contact_index)
        assert current.in_flight_index == count  # claimed before the send

    Harness(sender=RecordingSender(before_send)).run(campaign.id)

    assert seen == [None, 0, 1, 2]


def resume(campaign) -> None:
    """POST /resume: Paused -> Scheduled and due now."""
    CampaignStore().commands.resume(campaign.id, campaign.user_id, utcnow())


def test_resumes_from_the_contact_after_the_last_processed_one(build):
    campaign = build.campaign(5, status=CampaignStatus.PAUSED, last_processed=1)
    resume(campaign)
    harness = Harness()

    result = harness.run(campaign.id)

    assert result is RunResult.COMPLETED
    assert [m.phone_number for m in harness.sender.sent] == ["+15550000002", "+15550000003", "+15550000004"]
    assert reload(campaign).sent_count == 3


def test_a_resumed_campaign_is_accepted_and_keeps_its_started_at(build):
    campaign = build.campaign(2, status=CampaignStatus.PAUSED)
    first_start = utcnow().replace(year=2025)
    campaign.update(actions=[type(campaign).started_at.set(first_start)])
    resume(campaign)

    assert Harness().run(campaign.id) is RunResult.COMPLETED
    after = reload(campaign)
    assert after.status == "Completed"
    assert after.started_at == first_start


def test_no_contacts_completes_the_campaign(build):
    campaign = build.campaign([])
    harness = Harness()

    assert harness.run(campaign.id) is RunResult.COMPLETED
    after = reload(campaign)
    assert after.status == "Completed" and after.completed_at is not None
    assert after.last_processed_contact_index is None
    assert harness.sender.sent == []


@pytest.mark.parametrize(
    ("status", "options"),
    [
        ("Running", {}),
        ("Completed", {}),
        ("Failed", {}),
        ("Cancelled", {}),
        # A late copy of an earlier event must not restart a campaign the user paused:
        # only resume (Paused -> Scheduled) makes it runnable again.
        ("Paused", {}),
        # Scheduled but not asked to start: waiting for a manual run, or a future start.
        ("Scheduled", {"due": False}),
        ("Scheduled", {"scheduled_at": utcnow() + timedelta(hours=1)}),
    ],
    ids=["running", "completed", "failed", "cancelled", "paused", "awaiting-run", "future-start"],
)
def test_returns_early_without_writing_unless_scheduled_and_due(build, status, options):
    campaign = build.campaign(3, status=CampaignStatus(status), **options)
    before = reload(campaign).serialize()
    harness = Harness()

    with count_dynamodb_requests() as counts:
        result = harness.run(campaign.id)

    assert result is RunResult.SKIPPED
    assert reload(campaign).serialize() == before
    assert harness.sender.sent == [] and deliveries(campaign) == []
    writes = {"UpdateItem", "PutItem", "TransactWriteItems", "DeleteItem", "BatchWriteItem"}
    assert not writes & set(counts), counts


def test_campaign_not_found_is_logged_and_nothing_is_written(build):
    harness = Harness()
    with count_dynamodb_requests() as counts:
        result = harness.run("cmp_does_not_exist")
    assert result is RunResult.NOT_FOUND
    assert set(counts) == {"GetItem"}
    assert harness.sender.sent == []


def test_an_internal_error_mid_loop_marks_the_campaign_failed(build):
    campaign = build.campaign(5)
    harness = Harness()

    # The third contact's record hits a DynamoDB error that is neither a lost condition
    # nor a "not now" (throttling, a 500): a request DynamoDB refuses. (The first
    # transaction is the first contact's claim, then each record claims the next.)
    with dynamodb_fault("TransactWriteItems", after=3, code="ValidationException"):
        result = harness.run(campaign.id)

    assert result is RunResult.FAILED
    after = reload(campaign)
    assert after.status == "Failed"
    assert after.failure_reason == GENERIC_FAILURE
    assert after.completed_at is not None
    # The contact whose record failed was sent: it is Unknown, never resent.
    assert [d.status for d in deliveries(campaign)] == ["Sent", "Sent", "Unknown"]
    assert (after.sent_count, after.unknown_count) == (2, 1)
    assert len(harness.sender.sent) == 3


@pytest.mark.parametrize("code", ["InternalServerError", "ProvisionedThroughputExceededException"])
def test_dynamodb_unavailable_mid_loop_leaves_the_run_to_the_schedule_never_failed(build, code):
    campaign = build.campaign(5)
    harness = Harness()

    # The third contact's record fails past the SDK's retries: DynamoDB says "not now".
    with dynamodb_fault("TransactWriteItems", after=3, code=code, times=20):
        result = harness.run(campaign.id)

    assert result is RunResult.FAILED  # this invocation; not the campaign
    stalled = reload(campaign)
    assert stalled.status == "Running" and stalled.failure_reason is None
    assert stalled.in_flight_index == 2  # sent, not recorded: kept for the takeover
    # When the lease ends the schedule takes the run over: the contact in flight is
    # Unknown (it may have gone out), never resent, and the rest are sent.
    invoker = RecordingInvoker()
    later = utcnow() + timedelta(seconds=runner_settings().lease_seconds + 1)
    assert ScheduleTick(CampaignStore(), invoker, runner_settings()).run(later).taken_over == [campaign.id]
    (event,) = invoker.pop_all()
    assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.COMPLETED
    assert [d.status for d in deliveries(campaign)] == ["Sent", "Sent", "Unknown", "Sent", "Sent"]
    assert len({m.phone_number for m in harness.sender.sent}) == len(harness.sender.sent) == 5


def test_an_error_marking_failed_is_logged_and_never_raised(build):
    campaign = build.campaign(3)
    with (
        dynamodb_fault("TransactWriteItems", after=0, times=10, code="ValidationException"),
        dynamodb_fault("UpdateItem", after=1, times=10, code="ValidationException"),
    ):
        result = Harness().run(campaign.id)
    assert result is RunResult.FAILED


def test_uses_the_campaigns_template_list_and_media(build):
    media = build.media("https://cdn.example.com/a.pdf", "application/pdf")
    campaign = build.campaign([("+44 20 7946 0000", "Zoe")], text="Dear {name}, see attached", media=media)
    harness = Harness()
    harness.run(campaign.id)
    message = harness.sender.sent[0]
    assert (message.phone_number, message.text, message.media.url) == (
        "+44 20 7946 0000",
        "Dear Zoe, see attached",
        "https://cdn.example.com/a.pdf",
    )
    assert message.session == "default"
    assert message.idempotency_key == f"{campaign.id}:0"


def test_a_missing_template_fails_the_campaign_with_a_reason(build):
    campaign = build.campaign(2)
    campaign.update(actions=[type(campaign).message_template_id.set("tpl_gone")])
    assert Harness().run(campaign.id) is RunResult.FAILED
    after = reload(campaign)
    assert after.status == "Failed" and "template" in after.failure_reason


def test_a_session_not_held_by_the_owner_pauses_before_sending(build):
    campaign = build.campaign(2)
    build.session("default", user_id="someone-else")  # the session changed hands
    harness = Harness()
    assert harness.run(campaign.id) is RunResult.PAUSED
    after = reload(campaign)
    assert after.status == "Paused" and "not registered" in after.pause_reason
    assert harness.sender.sent == []


def test_a_session_that_is_not_working_pauses_before_the_chunk(build):
    campaign = build.campaign(3)
    sender = RecordingSender()
    sender.status = "SCAN_QR_CODE"
    assert Harness(sender=sender).run(campaign.id) is RunResult.PAUSED
    after = reload(campaign)
    assert after.status == "Paused" and "SCAN_QR_CODE" in after.pause_reason
    assert after.last_processed_contact_index is None and sender.sent == []


def test_a_pause_written_while_running_stops_the_run_at_the_next_contact(build):
    campaign = build.campaign(6)
    store = CampaignStore()

    def before_send(message: OutgoingMessage, count: int) -> None:
        if count == 1:  # while the second contact is being sent, the user pauses
            store.commands.pause(campaign.id, campaign.user_id, utcnow())

    harness = Harness(sender=RecordingSender(before_send))
    assert harness.run(campaign.id) is RunResult.STOPPED

    after = reload(campaign)
    assert after.status == "Paused"
    assert after.last_processed_contact_index == 1  # the in-flight send was still recorded
    assert len(harness.sender.sent) == 2 and len(deliveries(campaign)) == 2

    # Resume: the run continues at the next contact and never repeats one.
    store.commands.resume(campaign.id, campaign.user_id, utcnow())
    assert harness.run(campaign.id) is RunResult.COMPLETED
    assert [m.phone_number for m in harness.sender.sent] == [f"+1555{i:07d}" for i in range(6)]


def test_a_cancel_written_while_running_stops_the_run(build):
    campaign = build.campaign(5)
    store = CampaignStore()

    def before_send(message: OutgoingMessage, count: int) -> None:
        if count == 2:
            store.commands.cancel(campaign.id, campaign.user_id, utcnow())

    harness = Harness(sender=RecordingSender(before_send))
    assert harness.run(campaign.id) is RunResult.STOPPED
    after = reload(campaign)
    assert after.status == "Cancelled" and len(harness.sender.sent) == 3
    assert harness.run(campaign.id) is RunResult.SKIPPED


def test_the_same_event_delivered_twice_sends_each_contact_once(build):
    campaign = build.campaign(4)
    harness = Harness()
    assert harness.run(campaign.id) is RunResult.COMPLETED
    assert harness.run(campaign.id) is RunResult.SKIPPED
    assert len(harness.sender.sent) == 4


def test_two_invocations_at_once_send_each_contact_once(build):
    campaign = build.campaign(12)
    sender = RecordingSender(delay_s=0.01)
    harness = Harness(sender=sender)
    results: list[RunResult] = []
    barrier = threading.Barrier(3)

    def invoke() -> None:
        barrier.wait()
        results.append(harness.run(campaign.id))

    threads = [threading.Thread(target=invoke) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    phones = [m.phone_number for m in sender.sent]
    assert sorted(phones) == sorted(set(phones)) and len(phones) == 12
    assert results.count(RunResult.COMPLETED) == 1
    assert reload(campaign).sent_count == 12


def test_a_duplicated_continuation_event_running_concurrently_sends_each_contact_once(build):
    campaign = build.campaign(10)
    sender = RecordingSender(delay_s=0.01)
    harness = Harness(sender=sender)
    assert harness.run(campaign.id, budget=Budget(2)) is RunResult.HANDED_OFF
    (event,) = harness.invoker.pop_all()
    barrier = threading.Barrier(2)

    def invoke() -> None:
        barrier.wait()
        harness.run(event["campaignId"], event["runToken"], event["hop"])

    threads = [threading.Thread(target=invoke) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    phones = [m.phone_number for m in sender.sent]
    assert len(phones) == 10 and len(set(phones)) == 10
    assert reload(campaign).status == "Completed"


def test_a_tiny_time_budget_chains_self_invocations_and_sends_each_contact_once(build):
    campaign = build.campaign(10)
    harness = Harness()

    results = harness.run_to_end(campaign.id, budget_factory=lambda: Budget(3))

    events = [event for event, _ in results]
    assert [r for _, r in results] == [RunResult.HANDED_OFF] * 3 + [RunResult.COMPLETED]
    assert events[0] == runner_event(campaign.id)
    token = events[1]["runToken"]
    assert events[1:] == [{"campaignId": campaign.id, "runToken": token, "hop": hop} for hop in (1, 2, 3)]
    phones = [m.phone_number for m in harness.sender.sent]
    assert phones == [f"+1555{i:07d}" for i in range(10)]
    after = reload(campaign)
    assert after.status == "Completed" and after.sent_count == 10


def test_a_replayed_old_hop_event_after_completion_sends_nothing(build):
    campaign = build.campaign(4)
    harness = Harness()
    results = harness.run_to_end(campaign.id, budget_factory=lambda: Budget(2))
    replay = results[1][0]
    assert harness.run(replay["campaignId"], replay["runToken"], replay["hop"]) is RunResult.SKIPPED
    assert len(harness.sender.sent) == 4


def test_the_runaway_guard_fails_a_run_that_makes_no_progress(build):
    campaign = build.campaign(3)
    harness = Harness(cfg=runner_settings(max_no_progress_invocations=3))
    assert harness.run(campaign.id, budget=Budget(0)) is RunResult.HANDED_OFF
    results = harness.run_to_end(campaign.id, budget_factory=lambda: Budget(0), limit=10)
    assert results[-1][1] is RunResult.SKIPPED
    after = reload(campaign)
    assert after.status == "Failed" and "no progress" in after.failure_reason
    assert harness.sender.sent == []


def test_contacts_are_read_in_pages_from_the_resume_point(build):
    campaign = build.campaign(300, last_processed=289, status=CampaignStatus.PAUSED)
    resume(campaign)
    harness = Harness(cfg=runner_settings(chunk_size=4))
    with count_dynamodb_requests() as counts:
        assert harness.run(campaign.id) is RunResult.COMPLETED
    assert [m.phone_number for m in harness.sender.sent] == [f"+1555{i:07d}" for i in range(290, 300)]
    assert counts["Query"] == 3 and counts["Query.Limit.max"] == 4


def test_ten_thousand_contacts_are_read_in_pages_never_all_at_once(build):
    contact_list = build.contact_list(10_000)
    cursor = ContactCursor(CampaignStore().reads, contact_list.id, 0, 10_000, 250, sleep=lambda s: None)
    seen = 0
    with count_dynamodb_requests() as counts:
        for contact in cursor:
            assert int(contact.index) == seen
            seen += 1
    assert seen == 10_000
    assert counts["Query"] == 40 and counts["Query.Limit.max"] == 250


# What a run costs whatever its length (its reads at the start, the take, the
# completion) cancels out between two runs of different lengths: every request is
# counted, and the difference is what each further contact costs.
SMALL, LARGE = 25, 75
CLAIM = "TransactWriteItems campaigns + opt-outs + whatsapp-sessions"  # claim, opt-out check, turn
# delivery and progress, and the settlement of the send's turn on the number
RECORD = "TransactWriteItems campaigns + deliveries + whatsapp-sessions"
RECORD_AND_CLAIM = "TransactWriteItems campaigns + deliveries + opt-outs + whatsapp-sessions"
PAGE = "Query contacts"


def requests_of_a_run(build, contacts: int, clock: FakeClock | None = None, **options) -> Counter:
    campaign = build.campaign(contacts, **options)
    harness = Harness(cfg=runner_settings(chunk_size=25), clock=clock)
    with count_dynamodb_requests() as counts:
        assert harness.run(campaign.id) is RunResult.COMPLETED
    assert [d.status for d in deliveries(campaign)] == ["Sent"] * contacts
    return counts.named


def late_turns_moved(further: dict[str, int]) -> int:
    """Takes out of `further` the turns moved later on the number (one UpdateItem each):
    on a loaded machine a send's calls may overrun the room its turn kept (real time)."""
    return further.pop("UpdateItem whatsapp-sessions", 0)


def per_further_contact(small: Counter, large: Counter) -> dict[str, int]:
    """Requests the LARGE run made beyond the SMALL one's, by name (none left out)."""
    return {name: large[name] - small[name] for name in small | large if large[name] != small[name]}


def test_dynamodb_requests_per_contact_when_sends_follow_each_other(build):
    small, large = requests_of_a_run(build, SMALL), requests_of_a_run(build, LARGE)
    further = per_further_contact(small, large)

    # Per contact, one transaction writes its delivery, advances progress and claims
    # the next contact, with the next one's opt-out check and its turn on the WhatsApp
    # number; only a page's first contact has a claim of its own (the session is
    # checked before each page with nothing claimed), and its last a record alone
    # (which settles the send's turn on the number).
    pages = (LARGE - SMALL) // 25
    assert late_turns_moved(further) <= 2
    assert further == {
        RECORD_AND_CLAIM: (LARGE - SMALL) - pages,
        RECORD: pages,
        CLAIM: pages,
        PAGE: pages,
    }
    # No GetItem per contact: the opt-out list is checked in the claim, the number's
    # state read once per run, with the session, and then known from what this run wrote.
    assert sum(further.values()) / (LARGE - SMALL) <= 1.1
    assert small["GetItem whatsapp-sessions"] == large["GetItem whatsapp-sessions"] == 1


def test_dynamodb_requests_per_contact_with_paced_sends(build):
    clock = FakeClock()
    small = requests_of_a_run(build, SMALL, clock, min_delay_ms=5_000, max_delay_ms=5_000)
    # Each gap, and its margin for the requests' transit (1 % of it), slept at once.
    assert clock.sleeps == [5.0 + transit_s(5_000)] * (SMALL - 1)
    large = requests_of_a_run(build, LARGE, FakeClock(), min_delay_ms=5_000, max_delay_ms=5_000)
    further = per_further_contact(small, large)

    # A long wait is spent before the claim, so a pause during it stops the run before
    # the next send: per contact, one claim (with the opt-out check and the number's
    # turn in the same request) and one record (with the turn's settlement); and a
    # page of contacts per 25.
    pages = (LARGE - SMALL) // 25
    assert late_turns_moved(further) <= 2
    assert further == {CLAIM: LARGE - SMALL, RECORD: LARGE - SMALL, PAGE: pages}
    assert sum(further.values()) / (LARGE - SMALL) <= 2.1


def test_a_pause_during_a_long_wait_stops_the_run_before_the_next_send(build):
    campaign = build.campaign(5, min_delay_ms=5_000, max_delay_ms=5_000)
    store = CampaignStore()
    clock = FakeClock()
    harness = Harness(clock=clock)
    original_sleep = clock.sleep

    def sleep_then_pause(seconds: float) -> None:
        original_sleep(seconds)
        store.commands.pause(campaign.id, campaign.user_id, utcnow())

    clock.sleep = sleep_then_pause
    assert harness.run(campaign.id) is RunResult.STOPPED
    assert len(harness.sender.sent) == 1
    assert reload(campaign).last_processed_contact_index == 0


def test_a_contact_missing_from_the_list_is_never_stepped_over(build):
    from campaigns.data.models import Contact

    campaign = build.campaign(5)
    Contact(list_id=campaign.contact_list_id, index=2).delete()
    harness = Harness()

    assert harness.run(campaign.id) is RunResult.PAUSED

    after = reload(campaign)
    assert [d.contact_index for d in deliveries(campaign)] == [0, 1]
    assert after.last_processed_contact_index == 1
    assert "Contact #3 of the list could not be read" in after.pause_reason


def test_a_late_first_event_after_the_user_paused_sends_nothing(build):
    campaign = build.campaign(6)
    store = CampaignStore()

    def pause_at_second(message: OutgoingMessage, count: int) -> None:
        if count == 1:
            store.commands.pause(campaign.id, campaign.user_id, utcnow())

    harness = Harness(sender=RecordingSender(pause_at_second))
    assert harness.run(campaign.id) is RunResult.STOPPED
    # Lambda delivers at least once: the same first event arrives again, later.
    assert harness.run(campaign.id) is RunResult.SKIPPED
    assert len(harness.sender.sent) == 2
    assert reload(campaign).status == "Paused"


def test_a_transaction_cancelled_by_throttling_is_retried_and_the_run_goes_on(build):
    campaign = build.campaign(4)
    harness = Harness()
    throttled = ["ThrottlingError", "None"]
    with dynamodb_fault(
        "TransactWriteItems",
        after=1,
        code="TransactionCanceledException",
        times=2,
        cancellation_reasons=throttled,
    ):
        assert harness.run(campaign.id) is RunResult.COMPLETED
    after = reload(campaign)
    assert [d.status for d in deliveries(campaign)] == ["Sent"] * 4
    assert (after.sent_count, after.unknown_count) == (4, 0)
