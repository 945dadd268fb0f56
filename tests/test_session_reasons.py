"""Pause reasons about a WhatsApp number name it as its user knows it: its label and,
once paired, its phone number. Never the WAHA session name the server generated
(`wcr-...`), which the user has never seen, nor WAHA's host or port. Each reason is
checked where it is decided: WAHA's webhook reporting a drop, a deleted number, and
the runner's session check before a chunk."""

from __future__ import annotations

from urllib.parse import urlsplit

from campaigns.data.models import Campaign
from campaigns.domain.statuses import CampaignStatus
from campaigns.runner.service import RunResult
from campaigns.sending.factory import build_sender
from tests import waha_world
from tests.api_events import ApiClient
from tests.builders import Builder, reload
from tests.fakewaha import FakeWaha
from tests.runner_harness import Harness

waha_api = waha_world.waha_api  # the fixture, used by name

PHONE_DIGITS = "34600000009"


def on_session(build: Builder, session_id: str, name: str, status: CampaignStatus) -> Campaign:
    campaign = build.campaign(3, status=status, register_session=False)
    Campaign(campaign.id).update(
        actions=[Campaign.whatsapp_session_id.set(session_id), Campaign.waha_session.set(name)]
    )
    return reload(campaign)


def paired_number(user: ApiClient, fake: FakeWaha, label: str | None = "Shop") -> tuple[str, str]:
    body = {"label": label} if label else {}
    answer = user.post("/whatsapp-sessions", body)
    assert answer.status == 201, answer.text
    session_id = answer.json["id"]
    name = fake.request_log("create-session")[-1]["body"]["name"]
    assert fake.pair(name, phone_digits=PHONE_DIGITS, push_name="Ana") == 200
    return session_id, name


def assert_names_the_number_only(reason: str | None, fake: FakeWaha, name: str) -> None:
    assert reason
    host = urlsplit(fake.base_url)
    assert name not in reason and "wcr-" not in reason
    assert host.hostname not in reason and str(host.port) not in reason


def test_a_drop_reported_by_waha_names_the_numbers_label_and_phone(waha_api: FakeWaha, alice, build: Builder):
    session_id, name = paired_number(alice, waha_api)
    running = on_session(build, session_id, name, CampaignStatus.RUNNING)

    assert waha_api.drop(name, "SCAN_QR_CODE") == 200

    reason = reload(running).pause_reason
    assert reason is not None and reason.startswith("The WhatsApp number 'Shop' (+34600000009) disconnected")
    assert "SCAN_QR_CODE" in reason and "scan its QR code again" in reason
    assert_names_the_number_only(reason, waha_api, name)


def test_deleting_a_number_names_it_in_the_reason_of_its_paused_campaigns(
    waha_api: FakeWaha, alice, build: Builder
):
    session_id, name = paired_number(alice, waha_api)
    scheduled = on_session(build, session_id, name, CampaignStatus.SCHEDULED)

    assert alice.call("DELETE", f"/whatsapp-sessions/{session_id}").status == 204

    reason = reload(scheduled).pause_reason
    assert reason is not None and reason.startswith("The WhatsApp number 'Shop' (+34600000009)")
    assert "was deleted" in reason
    assert_names_the_number_only(reason, waha_api, name)


def test_the_runners_session_check_names_the_numbers_label_and_phone(
    waha_api: FakeWaha, alice, build: Builder
):
    session_id, name = paired_number(alice, waha_api)
    campaign = on_session(build, session_id, name, CampaignStatus.SCHEDULED)
    waha_api.set_session(name, "SCAN_QR_CODE")  # WAHA's webhook has not said so yet

    result = Harness(sender=build_sender()).run(campaign.id)

    assert result is RunResult.PAUSED
    reason = reload(campaign).pause_reason
    assert reason is not None
    assert reason.startswith("WhatsApp session 'Shop' (+34600000009) is SCAN_QR_CODE, not WORKING")
    assert_names_the_number_only(reason, waha_api, name)
    assert waha_api.sent() == []


def test_a_number_without_a_label_is_named_by_its_phone(waha_api: FakeWaha, alice, build: Builder):
    session_id, name = paired_number(alice, waha_api, label=None)
    running = on_session(build, session_id, name, CampaignStatus.RUNNING)
    scheduled = on_session(build, session_id, name, CampaignStatus.SCHEDULED)
    waha_api.set_session(name, "FAILED")

    assert Harness(sender=build_sender()).run(scheduled.id) is RunResult.PAUSED
    assert waha_api.drop(name, "STOPPED") == 200

    checked, dropped = reload(scheduled).pause_reason, reload(running).pause_reason
    assert checked is not None and checked.startswith("WhatsApp session +34600000009 is FAILED, not WORKING")
    assert dropped is not None and dropped.startswith("The WhatsApp number +34600000009 disconnected")
    for reason in (checked, dropped):
        assert_names_the_number_only(reason, waha_api, name)


