"""Pacing per WhatsApp number on the local stack, over HTTP, against the fake WAHA: two
campaigns started at once on one number, each with minDelayMs = maxDelayMs = 2000,
and what WAHA received through that number (issue 13, "Done when")."""

from __future__ import annotations

import itertools
import threading
from collections import Counter

from campaigns.sending.waha_client import chat_id_for
from tests import stack_fixtures
from tests.fakewaha import FakeWaha
from tests.stack_fixtures import ApiClient, contacts

start_stack = stack_fixtures.start_stack
WAHA_ENV = {"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "6", "WAHA_MAX_ATTEMPTS": "2"}
GAP_MS = 2_000


def test_two_campaigns_started_at_once_on_one_number_keep_its_gap_and_both_complete(
    start_stack, fake_waha: FakeWaha
) -> None:
    # Given one number and two campaigns on it, 4 and 5 contacts, 2 s between messages
    stack = start_stack(waha_base_url=fake_waha.base_url, waha_api_key=fake_waha.api_key, env=WAHA_ENV)
    alice = ApiClient(stack, "alice")
    number = alice.register_session("Shop", fake_waha=fake_waha)
    template = alice.template("Hi {Name}, the shop opens at nine.")
    people = {"spring": contacts(4, prefix="+1555030"), "summer": contacts(5, prefix="+1555031")}
    campaigns = {
        name: alice.campaign(
            alice.contact_list(listed, name=name)["id"],
            template["id"],
            name=name,
            whatsappSessionId=number["id"],
            minDelayMs=GAP_MS,
            maxDelayMs=GAP_MS,
        )
        for name, listed in people.items()
    }

    # When both are started at the same moment
    go = threading.Barrier(len(campaigns))
    answers: list[int] = []

    def run(campaign_id: str) -> None:
        go.wait()
        answers.append(alice.request("POST", f"/campaigns/{campaign_id}/run").status_code)

    threads = [threading.Thread(target=run, args=(c["id"],)) for c in campaigns.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert answers == [202, 202]
    done = {
        name: alice.wait_status(c["id"], {"Completed", "Paused", "Failed"}, 60)
        for name, c in campaigns.items()
    }

    # Then both complete, each contact once
    assert {name: c["status"] for name, c in done.items()} == {"spring": "Completed", "summer": "Completed"}
    assert {name: c["sentCount"] for name, c in done.items()} == {"spring": 4, "summer": 5}
    for name, campaign in campaigns.items():
        log = alice.deliveries(campaign["id"])
        assert [d["contactIndex"] for d in log] == list(range(len(people[name])))
        assert {d["status"] for d in log} == {"Sent"}
    messages = [m for m in fake_waha.sent() if m["session"] == number["wahaName"]]
    expected = [chat_id_for(c["phoneNumber"]) for listed in people.values() for c in listed]
    assert Counter(m["chatId"] for m in messages) == Counter(expected)

    # And WAHA's log shows every gap between two messages on the number >= 2,000 ms,
    # the two campaigns taking turns
    times = sorted(m["time"] for m in messages)
    gaps_ms = [round((b - a) * 1000) for a, b in itertools.pairwise(times)]
    print(f"gaps between the number's messages (ms): {gaps_ms}")
    assert min(gaps_ms) >= GAP_MS, gaps_ms
    spring = {chat_id_for(c["phoneNumber"]) for c in people["spring"]}
    order = [
        "spring" if m["chatId"] in spring else "summer" for m in sorted(messages, key=lambda m: m["time"])
    ]
    assert sum(a != b for a, b in itertools.pairwise(order)) >= 3, order
