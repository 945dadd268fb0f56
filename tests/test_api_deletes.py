"""DELETE of contact lists (with every contact), templates, media items and campaigns
(with their deliveries), through the API handler against DynamoDB over HTTP."""

from __future__ import annotations

import pytest

from campaigns.api import deletes
from campaigns.data import erasure, item_uses
from campaigns.data.erasure import Deadline
from campaigns.data.models import Campaign, Contact, ContactList, Delivery
from campaigns.domain.errors import Invalid, WrongState
from campaigns.domain.statuses import CampaignStatus
from campaigns.timeutil import utcnow
from tests.builders import reload
from tests.campaign_setup import campaign_over, record

S = CampaignStatus
UNFINISHED = [S.SCHEDULED, S.RUNNING, S.PAUSED]
FINAL = [S.COMPLETED, S.FAILED, S.CANCELLED]


def contacts_of(list_id: str) -> list[Contact]:
    return list(Contact.query(list_id, consistent_read=True))


def deliveries_of(campaign: Campaign) -> list[Delivery]:
    return list(Delivery.query(campaign.id, consistent_read=True))


def listed_ids(client, path: str) -> list[str]:
    return [item["id"] for item in client.get(path).json["items"]]


class Ticks:
    """A clock for a Deadline: passes after `pages` reads of it."""

    def __init__(self, pages: int) -> None:
        self.calls = 0
        self.pages = pages

    def __call__(self) -> float:
        self.calls += 1
        return 0.0 if self.calls <= self.pages + 1 else 1e9


# ------------------------------------------------------------------ contact lists


def test_deleting_a_list_removes_it_and_every_contact(build, alice):
    contact_list = build.contact_list(30)

    answer = alice.call("DELETE", f"/contact-lists/{contact_list.id}")

    assert answer.status == 204
    assert answer.text == ""
    assert alice.get(f"/contact-lists/{contact_list.id}").status == 404
    assert contact_list.id not in listed_ids(alice, "/contact-lists")
    assert contacts_of(contact_list.id) == []
    assert ContactList.count(contact_list.user_id, ContactList.id == contact_list.id) == 0


def test_another_users_list_is_not_found_and_stays(build, bob):
    contact_list = build.contact_list(3)

    assert bob.call("DELETE", f"/contact-lists/{contact_list.id}").status == 404
    assert bob.call("DELETE", "/contact-lists/no-such-list").status == 404

    assert len(contacts_of(contact_list.id)) == 3


@pytest.mark.parametrize("status", UNFINISHED)
def test_a_list_an_unfinished_campaign_uses_is_refused_with_409(build, alice, status):
    contact_list = build.contact_list(3)
    campaign = campaign_over(contact_list, build.template(), status=status)

    answer = alice.call("DELETE", f"/contact-lists/{contact_list.id}")

    assert answer.status == 409
    assert status.value in answer.message
    assert answer.json["details"] == [{"campaignId": campaign.id, "status": status.value}]
    assert alice.get(f"/contact-lists/{contact_list.id}").status == 200
    assert len(contacts_of(contact_list.id)) == 3


@pytest.mark.parametrize("status", FINAL)
def test_a_list_only_final_campaigns_used_is_deleted(build, alice, status):
    contact_list = build.contact_list(3)
    campaign = campaign_over(contact_list, build.template(), status=status)

    assert alice.call("DELETE", f"/contact-lists/{contact_list.id}").status == 204

    assert contacts_of(contact_list.id) == []
    assert alice.get(f"/campaigns/{campaign.id}").status == 200  # the campaign's record stays


def test_a_campaign_created_before_uses_were_recorded_still_blocks_the_delete(build, alice):
    # An older campaign, written without a record on its list: found through byUser.
    build.session()
    campaign = build.campaign(3)

    answer = alice.call("DELETE", f"/contact-lists/{campaign.contact_list_id}")

    assert answer.status == 409


def test_an_interrupted_delete_hides_the_list_and_a_second_delete_finishes_it(build, alice, monkeypatch):
    contact_list = build.contact_list(10)
    monkeypatch.setattr(erasure, "KEYS_PER_PAGE", 3)

    done = deletes.delete_contact_list(
        alice.user, contact_list.id, utcnow(), Deadline(1, clock=Ticks(pages=1))
    )

    assert done is False
    assert len(contacts_of(contact_list.id)) == 7  # one page of 3 went
    assert alice.get(f"/contact-lists/{contact_list.id}").status == 404
    assert contact_list.id not in listed_ids(alice, "/contact-lists")
    assert (
        alice.post(
            f"/contact-lists/{contact_list.id}/contacts", {"contacts": [{"phoneNumber": "+15550009999"}]}
        ).status
        == 404
    )

    assert alice.call("DELETE", f"/contact-lists/{contact_list.id}").status == 204
    assert contacts_of(contact_list.id) == []