def test_a_number_never_paired_and_without_a_label_is_not_named_by_its_waha_name(
    waha_api: FakeWaha, alice, build: Builder
):
    answer = alice.post("/whatsapp-sessions", {})
    name = waha_api.request_log("create-session")[-1]["body"]["name"]
    campaign = on_session(build, answer.json["id"], name, CampaignStatus.SCHEDULED)

    assert Harness(sender=build_sender()).run(campaign.id) is RunResult.PAUSED

    reason = reload(campaign).pause_reason
    assert reason is not None
    assert reason.startswith("The campaign's WhatsApp session is SCAN_QR_CODE, not WORKING")
    assert_names_the_number_only(reason, waha_api, name)


def test_a_number_waha_no_longer_has_is_409_without_its_waha_name(waha_api: FakeWaha, alice):
    answer = alice.post("/whatsapp-sessions", {"label": "Shop"})
    session_id = answer.json["id"]
    name = waha_api.request_log("create-session")[-1]["body"]["name"]
    waha_api.remove_session(name)  # deleted on WAHA by hand

    qr = alice.get(f"/whatsapp-sessions/{session_id}/qr")
    code = alice.post(f"/whatsapp-sessions/{session_id}/pairing-code", {"phoneNumber": "+34600000009"})

    assert (qr.status, code.status) == (409, 409)
    for refused in (qr, code):
        assert "WAHA no longer has this number" in refused.message
        assert_names_the_number_only(refused.message, waha_api, name)


def test_a_campaign_resumed_on_a_deleted_number_names_it_and_never_another_users_label(
    waha_api: FakeWaha, alice, build: Builder, invoker
):
    from campaigns.data import sessions
    from campaigns.timeutil import utcnow

    session_id, name = paired_number(alice, waha_api)
    mine = on_session(build, session_id, name, CampaignStatus.SCHEDULED)
    handed = on_session(build, session_id, name, CampaignStatus.SCHEDULED)
    assert alice.call("DELETE", f"/whatsapp-sessions/{session_id}").status == 204
    assert alice.post(f"/campaigns/{mine.id}/resume").status == 202

    assert Harness(sender=build_sender()).run(mine.id) is RunResult.PAUSED
    reason = reload(mine).pause_reason
    # The operator then hands the same WAHA session to bob, who labels it his way
    adopted = sessions.adopt(name, "user-b", 1000, utcnow())
    assert adopted is not None
    sessions.change(adopted, "Bob's secret shop", None, utcnow())
    assert alice.post(f"/campaigns/{handed.id}/resume").status == 202
    assert Harness(sender=build_sender()).run(handed.id) is RunResult.PAUSED
    other = reload(handed).pause_reason

    assert reason is not None and reason.startswith(
        "WhatsApp session 'Shop' (+34600000009) is not registered"
    )
    assert other is not None and other.startswith("The campaign's WhatsApp session is not registered")
    for shown in (reason, other):
        assert "Bob" not in shown
        assert_names_the_number_only(shown, waha_api, name)


def test_a_number_lost_in_the_middle_of_a_chunk_is_named_by_label_and_phone(
    waha_api: FakeWaha, alice, build: Builder
):
    # The session check before the chunk passes; WAHA then refuses a send (the session
    # stopped), and the reason comes from the WAHA client's error, which knows only the
    # generated name.
    session_id, name = paired_number(alice, waha_api)
    campaign = on_session(build, session_id, name, CampaignStatus.SCHEDULED)
    waha_api.drop_after(1, session=name, status="FAILED")

    result = Harness(sender=build_sender()).run(campaign.id)

    assert result is RunResult.PAUSED
    reason = reload(campaign).pause_reason
    assert reason is not None and "'Shop' (+34600000009)" in reason, reason
    assert_names_the_number_only(reason, waha_api, name)


def test_a_test_send_through_a_number_waiting_for_its_qr_code_names_it_by_label(
    waha_api: FakeWaha, alice, build: Builder
):
    session_id, name = paired_number(alice, waha_api)
    campaign = on_session(build, session_id, name, CampaignStatus.SCHEDULED)
    waha_api.set_session(name, "SCAN_QR_CODE")  # dropped; WAHA's webhook has not said so yet

    answer = alice.post(f"/campaigns/{campaign.id}/test", {"phoneNumber": "+15551230001"})

    assert answer.status == 409
    assert "'Shop' (+34600000009)" in answer.message, answer.message
    assert_names_the_number_only(answer.message, waha_api, name)
