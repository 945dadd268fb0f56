"""Send windows in the recipients' time zone, across midnight and daylight-saving changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from campaigns.domain.send_windows import InvalidSendWindow, SendWindow


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


MADRID = {"start": "09:00", "end": "20:00", "timeZone": "Europe/Madrid"}


def test_inside_the_window_it_is_open_now_and_outside_it_opens_next_morning():
    window = SendWindow.parse(MADRID)
    noon = utc("2026-12-01T11:00")  # 12:00 in Madrid (UTC+1)
    assert window.is_open(noon) and window.next_opening(noon) == noon
    evening = utc("2026-12-01T19:30")  # 20:30 in Madrid
    assert not window.is_open(evening)
    assert window.next_opening(evening) == utc("2026-12-02T08:00")


def test_the_window_keeps_its_local_hours_across_the_spring_and_autumn_changes():
    window = SendWindow.parse(MADRID)
    # Madrid moves to UTC+2 on 2026-03-29: 09:00 local is 08:00 UTC before, 07:00 UTC after.
    assert window.next_opening(utc("2026-03-28T20:00")) == utc("2026-03-29T07:00")
    assert window.next_opening(utc("2026-03-27T20:00")) == utc("2026-03-28T08:00")
    # And back to UTC+1 on 2026-10-25.
    assert window.next_opening(utc("2026-10-24T19:00")) == utc("2026-10-25T08:00")


def test_an_opening_in_the_skipped_hour_is_never_earlier_than_its_wall_time():
    window = SendWindow.parse({"start": "02:30", "end": "05:00", "timeZone": "Europe/Madrid"})
    opening = window.next_opening(utc("2026-03-28T23:00"))
    # 02:30 does not exist on 2026-03-29 in Madrid; the window opens at 03:30 local (01:30 UTC).
    assert opening == utc("2026-03-29T01:30")


def test_a_window_across_midnight_is_open_late_and_early_and_closed_in_between():
    window = SendWindow.parse({"start": "22:00", "end": "06:00", "timeZone": "America/New_York"})
    assert window.is_open(utc("2026-12-02T04:00"))  # 23:00 in New York
    assert window.is_open(utc("2026-12-02T10:00"))  # 05:00
    assert not window.is_open(utc("2026-12-02T12:00"))  # 07:00
    assert window.next_opening(utc("2026-12-02T12:00")) == utc("2026-12-03T03:00")


def test_only_the_listed_days_open_and_a_window_across_midnight_belongs_to_its_opening_day():
    window = SendWindow.parse({"start": "22:00", "end": "02:00", "timeZone": "Asia/Tokyo", "days": ["Fri"]})
    # Friday 2026-12-04 22:00 Tokyo = 13:00 UTC; Saturday 01:00 Tokyo is still Friday's window.
    assert window.next_opening(utc("2026-12-01T00:00")) == utc("2026-12-04T13:00")
    assert window.is_open(utc("2026-12-04T16:00"))
    assert not window.is_open(utc("2026-12-05T13:30"))  # Saturday 22:30: not a listed day


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"start": "09:00", "end": "09:00", "timeZone": "UTC"}, "empty"),
        ({"start": "9:00", "end": "17:00", "timeZone": "UTC"}, "HH:MM"),
        ({"start": "09:00", "end": "24:30", "timeZone": "UTC"}, "HH:MM"),
        ({"start": "09:00", "end": "17:00", "timeZone": "Mars/Olympus"}, "not a known"),
        ({"start": "09:00", "end": "17:00", "timeZone": "../etc/passwd"}, "IANA"),
        ({"start": "09:00", "end": "17:00", "timeZone": "UTC", "days": []}, "days"),
        ({"start": "09:00", "end": "17:00", "timeZone": "UTC", "days": ["Funday"]}, "days"),
    ],
)
def test_a_window_that_cannot_work_is_refused_with_its_reason(raw, reason):
    with pytest.raises(InvalidSendWindow, match=reason):
        SendWindow.parse(raw)


def test_the_stored_shape_reads_back_as_the_same_window():
    raw = {"start": "08:30", "end": "21:15", "timeZone": "America/Sao_Paulo", "days": ["Mon", "Wed"]}
    assert SendWindow.parse(raw).as_dict() == raw


# ------------------------------------------------------------------------ API and runner


def test_a_campaign_keeps_its_send_window_and_refuses_one_that_cannot_work(build, alice):
    from tests.test_api_campaigns import campaign_body

    window = {"start": "09:00", "end": "20:00", "timeZone": "Europe/Madrid", "days": ["Mon", "Tue"]}
    created = alice.post("/campaigns", campaign_body(build, sendWindow=window))
    assert created.status == 201, created.json
    assert created.json["sendWindow"] == window
    assert alice.get(f"/campaigns/{created.json['id']}").json["sendWindow"] == window

    for bad in (
        {**window, "timeZone": "Mars/Olympus"},
        {**window, "end": "09:00"},
        {**window, "days": []},
        {"start": "09:00", "end": "20:00"},
    ):
        refused = alice.post("/campaigns", campaign_body(build, sendWindow=bad))
        assert refused.status == 422, (bad, refused.json)


def test_outside_its_window_a_run_waits_for_the_opening_and_sends_nothing(build):
    from campaigns.runner.service import RunResult
    from campaigns.timeutil import utcnow
    from tests.builders import deliveries, reload
    from tests.runner_harness import Harness, runner_settings

    now = utcnow()
    closed_hour = (now + timedelta(hours=3)).strftime("%H:00")
    reopens = (now + timedelta(hours=4)).strftime("%H:00")
    window = {"start": closed_hour, "end": reopens, "timeZone": "UTC"}
    campaign = build.campaign(3, send_window=json.dumps(window))
    harness = Harness(cfg=runner_settings(continuation_threshold_ms=2_000))

    assert harness.run(campaign.id) is RunResult.PARKED

    assert deliveries(campaign) == []
    waiting = reload(campaign)
    assert waiting.wait_reason.startswith("Outside the send window")
    opening = waiting.waiting_until
    assert opening.strftime("%H:%M") == closed_hour and timedelta(hours=2) < opening - now <= timedelta(
        hours=3
    )
    ((_, delay_s),) = harness.invoker.pop_later()
    assert delay_s == 900  # the longest SQS delay; sent on again when it arrives
