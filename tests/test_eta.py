"""etaAt: when a Running campaign should send its last contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaigns.data.models import Campaign
from campaigns.domain.eta import Progress, estimated_finish
from campaigns.domain.statuses import CampaignStatus
from campaigns.timeutil import parse_iso, utcnow
from tests.campaign_setup import campaign_over

S = CampaignStatus
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def progress(**fields) -> Progress:
    base = {
        "total_contacts": 10,
        "last_processed_contact_index": 3,
        "min_delay_ms": 20_000,
        "max_delay_ms": 40_000,
    }
    return Progress(**{**base, **fields})


def test_each_remaining_contact_takes_the_middle_of_the_gap():
    # contacts 4..9 are left: 6 x 30 s
    assert estimated_finish(progress(), NOW) == NOW + timedelta(seconds=180)


def test_before_the_first_contact_every_contact_is_left():
    assert estimated_finish(progress(last_processed_contact_index=None), NOW) == NOW + timedelta(seconds=300)


def test_a_waiting_run_counts_from_the_end_of_its_wait():
    until = NOW + timedelta(minutes=10)

    assert estimated_finish(progress(waiting_until=until), NOW) == until + timedelta(seconds=180)
    # a wait already over does not move the estimate back
    assert estimated_finish(progress(waiting_until=NOW - timedelta(hours=1)), NOW) == NOW + timedelta(
        seconds=180
    )


@pytest.mark.parametrize(
    ("sent_in_batch", "pauses"),
    [(0, 1), (2, 1), (3, 2), (4, 2)],
)
def test_batch_pauses_fall_between_batches_of_the_remaining_sends(sent_in_batch, pauses):
    # 6 left, batches of 4: with `sent_in_batch` already in the current batch
    shape = progress(batch_size=4, batch_pause_ms=600_000, sent_in_batch=sent_in_batch)

    assert estimated_finish(shape, NOW) == NOW + timedelta(seconds=180 + 600 * pauses)


def test_nothing_left_is_now():
    assert estimated_finish(progress(last_processed_contact_index=9), NOW) == NOW


def test_a_running_campaign_answers_its_eta_and_others_null(build, alice):
    running = campaign_over(
        build.contact_list(5), build.template(), status=S.RUNNING, min_delay_ms=10_000, max_delay_ms=30_000
    )
    running.update(actions=[Campaign.last_processed_contact_index.set(1)])
    scheduled = campaign_over(build.contact_list(5), build.template())

    before = utcnow()
    shown = alice.get(f"/campaigns/{running.id}").json
    after = utcnow()

    eta = parse_iso(shown["etaAt"])
    assert before + timedelta(seconds=60) - timedelta(milliseconds=1) <= eta <= after + timedelta(seconds=60)
    assert alice.get(f"/campaigns/{scheduled.id}").json["etaAt"] is None
    listed = {c["id"]: c["etaAt"] for c in alice.get("/campaigns").json["items"]}
    assert listed[scheduled.id] is None
    assert abs(parse_iso(listed[running.id]) - eta) < timedelta(seconds=2)


def test_a_waiting_campaign_answers_the_end_of_its_wait_plus_the_rest(build, alice):
    until = utcnow() + timedelta(hours=2)
    running = campaign_over(build.contact_list(3), build.template(), status=S.RUNNING)
    running.update(
        actions=[Campaign.waiting_until.set(until), Campaign.wait_reason.set("Outside the send window")]
    )

    eta = parse_iso(alice.get(f"/campaigns/{running.id}").json["etaAt"])

    assert abs((eta - until).total_seconds()) < 0.002  # delays are 0: the wait is all that is left
