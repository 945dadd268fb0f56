"""Fault matrix, part 1: the local stack driven over HTTP, sending through the real
WAHA sender to the fake WAHA server, which misbehaves on cue.

Faults from outside the system: the WhatsApp session drops after K sends (K = 0, 1,
2, 4, the last contact and after it), WAHA answers 500/502/503 for a burst and
recovers, WAHA holds its answer past the read timeout, WAHA refuses one number,
10 concurrent run and resume calls, the same asynchronous runner event delivered
2 and 3 times at once. After each case the invariants of `invariants.py` hold on
the fake WAHA's record and the delivery log.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stack import LocalStack
from tests.fakewaha import FakeWaha
from tests.reliability import invariants
from tests.reliability.figures import FIGURES
from tests.stack_fixtures import ApiClient, table_prefix, wait_for

SUITE = "fault matrix"
N = 8
SETTLED = {"Paused", "Completed", "Failed", "Cancelled"}


@pytest.fixture(scope="module")
def stack(dynamodb_endpoint: str, waha: FakeWaha) -> Iterator[LocalStack]:
    # `dynamodb_endpoint` first: the stack restores the environment it found when it stops.
    local = LocalStack(
        port=0,
        table_prefix=table_prefix(),
        waha_base_url=waha.base_url,
        waha_api_key=waha.api_key,
        env={"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "1", "WAHA_MAX_ATTEMPTS": "3"},
        retry_delays_s=(0.05,),
        stop_timeout_s=10.0,
    ).start()
    try:
        yield local
    finally:
        local.stop()


class Case:
    """One case: its own user, WhatsApp session and phone numbers on the shared stack."""

    def __init__(self, stack: LocalStack, waha: FakeWaha) -> None:
        self.stack = stack
        self.waha = waha
        tag = uuid.uuid4().hex[:10]
        self.user = f"user-{tag}"
        self.client = ApiClient(stack, self.user)
        self.client.http.hooks["response"].append(FIGURES.response_hook(SUITE))
        connected = self.client.register_session(fake_waha=waha)
        self.session_id, self.session = connected["id"], connected["wahaName"]
        self.phones: list[str] = []

    def campaign(self, count: int = N, text: str = "Hi {Name}", **fields: Any) -> str:
        self.phones = [f"+1555{900 + len(self.phones) % 10}{index:04d}" for index in range(count)]
        people = [{"phoneNumber": phone, "firstName": f"P{index}"} for index, phone in enumerate(self.phones)]
        listed = self.client.contact_list(people)
        template = self.client.template(text)
        created = self.client.campaign(
            listed["id"], template["id"], whatsappSessionId=self.session_id, **fields
        )
        assert created["status"] == "Scheduled"
        return created["id"]

    def post(self, campaign_id: str, action: str) -> int:
        return self.client.request("POST", f"/campaigns/{campaign_id}/{action}").status_code

    def wait(self, campaign_id: str, statuses: set[str] = SETTLED, timeout: float = 30) -> dict[str, Any]:
        """Until the campaign is in one of `statuses` and no runner invocation is busy."""
        self.client.wait_status(campaign_id, statuses, timeout)
        assert self.stack.invoker is not None
        assert self.stack.invoker.wait_idle(timeout), "a runner invocation is still busy"
        return self.client.get_campaign(campaign_id)

    def check(self, campaign_id: str, *, allowance: int = 0) -> dict[str, Any]:
        snapshot = invariants.from_api(self.client, campaign_id)
        invariants.check(
            snapshot,
            self.phones,
            invariants.chats_from_fake(self.waha),
            unknown_allowance=allowance,
            suite=SUITE,
            settled=snapshot.status != "Running",
        )
        return snapshot.campaign

    def received(self, index: int) -> int:
        chat = invariants.chat_of(self.phones[index])
        return invariants.chats_from_fake(self.waha).count(chat)

    def resume_until_completed(self, campaign_id: str, *, allowance: int = 0, limit: int = 5) -> dict:
        """Resume a paused campaign until it completes; the invariants hold at every pause."""
        for _ in range(limit):
            campaign = self.wait(campaign_id)
            self.check(campaign_id, allowance=allowance)
            if campaign["status"] != "Paused":
                return campaign
            self.waha.set_session(self.session, "WORKING")
            assert self.post(campaign_id, "resume") == 202
        raise AssertionError(f"campaign {campaign_id} did not complete after {limit} resumes")


@pytest.fixture
def case(stack: LocalStack, waha: FakeWaha) -> Iterator[Case]:
    waha.reset()
    FIGURES.case(SUITE)
    yield Case(stack, waha)
    assert stack.invoker is not None
    assert stack.invoker.wait_idle(30), "a runner invocation was still busy after the case"
    waha.wait_idle(10)


# --------------------------------------------------------------------------- session drops


@pytest.mark.parametrize("k", [0, 1, 2, 4, N - 1, N], ids=lambda k: f"K={k}")
def test_a_session_that_drops_after_k_sends_pauses_and_resume_completes(case: Case, k: int) -> None:
    campaign_id = case.campaign()
    case.waha.drop_after(k, session=case.session)
    FIGURES.fault(SUITE)

    assert case.post(campaign_id, "run") == 202
    first = case.wait(campaign_id)
    case.check(campaign_id)

    if k == N:  # the session drops after the last message: nothing left to send
        assert first["status"] == "Completed"
    else:
        assert first["status"] == "Paused", first
        assert (first["sentCount"], first["lastProcessedContactIndex"]) == (k, k - 1 if k else None)
        assert "SCAN_QR_CODE" in (first["pauseReason"] or "")
    done = case.resume_until_completed(campaign_id)
    assert (done["status"], done["sentCount"], done["unknownCount"]) == ("Completed", N, 0)
    assert Counter(invariants.chats_from_fake(case.waha)) == Counter(map(invariants.chat_of, case.phones))


# --------------------------------------------------------------------------- 5xx bursts, timeouts

BURSTS = [
    # (status, burst length, message processed before the error answer, unknown contacts expected)
    pytest.param(500, 2, False, 0, id="500x2-retried"),
    pytest.param(503, 2, False, 0, id="503x2-retried"),
    pytest.param(502, 2, False, 0, id="502x2-retried-same-id"),
    pytest.param(502, 2, True, 0, id="502x2-after-delivery-deduplicated"),
    pytest.param(500, 3, False, 0, id="500x3-ridden-out-same-id"),
    pytest.param(503, 7, False, 0, id="503x7-ridden-out-twice-same-id"),
    pytest.param(502, 3, False, 0, id="502x3-ridden-out-same-id"),
    pytest.param(502, 3, True, 0, id="502x3-after-delivery-deduplicated"),
]


@pytest.mark.parametrize(("status", "burst", "processed", "unknown"), BURSTS)
def test_a_burst_of_waha_5xx_then_recovery_sends_each_contact_at_most_once(
    case: Case, status: int, burst: int, processed: bool, unknown: int
) -> None:
    campaign_id = case.campaign()
    case.waha.fail_next(burst, status=status, endpoints={"sendText"}, process=processed)
    FIGURES.fault(SUITE, burst)

    assert case.post(campaign_id, "run") == 202
    done = case.resume_until_completed(campaign_id, allowance=unknown)

    assert done["status"] == "Completed"
    assert (done["sentCount"], done["unknownCount"]) == (N - unknown, unknown)
    if unknown:
        # The first contact's outcome was ambiguous: recorded Unknown, never sent again.
        assert case.received(0) == (1 if processed else 0)
    # Every attempt after the message first went out carried its id and was deduplicated
    # (within one call's retries, and when the run sent the unconfirmed contact again).
    assert case.waha.deduped == (burst if processed else 0)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_after_a_media_send_is_unknown_and_never_resent(case: Case, status: int) -> None:
    item = case.client.ok(
        "POST",
        "/media-items",
        {"name": "Flyer", "storagePath": "https://example.com/flyer.jpg", "mimeType": "image/jpeg"},
        201,
    )
    campaign_id = case.campaign(mediaLibraryItemId=item["id"])
    case.waha.fail_next(1, status=status, endpoints={"sendImage"}, process=True)
    FIGURES.fault(SUITE)

    assert case.post(campaign_id, "run") == 202
    done = case.resume_until_completed(campaign_id, allowance=1)

    assert done["status"] == "Completed"
    assert (done["sentCount"], done["unknownCount"]) == (N - 1, 1)
    assert case.received(0) == 1  # it did reach WhatsApp, once, and was never sent again


TIMEOUTS = [
    # (endpoints held back, how many answers, media, unknown contacts expected)
    pytest.param({"sendText"}, 1, False, 0, id="sendText-once-retried-same-id"),
    pytest.param({"sendText"}, 3, False, 0, id="sendText-every-attempt-same-id"),
    pytest.param({"session"}, 1, False, 0, id="session-check-retried"),
    pytest.param({"check-exists"}, 1, False, 0, id="number-check-skipped"),
    pytest.param({"sendImage"}, 1, True, 1, id="sendImage-no-id-unknown"),
]


@pytest.mark.parametrize(("endpoints", "times", "media", "unknown"), TIMEOUTS)
def test_waha_timing_out_never_makes_a_contact_receive_twice(
    case: Case, endpoints: set[str], times: int, media: bool, unknown: int
) -> None:
    fields: dict[str, Any] = {}
    if media:
        item = case.client.ok(
            "POST",
            "/media-items",
            {"name": "Flyer", "storagePath": "https://example.com/flyer.jpg", "mimeType": "image/jpeg"},
            201,
        )
        fields["mediaLibraryItemId"] = item["id"]
    campaign_id = case.campaign(**fields)
    # Held back 2.5 s, the sender's read timeout is 1 s: the request was handled, the answer lost.
    case.waha.hang_next(times, seconds=2.5, endpoints=endpoints)
    FIGURES.fault(SUITE, times)

    assert case.post(campaign_id, "run") == 202
    done = case.resume_until_completed(campaign_id, allowance=unknown)

    assert done["status"] == "Completed"
    assert (done["sentCount"], done["unknownCount"]) == (N - unknown, unknown)
    if endpoints & {"sendText", "sendImage"}:
        assert case.received(0) == 1  # it did reach WhatsApp, once
    if endpoints == {"sendText"}:
        assert case.waha.deduped == times


@pytest.mark.parametrize("check_numbers", [True, False], ids=["number-check", "refused-at-send"])
def test_a_number_waha_refuses_fails_that_contact_and_the_run_goes_on(
    case: Case, check_numbers: bool
) -> None:
    campaign_id = case.campaign(checkNumbers=check_numbers)
    refused = 3
    case.waha.reject_numbers.add(invariants.chat_of(case.phones[refused]).split("@")[0])
    FIGURES.fault(SUITE)

    assert case.post(campaign_id, "run") == 202
    done = case.wait(campaign_id)
    case.check(campaign_id)

    assert (done["status"], done["sentCount"], done["failedCount"]) == ("Completed", N - 1, 1)
    log = case.client.deliveries(campaign_id)
    assert [d["status"] for d in log] == ["Sent"] * refused + ["Failed"] + ["Sent"] * (N - refused - 1)
    assert log[refused]["error"]
    assert case.received(refused) == 0


# --------------------------------------------------------------------------- concurrency


def _at_once(calls: list[tuple[Case, str, str]]) -> list[int]:
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = [0] * len(calls)

    def call(position: int, who: Case, campaign_id: str, action: str) -> None:
        barrier.wait()
        statuses[position] = who.post(campaign_id, action)

    threads = [
        threading.Thread(target=call, args=(position, *arguments)) for position, arguments in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


def _paused_midway(case: Case, campaign_id: str) -> None:
    """Run, and pause once a few messages went out."""
    assert case.post(campaign_id, "run") == 202
    wait_for(lambda: len(case.waha.sent()) >= 3, 30, "three messages")
    assert case.post(campaign_id, "pause") == 200
    case.wait(campaign_id, {"Paused"})
    case.check(campaign_id)


@pytest.mark.parametrize(
    ("runs", "resumes"),
    [(10, 0), (0, 10), (5, 5)],
    ids=["10-runs", "10-resumes", "5-runs-5-resumes"],
)
def test_ten_concurrent_run_and_resume_calls_start_one_run(case: Case, runs: int, resumes: int) -> None:
    case.waha.latency_ms = 15  # each send takes a moment: the calls land mid-run
    campaign_id = case.campaign(count=20)
    if resumes:
        _paused_midway(case, campaign_id)
    FIGURES.fault(SUITE, runs + resumes - 1)

    statuses = _at_once([(case, campaign_id, "run")] * runs + [(case, campaign_id, "resume")] * resumes)

    assert set(statuses) <= {202, 409}, statuses
    if runs == 0:
        assert sorted(statuses) == [202] + [409] * 9  # one resume wins
    else:
        assert 202 in statuses
    done = case.resume_until_completed(campaign_id)
    assert (done["status"], done["sentCount"]) == ("Completed", 20)


@pytest.mark.parametrize("copies", [2, 3])
def test_the_same_runner_event_delivered_several_times_at_once_sends_once(case: Case, copies: int) -> None:
    case.waha.latency_ms = 5
    campaign_id = case.campaign()
    FIGURES.fault(SUITE, copies - 1)
    assert case.stack.invoker is not None
    # POST /run makes the campaign due and queues its runner event; Lambda delivers
    # that event `copies` times in all (at-least-once delivery).
    assert case.post(campaign_id, "run") == 202
    for _ in range(copies - 1):
        case.stack.invoker.invoke({"campaignId": campaign_id, "hop": 0})

    done = case.wait(campaign_id)
    case.check(campaign_id)
    assert (done["status"], done["sentCount"]) == ("Completed", N)
