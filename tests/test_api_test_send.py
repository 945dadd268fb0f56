"""POST /campaigns/{id}/test: one message, personalised with the campaign's
defaultNameValue and with its media, to one number now through the campaign's
session; 10 a day per campaign; never counted in the campaign."""

from __future__ import annotations

from datetime import timedelta

import pytest

from campaigns import config
from campaigns.api import test_sends
from campaigns.data.models import Campaign, WhatsAppSession
from campaigns.domain.errors import QuotaExceeded
from campaigns.domain.statuses import CampaignStatus
from campaigns.sending.sender import (
    ContactRejected,
    DryRunSender,
    SendDeferred,
    SendNotAttempted,
    SendOutcomeUnknown,
    SendUnconfirmed,
)
from campaigns.timeutil import utcnow
from tests.builders import reload
from tests.campaign_setup import campaign_over

S = CampaignStatus


@pytest.fixture
def sender(monkeypatch) -> DryRunSender:
    """The sender build_sender() gives the route, keeping what it sent."""
    recording = DryRunSender()
    monkeypatch.setattr(test_sends, "build_sender", lambda: recording)
    return recording


class Refusing:
    """A sender whose send fails with `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def send(self, message):
        raise self.error


def session(build, name: str = "default", user_id: str = "user-a") -> None:
    WhatsAppSession(name=name, user_id=user_id, created_at=utcnow()).save()


def a_campaign(build, status=S.SCHEDULED, media=None, **attributes) -> Campaign:
    session(build)
    return campaign_over(
        build.contact_list(3),
        build.template("Hi {name}, see {NAME}!"),
        media=media,
        status=status,
        **attributes,
    )


def test_the_message_goes_to_the_number_with_the_default_name_and_the_media(build, alice, sender):
    media = build.media("https://cdn.example.com/promo/banner.jpg?v=2")
    campaign = a_campaign(build, media=media)

    answer = alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "0044 7911 123456"})

    assert answer.status == 202
    assert answer.json == {"phoneNumber": "+447911123456", "messageId": None, "sentToday": 1, "leftToday": 9}
    (message,) = sender.sent
    assert message.phone_number == "+447911123456"
    assert message.text == "Hi friend, see friend!"
    assert message.session == "default"
    assert (message.media.url, message.media.mime_type, message.media.filename) == (
        media.storage_path,
        "image/jpeg",
        "banner.jpg",
    )


def test_a_test_send_is_not_counted_in_the_campaign(build, alice, sender):
    campaign = a_campaign(build, status=S.COMPLETED, sent_count=3, last_processed_contact_index=2)

    assert alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"}).status == 202

    after = alice.get(f"/campaigns/{campaign.id}").json
    assert (after["sentCount"], after["failedCount"], after["unknownCount"]) == (3, 0, 0)
    assert after["lastProcessedContactIndex"] == 2
    assert after["status"] == "Completed"
    assert alice.get(f"/campaigns/{campaign.id}/deliveries").json["items"] == []


def test_the_eleventh_test_of_the_day_is_refused_with_429(build, alice, sender):
    campaign = a_campaign(build)
    other = a_campaign(build)

    answers = [
        alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"}) for _ in range(11)
    ]

    assert [a.status for a in answers] == [202] * 10 + [429]
    assert "10 test sends today" in answers[-1].message
    assert len(sender.sent) == 10
    # another campaign has its own quota
    assert alice.post(f"/campaigns/{other.id}/test", {"phoneNumber": "+15551230001"}).status == 202


def test_the_quota_starts_again_the_next_day(build, sender):
    campaign = a_campaign(build)
    today = utcnow()
    for _ in range(10):
        test_sends.send_test("user-a", campaign.id, "+15551230001", today, sender)
    with pytest.raises(QuotaExceeded):
        test_sends.send_test("user-a", campaign.id, "+15551230001", today, sender)

    tomorrow = test_sends.send_test("user-a", campaign.id, "+15551230001", today + timedelta(days=1), sender)

    assert (tomorrow.sent_today, tomorrow.left_today) == (1, 9)


def test_a_send_that_never_went_out_is_given_back(build):
    campaign = a_campaign(build)
    now = utcnow()
    for _ in range(3):
        with pytest.raises(Exception):  # noqa: B017 - the refusal itself is tested below
            test_sends.send_test("user-a", campaign.id, "+15551230001", now, Refusing(SendNotAttempted("x")))

    assert int(reload(campaign).test_send_count) == 0


@pytest.mark.parametrize("number", ["12345", "not a number", "+1 555", "07911 123456"])
def test_a_number_that_is_not_one_is_422(build, alice, sender, number):
    campaign = a_campaign(build)

    answer = alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": number})

    assert answer.status == 422
    assert answer.json["details"][0]["field"] == "phoneNumber"
    assert sender.sent == []


def test_another_users_campaign_is_not_found(build, bob, sender):
    campaign = a_campaign(build)

    assert bob.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"}).status == 404
    assert bob.post("/campaigns/nope/test", {"phoneNumber": "+15551230001"}).status == 404
    assert sender.sent == []


def test_a_running_campaign_is_not_tested_closer_than_its_minimum_gap(build, alice, sender):
    campaign = a_campaign(build, status=S.RUNNING, min_delay_ms=30_000, max_delay_ms=60_000)
    campaign.update(actions=[Campaign.last_sent_at.set(utcnow() - timedelta(seconds=10))])

    answer = alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"})

    assert answer.status == 409
    assert 19_000 < answer.json["details"][0]["retryAfterMs"] <= 20_001
    assert sender.sent == []
    campaign.update(actions=[Campaign.last_sent_at.set(utcnow() - timedelta(seconds=31))])
    assert alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"}).status == 202


def test_a_campaign_whose_session_the_user_no_longer_holds_is_409(build, alice, sender):
    campaign = a_campaign(build)
    WhatsAppSession(name="default", user_id="user-b", created_at=utcnow()).save()

    answer = alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"})

    assert answer.status == 409
    assert sender.sent == []


INTERNAL = "WAHA at http://10.1.2.3:3000/api/sendText answered 503 (localhost:3000)"


@pytest.mark.parametrize(
    ("error", "status", "counted"),
    [
        (ContactRejected(f"number not on WhatsApp; {INTERNAL}"), 422, False),
        (SendDeferred(INTERNAL), 409, False),
        (SendNotAttempted(f"session not WORKING; {INTERNAL}"), 409, False),
        (SendUnconfirmed(INTERNAL, "true_1@c.us_X"), 409, True),
        (SendOutcomeUnknown(INTERNAL), 409, True),
        (RuntimeError(INTERNAL), 409, True),
    ],
)
def test_waha_failures_are_clear_4xx_answers_naming_no_internal_host(
    build, alice, monkeypatch, error, status, counted
):
    campaign = a_campaign(build)
    monkeypatch.setattr(test_sends, "build_sender", lambda: Refusing(error))

    answer = alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"})

    assert answer.status == status
    for internal in ("10.1.2.3", "3000", "/api/", "localhost", "http"):
        assert internal not in answer.text
    assert int(reload(campaign).test_send_count) == (1 if counted else 0)


@pytest.fixture
def waha(fake_waha, monkeypatch):
    """The API's senders built against the fake WAHA."""
    monkeypatch.setenv("WAHA_BASE_URL", fake_waha.base_url)
    monkeypatch.setenv("WAHA_API_KEY", fake_waha.api_key)
    monkeypatch.setenv("WAHA_MAX_ATTEMPTS", "1")
    config.reload_settings()
    fake_waha.set_session("default")
    yield fake_waha
    monkeypatch.undo()
    config.reload_settings()


