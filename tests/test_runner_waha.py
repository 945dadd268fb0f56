"""The runner sending through the real WAHA sender, over HTTP, to the fake WAHA server.

DynamoDB is moto's server over HTTP (`build`/`tables`); WAHA is `tests.fakewaha` on
127.0.0.1. Nothing between the runner and the two servers is mocked: the tests change
the servers' behaviour and then check what each server received and what the
campaign and its delivery log say.
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest

from campaigns.data.models import Campaign
from campaigns.data.store import CampaignStore
from campaigns.invoker import RecordingInvoker
from campaigns.observability import logger
from campaigns.runner.budget import startup_budget_problem
from campaigns.runner.endings import IN_PLACE_RETRIES
from campaigns.runner.service import NOT_ON_WHATSAPP, RunResult, typing_ms
from campaigns.schedule.tick import ScheduleTick
from campaigns.sending.pacing import transit_s
from campaigns.sending.sender import OutgoingMessage, SendResult
from campaigns.sending.waha_client import CAPPING_REASON, TIMELOCK_REASON, RetryPolicy, WahaClient
from campaigns.sending.waha_sender import WahaSender
from campaigns.timeutil import utcnow
from tests.builders import deliveries, reload
from tests.fakewaha import FakeWaha
from tests.runner_harness import Budget, FakeClock, Harness, runner_settings

# Retry delays in milliseconds so that every retry really happens, fast.
FAST = RetryPolicy(
    max_attempts=3,
    base_delay_s=0.004,
    max_delay_s=0.02,
    rate_limit_base_delay_s=0.01,
    rate_limit_max_delay_s=0.04,
)
READ_TIMEOUT_S = 2.0
SHORT_READ_TIMEOUT_S = 0.4  # for the tests where WAHA holds its answer back
HANG_S = 3.0  # longer than SHORT_READ_TIMEOUT_S: the client gives up first

SEND_ENDPOINTS = {"sendText", "sendImage", "sendVideo", "sendFile"}


# ---------------------------------------------------------------------- helpers


class Sleeps:
    """The client's backoff sleeps: recorded, and really slept."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        time.sleep(seconds)


class ObservedSender(WahaSender):
    """The real WAHA sender; `after_send(n)` runs after its n-th confirmed send, so a
    test can change the server's behaviour at an exact point of the run."""

    def __init__(self, client: WahaClient, after_send: Callable[[int], None] | None = None) -> None:
        super().__init__(client)
        self.after_send = after_send
        self.confirmed = 0

    def send(self, message: OutgoingMessage) -> SendResult:
        result = super().send(message)
        self.confirmed += 1
        if self.after_send is not None:
            self.after_send(self.confirmed)
        return result


def waha_sender(
    fake: FakeWaha,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    connect_timeout_s: float = 1.0,
    read_timeout_s: float = READ_TIMEOUT_S,
    sleeps: Sleeps | None = None,
    after_send: Callable[[int], None] | None = None,
) -> ObservedSender:
    client = WahaClient(
        base_url or fake.base_url,
        api_key or fake.api_key,
        connect_timeout_s=connect_timeout_s,
        read_timeout_s=read_timeout_s,
        retry=FAST,
        sleep=sleeps or time.sleep,
    )
    return ObservedSender(client, after_send)


def at_send(n: int, action: Callable[[], None]) -> Callable[[int], None]:
    """An `after_send` hook that runs `action` once, right after the n-th confirmed send."""

    def hook(count: int) -> None:
        if count == n:
            action()

    return hook


def phones(count: int) -> list[str]:
    """The phone numbers Builder.campaign(<count>) gives its contacts."""
    return [f"+1555{index:07d}" for index in range(count)]


def chat(phone: str) -> str:
    return re.sub(r"\D", "", phone).lstrip("0") + "@c.us"


def resume(campaign: Campaign, sender: Any, **harness: Any) -> RunResult:
    """POST /resume, then the runner invocation it triggers."""
    CampaignStore().commands.resume(campaign.id, campaign.user_id, utcnow())
    return Harness(sender=sender, **harness).run(campaign.id)


def assert_each_sent_once_in_order(fake: FakeWaha, numbers: list[str]) -> None:
    assert [m["chatId"] for m in fake.sent()] == [chat(p) for p in numbers]


def assert_log_matches(campaign: Campaign, fake: FakeWaha) -> list:
    """The delivery log has one entry per handled contact, in order and with none
    skipped; the campaign's counters equal it; each Sent entry carries the id WAHA
    gave that message."""
    after = reload(campaign)
    log = deliveries(campaign)
    assert [int(d.contact_index) for d in log] == list(range(len(log)))
    by_status = Counter(d.status for d in log)
    assert (after.sent_count, after.failed_count, after.unknown_count) == (
        by_status["Sent"],
        by_status["Failed"],
        by_status["Unknown"],
    )
    ids = {m["chatId"]: m["message_id"] for m in fake.sent()}
    for delivery in log:
        if delivery.status == "Sent":
            assert delivery.message_id == ids[chat(delivery.phone_number)]
            assert delivery.error is None
        else:
            assert delivery.message_id is None and delivery.error
    return log


def statuses(campaign: Campaign) -> list[str]:
    return [d.status for d in deliveries(campaign)]


def requests_for(fake: FakeWaha, phone: str, endpoints: set[str] = SEND_ENDPOINTS) -> int:
    return sum(
        1 for r in fake.request_log() if r["endpoint"] in endpoints and r["body"].get("chatId") == chat(phone)
    )


def engine_error(message: str) -> dict[str, Any]:
    """WAHA's 500 body for an error thrown by the engine."""
    return {
        "statusCode": 500,
        "timestamp": "2026-07-01T10:00:00.000Z",
        "exception": {"message": message, "name": "Error", "stack": f"Error: {message}\n    at engine"},
        "request": {"path": "/api/sendText", "method": "POST", "body": {}, "query": {}},
        "version": {"version": "2026.7.1", "engine": "NOWEB", "tier": "CORE"},
    }


def plain_ceiling(retry: int) -> float:
    return min(FAST.max_delay_s, FAST.base_delay_s * 2 ** (retry - 1))


def rate_ceiling(retry: int) -> float:
    return min(FAST.rate_limit_max_delay_s, FAST.rate_limit_base_delay_s * 2 ** (retry - 1))


# ---------------------------------------------------------------------- sending


MIXED_NAMES = [
    "Ana",
    None,
    "",
    "   ",
    "  Bo  ",
    "José",
    "Zoë-Marie",
    "O'Brien",
    "{Name}",
    "李",
]