def test_a_delete_out_of_time_answers_202_and_the_retry_204(build, alice, monkeypatch):
    contact_list = build.contact_list(5)
    monkeypatch.setattr(deletes, "DELETE_BUDGET_S", 0.0)

    first = alice.call("DELETE", f"/contact-lists/{contact_list.id}")

    assert first.status == 202
    assert "DELETE again" in first.message or "again" in first.message
    monkeypatch.setattr(deletes, "DELETE_BUDGET_S", 20.0)
    assert alice.call("DELETE", f"/contact-lists/{contact_list.id}").status == 204
    assert alice.call("DELETE", f"/contact-lists/{contact_list.id}").status == 404


def test_a_campaign_cannot_be_created_over_a_list_being_deleted(build, alice):
    contact_list = build.contact_list(4)
    template = build.template()
    deletes.delete_contact_list(alice.user, contact_list.id, utcnow(), Deadline(1, clock=Ticks(pages=0)))

    with pytest.raises(Invalid) as refused:
        campaign_over(contact_list, template)

    assert refused.value.details[0]["field"] == "contactListId"
    assert list(Campaign.by_user.query(alice.user)) == []


def test_a_campaign_created_between_the_check_and_the_mark_is_seen_and_refuses_the_delete(
    build, alice, monkeypatch
):
    # Given a delete that has just found no campaign using the list...
    contact_list = build.contact_list(4)
    template = build.template()
    check = item_uses.refuse_if_in_use
    created: list[Campaign] = []

    def check_then_race(item, field, what):
        check(item, field, what)
        if not created:  # ...when a campaign over it is created before the delete's write
            created.append(campaign_over(contact_list, template))

    monkeypatch.setattr(erasure, "refuse_if_in_use", check_then_race)

    # Then the delete's conditional mark fails, it looks again, and refuses.
    with pytest.raises(WrongState):
        deletes.delete_contact_list(alice.user, contact_list.id, utcnow())

    assert len(contacts_of(contact_list.id)) == 4
    assert reload(created[0]).status == S.SCHEDULED.value
    assert alice.get(f"/contact-lists/{contact_list.id}").status == 200


def test_an_append_that_loses_its_list_midway_leaves_no_contact_behind(build, alice, monkeypatch):
    contact_list = build.contact_list(2)
    from campaigns.data import contact_lists

    write = contact_lists.write_contacts

    def delete_then_write(list_id, start, rows):
        assert deletes.delete_contact_list(alice.user, list_id, utcnow()) is True
        write(list_id, start, rows)

    monkeypatch.setattr(contact_lists, "write_contacts", delete_then_write)

    answer = alice.post(
        f"/contact-lists/{contact_list.id}/contacts", {"contacts": [{"phoneNumber": "+15550009999"}]}
    )

    assert answer.status == 404
    assert contacts_of(contact_list.id) == []


# ------------------------------------------------------------ templates and media


@pytest.mark.parametrize(("path", "kind"), [("/message-templates", "template"), ("/media-items", "media")])
def test_templates_and_media_are_deleted_and_then_unusable(build, alice, path, kind):
    item = build.template() if kind == "template" else build.media()

    assert alice.call("DELETE", f"{path}/{item.id}").status == 204

    assert item.id not in listed_ids(alice, path)
    assert alice.call("DELETE", f"{path}/{item.id}").status == 404
    template = build.template() if kind == "media" else item
    with pytest.raises(Invalid):
        campaign_over(build.contact_list(1), template, media=item if kind == "media" else None)


@pytest.mark.parametrize(("path", "kind"), [("/message-templates", "template"), ("/media-items", "media")])
@pytest.mark.parametrize("status", UNFINISHED)
def test_templates_and_media_in_use_are_refused_with_409(build, alice, path, kind, status):
    template, media = build.template(), build.media()
    campaign_over(build.contact_list(1), template, media=media, status=status)
    item = template if kind == "template" else media

    assert alice.call("DELETE", f"{path}/{item.id}").status == 409
    assert item.id in listed_ids(alice, path)


@pytest.mark.parametrize(("path", "kind"), [("/message-templates", "template"), ("/media-items", "media")])
def test_another_users_template_or_media_is_not_found(build, bob, path, kind):
    item = build.template() if kind == "template" else build.media()

    assert bob.call("DELETE", f"{path}/{item.id}").status == 404

    assert item.id in listed_ids(bob.__class__("user-a"), path)


# ---------------------------------------------------------------------- campaigns