def test_through_waha_the_test_reaches_whatsapp_and_an_outage_is_a_409(build, alice, waha):
    campaign = a_campaign(build)

    sent = alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"})

    assert sent.status == 202, sent.text
    assert sent.json["messageId"]
    assert [m["text"] for m in waha.sent()] == ["Hi friend, see friend!"]

    waha.fail_next(5, status=503)
    down = alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"})

    assert 400 <= down.status < 500
    assert "127.0.0.1" not in down.text and str(waha.base_url.rsplit(":", 1)[1]) not in down.text
    assert len(waha.sent()) == 1


# ------------------------------------------------------------ as the run sends it


def test_the_test_ends_with_the_opt_out_footer_when_the_campaign_asks_for_one(build, alice, sender):
    campaign = a_campaign(build, opt_out_footer=True)

    assert alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"}).status == 202

    (message,) = sender.sent
    footer = config.settings().opt_out_footer
    assert message.text.startswith("Hi friend, see friend!")
    assert message.text.endswith(footer) and message.text.count(footer) == 1


def test_an_uploaded_file_goes_as_a_short_lived_link_and_a_missing_one_is_409(
    build, alice, sender, monkeypatch
):
    import boto3
    import requests

    from campaigns.data.models import MediaLibraryItem

    endpoint = config.settings().dynamodb_endpoint
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="media-test")
    monkeypatch.setenv("MEDIA_BUCKET", "media-test")
    monkeypatch.setenv("S3_ENDPOINT", endpoint)
    config.reload_settings()
    try:
        key = "media/user-a/m1/flyer.png"
        item = build.media(f"s3://media-test/{key}")
        item.update(actions=[MediaLibraryItem.mime_type.set("image/png")])
        campaign = a_campaign(build, media=item)

        missing = alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"})
        assert missing.status == 409 and "media item" in missing.message
        assert sender.sent == []

        s3.put_object(Bucket="media-test", Key=key, Body=b"\x89PNG-bytes", ContentType="image/png")
        assert alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"}).status == 202
        (message,) = sender.sent
        assert message.media.url.startswith("http") and "X-Amz-Signature=" in message.media.url
        assert requests.get(message.media.url, timeout=10).content == b"\x89PNG-bytes"
    finally:
        monkeypatch.undo()
        config.reload_settings()