def test_fifty_contacts_with_mixed_names_get_exactly_their_personalised_texts(build, fake_waha):
    contacts = []
    for index in range(50):
        phone = f"+1 (555) 200-{index:04d}" if index % 7 == 3 else f"+1555200{index:04d}"
        contacts.append((phone, MIXED_NAMES[index % len(MIXED_NAMES)]))
    campaign = build.campaign(
        contacts, text="Hi {Name}! {name}, your order is ready. {NAME}", default_name="friend"
    )

    result = Harness(sender=waha_sender(fake_waha)).run(campaign.id)

    assert result is RunResult.COMPLETED

    def expected(first_name: str | None) -> str:
        name = (first_name or "").strip() or "friend"
        return f"Hi {name}! {name}, your order is ready. {name}"

    sent = fake_waha.sent()
    assert [(m["endpoint"], m["chatId"], m["text"]) for m in sent] == [
        ("sendText", chat(phone), expected(name)) for phone, name in contacts
    ]
    assert sent[8]["text"] == "Hi {Name}! {Name}, your order is ready. {Name}"  # inserted literally
    # Every text went out with its own pre-generated id, so a retry could not duplicate it.
    assert len({m["id"] for m in sent}) == 50 and all(m["id"] for m in sent)
    after = reload(campaign)
    assert after.status == "Completed" and after.last_processed_contact_index is None
    assert (after.sent_count, after.failed_count, after.unknown_count) == (50, 0, 0)
    log = assert_log_matches(campaign, fake_waha)
    assert [(d.phone_number, d.status) for d in log] == [(phone, "Sent") for phone, _ in contacts]


@pytest.mark.parametrize(
    "url, mime, endpoint, filename",
    [
        ("https://cdn.example.com/promo/banner.jpg?v=2", "image/jpeg", "sendImage", "banner.jpg"),
        ("https://cdn.example.com/promo/clip.mp4", "video/mp4", "sendVideo", "clip.mp4"),
        ("https://cdn.example.com/promo/price-list.pdf", "application/pdf", "sendFile", "price-list.pdf"),
    ],
)
def test_a_media_campaign_sends_the_file_with_the_personalised_caption(
    build, fake_waha, url, mime, endpoint, filename
):
    media = build.media(url, mime)
    contacts = [("+15550000001", "Ana"), ("+15550000002", None), ("+15550000003", " Bo ")]
    campaign = build.campaign(contacts, text="Look, {name}!", default_name="friend", media=media)

    assert Harness(sender=waha_sender(fake_waha)).run(campaign.id) is RunResult.COMPLETED

    bodies = [r["body"] for r in fake_waha.request_log(endpoint)]
    expected_file = {"url": url, "mimetype": mime, "filename": filename}
    assert [(b["chatId"], b["caption"], b["file"]) for b in bodies] == [
        (chat("+15550000001"), "Look, Ana!", expected_file),
        (chat("+15550000002"), "Look, friend!", expected_file),
        (chat("+15550000003"), "Look, Bo!", expected_file),
    ]
    if endpoint == "sendVideo":
        assert all(b["convert"] is False for b in bodies)
    assert all("text" not in b for b in bodies)
    # Media requests have no pre-generated id: none is asked for, no text is sent.
    assert fake_waha.count_requests("sendText") == 0 and fake_waha.count_requests("new-message-id") == 0
    assert statuses(campaign) == ["Sent"] * 3
    assert_log_matches(campaign, fake_waha)


def test_each_delivery_keeps_the_message_id_whatever_shape_the_engine_answers_in(build, fake_waha):
    engines = ["SPEC", "WEBJS", "NOWEB", "GOWS", "EMPTY"]  # EMPTY: 201 with no body at all
    campaign = build.campaign(len(engines))
    fake_waha.engine = engines[0]

    def next_engine(count: int) -> None:
        if count < len(engines):
            fake_waha.engine = engines[count]

    assert Harness(sender=waha_sender(fake_waha, after_send=next_engine)).run(campaign.id) is (
        RunResult.COMPLETED
    )

    log = assert_log_matches(campaign, fake_waha)  # each id is WAHA's serialized true_<chat>_<id>
    assert [d.message_id for d in log] == [m["message_id"] for m in fake_waha.sent()]
    assert all(d.message_id.startswith(f"true_{chat(d.phone_number)}_") for d in log)


