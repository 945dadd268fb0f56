"""WhatsApp's first ack of a message can reach POST /webhooks/waha before the runner has
recorded the message's delivery (WAHA posts it within milliseconds of the send, and
the deliveries' byMessageId index lags its table). Such an ack is kept, not dropped:
parked under the message id with the highest ack so far, and applied by the
schedule's tick once the delivery exists, counted once whatever the order and
repetition. Over HTTP: moto's DynamoDB server, the fake WAHA signing real webhooks."""

from __future__ import annotations

from datetime import timedelta

from campaigns.data import webhook_events
from campaigns.data.models import Campaign, Delivery, WebhookEvent
from campaigns.data.store import CampaignStore
from campaigns.domain.statuses import CampaignStatus
from campaigns.invoker import RecordingInvoker
from campaigns.schedule.tick import ScheduleTick, TickReport
from campaigns.timeutil import utcnow
from tests import waha_world
from tests.builders import Builder, reload
from tests.fakewaha import FakeWaha
from tests.runner_harness import runner_settings
from tests.waha_world import connect

waha_api = waha_world.waha_api  # the fixture, used by name


def campaign_on(build: Builder, session_id: str, name: str, count: int = 2) -> Campaign:
    """A Running campaign on the session whose deliveries the runner has not recorded yet."""
    campaign = build.campaign(count, status=CampaignStatus.RUNNING, register_session=False)
    Campaign(campaign.id).update(
        actions=[Campaign.whatsapp_session_id.set(session_id), Campaign.waha_session.set(name)]
    )
    return reload(campaign)


def message_id(index: int) -> str:
    return f"true_1555000{index:04d}@c.us_3EB0{index:012X}"


def record(campaign: Campaign, index: int) -> None:
    """The runner records the contact's delivery: Sent, with WAHA's message id."""
    Delivery(
        campaign_id=campaign.id,
        contact_index=index,
        phone_number=f"+1555000{index:04d}",
        status="Sent",
        message_id=message_id(index),
        at=utcnow(),
    ).save()
    Campaign(campaign.id).update(actions=[Campaign.sent_count.add(1)])


def tick(seconds_later: int = 60) -> TickReport:
    now = utcnow() + timedelta(seconds=seconds_later)
    return ScheduleTick(CampaignStore(), RecordingInvoker(), runner_settings()).run(now)


def counts(campaign: Campaign) -> tuple[int, int]:
    fresh = reload(campaign)
    return int(fresh.delivered_count or 0), int(fresh.read_count or 0)


def ack_of(campaign: Campaign, index: int) -> str | None:
    return Delivery.get(campaign.id, index, consistent_read=True).ack


def test_a_read_ack_before_its_delivery_is_applied_by_the_next_tick(waha_api: FakeWaha, alice, build):
    session_id, name = connect(alice, waha_api)
    campaign = campaign_on(build, session_id, name)

    assert waha_api.ack(name, message_id(0), "READ") == 200
    record(campaign, 0)
    assert (ack_of(campaign, 0), counts(campaign)) == (None, (0, 0))  # kept, not yet applied

    report = tick()

    assert ack_of(campaign, 0) == "Read"
    assert counts(campaign) == (1, 1)
    assert report.acks_applied == 1
    shown = alice.get(f"/campaigns/{campaign.id}").json
    assert (shown["deliveredCount"], shown["readCount"]) == (1, 1)
    assert alice.get(f"/campaigns/{campaign.id}/deliveries").json["items"][0]["ack"] == "Read"


