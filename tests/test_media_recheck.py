"""A media URL's host is resolved again before the first media send of each runner
invocation: a name that resolved to a public address when the item and the campaign
were accepted may resolve to an internal one by the time WAHA would fetch it (DNS
rebinding). Then the campaign pauses naming the media item, never the address, and
nothing reaches WAHA. One lookup per invocation, not one per contact. DNS answers
come from a resolver the tests control."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from campaigns.api.media_urls import set_resolver
from campaigns.data.models import Campaign
from campaigns.domain.statuses import CampaignStatus
from campaigns.runner.service import RunResult
from tests import stack_fixtures
from tests.fakewaha import FakeWaha
from tests.runner_harness import Budget, Harness
from tests.stack_fixtures import ApiClient, contacts

start_stack = stack_fixtures.start_stack
HOST = "cdn.rebind.example"
URL = f"https://{HOST}/promo/flyer.jpg"
PUBLIC = "93.184.215.14"
WAHA_ENV = {"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "6", "WAHA_MAX_ATTEMPTS": "2"}


class Dns:
    """Answers each name from `answers` (a public address otherwise), counting lookups."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {HOST: [PUBLIC]}
        self.asked: Counter[str] = Counter()

    def __call__(self, name: str, port: int) -> list[str]:
        self.asked[name] += 1
        return self.answers.get(name, [PUBLIC])


@pytest.fixture
def dns() -> Iterator[Dns]:
    resolver = Dns()
    previous = set_resolver(resolver)
    yield resolver
    set_resolver(previous)


def reload(campaign: Campaign) -> Campaign:
    return Campaign.get(campaign.id)


@pytest.mark.parametrize(
    ("answers", "kind"),
    [
        (["10.0.0.5"], "a private address"),
        (["169.254.169.254"], "a link-local address"),
        (["127.0.0.1"], "a loopback address"),
        ([PUBLIC, "192.168.1.20"], "a private address"),
        (["::ffff:10.0.0.5"], "an IPv4-mapped form of a private address"),
        ([], "cannot be resolved"),
    ],
)
def test_a_host_that_now_resolves_inside_pauses_the_campaign_before_any_send(build, dns, answers, kind):
    # Given a campaign whose media host was public when it was accepted
    item = build.media(url=URL)
    campaign = build.campaign(3, media=item)
    harness = Harness()

    # When its name resolves elsewhere by the time the runner sends
    dns.answers[HOST] = answers
    result = harness.run(campaign.id)

    # Then the campaign pauses, naming the media item and the kind of address, and sends nothing
    paused = reload(campaign)
    assert result is RunResult.PAUSED
    assert paused.status == CampaignStatus.PAUSED.value
    assert item.id in paused.pause_reason and '"flyer.jpg"' in paused.pause_reason
    assert kind in paused.pause_reason
    for address in answers:
        assert address not in paused.pause_reason
    assert harness.sender.sent == []
    assert paused.last_processed_contact_index is None and paused.in_flight_index is None


def test_one_lookup_serves_every_contact_of_an_invocation(build, dns):
    campaign = build.campaign(5, media=build.media(url=URL))
    harness = Harness()

    assert harness.run(campaign.id) is RunResult.COMPLETED

    assert dns.asked[HOST] == 1
    assert [m.media.url for m in harness.sender.sent] == [URL] * 5


def test_each_invocation_looks_again_and_a_change_between_them_stops_the_run(build, dns):
    # Given a run that hands off after its first contacts, while the name is public
    campaign = build.campaign(6, media=build.media(url=URL))
    harness = Harness()
    assert harness.run(campaign.id, budget=Budget(2)) is RunResult.HANDED_OFF
    sent_before = len(harness.sender.sent)
    assert 0 < sent_before < 6 and dns.asked[HOST] == 1

    # When the name is rebound before the next invocation
    dns.answers[HOST] = ["10.0.0.5"]
    (event,) = harness.invoker.pop_all()
    result = harness.run(event["campaignId"], event["runToken"], event["hop"])

    # Then that invocation looked again, and paused before its first send
    assert result is RunResult.PAUSED
    assert dns.asked[HOST] == 2
    assert len(harness.sender.sent) == sent_before
    paused = reload(campaign)
    assert paused.status == CampaignStatus.PAUSED.value
    assert int(paused.last_processed_contact_index) == sent_before - 1


def test_a_campaign_without_media_resolves_nothing(build, dns):
    campaign = build.campaign(3)

    assert Harness().run(campaign.id) is RunResult.COMPLETED
    assert sum(dns.asked.values()) == 0


def test_over_http_a_rebound_host_never_reaches_waha(start_stack, fake_waha: FakeWaha, dns) -> None:
    stack = start_stack(waha_base_url=fake_waha.base_url, waha_api_key=fake_waha.api_key, env=WAHA_ENV)
    alice = ApiClient(stack, "alice")
    session = alice.register_session(fake_waha=fake_waha)
    item = alice.ok(
        "POST", "/media-items", {"name": "Flyer", "storagePath": URL, "mimeType": "image/jpeg"}, 201
    )
    campaign = alice.campaign(
        alice.contact_list(contacts(3))["id"],
        alice.template("Hi {Name}")["id"],
        mediaLibraryItemId=item["id"],
        whatsappSessionId=session["id"],
    )

    dns.answers[HOST] = ["169.254.169.254"]
    assert alice.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
    paused = alice.wait_status(campaign["id"], {"Paused", "Completed", "Failed"})

    assert paused["status"] == "Paused"
    assert item["id"] in paused["pauseReason"] and "link-local" in paused["pauseReason"]
    assert "169.254" not in paused["pauseReason"]
    assert fake_waha.sent() == []
    assert fake_waha.count_requests("sendImage") == 0
    assert alice.deliveries(campaign["id"]) == []

    # Resumed once the name is public again, the campaign sends the media to everyone
    dns.answers[HOST] = [PUBLIC]
    assert alice.request("POST", f"/campaigns/{campaign['id']}/resume").status_code == 202
    assert alice.wait_status(campaign["id"], {"Completed", "Paused", "Failed"})["status"] == "Completed"
    assert [s["file"]["url"] for s in fake_waha.sent()] == [URL] * 3