@pytest.mark.parametrize("status", FINAL)
def test_a_final_campaign_goes_with_its_deliveries(build, alice, status):
    contact_list, template, media = build.contact_list(3), build.template(), build.media()
    campaign = campaign_over(contact_list, template, media=media, status=status)
    record(campaign, ["Sent", "Failed", "Unknown"])

    assert alice.call("DELETE", f"/campaigns/{campaign.id}").status == 204

    assert alice.get(f"/campaigns/{campaign.id}").status == 404
    assert deliveries_of(campaign) == []
    assert campaign.id not in listed_ids(alice, "/campaigns")
    assert campaign.id not in (ContactList.get(alice.user, contact_list.id).campaign_ids or set())
    # and its list, template and media may go now
    assert alice.call("DELETE", f"/contact-lists/{contact_list.id}").status == 204
    assert alice.call("DELETE", f"/message-templates/{template.id}").status == 204
    assert alice.call("DELETE", f"/media-items/{media.id}").status == 204


@pytest.mark.parametrize("status", [S.SCHEDULED, S.PAUSED])
def test_a_campaign_that_never_started_is_deleted(build, alice, status):
    campaign = campaign_over(build.contact_list(2), build.template())
    if status is S.PAUSED:
        campaign.update(actions=[Campaign.status.set(status.value)])

    assert alice.call("DELETE", f"/campaigns/{campaign.id}").status == 204

    assert alice.get(f"/campaigns/{campaign.id}").status == 404


@pytest.mark.parametrize("status", [S.RUNNING, S.PAUSED, S.SCHEDULED])
def test_a_started_unfinished_campaign_is_refused_with_409(build, alice, status):
    campaign = campaign_over(build.contact_list(2), build.template(), status=status, started_at=utcnow())
    record(campaign, ["Sent"])

    answer = alice.call("DELETE", f"/campaigns/{campaign.id}")

    assert answer.status == 409
    assert f"it is {status.value}" in answer.message
    assert len(deliveries_of(campaign)) == 1


def test_another_users_campaign_is_not_found(build, alice, bob):
    campaign = campaign_over(build.contact_list(2), build.template(), status=S.COMPLETED)

    assert bob.call("DELETE", f"/campaigns/{campaign.id}").status == 404
    assert bob.call("DELETE", "/campaigns/" + "x" * 300).status == 404

    assert alice.get(f"/campaigns/{campaign.id}").status == 200


def test_a_runner_taking_the_campaign_first_wins_over_the_delete(build, alice):
    campaign = campaign_over(build.contact_list(2), build.template())
    seen_before = reload(campaign)
    # The runner takes it after the delete read it as never started:
    campaign.update(actions=[Campaign.status.set(S.RUNNING.value), Campaign.started_at.set(utcnow())])

    with pytest.raises(WrongState):
        erasure._erase_unstarted(seen_before)

    assert reload(campaign).status == S.RUNNING.value


def test_an_interrupted_campaign_delete_hides_it_and_a_second_delete_finishes(build, alice, monkeypatch):
    campaign = campaign_over(build.contact_list(6), build.template(), status=S.COMPLETED)
    record(campaign, ["Sent"] * 6)
    monkeypatch.setattr(erasure, "KEYS_PER_PAGE", 2)

    done = deletes.delete_campaign(alice.user, campaign.id, utcnow(), Deadline(1, clock=Ticks(pages=1)))

    assert done is False
    assert len(deliveries_of(campaign)) == 4
    assert alice.get(f"/campaigns/{campaign.id}").status == 404
    assert alice.get(f"/campaigns/{campaign.id}/deliveries").status == 404
    assert campaign.id not in listed_ids(alice, "/campaigns")

    assert alice.call("DELETE", f"/campaigns/{campaign.id}").status == 204
    assert deliveries_of(campaign) == []


def test_a_deleted_media_items_uploaded_file_is_removed_from_the_bucket(build, alice, bob, monkeypatch):
    import boto3

    from campaigns import config

    endpoint = config.settings().dynamodb_endpoint
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="media-deletes")
    monkeypatch.setenv("MEDIA_BUCKET", "media-deletes")
    monkeypatch.setenv("S3_ENDPOINT", endpoint)
    config.reload_settings()
    try:
        kept, gone = "media/user-a/m1/kept.png", "media/user-a/m2/gone.png"
        for key in (kept, gone):
            s3.put_object(Bucket="media-deletes", Key=key, Body=b"png", ContentType="image/png")
        build.media(f"s3://media-deletes/{kept}")
        item = build.media(f"s3://media-deletes/{gone}")
        # a file outside the media bucket is never touched
        elsewhere = build.media("https://cdn.example.com/flyer.png")

        assert bob.call("DELETE", f"/media-items/{item.id}").status == 404
        assert alice.call("DELETE", f"/media-items/{item.id}").status == 204
        assert alice.call("DELETE", f"/media-items/{elsewhere.id}").status == 204

        listed = [o["Key"] for o in s3.list_objects_v2(Bucket="media-deletes").get("Contents", [])]
        assert listed == [kept]
    finally:
        monkeypatch.undo()
        config.reload_settings()