def test_concurrent_invocations_send_each_contact_once_over_http(build, fake_waha):
    campaign = build.campaign(10)
    fake_waha.latency_ms = 5
    results: list[RunResult] = []
    barrier = threading.Barrier(3)

    def invoke() -> None:
        harness = Harness(sender=waha_sender(fake_waha))  # each invocation builds its own sender
        barrier.wait()
        results.append(harness.run(campaign.id))

    threads = [threading.Thread(target=invoke) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == sorted([RunResult.COMPLETED, RunResult.SKIPPED, RunResult.SKIPPED])
    assert_each_sent_once_in_order(fake_waha, phones(10))
    assert statuses(campaign) == ["Sent"] * 10
    assert_log_matches(campaign, fake_waha)


# ---------------------------------------------------------------------- the session before each chunk


def test_the_session_is_checked_before_every_chunk(build, fake_waha):
    campaign = build.campaign(7)

    result = Harness(sender=waha_sender(fake_waha), cfg=runner_settings(chunk_size=3)).run(campaign.id)

    assert result is RunResult.COMPLETED
    flow = [r["endpoint"] for r in fake_waha.request_log() if r["endpoint"] != "me"]
    per_contact = ["check-exists", "new-message-id", "sendText"]
    assert flow == ["session", *per_contact * 3, "session", *per_contact * 3, "session", *per_contact]


@pytest.mark.parametrize(
    "status, shown",
    [
        ("SCAN_QR_CODE", "SCAN_QR_CODE"),
        ("PASSKEY_REQUIRED", "PASSKEY_REQUIRED"),
        ("STOPPED", "NOT_FOUND"),  # WAHA answers 404 for a stopped session
        ("SOMETHING_NEW", "SOMETHING_NEW"),  # a status this code does not know: not ready
        (None, "NOT_FOUND"),  # no such session on WAHA
    ],
)
def test_a_session_that_is_not_working_pauses_before_anything_is_sent(build, fake_waha, status, shown):
    campaign = build.campaign(3)
    if status is None:
        fake_waha.remove_session("default")
    else:
        fake_waha.set_session("default", status)

    result = Harness(sender=waha_sender(fake_waha)).run(campaign.id)

    assert result is RunResult.PAUSED
    after = reload(campaign)
    assert after.status == "Paused"
    assert after.pause_reason.startswith(f"WhatsApp session 'default' is {shown}, not WORKING")
    assert after.last_processed_contact_index is None and after.in_flight_index is None
    assert {r["endpoint"] for r in fake_waha.request_log()} == {"session"}
    assert deliveries(campaign) == [] and fake_waha.sent() == []

    fake_waha.set_session("default", "WORKING")
    assert resume(campaign, waha_sender(fake_waha)) is RunResult.COMPLETED
    assert_each_sent_once_in_order(fake_waha, phones(3))
    assert reload(campaign).pause_reason is None


def test_a_session_answer_without_a_status_counts_as_not_ready(build, fake_waha):
    campaign = build.campaign(2)
    fake_waha.fail_next(1, 200, {"name": "default", "config": {}}, endpoints={"session"})

    assert Harness(sender=waha_sender(fake_waha)).run(campaign.id) is RunResult.PAUSED

    assert reload(campaign).pause_reason == "WhatsApp session 'default' is unknown, not WORKING"
    assert fake_waha.sent() == [] and fake_waha.count_requests("check-exists") == 0


def test_an_active_reach_out_timelock_on_the_session_pauses_before_sending(build, fake_waha):
    campaign = build.campaign(3)
    timelock = {
        "enforcementType": "RESTRICT_ALL_COMPANIONS",
        "isActive": True,
        "timeEnforcementEnds": 1790000000,
    }
    fake_waha.set_session("default", "WORKING", reachoutTimelock=timelock)

    assert Harness(sender=waha_sender(fake_waha)).run(campaign.id) is RunResult.PAUSED

    reason = reload(campaign).pause_reason
    assert "REACHOUT_TIMELOCK" in reason and "new contacts" in reason
    assert fake_waha.count_requests("check-exists") == 0 and fake_waha.sent() == []


# ---------------------------------------------------------------------- the session drops mid-run

CHUNK = 3
TOTAL = 8


@pytest.mark.parametrize(
    "k",
    [
        0,  # already down before the first contact
        1,
        CHUNK,  # at a chunk boundary: the next chunk's session check sees it
        5,  # within a chunk: the send itself is refused (422)
        TOTAL - 1,  # the last contact is the one that cannot go out
    ],
)
def test_the_session_drops_after_k_sends_then_resume_after_reconnecting_completes(build, fake_waha, k):
    campaign = build.campaign(TOTAL)
    fake_waha.drop_after(k)  # the session falls to SCAN_QR_CODE after k sends
    harness = Harness(sender=waha_sender(fake_waha), cfg=runner_settings(chunk_size=CHUNK))

    assert harness.run(campaign.id) is RunResult.PAUSED

    after = reload(campaign)
    assert after.status == "Paused" and "SCAN_QR_CODE" in after.pause_reason
    assert after.last_processed_contact_index == (k - 1 if k else None)
    assert after.in_flight_index is None
    assert fake_waha.count_requests("sendText") == k  # contact k was never attempted
    assert statuses(campaign) == ["Sent"] * k
    assert_log_matches(campaign, fake_waha)

    fake_waha.set_session("default", "WORKING")  # the user re-pairs the phone
    result = resume(campaign, waha_sender(fake_waha), cfg=runner_settings(chunk_size=CHUNK))

    assert result is RunResult.COMPLETED
    assert_each_sent_once_in_order(fake_waha, phones(TOTAL))
    assert fake_waha.count_requests("sendText") == TOTAL
    after = reload(campaign)
    assert after.status == "Completed" and after.sent_count == TOTAL
    assert statuses(campaign) == ["Sent"] * TOTAL
    assert_log_matches(campaign, fake_waha)


def test_the_session_dropping_right_after_the_last_send_still_completes(build, fake_waha):
    campaign = build.campaign(4)
    fake_waha.drop_after(4)

    assert Harness(sender=waha_sender(fake_waha)).run(campaign.id) is RunResult.COMPLETED

    assert_each_sent_once_in_order(fake_waha, phones(4))
    assert reload(campaign).status == "Completed"


@pytest.mark.parametrize(
    "status, reason",
    [
        ("STARTING", "WhatsApp session 'default' is not WORKING on WAHA (status STARTING)"),
        ("FAILED", "WhatsApp session 'default' is not WORKING on WAHA (status FAILED)"),
        ("STOPPED", "WhatsApp session 'default' was not found on WAHA or is not started"),
    ],
)
def test_a_session_lost_during_a_chunk_pauses_with_its_status(build, fake_waha, status, reason):
    campaign = build.campaign(5)
    fake_waha.drop_after(2, status=status)

    assert Harness(sender=waha_sender(fake_waha)).run(campaign.id) is RunResult.PAUSED

    after = reload(campaign)
    assert after.pause_reason.startswith(reason)
    assert after.last_processed_contact_index == 1
    assert statuses(campaign) == ["Sent", "Sent"]


# ---------------------------------------------------------------------- error classes


def test_a_rejected_api_key_pauses_the_campaign_and_resume_with_the_right_key_completes(build, fake_waha):
    campaign = build.campaign(3)

    result = Harness(sender=waha_sender(fake_waha, api_key="not-the-key-of-this-waha")).run(campaign.id)

    assert result is RunResult.PAUSED
    after = reload(campaign)
    assert after.status == "Paused" and after.pause_reason == "WAHA rejected the API key"
    assert after.last_processed_contact_index is None
    assert fake_waha.sent() == [] and deliveries(campaign) == []

    assert resume(campaign, waha_sender(fake_waha)) is RunResult.COMPLETED
    assert_each_sent_once_in_order(fake_waha, phones(3))


def test_a_key_revoked_mid_run_pauses_at_the_next_contact_and_keeps_its_place(build, fake_waha):
    campaign = build.campaign(5)

    def rotate() -> None:
        fake_waha.api_key = "rotated-key-0123456789"

    sender = waha_sender(fake_waha, after_send=at_send(2, rotate))
    assert Harness(sender=sender).run(campaign.id) is RunResult.PAUSED

    after = reload(campaign)
    assert after.pause_reason == "WAHA rejected the API key"
    assert after.last_processed_contact_index == 1 and after.in_flight_index is None
    assert statuses(campaign) == ["Sent", "Sent"]

    assert resume(campaign, waha_sender(fake_waha, api_key="rotated-key-0123456789")) is RunResult.COMPLETED
    assert_each_sent_once_in_order(fake_waha, phones(5))
    assert_log_matches(campaign, fake_waha)


@pytest.mark.parametrize(
    "message",
    [
        "Error: wid error: invalid wid",
        "Error: 15550000001 is not on WhatsApp",
    ],
)
def test_a_number_waha_calls_invalid_fails_that_contact_and_the_run_goes_on(build, fake_waha, message):
    campaign = build.campaign(4, check_numbers=False)

    def invalid_next() -> None:
        fake_waha.fail_next(1, 500, engine_error(message), endpoints={"sendText"})

    sender = waha_sender(fake_waha, after_send=at_send(1, invalid_next))
    assert Harness(sender=sender).run(campaign.id) is RunResult.COMPLETED

    log = assert_log_matches(campaign, fake_waha)
    assert [d.status for d in log] == ["Sent", "Failed", "Sent", "Sent"]
    assert log[1].error == f"WhatsApp refused this number ({message})"
    assert requests_for(fake_waha, "+15550000001") == 1  # not retried
    assert [m["chatId"] for m in fake_waha.sent()] == [chat(p) for p in phones(4) if p != "+15550000001"]
    assert reload(campaign).status == "Completed"


@pytest.mark.parametrize("status", [500, 429])
def test_a_short_rate_limit_is_waited_out_with_a_longer_backoff(build, fake_waha, status):
    campaign = build.campaign(3)
    sleeps = Sleeps()
    fake_waha.rate_limit_next(FAST.max_attempts - 1, status)

    assert Harness(sender=waha_sender(fake_waha, sleeps=sleeps)).run(campaign.id) is RunResult.COMPLETED

    assert fake_waha.count_requests("sendText") == 3 + FAST.max_attempts - 1
    assert len(sleeps.delays) == FAST.max_attempts - 1
    for retry, delay in enumerate(sleeps.delays, start=1):
        assert rate_ceiling(retry) / 2 <= delay <= rate_ceiling(retry)
    assert_each_sent_once_in_order(fake_waha, phones(3))
    assert statuses(campaign) == ["Sent"] * 3


@pytest.mark.parametrize("status", [500, 429])
def test_a_persistent_rate_limit_pauses_and_resume_continues_at_that_contact(build, fake_waha, status):
    campaign = build.campaign(5)
    sleeps = Sleeps()
    sender = waha_sender(
        fake_waha,
        sleeps=sleeps,
        after_send=at_send(2, lambda: fake_waha.rate_limit_next(FAST.max_attempts, status)),
    )

    assert Harness(sender=sender).run(campaign.id) is RunResult.PAUSED

    after = reload(campaign)
    assert after.pause_reason.startswith("WhatsApp is rate limiting this number")
    assert f"gave up after {FAST.max_attempts} attempts" in after.pause_reason
    assert after.last_processed_contact_index == 1
    assert requests_for(fake_waha, phones(5)[2]) == FAST.max_attempts  # the bound
    assert len(sleeps.delays) == FAST.max_attempts - 1
    assert statuses(campaign) == ["Sent", "Sent"]

    assert resume(campaign, waha_sender(fake_waha)) is RunResult.COMPLETED
    assert_each_sent_once_in_order(fake_waha, phones(5))
    assert_log_matches(campaign, fake_waha)


@pytest.mark.parametrize(
    "restriction, reason",
    [("timelock", TIMELOCK_REASON), ("capped", CAPPING_REASON)],
)
def test_a_whatsapp_restriction_pauses_at_once_with_an_explanation(build, fake_waha, restriction, reason):
    campaign = build.campaign(5)
    sleeps = Sleeps()
    sender = waha_sender(
        fake_waha, sleeps=sleeps, after_send=at_send(2, lambda: setattr(fake_waha, restriction, True))
    )

    assert Harness(sender=sender).run(campaign.id) is RunResult.PAUSED

    after = reload(campaign)
    assert after.pause_reason == reason
    assert after.last_processed_contact_index == 1
    assert requests_for(fake_waha, phones(5)[2]) == 1 and sleeps.delays == []  # not retried
    assert statuses(campaign) == ["Sent", "Sent"]

    setattr(fake_waha, restriction, False)  # lifted, days later
    assert resume(campaign, waha_sender(fake_waha)) is RunResult.COMPLETED
    assert_each_sent_once_in_order(fake_waha, phones(5))


def test_the_timelock_reason_explains_whatsapps_restriction_on_new_contacts():
    assert "new contacts" in TIMELOCK_REASON and "463" in TIMELOCK_REASON
    assert "restarting" in TIMELOCK_REASON and "Resume the campaign later" in TIMELOCK_REASON


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_burst_is_retried_with_bounded_jittered_backoff_then_sent(build, fake_waha, status):
    campaign = build.campaign(3)
    sleeps = Sleeps()
    fake_waha.fail_next(FAST.max_attempts - 1, status)

    assert Harness(sender=waha_sender(fake_waha, sleeps=sleeps)).run(campaign.id) is RunResult.COMPLETED

    assert requests_for(fake_waha, phones(3)[0]) == FAST.max_attempts
    assert len(sleeps.delays) == FAST.max_attempts - 1
    for retry, delay in enumerate(sleeps.delays, start=1):
        assert 0 <= delay < plain_ceiling(retry)
    bodies = [
        r["body"] for r in fake_waha.request_log("sendText") if r["body"]["chatId"] == chat(phones(3)[0])
    ]
    assert len({b["id"] for b in bodies}) == 1  # every attempt carried the same pre-generated id
    assert_each_sent_once_in_order(fake_waha, phones(3))
    assert statuses(campaign) == ["Sent"] * 3


# Every attempt one invocation makes before it parks: the first round, then one per
# brief wait it takes in place.
OUTAGE_ATTEMPTS = FAST.max_attempts * (IN_PLACE_RETRIES + 1)


def continue_after_wait(campaign: Campaign, sender: Any, **harness: Any) -> RunResult:
    """The schedule's tick once the parked run's wait is over, then the continuation it invokes."""
    parked = reload(campaign)
    assert parked.status == "Running" and parked.waiting_until is not None
    invoker = RecordingInvoker()
    # Its delayed continuation went to the first invocation's invoker; here the schedule
    # continues the run, as it does when that continuation is lost.
    later = parked.lease_expires_at + timedelta(seconds=1)
    assert ScheduleTick(CampaignStore(), invoker, runner_settings()).run(later).taken_over == [campaign.id]
    (event,) = invoker.pop_all()
    return Harness(sender=sender, **harness).run(event["campaignId"], event["runToken"], event["hop"])


def text_ids(fake: FakeWaha, phone: str) -> list[str]:
    return [r["body"].get("id") for r in fake.request_log("sendText") if r["body"]["chatId"] == chat(phone)]


@pytest.mark.parametrize(
    ("status", "delivered"), [(500, False), (503, False), (502, False), (504, True), (502, True)]
)
def test_a_persistent_5xx_on_a_text_is_ridden_out_and_sent_again_only_with_its_id(
    build, fake_waha, status, delivered
):
    campaign = build.campaign(5)
    sleeps = Sleeps()
    sender = waha_sender(
        fake_waha,
        sleeps=sleeps,
        after_send=at_send(2, lambda: fake_waha.fail_next(OUTAGE_ATTEMPTS, status, process=delivered)),
    )

    assert Harness(sender=sender, clock=FakeClock()).run(campaign.id) is RunResult.PARKED

    waiting = reload(campaign)
    assert waiting.status == "Running" and waiting.pause_reason is None
    assert waiting.wait_reason == "The WhatsApp server is unavailable; retrying"
    assert waiting.last_processed_contact_index == 1 and waiting.in_flight_index is None
    assert int(waiting.pending_message_index) == 2 and waiting.pending_message_id
    assert requests_for(fake_waha, phones(5)[2]) == OUTAGE_ATTEMPTS
    assert len(sleeps.delays) == OUTAGE_ATTEMPTS - IN_PLACE_RETRIES - 1
    assert statuses(campaign) == ["Sent", "Sent"]  # nothing recorded yet for the unconfirmed contact

    # WAHA recovers: the schedule continues the run, which sends that contact with the same id.
    assert continue_after_wait(campaign, waha_sender(fake_waha)) is RunResult.COMPLETED
    ids = text_ids(fake_waha, phones(5)[2])
    assert len(ids) == OUTAGE_ATTEMPTS + 1 and len(set(ids)) == 1
    assert fake_waha.deduped == (OUTAGE_ATTEMPTS if delivered else 0)
    assert_each_sent_once_in_order(fake_waha, phones(5))
    assert statuses(campaign) == ["Sent"] * 5
    assert reload(campaign).pending_message_id is None
    assert_log_matches(campaign, fake_waha)


@pytest.mark.parametrize("delivered", [False, True])
def test_a_brief_5xx_blip_on_a_text_is_waited_out_in_place_with_the_same_id(build, fake_waha, delivered):
    campaign = build.campaign(4)
    clock = FakeClock()
    sender = waha_sender(
        fake_waha,
        after_send=at_send(1, lambda: fake_waha.fail_next(FAST.max_attempts, 503, process=delivered)),
    )

    assert Harness(sender=sender, clock=clock).run(campaign.id) is RunResult.COMPLETED

    ids = text_ids(fake_waha, phones(4)[1])
    assert len(ids) == FAST.max_attempts + 1 and len(set(ids)) == 1
    assert clock.sleeps == [2.0]  # one short wait inside the invocation, then the same id again
    assert_each_sent_once_in_order(fake_waha, phones(4))
    assert statuses(campaign) == ["Sent"] * 4
    assert reload(campaign).outage_since is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_on_a_media_send_is_unknown_and_never_resent(build, fake_waha, status):
    campaign = build.campaign(5, media=build.media())
    sender = waha_sender(
        fake_waha, after_send=at_send(2, lambda: fake_waha.fail_next(1, status, process=True))
    )

    assert Harness(sender=sender).run(campaign.id) is RunResult.PAUSED

    after = reload(campaign)
    assert after.pause_reason.startswith("Sending stopped:")
    assert "may have reached WhatsApp" in after.pause_reason
    assert requests_for(fake_waha, phones(5)[2]) == 1  # never repeated: WAHA cannot deduplicate it
    assert statuses(campaign) == ["Sent", "Sent", "Unknown"]

    assert resume(campaign, waha_sender(fake_waha)) is RunResult.COMPLETED
    assert requests_for(fake_waha, phones(5)[2]) == 1
    assert statuses(campaign) == ["Sent", "Sent", "Unknown", "Sent", "Sent"]
    assert_log_matches(campaign, fake_waha)


def test_cancelling_while_a_text_is_unconfirmed_records_it_unknown(build, fake_waha):
    campaign = build.campaign(4)
    sender = waha_sender(
        fake_waha, after_send=at_send(1, lambda: fake_waha.fail_next(OUTAGE_ATTEMPTS, 503, process=True))
    )
    assert Harness(sender=sender, clock=FakeClock()).run(campaign.id) is RunResult.PARKED

    CampaignStore().commands.cancel(campaign.id, campaign.user_id, utcnow())

    after = reload(campaign)
    assert after.status == "Cancelled" and after.unknown_count == 1
    assert statuses(campaign) == ["Sent", "Unknown"]
    assert after.pending_message_id is None


def test_waha_going_away_mid_run_is_ridden_out_and_the_run_goes_on_when_it_is_back(build, fake_waha):
    campaign = build.campaign(5)
    sleeps = Sleeps()
    down_url = fake_waha.base_url
    sender = waha_sender(fake_waha, sleeps=sleeps, after_send=at_send(2, fake_waha.stop))

    assert Harness(sender=sender, clock=FakeClock()).run(campaign.id) is RunResult.PARKED

    waiting = reload(campaign)
    assert waiting.wait_reason == "The WhatsApp server is unavailable; retrying"
    assert waiting.outage_since is not None
    assert waiting.last_processed_contact_index == 1 and waiting.in_flight_index is None
    assert waiting.pending_message_id is None  # nothing was written to WAHA
    assert len(sleeps.delays) == OUTAGE_ATTEMPTS - IN_PLACE_RETRIES - 1
    assert all(0 <= d < plain_ceiling(r) for r, d in enumerate(sleeps.delays, start=1))
    assert statuses(campaign) == ["Sent", "Sent"]

    fake_waha.start()  # back, at a new address
    assert down_url != fake_waha.base_url
    assert continue_after_wait(campaign, waha_sender(fake_waha)) is RunResult.COMPLETED
    assert reload(campaign).outage_since is None
    assert_each_sent_once_in_order(fake_waha, phones(5))
    assert_log_matches(campaign, fake_waha)


def test_waha_down_longer_than_the_window_pauses_with_a_reason_naming_no_host(build, fake_waha):
    campaign = build.campaign(3)
    down_url = fake_waha.base_url
    fake_waha.stop()
    cfg = runner_settings(waha_outage_window_seconds=0)

    sender = waha_sender(fake_waha, base_url=down_url)
    assert Harness(sender=sender, cfg=cfg).run(campaign.id) is RunResult.PAUSED

    after = reload(campaign)
    assert "could not be reached" in after.pause_reason
    assert "Resume the campaign once WhatsApp is back" in after.pause_reason
    assert "127.0.0.1" not in after.pause_reason and down_url not in after.pause_reason
    assert after.last_processed_contact_index is None and deliveries(campaign) == []

    fake_waha.start()
    assert resume(campaign, waha_sender(fake_waha)) is RunResult.COMPLETED
    assert_each_sent_once_in_order(fake_waha, phones(3))


def test_waha_unreachable_at_the_start_waits_without_touching_any_contact(build, fake_waha):
    campaign = build.campaign(3)
    down_url = fake_waha.base_url
    fake_waha.stop()
    sleeps = Sleeps()

    sender = waha_sender(fake_waha, base_url=down_url, sleeps=sleeps)
    assert Harness(sender=sender, clock=FakeClock()).run(campaign.id) is RunResult.PARKED

    after = reload(campaign)
    assert after.last_processed_contact_index is None and deliveries(campaign) == []
    assert after.in_flight_index is None
    assert len(sleeps.delays) == OUTAGE_ATTEMPTS - IN_PLACE_RETRIES - 1

    fake_waha.start()
    assert continue_after_wait(campaign, waha_sender(fake_waha)) is RunResult.COMPLETED
    assert_each_sent_once_in_order(fake_waha, phones(3))


@pytest.fixture
def black_hole():
    """An address where connections are never accepted: a listening socket whose accept
    queue is full, so the kernel drops new connection attempts (a connect timeout)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    queued = []
    for _ in range(4):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        queued.append(client)
    time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for client in queued:
            client.close()
        server.close()


def test_connect_timeouts_are_retried_then_ridden_out(build, fake_waha, black_hole):
    campaign = build.campaign(3)
    sleeps = Sleeps()
    sender = waha_sender(fake_waha, base_url=black_hole, connect_timeout_s=0.2, sleeps=sleeps)

    assert Harness(sender=sender, clock=FakeClock()).run(campaign.id) is RunResult.PARKED

    after = reload(campaign)
    assert after.wait_reason == "The WhatsApp server is unavailable; retrying"
    assert len(sleeps.delays) == OUTAGE_ATTEMPTS - IN_PLACE_RETRIES - 1
    assert after.last_processed_contact_index is None and deliveries(campaign) == []

    assert continue_after_wait(campaign, waha_sender(fake_waha)) is RunResult.COMPLETED
    assert_each_sent_once_in_order(fake_waha, phones(3))


# ---------------------------------------------------------------------- ambiguous sends


@pytest.mark.parametrize("kind", ["media", "text on a WAHA without pre-generated ids"])
def test_a_read_timeout_without_a_pre_generated_id_is_unknown_and_never_resent(build, fake_waha, kind):
    media = build.media() if kind == "media" else None
    if media is None:
        fake_waha.supports_message_id = False
    campaign = build.campaign(4, media=media)
    sender = waha_sender(
        fake_waha,
        read_timeout_s=SHORT_READ_TIMEOUT_S,
        after_send=at_send(1, lambda: fake_waha.hang_next(1, HANG_S)),
    )

    assert Harness(sender=sender).run(campaign.id) is RunResult.PAUSED

    after = reload(campaign)
    log = assert_log_matches(campaign, fake_waha)
    assert [d.status for d in log] == ["Sent", "Unknown"]
    assert "may have reached WhatsApp" in log[1].error
    assert after.pause_reason.startswith("Sending stopped: WAHA did not answer within")
    assert after.last_processed_contact_index == 1 and after.unknown_count == 1
    # The message did reach WhatsApp, only the answer was lost.
    assert fake_waha.count_by_chat()[chat(phones(4)[1])] == 1

    assert resume(campaign, waha_sender(fake_waha)) is RunResult.COMPLETED
    assert requests_for(fake_waha, phones(4)[1]) == 1  # never sent again
    assert_each_sent_once_in_order(fake_waha, phones(4))
    assert statuses(campaign) == ["Sent", "Unknown", "Sent", "Sent"]
    assert_log_matches(campaign, fake_waha)


@pytest.mark.parametrize("failure", ["read timeout", "504 after delivering"])
def test_with_a_pre_generated_id_the_retry_does_not_create_a_second_message(build, fake_waha, failure):
    campaign = build.campaign(3)

    def fail_once() -> None:
        if failure == "read timeout":
            fake_waha.hang_next(1, HANG_S)
        else:
            fake_waha.fail_next(1, 504, process=True)

    sender = waha_sender(fake_waha, read_timeout_s=SHORT_READ_TIMEOUT_S, after_send=at_send(1, fail_once))
    assert Harness(sender=sender).run(campaign.id) is RunResult.COMPLETED

    second = [
        r["body"] for r in fake_waha.request_log("sendText") if r["body"]["chatId"] == chat(phones(3)[1])
    ]
    assert len(second) == 2 and second[0]["id"] == second[1]["id"]
    assert fake_waha.deduped == 1
    assert_each_sent_once_in_order(fake_waha, phones(3))
    assert statuses(campaign) == ["Sent"] * 3
    assert_log_matches(campaign, fake_waha)


def test_read_timeouts_that_persist_keep_the_id_and_never_deliver_twice(build, fake_waha):
    campaign = build.campaign(3)
    sender = waha_sender(
        fake_waha,
        read_timeout_s=SHORT_READ_TIMEOUT_S,
        after_send=at_send(1, lambda: fake_waha.hang_next(FAST.max_attempts, HANG_S)),
    )

    assert Harness(sender=sender, clock=FakeClock()).run(campaign.id) is RunResult.COMPLETED

    attempts = text_ids(fake_waha, phones(3)[1])
    assert len(attempts) == FAST.max_attempts + 1 and len(set(attempts)) == 1
    # The first attempt went out; every later one carried its id and was deduplicated.
    assert fake_waha.count_by_chat()[chat(phones(3)[1])] == 1 and fake_waha.deduped == FAST.max_attempts
    assert_each_sent_once_in_order(fake_waha, phones(3))
    assert statuses(campaign) == ["Sent"] * 3


# ---------------------------------------------------------------------- number check


def test_a_number_not_on_whatsapp_fails_with_that_reason_and_is_never_sent_to(build, fake_waha):
    campaign = build.campaign(4, typing=True, min_delay_ms=0, max_delay_ms=0)
    absent = phones(4)[2]
    fake_waha.reject_numbers = {chat(absent).split("@")[0]}

    assert Harness(sender=waha_sender(fake_waha), clock=FakeClock()).run(campaign.id) is RunResult.COMPLETED

    log = assert_log_matches(campaign, fake_waha)
    assert [d.status for d in log] == ["Sent", "Sent", "Failed", "Sent"]
    assert log[2].error == NOT_ON_WHATSAPP and log[2].phone_number == absent
    touched = [r["endpoint"] for r in fake_waha.request_log() if r["body"].get("chatId") == chat(absent)]
    assert touched == []  # no typing, no send
    checked = [r["query"]["phone"] for r in fake_waha.request_log("check-exists")]
    assert checked == [chat(p).split("@")[0] for p in phones(4)]
    assert [m["chatId"] for m in fake_waha.sent()] == [chat(p) for p in phones(4) if p != absent]


def test_without_the_number_check_no_number_is_checked(build, fake_waha):
    campaign = build.campaign(3, check_numbers=False)
    absent = phones(3)[1]
    fake_waha.reject_numbers = {chat(absent).split("@")[0]}

    assert Harness(sender=waha_sender(fake_waha)).run(campaign.id) is RunResult.COMPLETED

    assert fake_waha.count_requests("check-exists") == 0
    log = assert_log_matches(campaign, fake_waha)
    # The send itself is refused by WhatsApp instead.
    assert [d.status for d in log] == ["Sent", "Failed", "Sent"]
    assert "invalid wid" in log[1].error


@pytest.mark.parametrize("check_numbers", [True, False])
def test_a_malformed_phone_number_fails_without_any_request_and_the_run_goes_on(
    build, fake_waha, check_numbers
):
    campaign = build.campaign(
        [("+15550000001", "Ana"), ("call me maybe", "Bo"), ("+15550000003", "Cy")],
        check_numbers=check_numbers,
    )

    assert Harness(sender=waha_sender(fake_waha)).run(campaign.id) is RunResult.COMPLETED

    log = assert_log_matches(campaign, fake_waha)
    assert [d.status for d in log] == ["Sent", "Failed", "Sent"]
    assert log[1].error == (NOT_ON_WHATSAPP if check_numbers else "'call me maybe' is not a phone number")
    assert fake_waha.count_requests("check-exists") == (2 if check_numbers else 0)
    assert fake_waha.count_requests("sendText") == 2


def test_the_number_check_is_on_by_default(build, fake_waha):
    campaign = build.campaign(2)
    campaign.update(actions=[Campaign.check_numbers.remove()])  # as stored by a client that never set it

    assert Harness(sender=waha_sender(fake_waha)).run(campaign.id) is RunResult.COMPLETED

    assert fake_waha.count_requests("check-exists") == 2


def test_the_chat_id_whatsapp_gives_for_a_number_is_the_one_sent_to(build, fake_waha):
    # Brazil: the number as stored lacks the extra 9 WhatsApp knows it by.
    campaign = build.campaign([("+55 11 8765-4321", "Rui")])
    fake_waha.chat_ids["551187654321"] = "5511987654321@c.us"

    assert Harness(sender=waha_sender(fake_waha)).run(campaign.id) is RunResult.COMPLETED

    assert [m["chatId"] for m in fake_waha.sent()] == ["5511987654321@c.us"]
    assert deliveries(campaign)[0].message_id == fake_waha.sent()[0]["message_id"]


# ---------------------------------------------------------------------- pacing, typing, batches


def send_gaps_ms(fake: FakeWaha) -> list[float]:
    """Milliseconds between consecutive sends, as the server saw them arrive."""
    times = [m["time"] for m in fake.sent()]
    return [(b - a) * 1000 for a, b in pairwise(times)]


# The runner waits from the end of one send to the start of the next, so the server
# sees at least the delay; 60 ms above allows for HTTP and DynamoDB time.
def in_pacing_range(gap_ms: float) -> bool:
    return 200 <= gap_ms <= 300 + 60


def test_with_200_to_300_ms_delays_the_gaps_between_sends_fall_in_that_range(build, fake_waha):
    campaign = build.campaign(8, min_delay_ms=200, max_delay_ms=300)

    assert Harness(sender=waha_sender(fake_waha)).run(campaign.id) is RunResult.COMPLETED

    gaps_ms = send_gaps_ms(fake_waha)
    assert len(gaps_ms) == 7
    assert all(in_pacing_range(gap) for gap in gaps_ms), gaps_ms
    assert max(gaps_ms) - min(gaps_ms) > 5, gaps_ms  # random, not a fixed interval
    assert_each_sent_once_in_order(fake_waha, phones(8))


def test_pacing_holds_across_hand_offs_and_a_pause_and_resume(build, fake_waha):
    campaign = build.campaign(7, min_delay_ms=200, max_delay_ms=300)
    fake_waha.drop_after(4)
    harness = Harness(sender=waha_sender(fake_waha))

    # Each invocation may start only two contacts before its time runs low.
    results = [result for _, result in harness.run_to_end(campaign.id, budget_factory=lambda: Budget(2))]
    assert RunResult.HANDED_OFF in results and results[-1] is RunResult.PAUSED
    fake_waha.set_session("default", "WORKING")
    CampaignStore().commands.resume(campaign.id, campaign.user_id, utcnow())
    results = [result for _, result in harness.run_to_end(campaign.id, budget_factory=lambda: Budget(2))]
    assert results[-1] is RunResult.COMPLETED
    assert_each_sent_once_in_order(fake_waha, phones(7))

    # The first send of each new invocation waited a whole delay after the previous
    # invocation's last send, and so did the first send after the resume. (How long an
    # invocation takes to start, or how long the pause lasted, is not bounded here.)
    gaps_ms = send_gaps_ms(fake_waha)
    assert len(gaps_ms) == 6 and all(gap >= 200 for gap in gaps_ms), gaps_ms


def test_a_send_slowed_by_rate_limit_retries_does_not_shorten_the_gap_to_the_next(build, fake_waha):
    campaign = build.campaign(3, min_delay_ms=200, max_delay_ms=300)
    sleeps = Sleeps()
    sender = waha_sender(
        fake_waha, sleeps=sleeps, after_send=at_send(1, lambda: fake_waha.rate_limit_next(2))
    )
    # Two rate-limited attempts back off at least 0.1 + 0.2 s: longer than any delay.
    sender.client.retry = RetryPolicy(max_attempts=3, rate_limit_base_delay_s=0.2, rate_limit_max_delay_s=0.4)

    assert Harness(sender=sender).run(campaign.id) is RunResult.COMPLETED

    assert fake_waha.count_requests("sendText") == 5 and len(sleeps.delays) == 2
    first, second = send_gaps_ms(fake_waha)
    # The second message reached WhatsApp only after the backoff ...
    assert first >= 200 + sum(sleeps.delays) * 1000
    # ... and the third still waited a whole delay after it.
    assert in_pacing_range(second), second
    assert_each_sent_once_in_order(fake_waha, phones(3))


def test_typing_is_shown_before_each_send_and_counted_inside_the_delay(build, fake_waha):
    text = "Hello {Name}, your parcel is on its way."
    campaign = build.campaign(4, text=text, typing=True, min_delay_ms=2_000, max_delay_ms=2_000)
    clock = FakeClock()
    naps: list[tuple[float, str]] = []  # each runner sleep, with the last request WAHA had seen
    real_sleep = clock.sleep

    def sleep(seconds: float) -> None:
        naps.append((round(seconds, 3), fake_waha.request_log()[-1]["endpoint"]))
        real_sleep(seconds)

    clock.sleep = sleep

    assert Harness(sender=waha_sender(fake_waha), clock=clock).run(campaign.id) is RunResult.COMPLETED

    flow = [r["endpoint"] for r in fake_waha.request_log() if r["endpoint"] not in ("session", "me")]
    assert flow == ["check-exists", "startTyping", "stopTyping", "new-message-id", "sendText"] * 4
    for phone in phones(4):
        typing = [t["endpoint"] for t in fake_waha.typing if t["chatId"] == chat(phone)]
        assert typing == ["startTyping", "stopTyping"]
    typed = typing_ms("Hello Name1, your parcel is on its way.") / 1000
    assert typed < 2.0
    # Each 2 s delay is spent partly idle,
    # partly typing (between startTyping and stopTyping): typing is inside the delay.
    # (The idle part is shorter by the real time the previous request took: pacing
    # counts from the start of the request that delivered the message.)
    # The first message has no wait before it, but is still typed for its full time.
    assert naps[0] == (round(typed, 3), "startTyping")
    rest = naps[1:]
    assert [where for _, where in rest] == ["sendText", "startTyping"] * 3
    idle, typing_naps = [n for n, _ in rest][0::2], [n for n, _ in rest][1::2]
    gap = 2.0 + transit_s(2_000)  # the delay and its margin for the requests' transit
    assert all(gap - typed - 0.2 <= n <= round(gap - typed, 3) for n in idle), idle
    assert typing_naps == [round(typed, 3)] * 3
    assert_log_matches(campaign, fake_waha)


def test_batch_pauses_park_the_run_and_its_continuation_resumes_it(build, fake_waha):
    campaign = build.campaign(5, batch_size=2, batch_pause_ms=60_000)
    harness = Harness(sender=waha_sender(fake_waha), cfg=runner_settings(continuation_threshold_ms=2_000))

    assert harness.run(campaign.id) is RunResult.PARKED
    parked = reload(campaign)
    assert parked.status == "Running" and parked.last_processed_contact_index == 1
    assert parked.wait_reason == "Batch pause" and len(fake_waha.sent()) == 2
    ((event, delay_s),) = harness.invoker.pop_later()
    assert delay_s == 60

    # Delivered early, it sends nothing and goes back to wait.
    assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is RunResult.SKIPPED
    assert len(fake_waha.sent()) == 2
    harness.invoker.pop_later()

    for sent, result in ((4, RunResult.PARKED), (5, RunResult.COMPLETED)):
        Campaign(campaign.id).update(actions=[Campaign.waiting_until.set(utcnow() - timedelta(seconds=1))])
        assert harness.run(event["campaignId"], event["runToken"], event["hop"]) is result
        assert len(fake_waha.sent()) == sent
        later = harness.invoker.pop_later()
        if later:
            ((event, _),) = later
    assert_each_sent_once_in_order(fake_waha, phones(5))
    assert_log_matches(campaign, fake_waha)


@pytest.fixture
def powertools_output():
    """Everything the Powertools logger writes (its JSON lines), whatever pytest captures.

    Its handler holds the stdout of import time, which capsys does not replace, so the
    handler's stream is swapped for the test."""
    buffer = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(buffer)
    level = logger.log_level
    logger.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        handler.setStream(previous)
        logger.setLevel(level)


def test_the_api_key_never_appears_in_a_log_line(build, fake_waha, powertools_output, caplog, capsys):
    caplog.set_level(logging.DEBUG, logger=logger.name)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    secret = fake_waha.api_key
    assert secret
    echo = {"statusCode": 503, "message": f"upstream refused X-Api-Key {secret}"}
    campaign = build.campaign(6, typing=True)
    numbers = phones(6)

    def misbehave(count: int) -> None:
        if count == 1:
            # Contact 1: the number check fails, typing fails, then the number is refused.
            fake_waha.fail_next(1, 400, echo, endpoints={"check-exists"})
            fake_waha.fail_next(1, 503, echo, endpoints={"startTyping"})
            fake_waha.fail_next(1, 500, engine_error(f"invalid wid for key {secret}"), endpoints={"sendText"})
        if count == 2:  # contact 3: WAHA keeps failing, echoing the key
            fake_waha.fail_next(OUTAGE_ATTEMPTS, 503, echo, endpoints={"sendText"})

    fake_waha.fail_next(2, 503, echo, endpoints={"sendText"})  # contact 0: retried, then sent
    sender = waha_sender(fake_waha, after_send=misbehave)
    results = [Harness(sender=sender, clock=FakeClock()).run(campaign.id)]
    reasons = [reload(campaign).wait_reason]
    wrong_key = waha_sender(fake_waha, api_key="some-other-key")
    results.append(continue_after_wait(campaign, wrong_key, clock=FakeClock()))
    reasons.append(reload(campaign).pause_reason)
    results.append(resume(campaign, waha_sender(fake_waha), clock=FakeClock()))

    assert results == [RunResult.PARKED, RunResult.PAUSED, RunResult.COMPLETED]
    assert reasons[0] == "The WhatsApp server is unavailable; retrying"
    assert reasons[1] == "WAHA rejected the API key"
    log = assert_log_matches(campaign, fake_waha)
    assert [d.status for d in log] == ["Sent", "Failed", "Sent", "Sent", "Sent", "Sent"]
    assert [m["chatId"] for m in fake_waha.sent()] == [chat(p) for p in numbers if p != numbers[1]]

    lines = powertools_output.getvalue().splitlines()
    messages = [json.loads(line)["message"] for line in lines]
    # The run did log its failures (so this check is not vacuous) ...
    for expected in ("WAHA request failed; retrying", "Number check unavailable", "Typing indicator failed"):
        assert expected in messages
    assert messages.count("Campaign paused") == 1
    assert any("***" in line for line in lines)  # an echoed key was masked
    # ... and the key is nowhere: not in a log line, a record, a reason or a delivery.
    captured = capsys.readouterr()
    everything = [
        *lines,
        caplog.text,
        *(repr(vars(record)) for record in caplog.records),
        captured.out,
        captured.err,
        *reasons,
        *(d.error or "" for d in log),
    ]
    assert [chunk for chunk in everything if secret in chunk] == []


def test_a_rate_limited_number_check_pauses_and_never_sends_unchecked(build, fake_waha):
    campaign = build.campaign(3)
    fake_waha.rate_limit_next(50, endpoints={"check-exists"})

    assert Harness(sender=waha_sender(fake_waha), clock=FakeClock()).run(campaign.id) is RunResult.PAUSED

    paused = reload(campaign)
    assert "rate" in paused.pause_reason.lower()
    assert paused.last_processed_contact_index is None and paused.in_flight_index is None
    assert fake_waha.sent() == [] and deliveries(campaign) == []

    fake_waha.reset()
    assert resume(campaign, waha_sender(fake_waha), clock=FakeClock()) is RunResult.COMPLETED
    assert_each_sent_once_in_order(fake_waha, phones(3))


# ---------------------------------------------------------------------- pacing after a retried send


class AlwaysLate(random.Random):
    """Backoff jitter at its longest: every retry waits the whole ceiling."""

    def random(self) -> float:
        return 0.999


def test_a_send_retried_after_a_503_does_not_shorten_the_next_gap(build, fake_waha):
    gap_ms = 1_500
    campaign = build.campaign(3, min_delay_ms=gap_ms, max_delay_ms=gap_ms, check_numbers=False)
    client = WahaClient(
        fake_waha.base_url,
        fake_waha.api_key,
        connect_timeout_s=1.0,
        read_timeout_s=READ_TIMEOUT_S,
        retry=RetryPolicy(max_attempts=3, base_delay_s=0.8, max_delay_s=0.8),
        rng=AlwaysLate(),
    )
    # The first send: one 503 (nothing delivered), then its retry 0.8 s later goes through.
    fake_waha.fail_next(1, 503, endpoints={"sendText"})
    sender = ObservedSender(client)

    assert Harness(sender=sender).run(campaign.id) is RunResult.COMPLETED

    gaps = send_gaps_ms(fake_waha)
    # WhatsApp sees the configured gap both before and after the retried message (3 %).
    assert len(gaps) == 2 and all(gap >= gap_ms * 0.97 for gap in gaps), gaps
    assert_each_sent_once_in_order(fake_waha, phones(3))


# ---------------------------------------------------------------------- time budget


class TimeLeft:
    """A Lambda context's remaining time that drops 20 s each time the runner asks."""

    def __init__(self, start_ms: int) -> None:
        self.left_ms = start_ms

    def __call__(self) -> int:
        self.left_ms -= 20_000
        return self.left_ms


def default_waha_sender(fake: FakeWaha) -> ObservedSender:
    """WAHA's default timeouts and retries: one text send may take about 4 minutes."""
    return ObservedSender(WahaClient(fake.base_url, fake.api_key))


def test_a_five_minute_runner_with_default_waha_timeouts_chains_and_completes(build, fake_waha):
    campaign = build.campaign(4, check_numbers=False)
    cfg = runner_settings(runner_timeout_ms=300_000, handoff_margin_ms=20_000)
    harness = Harness(sender=default_waha_sender(fake_waha), cfg=cfg)

    results = [r for _, r in harness.run_to_end(campaign.id, budget_factory=lambda: TimeLeft(300_000))]

    assert results[-1] is RunResult.COMPLETED
    assert results.count(RunResult.HANDED_OFF) >= 1  # it did chain
    assert_each_sent_once_in_order(fake_waha, phones(4))


def test_a_campaign_whose_one_send_cannot_fit_the_time_limit_pauses_at_once(build, fake_waha):
    campaign = build.campaign(3, check_numbers=True, typing=True)
    cfg = runner_settings(runner_timeout_ms=300_000, handoff_margin_ms=20_000)

    result = Harness(sender=default_waha_sender(fake_waha), cfg=cfg).run(campaign.id)

    assert result is RunResult.PAUSED
    after = reload(campaign)
    assert "does not fit the runner's time limit (300 s" in after.pause_reason
    assert deliveries(campaign) == [] and fake_waha.count_requests() == 0


def test_a_configuration_where_no_send_fits_is_reported_at_cold_start(fake_waha):
    sender = default_waha_sender(fake_waha)

    assert startup_budget_problem(sender, runner_settings(runner_timeout_ms=900_000)) is None
    problem = startup_budget_problem(sender, runner_settings(runner_timeout_ms=100_000))
    assert problem is not None and "Lower WAHA_READ_TIMEOUT_S or WAHA_MAX_ATTEMPTS" in problem
