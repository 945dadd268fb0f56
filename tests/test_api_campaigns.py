"""The campaign routes through the API handler, against DynamoDB over HTTP (moto)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from campaigns.api.errors import InvalidPageToken
from campaigns.data.models import Campaign, Delivery
from campaigns.data.pagination import KeyShape, decode_token, encode_token
from campaigns.data.user_commands import PAUSED_BY_USER
from campaigns.domain.statuses import CampaignStatus
from campaigns.invoker import runner_event, set_default_invoker
from campaigns.timeutil import parse_iso, utcnow
from tests.builders import Builder, reload

CONTRACT_FIELDS = {
    "id",
    "name",
    "status",
    "contactListId",
    "messageTemplateId",
    "mediaLibraryItemId",
    "defaultNameValue",
    "scheduledAt",
    "startedAt",
    "completedAt",
    "lastProcessedContactIndex",
    "totalContacts",
    "sentCount",
    "failedCount",
    "unknownCount",
    "pauseReason",
    "createdAt",
}
S = CampaignStatus


def stored(campaign: Campaign) -> dict:
    return dict(reload(campaign).attribute_values)


def campaign_body(build: Builder, **overrides) -> dict:
    build.session()
    contact_list = build.contact_list(3)
    template = build.template()
    body = {
        "name": "Spring sale",
        "contactListId": contact_list.id,
        "messageTemplateId": template.id,
        "defaultNameValue": "friend",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


# ------------------------------------------------------------------ create


def test_create_answers_201_with_a_scheduled_campaign_counting_the_lists_contacts(build, alice):
    media = build.media()
    body = campaign_body(build, mediaLibraryItemId=media.id, scheduledAt="2030-05-01T09:30:00+02:00")

    answer = alice.post("/campaigns", body)

    assert answer.status == 201
    campaign = answer.json
    assert set(campaign) >= CONTRACT_FIELDS
    assert campaign["status"] == "Scheduled"
    assert campaign["totalContacts"] == 3
    assert campaign["scheduledAt"] == "2030-05-01T07:30:00.000Z"
    assert campaign["mediaLibraryItemId"] == media.id
    assert campaign["whatsappSessionId"].startswith("wa_")
    assert (campaign["minDelayMs"], campaign["maxDelayMs"]) == (30_000, 60_000)
    assert (campaign["typing"], campaign["checkNumbers"]) == (False, True)
    assert campaign["lastProcessedContactIndex"] is None
    assert (campaign["sentCount"], campaign["failedCount"], campaign["unknownCount"]) == (0, 0, 0)
    item = Campaign.get(campaign["id"])
    assert item.user_id == "user-a"
    assert item.due_at == datetime(2030, 5, 1, 7, 30, tzinfo=UTC)


def test_a_campaign_without_scheduled_at_waits_for_a_manual_run(build, alice):
    answer = alice.post("/campaigns", campaign_body(build))

    assert answer.status == 201
    assert answer.json["scheduledAt"] is None
    assert Campaign.get(answer.json["id"]).due_at is None


def test_create_stores_pacing_and_batch_options(build, alice):
    body = campaign_body(
        build,
        minDelayMs=1000,
        maxDelayMs=2000,
        typing=True,
        checkNumbers=False,
        batchSize=50,
        batchPauseMs=600_000,
    )

    campaign = alice.post("/campaigns", body).json

    assert (campaign["minDelayMs"], campaign["maxDelayMs"]) == (1000, 2000)
    assert (campaign["typing"], campaign["checkNumbers"]) == (True, False)
    assert (campaign["batchSize"], campaign["batchPauseMs"]) == (50, 600_000)


@pytest.mark.parametrize(
    ("delays", "expected"),
    [
        ({"minDelayMs": 90_000}, (90_000, 90_000)),
        ({"maxDelayMs": 5000}, (5000, 5000)),
        ({"maxDelayMs": 0}, (0, 0)),
    ],
)
def test_a_lone_delay_bound_moves_the_other_default(build, alice, delays, expected):
    campaign = alice.post("/campaigns", campaign_body(build, **delays)).json

    assert (campaign["minDelayMs"], campaign["maxDelayMs"]) == expected


@pytest.mark.parametrize(
    "overrides",
    [
        {"minDelayMs": 5000, "maxDelayMs": 1000},
        {"minDelayMs": -1},
        {"maxDelayMs": 600_001},
        {"minDelayMs": 1.5},
        {"batchSize": 10},
        {"batchPauseMs": 1000},
        {"batchSize": 0, "batchPauseMs": 1},
        {"scheduledAt": "2030-05-01T09:30:00"},
        {"scheduledAt": "tomorrow"},
        {"scheduledAt": "9999-12-31T23:59:59-01:00"},
        {"scheduledAt": "1900-01-01T00:00:00Z"},
        {"defaultNameValue": "   "},
        {"defaultNameValue": "x" * 101},
        {"name": "x" * 201},
        {"wahaSession": "default"},  # a WAHA name is never accepted, only a session's id
        {"whatsappSessionId": ""},
        {"typing": "yes"},
    ],
)
def test_create_refuses_invalid_options_with_422(refused, overrides):
    body = {
        "name": "x",
        "contactListId": "list_1",
        "messageTemplateId": "tpl_1",
        "defaultNameValue": "friend",
    }

    answer = refused.post("/campaigns", {**body, **overrides})

    assert answer.status == 422, answer.text
    assert answer.message.startswith("Invalid request")


@pytest.mark.parametrize("reference", ["contactListId", "messageTemplateId", "mediaLibraryItemId"])
def test_create_refuses_a_reference_to_another_users_item(build, alice, reference):
    other = Builder(user_id="user-b")
    foreign = {
        "contactListId": lambda: other.contact_list(2).id,
        "messageTemplateId": lambda: other.template().id,
        "mediaLibraryItemId": lambda: other.media().id,
    }[reference]()

    answer = alice.post("/campaigns", campaign_body(build, **{reference: foreign}))

    assert answer.status == 422
    assert reference in answer.message
    assert list(Campaign.scan()) == []


@pytest.mark.parametrize("reference", ["contactListId", "messageTemplateId", "mediaLibraryItemId"])
def test_create_refuses_a_reference_that_does_not_exist(build, alice, reference):
    answer = alice.post("/campaigns", campaign_body(build, **{reference: "missing_0001"}))

    assert answer.status == 422
    assert reference in answer.message


def test_create_without_any_session_says_to_register_one(build, alice):
    body = {
        "name": "x",
        "contactListId": build.contact_list(1).id,
        "messageTemplateId": build.template().id,
        "defaultNameValue": "friend",
    }

    answer = alice.post("/campaigns", body)

    assert answer.status == 422
    assert "connect" in answer.message and "POST /whatsapp-sessions" in answer.message


def test_create_defaults_to_the_callers_first_session(build, alice):
    first = build.session("first-number")
    body = campaign_body(build)
    build.session("later-number")

    assert alice.post("/campaigns", body).json["whatsappSessionId"] == first.id


def test_create_accepts_another_session_of_the_caller(build, alice):
    body = campaign_body(build)
    sales = alice.post("/whatsapp-sessions", {"label": "Sales"})
    assert sales.status == 201

    created = alice.post("/campaigns", {**body, "whatsappSessionId": sales.json["id"]})

    assert created.json["whatsappSessionId"] == sales.json["id"]
    assert Campaign.get(created.json["id"]).waha_session != "default"


def test_create_refuses_another_users_session(build, alice, bob):
    bobs = bob.post("/whatsapp-sessions", {"label": "Bob's number"}).json["id"]

    answer = alice.post("/campaigns", campaign_body(build, whatsappSessionId=bobs))

    assert answer.status == 422
    assert "whatsappSessionId" in answer.message
    assert list(Campaign.scan()) == []


def test_create_refuses_an_unknown_session(build, alice):
    answer = alice.post("/campaigns", campaign_body(build, whatsappSessionId="wa_nobody"))

    assert answer.status == 422


# -------------------------------------------------------------------- read


def test_get_answers_the_campaign_with_progress(build, alice):
    campaign = build.campaign(4, status=S.RUNNING, last_processed=1, sent_count=2)

    answer = alice.get(f"/campaigns/{campaign.id}")

    assert answer.status == 200
    assert answer.json["id"] == campaign.id
    assert answer.json["status"] == "Running"
    assert answer.json["lastProcessedContactIndex"] == 1
    assert answer.json["sentCount"] == 2
    assert answer.json["totalContacts"] == 4
    assert "runToken" not in answer.json and "inFlightIndex" not in answer.json
    assert parse_iso(answer.json["createdAt"]).tzinfo is not None


def test_get_a_missing_campaign_is_404(alice):
    answer = alice.get("/campaigns/cmp_missing")

    assert answer.status == 404
    assert answer.json == {"message": "Campaign not found"}


def test_get_an_absurdly_long_id_is_404_not_a_dynamodb_error(alice):
    assert alice.get("/campaigns/" + "x" * 5000).status == 404


def test_list_answers_the_callers_campaigns_newest_first_page_by_page(build, alice):
    older = build.campaign(1)
    Campaign(older.id).update(actions=[Campaign.created_at.set(utcnow() - timedelta(days=2))])
    newer = build.campaign(1)
    Builder(user_id="user-b").campaign(1)

    first = alice.get("/campaigns", query={"limit": "1"})
    second = alice.get("/campaigns", query={"limit": "1", "nextToken": first.json["nextToken"]})

    assert first.status == second.status == 200
    assert [c["id"] for c in first.json["items"]] == [newer.id]
    assert [c["id"] for c in second.json["items"]] == [older.id]
    assert second.json["nextToken"] is None or alice.get(
        "/campaigns", query={"limit": "1", "nextToken": second.json["nextToken"]}
    ).json == {"items": [], "nextToken": None}


def test_list_with_no_campaigns_is_empty(alice):
    assert alice.get("/campaigns").json == {"items": [], "nextToken": None}


def test_a_next_token_from_another_users_listing_is_400(build, alice, bob):
    Builder(user_id="user-b").campaign(1)
    Builder(user_id="user-b").campaign(1)
    token = bob.get("/campaigns", query={"limit": "1"}).json["nextToken"]
    assert token

    answer = alice.get("/campaigns", query={"nextToken": token})

    assert answer.status == 400
    assert "nextToken" in answer.message


@pytest.mark.parametrize("token", ["garbage", "eyJvd25lciI6InVzZXItYSJ9", "%%%", "e30"])
def test_a_garbage_next_token_is_400(refused, token):
    assert refused.get("/campaigns", query={"nextToken": token}).status == 400


def test_a_next_token_from_another_listing_is_400(build, alice):
    build.contact_list(1)
    build.contact_list(1)
    token = alice.get("/contact-lists", query={"limit": "1"}).json["nextToken"]

    assert alice.get("/campaigns", query={"nextToken": token}).status == 400


@pytest.mark.parametrize("limit", ["0", "101", "ten", "-1"])
def test_a_limit_outside_1_to_100_is_422(refused, limit):
    answer = refused.get("/campaigns", query={"limit": limit})

    assert answer.status == 422
    assert "limit" in answer.message


# --------------------------------------------------------------------- run


@pytest.mark.parametrize("status", [S.SCHEDULED, S.PAUSED])
def test_run_answers_202_and_invokes_the_runner_once(build, alice, invoker, status):
    campaign = build.campaign(
        3, status=status, pause_reason="Paused by the user" if status is S.PAUSED else None
    )
    before = utcnow()

    answer = alice.post(f"/campaigns/{campaign.id}/run")

    assert answer.status == 202
    assert answer.json["id"] == campaign.id
    assert answer.json["status"] == "Scheduled"
    assert answer.json["pauseReason"] is None
    assert invoker.events == [runner_event(campaign.id)]
    assert reload(campaign).due_at >= before - timedelta(seconds=1)


@pytest.mark.parametrize("status", [S.RUNNING, S.COMPLETED, S.FAILED, S.CANCELLED])
def test_run_refuses_a_campaign_that_is_not_scheduled_or_paused(build, alice, invoker, status):
    campaign = build.campaign(2, status=status)
    before = stored(campaign)

    answer = alice.post(f"/campaigns/{campaign.id}/run")

    assert answer.status == 409
    assert status.value in answer.message
    assert invoker.events == []
    assert stored(campaign) == before


def test_run_of_a_missing_campaign_is_404(alice, invoker):
    assert alice.post("/campaigns/cmp_missing/run").status == 404
    assert invoker.events == []


def test_run_still_answers_202_when_the_invocation_fails(build, alice):
    class Failing:
        def invoke(self, event, function_name=None):
            raise RuntimeError("Lambda throttled")

    set_default_invoker(Failing())
    try:
        campaign = build.campaign(2)
        answer = alice.post(f"/campaigns/{campaign.id}/run")
    finally:
        set_default_invoker(None)

    # Scheduled and due now: the schedule's next tick starts it.
    assert answer.status == 202
    after = reload(campaign)
    assert after.status == "Scheduled" and after.due_at is not None and after.due_at <= utcnow()


def test_run_counts_a_metric(build, alice, invoker, capsys):
    campaign = build.campaign(1)

    alice.post(f"/campaigns/{campaign.id}/run")

    assert "CampaignRunRequested" in capsys.readouterr().out


# ------------------------------------------------------------------ resume


def test_resume_of_a_missing_campaign_is_404(alice, invoker):
    answer = alice.post("/campaigns/cmp_missing/resume")

    assert answer.status == 404
    assert invoker.events == []


def test_resume_of_another_users_campaign_is_404_and_changes_nothing(build, bob, invoker):
    campaign = build.campaign(2, status=S.PAUSED)
    before = stored(campaign)

    answer = bob.post(f"/campaigns/{campaign.id}/resume")

    assert answer.status == 404
    assert answer.json == {"message": "Campaign not found"}
    assert stored(campaign) == before
    assert invoker.events == []


@pytest.mark.parametrize("status", [S.SCHEDULED, S.RUNNING, S.COMPLETED, S.FAILED, S.CANCELLED])
def test_resume_of_a_campaign_that_is_not_paused_is_409(build, alice, invoker, status):
    campaign = build.campaign(2, status=status)

    answer = alice.post(f"/campaigns/{campaign.id}/resume")

    assert answer.status == 409
    assert status.value in answer.message
    assert reload(campaign).status == status.value
    assert invoker.events == []


def test_resume_makes_the_campaign_scheduled(build, alice, invoker):
    campaign = build.campaign(
        3, status=S.PAUSED, last_processed=0, pause_reason="WhatsApp session not WORKING"
    )

    answer = alice.post(f"/campaigns/{campaign.id}/resume")

    assert answer.status == 202
    assert answer.json["status"] == "Scheduled"
    after = reload(campaign)
    assert after.status == "Scheduled"
    assert after.pause_reason is None
    assert after.last_processed_contact_index == 0  # the run goes on where it stopped


def test_resume_invokes_the_runner_with_the_campaign_id(build, alice, invoker):
    campaign = build.campaign(3, status=S.PAUSED)

    alice.post(f"/campaigns/{campaign.id}/resume")

    assert invoker.events == [{"campaignId": campaign.id, "hop": 0}]


def test_a_second_resume_is_409(build, alice, invoker):
    """Resume reads nothing before its one conditional write (status = Paused), so two
    resumes "at once" are ordered by DynamoDB exactly like these two: one wins. (moto's
    server does not serialise concurrent conditional writes, so threads would test moto.)"""
    campaign = build.campaign(3, status=S.PAUSED)

    first = alice.post(f"/campaigns/{campaign.id}/resume")
    second = alice.post(f"/campaigns/{campaign.id}/resume")

    assert (first.status, second.status) == (202, 409)
    assert invoker.events == [runner_event(campaign.id)]


# ------------------------------------------------------------ pause, cancel


def test_pause_answers_200_with_a_paused_campaign(build, alice):
    for status in (S.SCHEDULED, S.RUNNING):
        campaign = build.campaign(2, status=status, scheduled_at=utcnow())

        answer = alice.post(f"/campaigns/{campaign.id}/pause")

        assert answer.status == 200, status
        assert answer.json["status"] == "Paused"
        assert answer.json["pauseReason"] == PAUSED_BY_USER
        assert reload(campaign).due_at is None  # the schedule no longer starts it


def test_pause_refuses_other_statuses_with_409(build, alice):
    for status in (S.PAUSED, S.COMPLETED, S.FAILED, S.CANCELLED):
        campaign = build.campaign(2, status=status)

        answer = alice.post(f"/campaigns/{campaign.id}/pause")

        assert answer.status == 409, status
        assert status.value in answer.message
        assert reload(campaign).status == status.value


def test_cancel_answers_200_with_a_cancelled_campaign(build, alice):
    for status in (S.SCHEDULED, S.RUNNING, S.PAUSED):
        campaign = build.campaign(2, status=status)

        answer = alice.post(f"/campaigns/{campaign.id}/cancel")

        assert answer.status == 200, status
        assert answer.json["status"] == "Cancelled"
        assert answer.json["completedAt"] is not None


def test_cancel_refuses_a_finished_campaign_with_409(build, alice):
    for status in (S.COMPLETED, S.FAILED, S.CANCELLED):
        campaign = build.campaign(2, status=status)

        answer = alice.post(f"/campaigns/{campaign.id}/cancel")

        assert answer.status == 409, status
        assert status.value in answer.message
        assert reload(campaign).status == status.value


@pytest.mark.parametrize("action", ["pause", "cancel"])
def test_pause_and_cancel_of_a_missing_campaign_are_404(alice, action):
    assert alice.post(f"/campaigns/cmp_missing/{action}").status == 404


# -------------------------------------------------------------- deliveries


def _deliveries(campaign: Campaign, statuses: list[str]) -> None:
    for index, status in enumerate(statuses):
        Delivery(
            campaign_id=campaign.id,
            contact_index=index,
            phone_number=f"+1555000{index:04d}",
            status=status,
            message_id=f"true_{index}@c.us" if status == "Sent" else None,
            error="Not on WhatsApp" if status == "Failed" else None,
            at=utcnow(),
        ).save()


def test_deliveries_answers_the_log_in_contact_order(build, alice):
    campaign = build.campaign(3, status=S.COMPLETED)
    _deliveries(campaign, ["Sent", "Failed", "Unknown"])

    answer = alice.get(f"/campaigns/{campaign.id}/deliveries")

    assert answer.status == 200
    items = answer.json["items"]
    assert [d["contactIndex"] for d in items] == [0, 1, 2]
    assert items[0] == {
        "contactIndex": 0,
        "phoneNumber": "+15550000000",
        "status": "Sent",
        "messageId": "true_0@c.us",
        "ack": None,
        "error": None,
        "at": items[0]["at"],
    }
    assert items[1]["error"] == "Not on WhatsApp"
    assert answer.json["nextToken"] is None


def test_deliveries_filters_by_status(build, alice):
    campaign = build.campaign(6, status=S.COMPLETED)
    _deliveries(campaign, ["Sent", "Failed", "Unknown", "Sent", "Failed", "Unknown"])

    for status in ("Sent", "Failed", "Unknown"):
        answer = alice.get(f"/campaigns/{campaign.id}/deliveries", query={"status": status})

        assert answer.status == 200
        assert [d["status"] for d in answer.json["items"]] == [status, status]


def test_deliveries_with_an_unknown_status_filter_is_422(refused):
    answer = refused.get("/campaigns/cmp_1/deliveries", query={"status": "Delivered"})

    assert answer.status == 422
    assert "status" in answer.message


def test_deliveries_paginate(build, alice):
    campaign = build.campaign(5, status=S.COMPLETED)
    _deliveries(campaign, ["Sent"] * 5)
    seen: list[int] = []
    token = None

    for _ in range(5):
        query = {"limit": "2", **({"nextToken": token} if token else {})}
        page = alice.get(f"/campaigns/{campaign.id}/deliveries", query=query).json
        seen += [d["contactIndex"] for d in page["items"]]
        token = page["nextToken"]
        if token is None:
            break

    assert seen == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "key",
    [
        {"campaignId": {"S": "cmp_1"}, "contactIndex": {"N": "9" * 60}},
        {"campaignId": {"S": "cmp_1"}, "contactIndex": {"N": "-"}},
        {"campaignId": {"S": "cmp_1"}, "contactIndex": {"S": "1"}},
        {"campaignId": {"S": "cmp_2"}, "contactIndex": {"N": "1"}},
        {"campaignId": {"S": "cmp_1"}},
        {"campaignId": {"S": "cmp_1"}, "contactIndex": {"N": "1"}, "extra": {"S": "x"}},
    ],
)
def test_a_forged_token_is_refused_before_dynamodb_sees_it(key):
    shape = KeyShape(types={"campaignId": "S", "contactIndex": "N"}, fixed={"campaignId": "cmp_1"})
    forged = base64.urlsafe_b64encode(json.dumps({"owner": "user-a", "key": key}).encode()).decode()

    with pytest.raises(InvalidPageToken):
        decode_token(forged, "user-a", shape)


def test_a_token_round_trips_for_its_owner_only():
    shape = KeyShape(types={"campaignId": "S", "contactIndex": "N"}, fixed={"campaignId": "cmp_1"})
    key = {"campaignId": {"S": "cmp_1"}, "contactIndex": {"N": "41"}}
    token = encode_token("user-a", key)

    assert decode_token(token, "user-a", shape) == key
    with pytest.raises(InvalidPageToken):
        decode_token(token, "user-b", shape)


def test_a_deliveries_token_for_another_campaign_is_400(build, alice):
    first, second = build.campaign(3), build.campaign(3)
    _deliveries(first, ["Sent"] * 3)
    token = alice.get(f"/campaigns/{first.id}/deliveries", query={"limit": "1"}).json["nextToken"]

    answer = alice.get(f"/campaigns/{second.id}/deliveries", query={"nextToken": token})

    assert answer.status == 400


def test_deliveries_of_a_missing_campaign_is_404(alice):
    assert alice.get("/campaigns/cmp_missing/deliveries").status == 404


# ---------------------------------------------------------------- tenancy


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("POST", "/run"),
        ("POST", "/resume"),
        ("POST", "/pause"),
        ("POST", "/cancel"),
        ("GET", "/deliveries"),
    ],
)
def test_another_user_gets_404_on_every_campaign_route_and_changes_nothing(
    build, bob, invoker, method, suffix
):
    for status in (S.SCHEDULED, S.PAUSED, S.RUNNING, S.COMPLETED):
        campaign = build.campaign(2, status=status)
        _deliveries(campaign, ["Sent"])
        before = stored(campaign)

        answer = bob.call(method, f"/campaigns/{campaign.id}{suffix}")

        assert answer.status == 404, status
        assert answer.json == {"message": "Campaign not found"}
        assert stored(campaign) == before
        assert invoker.events == []


def test_another_users_campaigns_are_not_listed(build, bob):
    build.campaign(1)

    assert bob.get("/campaigns").json["items"] == []
