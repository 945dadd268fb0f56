"""POST /campaigns/{id}/retry: a new Scheduled campaign over the contacts of a final
campaign whose deliveries have the chosen statuses, in their order, in a new list."""

from __future__ import annotations

import pytest

from campaigns.data.models import Campaign, Contact, ContactList
from campaigns.domain.statuses import CampaignStatus
from tests.campaign_setup import campaign_over, record

S = CampaignStatus
OUTCOMES = ["Sent", "Failed", "Unknown", "Failed", "Sent", "Unknown", "Failed"]


def final_campaign(build, status=S.COMPLETED, outcomes=OUTCOMES, **attributes) -> Campaign:
    contact_list = build.contact_list(len(outcomes))
    campaign = campaign_over(
        contact_list,
        build.template(),
        media=build.media(),
        status=status,
        min_delay_ms=1500,
        max_delay_ms=2500,
        typing=True,
        batch_size=50,
        batch_pause_ms=60_000,
        **attributes,
    )
    record(campaign, outcomes)
    return campaign


def contacts(list_id: str) -> list[tuple[int, str, str | None]]:
    return [
        (int(c.index), c.phone_number, c.first_name) for c in Contact.query(list_id, consistent_read=True)
    ]


def test_retrying_the_failed_makes_a_scheduled_campaign_over_them_in_order(build, alice):
    source = final_campaign(build)

    answer = alice.post(f"/campaigns/{source.id}/retry", {"statuses": ["Failed"]})

    assert answer.status == 201
    retry = answer.json
    assert retry["status"] == "Scheduled"
    assert retry["id"] != source.id
    assert retry["totalContacts"] == 3
    assert retry["name"] == "Spring sale (retry)"
    assert (retry["sentCount"], retry["lastProcessedContactIndex"], retry["scheduledAt"]) == (0, None, None)
    for field in ("messageTemplateId", "mediaLibraryItemId", "defaultNameValue", "minDelayMs", "maxDelayMs"):
        assert retry[field] == alice.get(f"/campaigns/{source.id}").json[field], field
    assert (retry["typing"], retry["batchSize"], retry["batchPauseMs"]) == (True, 50, 60_000)
    stored = Campaign.get(retry["id"])
    assert stored.waha_session == source.waha_session
    new_list = ContactList.get("user-a", retry["contactListId"])
    assert new_list.name == "Spring sale - retry of Failed"
    assert new_list.contact_count == 3
    assert contacts(new_list.id) == [
        (0, "+15550000001", "Name1"),
        (1, "+15550000003", "Name3"),
        (2, "+15550000006", "Name6"),
    ]
    assert retry["id"] in {c["id"] for c in alice.get("/campaigns").json["items"]}


def test_unknown_needs_confirm_unknown(build, alice):
    source = final_campaign(build)

    refused = alice.post(f"/campaigns/{source.id}/retry", {"statuses": ["Failed", "Unknown"]})
    confirmed = alice.post(
        f"/campaigns/{source.id}/retry", {"statuses": ["Unknown", "Failed"], "confirmUnknown": True}
    )

    assert refused.status == 422
    assert "confirmUnknown" in refused.message
    assert confirmed.status == 201
    new_list = confirmed.json["contactListId"]
    assert [phone for _, phone, _ in contacts(new_list)] == [f"+155500000{i:02d}" for i in (1, 2, 3, 5, 6)]
    assert ContactList.get("user-a", new_list).name == "Spring sale - retry of Failed/Unknown"


@pytest.mark.parametrize("status", [S.SCHEDULED, S.RUNNING, S.PAUSED])
def test_a_campaign_that_is_not_final_is_409(build, alice, status):
    source = final_campaign(build, status=status)

    answer = alice.post(f"/campaigns/{source.id}/retry", {"statuses": ["Failed"]})

    assert answer.status == 409
    assert status.value in answer.message


@pytest.mark.parametrize("status", [S.FAILED, S.CANCELLED])
def test_every_final_status_can_be_retried(build, alice, status):
    source = final_campaign(build, status=status)

    assert alice.post(f"/campaigns/{source.id}/retry", {"statuses": ["Failed"]}).status == 201


def test_no_matching_delivery_is_422(build, alice):
    source = final_campaign(build, outcomes=["Sent", "Sent"])

    answer = alice.post(f"/campaigns/{source.id}/retry", {"statuses": ["Failed"]})

    assert answer.status == 422
    assert [c.id for c in Campaign.by_user.query("user-a")] == [source.id]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"statuses": []},
        {"statuses": ["Sent"]},
        {"statuses": ["Skipped"]},
        {"statuses": "Failed"},
        {"statuses": ["Failed"], "confirmUnknown": "yes"},
        {"statuses": ["Failed"], "extra": 1},
    ],
)
def test_bad_bodies_are_422(build, alice, body):
    source = final_campaign(build)

    assert alice.post(f"/campaigns/{source.id}/retry", body).status == 422


def test_another_users_campaign_is_not_found(build, bob):
    source = final_campaign(build)

    assert bob.post(f"/campaigns/{source.id}/retry", {"statuses": ["Failed"]}).status == 404


def test_when_the_list_is_gone_the_numbers_are_kept_without_names(build, alice):
    source = final_campaign(build)
    assert alice.call("DELETE", f"/contact-lists/{source.contact_list_id}").status == 204

    answer = alice.post(f"/campaigns/{source.id}/retry", {"statuses": ["Failed"]})

    assert answer.status == 201
    assert contacts(answer.json["contactListId"]) == [
        (0, "+15550000001", None),
        (1, "+15550000003", None),
        (2, "+15550000006", None),
    ]


@pytest.mark.parametrize("footer", [True, False])
def test_the_retry_keeps_the_opt_out_footer_and_the_send_window(build, alice, footer):
    window = '{"start": "09:00", "end": "20:00", "timeZone": "Europe/Madrid"}'
    source = final_campaign(build, opt_out_footer=footer, send_window=window)

    retry = alice.post(f"/campaigns/{source.id}/retry", {"statuses": ["Failed"]}).json

    assert retry["optOutFooter"] is footer
    assert retry["sendWindow"] == {
        "start": "09:00",
        "end": "20:00",
        "timeZone": "Europe/Madrid",
        "days": None,
    }