def test_early_acks_repeated_and_out_of_order_count_once(waha_api: FakeWaha, alice, build):
    session_id, name = connect(alice, waha_api)
    campaign = campaign_on(build, session_id, name)

    # Before the delivery: Read first, then the earlier acks late, each again, a WAHA retry
    early = [waha_api.ack(name, message_id(0), ack) for ack in ("READ", "DEVICE", "SERVER", "READ", "DEVICE")]
    early.append(waha_api.replay())
    assert tick().acks_applied == 0  # nothing to apply it to yet
    record(campaign, 0)
    # After it: more of the same, straight onto the delivery, and more ticks, one overlapping
    late = [waha_api.ack(name, message_id(0), ack) for ack in ("DEVICE", "READ")]
    reports = [tick(), tick(), tick(61), tick(120), tick(180)]

    assert early == [200] * 6 and late == [200] * 2
    assert ack_of(campaign, 0) == "Read"
    assert counts(campaign) == (1, 1)
    assert sum(r.acks_applied for r in reports) <= 1


def test_a_later_ack_applied_directly_is_not_undone_by_an_earlier_parked_one(
    waha_api: FakeWaha, alice, build
):
    session_id, name = connect(alice, waha_api)
    campaign = campaign_on(build, session_id, name)

    waha_api.ack(name, message_id(0), "DEVICE")  # parked
    record(campaign, 0)
    waha_api.ack(name, message_id(0), "PLAYED")  # found at once
    tick()

    assert ack_of(campaign, 0) == "Played"
    assert counts(campaign) == (1, 1)


def test_the_parked_ack_keeps_the_highest_ack_and_expires_in_days(waha_api: FakeWaha, alice, build):
    _, name = connect(alice, waha_api)
    before = int(utcnow().timestamp())

    for ack in ("DEVICE", "READ", "SERVER"):
        assert waha_api.ack(name, message_id(7), ack) == 200

    parked = WebhookEvent.get(webhook_events.parked_ack_id(name, message_id(7)), consistent_read=True)
    assert (parked.message_id, parked.ack, parked.session) == (message_id(7), "Read", name)
    assert 2 * 86400 <= parked.expires_at - before <= 7 * 86400


def test_a_parked_ack_whose_message_never_shows_up_changes_nothing(waha_api: FakeWaha, alice, build):
    session_id, name = connect(alice, waha_api)
    campaign = campaign_on(build, session_id, name)
    waha_api.ack(name, "true_15559999999@c.us_SENTFROMTHEPHONE", "READ")
    record(campaign, 0)

    reports = [tick(), tick(600)]

    assert [r.acks_applied for r in reports] == [0, 0] and [r.errors for r in reports] == [0, 0]
    assert ack_of(campaign, 0) is None and counts(campaign) == (0, 0)


def test_each_early_ack_goes_to_its_own_delivery_and_campaign(waha_api: FakeWaha, alice, build):
    session_id, name = connect(alice, waha_api)
    first, second = campaign_on(build, session_id, name), campaign_on(build, session_id, name)
    second_id = "true_15550000042@c.us_3EB0SECONDCAMPAIGN"

    waha_api.ack(name, message_id(0), "DEVICE")
    waha_api.ack(name, message_id(1), "READ")
    waha_api.ack(name, second_id, "PLAYED")
    record(first, 0)
    record(first, 1)
    Delivery(
        campaign_id=second.id,
        contact_index=0,
        phone_number="+15550000042",
        status="Sent",
        message_id=second_id,
        at=utcnow(),
    ).save()

    assert tick().acks_applied == 3

    assert [ack_of(first, 0), ack_of(first, 1), ack_of(second, 0)] == ["Delivered", "Read", "Played"]
    assert (counts(first), counts(second)) == ((2, 1), (1, 1))


def test_a_parked_ack_reaches_a_campaign_known_by_its_session_id_alone(waha_api: FakeWaha, alice, bob, build):
    session_id, name = connect(alice, waha_api)
    _, bobs = connect(bob, waha_api, label="Bob's")
    campaign = campaign_on(build, session_id, name)
    Campaign(campaign.id).update(actions=[Campaign.waha_session.remove()])

    waha_api.ack(bobs, message_id(0), "PLAYED")  # another user's number: never applied
    waha_api.ack(name, message_id(0), "READ")
    record(campaign, 0)
    tick()

    assert ack_of(campaign, 0) == "Read" and counts(campaign) == (1, 1)
