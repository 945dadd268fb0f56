"""Races and failures in the run protocol that once broke its promises: each test
names the promise, then plays the race against DynamoDB over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

from campaigns.data.models import Contact, ContactList
from campaigns.data.store import CampaignStore
from campaigns.data.user_commands import PAUSED_BY_USER
from campaigns.invoker import RecordingInvoker
from campaigns.runner.service import RunEvent, RunResult
from campaigns.schedule.tick import ScheduleTick
from campaigns.sending.sender import DryRunSender
from campaigns.timeutil import parse_iso, utcnow
from tests.builders import deliveries, reload
from tests.runner_harness import Budget, FakeClock, Harness, RecordingSender, dynamodb_fault, runner_settings

THROTTLED = "ProvisionedThroughputExceededException"


def tick(now=None) -> tuple[RecordingInvoker, object]:
    invoker = RecordingInvoker()
    report = ScheduleTick(CampaignStore(), invoker, runner_settings()).run(now or utcnow())
    return invoker, report


def after_lease(seconds: int = 1):
    return utcnow() + timedelta(seconds=runner_settings().lease_seconds + seconds, minutes=2)


# ----------------------------------------------------- only the holder fails a run


def test_a_duplicated_first_event_whose_read_is_throttled_leaves_the_live_run_alone(build):
    campaign = build.campaign(4)
    duplicate_results = []

    def duplicate_arrives(message, count):
        if count == 1:  # run A has contact 1 in flight
            with dynamodb_fault("GetItem", after=0, code=THROTTLED):
                duplicate_results.append(Harness().run(campaign.id))

    harness = Harness(sender=RecordingSender(duplicate_arrives))

    assert harness.run(campaign.id) is RunResult.COMPLETED

    assert duplicate_results == [RunResult.FAILED]  # that invocation failed, and changed nothing
    after = reload(campaign)
    assert after.status == "Completed" and after.sent_count == 4 and after.unknown_count == 0
    assert [d.status for d in deliveries(campaign)] == ["Sent"] * 4


def test_a_throttled_claim_after_a_users_pause_keeps_the_campaign_paused(build):
    campaign = build.campaign(3, min_delay_ms=2_000, max_delay_ms=2_000)
    store = CampaignStore()

    class PauseDuringWait(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 1:
                store.commands.pause(campaign.id, campaign.user_id, utcnow())

    harness = Harness(clock=PauseDuringWait())
    # Transactions: 1 the claim for contact 0 (with its opt-out check and the number's
    # turn), 2 its record, then the user's pause, and 3 the claim for contact 1.
    with dynamodb_fault("TransactWriteItems", after=2, code=THROTTLED):
        result = harness.run(campaign.id)

    assert result is RunResult.FAILED  # this invocation failed, and changed nothing
    after = reload(campaign)
    assert after.status == "Paused" and after.pause_reason == PAUSED_BY_USER
    assert after.failure_reason is None
    assert len(harness.sender.sent) == 1


def test_a_throttled_claim_after_a_pause_and_resume_keeps_the_campaign_scheduled(build):
    campaign = build.campaign(3, min_delay_ms=2_000, max_delay_ms=2_000)
    store = CampaignStore()

    class PauseAndResumeDuringWait(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 1:
                store.commands.pause(campaign.id, campaign.user_id, utcnow())
                store.commands.resume(campaign.id, campaign.user_id, utcnow())

    harness = Harness(clock=PauseAndResumeDuringWait())
    # As above, with the user's resume before it: the throttled one is the claim.
    with dynamodb_fault("TransactWriteItems", after=2, code=THROTTLED):
        assert harness.run(campaign.id) is RunResult.FAILED

    after = reload(campaign)
    assert after.status == "Scheduled" and after.failure_reason is None
    # The resumed campaign then runs on from where it stopped.
    assert Harness().run(campaign.id) is RunResult.COMPLETED
    assert [d.contact_index for d in deliveries(campaign)] == [0, 1, 2]


# ------------------------------------------------ a lost hand-off is recoverable


class BrokenInvoker(RecordingInvoker):
    def invoke(self, event, function_name=None) -> None:
        raise ConnectionError("Lambda endpoint unreachable")


def test_a_failed_self_invocation_is_continued_by_the_schedule(build):
    campaign = build.campaign(4)
    harness = Harness(invoker=BrokenInvoker())

    assert harness.run(campaign.id, budget=Budget(2)) is RunResult.HANDOFF_LOST

    assert reload(campaign).status == "Running"
    invoker, report = tick(after_lease())
    assert report.taken_over == [campaign.id]
    (event,) = invoker.pop_all()
    assert Harness().run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.COMPLETED
    after = reload(campaign)
    assert after.status == "Completed" and after.unknown_count == 0
    assert [d.contact_index for d in deliveries(campaign)] == [0, 1, 2, 3]


# ------------------------------------------------------- no contact skipped


def test_contacts_appended_while_the_run_starts_are_sent_not_skipped(build):
    campaign = build.campaign(3)
    contact_list = ContactList.get(campaign.user_id, campaign.contact_list_id)
    # An append reserves indexes 3 and 4 first, then writes the contacts.
    contact_list.update(actions=[ContactList.contact_count.set(5)])

    class AppendLands(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            for index in (3, 4):
                Contact(list_id=contact_list.id, index=index, phone_number=f"+1555000100{index}").save()

    harness = Harness(clock=AppendLands())

    assert harness.run(campaign.id) is RunResult.COMPLETED

    after = reload(campaign)
    assert after.total_contacts == 5 and after.sent_count == 5
    assert [d.contact_index for d in deliveries(campaign)] == [0, 1, 2, 3, 4]


def test_a_contact_not_yet_visible_in_mid_list_is_waited_for(build):
    campaign = build.campaign(5)
    hidden = Contact.get(campaign.contact_list_id, 2)
    hidden.delete()

    class BecomesVisible(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            hidden.save()

    harness = Harness(clock=BecomesVisible())

    assert harness.run(campaign.id) is RunResult.COMPLETED
    assert [d.contact_index for d in deliveries(campaign)] == [0, 1, 2, 3, 4]


def test_a_campaign_cannot_complete_with_a_contact_unrecorded(build):
    campaign = build.campaign(3)
    harness = Harness()
    assert harness.run(campaign.id, budget=Budget(1)) is RunResult.HANDED_OFF
    (event,) = harness.invoker.pop_all()

    token = event["runToken"]
    # Contact 1 and 2 are still to go: completing now must be refused.
    assert CampaignStore().run.complete(campaign.id, token, 3, utcnow()) is False
    assert reload(campaign).status == "Running"


# ------------------------------------------------------- pauses are obeyed


class NumberNotOnWhatsApp(DryRunSender):
    """The first contact's number is not on WhatsApp."""

    def number_exists(self, session: str, phone_number: str) -> bool | None:
        return not phone_number.endswith("0001")


