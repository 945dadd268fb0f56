"""etaAt: when a Running campaign should send its last contact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from campaigns.data.models import Campaign
from campaigns.domain.eta import NumberLoad, Progress, estimated_finish
from campaigns.domain.send_windows import SendWindow
from campaigns.domain.statuses import CampaignStatus
from campaigns.timeutil import parse_iso, to_iso, utcnow
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


# ---------------------------------------------------------------- send windows

MADRID_9_TO_20 = SendWindow.parse({"start": "09:00", "end": "20:00", "timeZone": "Europe/Madrid"})


def test_inside_a_window_that_stays_open_the_window_changes_nothing():
    # 12:00 UTC is 14:00 in Madrid; 6 sends x 30 s end long before 20:00
    assert estimated_finish(progress(window=MADRID_9_TO_20), NOW) == NOW + timedelta(seconds=180)


def test_sends_that_do_not_fit_before_the_window_closes_go_out_from_the_next_opening():
    # 30 minutes per send, 6 left, from 16:00 Madrid (14:00 UTC): 16:30, 17:00, ... 19:30 (7 fit),
    # so 100 left: 7 today, then 22 per day from 09:00 (09:00 .. 19:30).
    shape = progress(
        total_contacts=104, min_delay_ms=1_800_000, max_delay_ms=1_800_000, window=MADRID_9_TO_20
    )
    at = datetime(2026, 5, 1, 14, 0, tzinfo=UTC)
    # 100 = 7 (May 1) + 22 (May 2) + 22 + 22 + 22 (May 5) + 5 on May 6: 09:00, 09:30, ... 11:00 Madrid
    assert estimated_finish(shape, at) == datetime(2026, 5, 6, 9, 0, tzinfo=UTC)  # 11:00 CEST


def test_a_campaign_waiting_for_its_window_starts_at_the_opening():
    # 05:00 UTC is 07:00 in Madrid: the first send at 09:00 local (07:00 UTC), then 5 x 30 s
    shape = progress(window=MADRID_9_TO_20)
    at = datetime(2026, 5, 1, 5, 0, tzinfo=UTC)
    assert estimated_finish(shape, at) == datetime(2026, 5, 1, 7, 0, 0, tzinfo=UTC) + timedelta(seconds=150)


def test_a_window_across_midnight_and_a_daylight_saving_change():
    # New York, 22:00-02:00, one send an hour: the night of the spring-forward change
    # (8 March 2026, 02:00 becomes 03:00) has 22:00, 23:00, 00:00, 01:00 local: 4 sends.
    window = SendWindow.parse({"start": "22:00", "end": "02:00", "timeZone": "America/New_York"})
    shape = progress(
        total_contacts=8,
        last_processed_contact_index=None,
        min_delay_ms=3_600_000,
        max_delay_ms=3_600_000,
        window=window,
    )
    at = datetime(2026, 3, 7, 20, 0, tzinfo=UTC)  # 15:00 EST on 7 March
    # 4 sends on the night of the 7th (22:00 EST = 03:00 UTC), 4 on the night of the 8th,
    # the last at 01:00 EDT on 9 March = 05:00 UTC
    assert estimated_finish(shape, at) == datetime(2026, 3, 9, 5, 0, tzinfo=UTC)


def test_a_very_long_campaign_is_extrapolated_and_still_answers_quickly():
    shape = progress(
        total_contacts=1_000_000, min_delay_ms=1_800_000, max_delay_ms=1_800_000, window=MADRID_9_TO_20
    )
    finish = estimated_finish(shape, NOW)
    # about 22 a day for a million contacts: over a century away, and later than 1,000 openings
    assert finish > NOW + timedelta(days=40_000)


# ---------------------------------------------------------------- the number's turns


def test_a_number_shared_by_three_campaigns_sends_each_at_a_third_of_its_pace():
    number = NumberLoad(sharing=3, min_gap_ms=20_000, daily_limit=100_000)
    # own pace 30 s, the number allows this campaign one send every 60 s: 6 x 60 s
    assert estimated_finish(progress(number=number), NOW) == NOW + timedelta(seconds=360)


def test_a_number_alone_and_faster_than_the_campaign_changes_nothing():
    number = NumberLoad(sharing=1, min_gap_ms=20_000, daily_limit=1_000)
    assert estimated_finish(progress(number=number), NOW) == NOW + timedelta(seconds=180)


def test_the_daily_limit_spreads_the_sends_over_days():
    # 10 a day shared by 2, 6 already sent today: 2 more today for this campaign, then
    # 5 a day; 6 left: 2 today, 4 after a day, the last at 24 h + 4 x 30 s
    number = NumberLoad(sharing=2, min_gap_ms=1_000, daily_limit=10, sent_last_day=6)
    assert estimated_finish(progress(number=number), NOW) == NOW + timedelta(days=1, seconds=120)


def test_a_daily_limit_not_reached_changes_nothing():
    number = NumberLoad(sharing=2, min_gap_ms=1_000, daily_limit=1_000, sent_last_day=500)
    assert estimated_finish(progress(number=number), NOW) == NOW + timedelta(seconds=180)


def test_a_campaign_taking_turns_on_its_number_answers_a_later_eta_when_read_by_id(build, alice):
    session = build.session()
    running = campaign_over(
        build.contact_list(5), build.template(), status=S.RUNNING, min_delay_ms=30_000, max_delay_ms=30_000
    )
    running.update(actions=[Campaign.last_processed_contact_index.set(0)])  # 4 left
    alone = parse_iso(alice.get(f"/campaigns/{running.id}").json["etaAt"])

    # Two other campaigns take turns on the number: this one sends every 3 x 30 s.
    now = utcnow()
    session.update(
        actions=[
            session.__class__.number_waiting.set(json.dumps({"camp-b": to_iso(now), "camp-c": to_iso(now)})),
            session.__class__.number_last_campaign.set("camp-b"),
            session.__class__.number_last_send_at.set(now),
            session.__class__.number_last_gap_ms.set(30_000),
        ]
    )
    shared = parse_iso(alice.get(f"/campaigns/{running.id}").json["etaAt"])

    assert abs((alone - now).total_seconds() - 4 * 30) < 2
    assert abs((shared - now).total_seconds() - 4 * 90) < 2


def test_a_running_campaign_outside_its_window_answers_an_eta_after_the_opening(build, alice):
    now = utcnow()
    # A one-hour window that opened an hour ago has just closed: the next opening is tomorrow.
    opens = (now - timedelta(hours=1)).strftime("%H:%M")
    closes = now.strftime("%H:%M")
    window = {"start": opens, "end": closes, "timeZone": "UTC"}
    running = campaign_over(
        build.contact_list(3),
        build.template(),
        status=S.RUNNING,
        send_window=json.dumps(window),
    )

    shown = alice.get(f"/campaigns/{running.id}").json

    eta = parse_iso(shown["etaAt"])
    assert now + timedelta(hours=22) < eta < now + timedelta(hours=24)
