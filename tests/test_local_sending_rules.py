"""The sending rules on the local stack, over HTTP, against the fake WAHA: a number at
its daily limit makes its campaign wait and say why and until when; a STOP a contact
sends to the number (WAHA's signed webhook to POST /webhooks/waha) skips that contact's
message. (A closed send window is shown the same way: tests/browser/test_marketer_day.py
reads its waitingUntil over HTTP and on the page.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from campaigns.domain.number_pacing import AT_LIMIT
from campaigns.sending.waha_client import chat_id_for
from campaigns.timeutil import parse_iso
from tests import stack_fixtures
from tests.fakewaha import FakeWaha
from tests.stack_fixtures import ApiClient, contacts, wait_for

start_stack = stack_fixtures.start_stack
WAHA_ENV = {"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "6", "WAHA_MAX_ATTEMPTS": "2"}


def _stack_with_a_number(start_stack, fake_waha: FakeWaha) -> tuple[ApiClient, dict]:
    stack = start_stack(waha_base_url=fake_waha.base_url, waha_api_key=fake_waha.api_key, env=WAHA_ENV)
    alice = ApiClient(stack, "alice")
    return alice, alice.register_session("Shop", fake_waha=fake_waha)


def test_a_number_at_its_daily_limit_makes_its_campaign_wait_and_say_until_when(
    start_stack, fake_waha: FakeWaha
) -> None:
    # Given a number allowed 3 messages a day and a campaign of 5 contacts on it
    alice, number = _stack_with_a_number(start_stack, fake_waha)
    assert alice.ok("PATCH", f"/whatsapp-sessions/{number['id']}", {"dailyLimit": 3})["dailyLimit"] == 3
    listed = alice.contact_list(contacts(5))
    campaign = alice.campaign(listed["id"], alice.template("Hi {Name}")["id"], whatsappSessionId=number["id"])

    # When it runs
    started = datetime.now(UTC)
    assert alice.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
    waiting = wait_for(
        lambda: (c := alice.get_campaign(campaign["id"]))["waitReason"] and c, 20, "the campaign to wait"
    )

    # Then it sent 3, and waits, Running, for the rolling 24 hours to allow the next one
    assert waiting["status"] == "Running"
    assert waiting["waitReason"] == AT_LIMIT.format(limit=3)
    assert waiting["sentCount"] == 3 and waiting["lastProcessedContactIndex"] == 2
    until = parse_iso(waiting["waitingUntil"])
    first_hour = started.replace(minute=0, second=0, microsecond=0)
    assert first_hour + timedelta(hours=24) < until <= first_hour + timedelta(hours=26), until
    assert len(fake_waha.sent()) == 3
    assert [d["status"] for d in alice.deliveries(campaign["id"])] == ["Sent"] * 3


def test_a_stop_sent_to_the_number_skips_that_contacts_message(start_stack, fake_waha: FakeWaha) -> None:
    # Given a campaign of 5 contacts, 1.5 s apart, sending through a number
    alice, number = _stack_with_a_number(start_stack, fake_waha)
    people = contacts(5, prefix="+1555040")
    campaign = alice.campaign(
        alice.contact_list(people)["id"],
        alice.template("Hi {Name}")["id"],
        whatsappSessionId=number["id"],
        minDelayMs=1_500,
        maxDelayMs=1_500,
    )
    assert alice.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
    wait_for(lambda: alice.get_campaign(campaign["id"])["sentCount"] >= 1, 20, "the first message")

    # When the fourth contact writes STOP to the number (WAHA's signed webhook)
    stopped = people[3]["phoneNumber"]
    assert fake_waha.inbound(number["wahaName"], stopped.lstrip("+"), "STOP") == 200

    # Then the campaign completes with that contact Skipped, saying why, and never sent
    done = alice.wait_status(campaign["id"], {"Completed", "Paused", "Failed"}, 30)
    assert (done["status"], done["sentCount"], done["skippedCount"]) == ("Completed", 4, 1)
    log = alice.deliveries(campaign["id"])
    assert [d["status"] for d in log] == ["Sent", "Sent", "Sent", "Skipped", "Sent"]
    assert "opted out" in log[3]["error"]
    assert chat_id_for(stopped) not in {m["chatId"] for m in fake_waha.sent()}
    (listed,) = alice.ok("GET", "/opt-outs")["items"]
    assert (listed["phoneNumber"], listed["source"], listed["whatsappSessionId"]) == (
        stopped,
        "keyword",
        number["id"],
    )