def test_no_claim_is_held_through_a_pacing_wait_after_a_failed_number_check(build):
    campaign = build.campaign(
        [("+15550000001", "Ana"), ("+15550000002", "Bo"), ("+15550000003", "Cy")],
        min_delay_ms=5_000,
        max_delay_ms=5_000,
        last_sent_at=utcnow(),  # the previous invocation has just sent
    )
    store = CampaignStore()
    claimed_waits: list[float] = []

    class WatchWaits(FakeClock):
        def sleep(self, seconds: float) -> None:
            if store.reads.get_campaign(campaign.id).in_flight_index is not None and seconds > 1:
                claimed_waits.append(seconds)
                # A user pausing now must stop the run before its next send.
                store.commands.pause(campaign.id, campaign.user_id, utcnow())
            super().sleep(seconds)

    harness = Harness(sender=NumberNotOnWhatsApp(), clock=WatchWaits())
    harness.run(campaign.id)

    assert claimed_waits == []
    statuses = [d.status for d in deliveries(campaign)]
    assert statuses[0] == "Failed" and reload(campaign).status == "Completed"


def test_a_duplicated_hop_event_does_not_cut_a_batch_pause_short(build):
    campaign = build.campaign(6, batch_size=2, batch_pause_ms=600_000)
    harness = Harness()
    assert harness.run(campaign.id, budget=Budget(1)) is RunResult.HANDED_OFF
    (hop,) = harness.invoker.pop_all()
    assert harness.run(hop["campaignId"], hop["runToken"], hop["hop"]) is RunResult.PARKED
    assert len(harness.sender.sent) == 2

    # Lambda delivers the hop event again, during the 10-minute batch pause.
    assert harness.run(hop["campaignId"], hop["runToken"], hop["hop"]) is RunResult.SKIPPED

    assert len(harness.sender.sent) == 2
    after = reload(campaign)
    assert after.waiting_until is not None and after.wait_reason == "Batch pause"