def test_a_test_waits_for_the_numbers_gap_after_another_campaigns_message(build, alice, sender):
    campaign = a_campaign(build, min_delay_ms=30_000, max_delay_ms=30_000)
    number = WhatsAppSession.get("default")
    number.update(
        actions=[
            WhatsAppSession.number_last_send_at.set(utcnow() - timedelta(seconds=5)),
            WhatsAppSession.number_last_gap_ms.set(30_000),
            WhatsAppSession.number_last_campaign.set("another-campaign"),
        ]
    )

    answer = alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"})

    assert answer.status == 409
    assert 24_000 < answer.json["details"][0]["retryAfterMs"] <= 25_001
    assert sender.sent == []
    # nothing of the day's quota was used, and no turn was queued on the number
    assert WhatsAppSession.get("default").number_waiting in (None, "{}")
    assert alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"}).status == 409


def test_a_test_counts_in_the_numbers_daily_limit(build, alice, sender):
    campaign = a_campaign(build)
    WhatsAppSession.get("default").update(actions=[WhatsAppSession.daily_limit.set(2)])

    answers = [
        alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"}) for _ in range(3)
    ]

    assert [a.status for a in answers] == [202, 202, 409]
    assert "daily limit of 2" in answers[-1].message
    assert len(sender.sent) == 2


def test_a_test_not_ready_before_its_turn_on_the_number_is_over_is_not_sent(build, alice, monkeypatch):
    import time

    from campaigns.sending.sender import SendResult, require_on_time

    class SlowToPrepare:
        """Like the WAHA sender: its preparing calls (a number check, a message id) take
        time, then it asks whether the message may still go out."""

        sent: list = []

        def send(self, message):
            time.sleep(0.2)
            require_on_time(message)
            self.sent.append(message)
            return SendResult(message_id="id-1")

    slow = SlowToPrepare()
    monkeypatch.setattr(test_sends, "build_sender", lambda: slow)
    monkeypatch.setattr(test_sends, "TEST_TURN_S", 0.05)
    campaign = a_campaign(build)

    answer = alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"})

    assert answer.status == 409 and "turn" in answer.message
    assert slow.sent == []
    # the day's quota was given back; with time to spare the test goes out
    monkeypatch.setattr(test_sends, "TEST_TURN_S", 5.0)
    sent = alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"})
    assert sent.status == 202 and sent.json["sentToday"] == 1
    # the turn was recorded on the number at the latest the test could go out
    number = WhatsAppSession.get("default")
    assert number.number_last_send_at > utcnow() + timedelta(seconds=4)