def test_a_parked_run_shows_until_when_and_why_it_waits(build, alice):
    campaign = build.campaign(4, batch_size=2, batch_pause_ms=600_000)
    assert Harness().run(campaign.id) is RunResult.PARKED

    answer = alice.get(f"/campaigns/{campaign.id}")

    assert answer.status == 200
    body = answer.json
    assert body["status"] == "Running" and body["waitReason"] == "Batch pause"
    waiting = parse_iso(body["waitingUntil"])
    assert timedelta(minutes=9) < waiting - utcnow() <= timedelta(minutes=10)


# ------------------------------------------------------------------- opt-outs


def test_an_opted_out_contact_is_skipped_and_an_opt_out_mid_run_counts_from_the_next_contact(build):
    from campaigns.data import optouts
    from campaigns.data.optouts import NewOptOut
    from campaigns.domain.optouts import OptOutSource

    campaign = build.campaign(4)
    numbers = [f"+1555{index:07d}" for index in range(4)]
    optouts.record(campaign.user_id, NewOptOut(numbers[1], OptOutSource.MANUAL, utcnow()))

    def stop_arrives(message, count) -> None:
        if count == 0:  # while contact 0 is being sent, contact 3 replies STOP
            optouts.record(campaign.user_id, NewOptOut(numbers[3], OptOutSource.KEYWORD, utcnow(), "STOP"))

    harness = Harness(sender=RecordingSender(stop_arrives))
    assert harness.run(campaign.id) is RunResult.COMPLETED

    log = deliveries(campaign)
    assert [d.status for d in log] == ["Sent", "Skipped", "Sent", "Skipped"]
    assert "opted out" in log[1].error
    assert [m.phone_number for m in harness.sender.sent] == [numbers[0], numbers[2]]
    after = reload(campaign)
    assert (after.sent_count, after.skipped_count, after.status) == (2, 2, "Completed")


def test_an_opt_out_recorded_after_the_wait_just_before_the_claim_is_skipped_and_never_sent(build):
    """The claim checks the opt-out list in its own request: an opt-out recorded after
    the pacing wait and the number's turn were decided, just before the claim, is
    seen; the contact is Skipped, never sent, and takes no turn on the number."""
    from campaigns.data import optouts
    from campaigns.data.models import WhatsAppSession
    from campaigns.data.optouts import NewOptOut
    from campaigns.domain.optouts import OptOutSource

    campaign = build.campaign(4, min_delay_ms=5_000, max_delay_ms=5_000)
    numbers = [f"+1555{index:07d}" for index in range(4)]
    clock = FakeClock()
    runner = Harness(clock=clock).runner()
    decided = runner.waits.recipient
    stops = []

    def stop_arrives_before_the_claim(run, contact):
        recipient = decided(run, contact)  # the wait is over, the number's turn decided
        if int(contact.index) == 2:
            optouts.record(
                campaign.user_id, NewOptOut(numbers[2], OptOutSource.KEYWORD, clock.wall(), "STOP")
            )
            stops.append(recipient)
        return recipient

    runner.waits.recipient = stop_arrives_before_the_claim
    assert runner.run(RunEvent(campaign.id), lambda: 10**9, "runner") is RunResult.COMPLETED

    assert len(stops) == 1 and stops[0].slot is not None  # its turn was decided before the opt-out
    log = deliveries(campaign)
    assert [d.status for d in log] == ["Sent", "Sent", "Skipped", "Sent"]
    assert "opted out" in log[2].error
    assert [m.phone_number for m in runner.sender.sent] == [numbers[0], numbers[1], numbers[3]]
    after = reload(campaign)
    assert (after.sent_count, after.skipped_count, after.status) == (3, 1, "Completed")
    number = WhatsAppSession.get(campaign.waha_session, consistent_read=True)
    assert sum(json.loads(number.number_hourly).values()) == 3  # no turn taken for the Skipped one
