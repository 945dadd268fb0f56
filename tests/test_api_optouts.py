"""The opt-out list through the API handler (GET, POST JSON and CSV, DELETE), the
runner's check (`is_opted_out`), and inbound keywords recorded on the session
owner's list (`record_inbound`; the webhook's path to it: test_optout_webhooks.py)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from campaigns.api.optouts import record_inbound
from campaigns.data import optouts
from campaigns.data.models import OptOut
from campaigns.domain.optouts import Intent
from campaigns.timeutil import utcnow

CSV = {"content-type": "text/csv"}


def listed(client) -> list[str]:
    answer = client.get("/opt-outs")
    assert answer.status == 200
    return [item["phoneNumber"] for item in answer.json["items"]]


# ----------------------------------------------------------------- POST JSON


def test_numbers_posted_as_json_are_stored_in_e164_as_manual(alice):
    answer = alice.post("/opt-outs", {"phoneNumbers": ["+1 (555) 000-0002", "0044 20 7946 0958"]})

    assert answer.status == 200
    assert answer.json == {"added": ["+15550000002", "+442079460958"], "alreadyOptedOut": []}
    items = alice.get("/opt-outs").json["items"]
    assert [(i["phoneNumber"], i["source"]) for i in items] == [
        ("+15550000002", "manual"),
        ("+442079460958", "manual"),
    ]
    assert items[0]["optedOutAt"].endswith("Z")


def test_adding_again_is_idempotent_and_keeps_the_first_record(alice):
    first = alice.post("/opt-outs", {"phoneNumbers": ["+15550000001"]})
    before = alice.get("/opt-outs").json["items"]

    again = alice.post("/opt-outs", {"phoneNumbers": ["+1 555 000 0001", "+15550000003", "+15550000003"]})

    assert first.json["added"] == ["+15550000001"]
    assert again.status == 200
    assert again.json == {"added": ["+15550000003"], "alreadyOptedOut": ["+15550000001"]}
    after = alice.get("/opt-outs").json["items"]
    assert after[0] == before[0]
    assert len(after) == 2


def test_national_numbers_need_the_default_country(alice):
    refused = alice.post("/opt-outs", {"phoneNumbers": ["07911 123456"]})
    accepted = alice.post("/opt-outs", {"phoneNumbers": ["07911 123456"]}, query={"defaultCountry": "gb"})

    assert refused.status == 422
    assert accepted.status == 200
    assert accepted.json["added"] == ["+447911123456"]


def test_an_unknown_default_country_is_422(alice):
    answer = alice.post("/opt-outs", {"phoneNumbers": ["07911 123456"]}, query={"defaultCountry": "XX"})

    assert answer.status == 422
    assert answer.json["details"][0]["field"] == "defaultCountry"


def test_bad_numbers_are_refused_with_their_positions_and_nothing_is_written(alice):
    body = {"phoneNumbers": ["+15550000001", "12345", "call me", "+15550000004", "+1555000000100000"]}

    answer = alice.post("/opt-outs", body)

    assert answer.status == 422
    assert [d["position"] for d in answer.json["details"]] == [1, 2, 4]
    assert [d["field"] for d in answer.json["details"]] == [
        "phoneNumbers[1]",
        "phoneNumbers[2]",
        "phoneNumbers[4]",
    ]
    assert "nothing was saved" in answer.message
    assert listed(alice) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"phoneNumbers": []},
        {"phoneNumbers": "+15550000001"},
        {"phoneNumbers": [15550000001]},
        {"phoneNumbers": ["+15550000001"], "extra": 1},
        {"phoneNumbers": ["+1" + "5" * 100]},
        {"phoneNumbers": ["+15550000001"] * 1001},
        [],
        None,
        "STOP",
    ],
)
def test_malformed_bodies_are_422(alice, body):
    answer = alice.post("/opt-outs", body)

    assert answer.status == 422
    assert listed(alice) == []


@pytest.mark.parametrize(
    ("raw", "headers"),
    [("{not json", {}), ("<xml/>", {"content-type": "application/xml"})],
)
def test_a_body_that_is_neither_json_nor_csv_is_400(alice, raw, headers):
    answer = alice.post("/opt-outs", raw_body=raw, headers=headers)

    assert answer.status == 400


# ------------------------------------------------------------------ POST CSV


def test_a_csv_with_one_number_per_line_is_an_import(alice):
    csv = '\ufeff+15550000001\r\n\r\n 0015550000002 \n"+1 555 000 0003"\n'

    answer = alice.post("/opt-outs", raw_body=csv, headers=CSV)

    assert answer.status == 200
    assert answer.json["added"] == ["+15550000001", "+15550000002", "+15550000003"]
    assert {i["source"] for i in alice.get("/opt-outs").json["items"]} == {"import"}


def test_a_csv_with_a_phone_number_column_uses_that_column(alice):
    csv = "firstName,PhoneNumber,note\nAna,07911 123456,x\nBob,07911 123457,\n"

    answer = alice.post("/opt-outs", raw_body=csv, headers=CSV, query={"defaultCountry": "GB"})

    assert answer.status == 200
    assert answer.json["added"] == ["+447911123456", "+447911123457"]


def test_a_csv_bad_number_is_422_with_its_row_and_nothing_is_written(alice):
    csv = "phoneNumber\n+15550000001\nnope\n+15550000003\n"

    answer = alice.post("/opt-outs", raw_body=csv, headers=CSV)

    assert answer.status == 422
    assert [d["position"] for d in answer.json["details"]] == [1]
    assert listed(alice) == []


@pytest.mark.parametrize(
    "csv",
    ["", "\n\n", "phoneNumber\n", "+15550000001,+15550000002\n", "a,b\nc,d\n", "x\n" * 1001, '"unterminated'],
)
def test_unusable_csvs_are_422(alice, csv):
    answer = alice.post("/opt-outs", raw_body=csv, headers=CSV)

    assert answer.status == 422
    assert listed(alice) == []


def test_a_large_import_goes_through_in_batches(alice):
    numbers = [f"+1555{n:07d}" for n in range(250)]
    alice.post("/opt-outs", {"phoneNumbers": numbers[:30]})

    answer = alice.post("/opt-outs", raw_body="\n".join(numbers), headers=CSV)

    assert answer.status == 200
    assert answer.json["added"] == numbers[30:]
    assert answer.json["alreadyOptedOut"] == numbers[:30]
    assert OptOut.count("user-a") == 250


# ----------------------------------------------------------------------- GET


def test_the_list_is_paged_with_next_token(alice):
    numbers = [f"+1555{n:07d}" for n in range(5)]
    alice.post("/opt-outs", {"phoneNumbers": numbers})

    first = alice.get("/opt-outs", query={"limit": "2"})
    second = alice.get("/opt-outs", query={"limit": "2", "nextToken": first.json["nextToken"]})
    third = alice.get("/opt-outs", query={"limit": "2", "nextToken": second.json["nextToken"]})

    pages = [first, second, third]
    assert all(page.status == 200 for page in pages)
    assert [i["phoneNumber"] for page in pages for i in page.json["items"]] == numbers
    assert third.json["nextToken"] is None


def test_a_page_token_is_bound_to_its_owner(alice, bob):
    alice.post("/opt-outs", {"phoneNumbers": ["+15550000001", "+15550000002"]})
    token = alice.get("/opt-outs", query={"limit": "1"}).json["nextToken"]

    answer = bob.get("/opt-outs", query={"nextToken": token})

    assert answer.status == 400


def test_each_user_sees_only_their_own_list(alice, bob):
    alice.post("/opt-outs", {"phoneNumbers": ["+15550000001"]})
    bob.post("/opt-outs", {"phoneNumbers": ["+15550000002"]})

    assert listed(alice) == ["+15550000001"]
    assert listed(bob) == ["+15550000002"]


# -------------------------------------------------------------------- DELETE


@pytest.mark.parametrize(
    "written", [quote("+15550000001", safe=""), "+15550000001", "%2B1%20555%20000%200001"]
)
def test_delete_takes_the_number_off_and_answers_204(alice, written):
    alice.post("/opt-outs", {"phoneNumbers": ["+15550000001", "+15550000002"]})

    answer = alice.call("DELETE", f"/opt-outs/{written}")

    assert answer.status == 204
    assert answer.text == ""
    assert listed(alice) == ["+15550000002"]
    assert alice.call("DELETE", f"/opt-outs/{written}").status == 404


def test_delete_of_a_number_not_on_the_list_is_404(alice):
    assert alice.call("DELETE", "/opt-outs/%2B15550000001").status == 404


def test_delete_cannot_reach_another_users_list(alice, bob):
    alice.post("/opt-outs", {"phoneNumbers": ["+15550000001"]})

    answer = bob.call("DELETE", "/opt-outs/%2B15550000001")

    assert answer.status == 404
    assert listed(alice) == ["+15550000001"]


@pytest.mark.parametrize("written", ["nope", "12345", "%2B1555000000100000", "%FF%FE", "x" * 300])
def test_delete_of_something_that_is_not_a_number_is_422(alice, written):
    answer = alice.call("DELETE", f"/opt-outs/{written}")

    assert answer.status == 422


def test_the_routes_need_a_user(refused):
    for method, path in [("GET", "/opt-outs"), ("POST", "/opt-outs"), ("DELETE", "/opt-outs/%2B15550000001")]:
        assert refused.call(method, path, user=None).status == 401


# ------------------------------------------------------ the runner's check


def test_is_opted_out_sees_a_number_right_after_it_is_recorded(alice):
    assert optouts.is_opted_out("user-a", "+15550000001") is False

    alice.post("/opt-outs", {"phoneNumbers": ["+1 555 000 0001"]})

    assert optouts.is_opted_out("user-a", "+15550000001") is True
    assert optouts.is_opted_out("user-b", "+15550000001") is False
    alice.call("DELETE", "/opt-outs/%2B15550000001")
    assert optouts.is_opted_out("user-a", "+15550000001") is False


# ------------------------------------------------------------ inbound keywords


def test_an_opt_out_keyword_puts_the_sender_on_the_owners_list(build, alice, bob):
    at = utcnow()

    intent = record_inbound("user-a", "+15550000001", " Párar! ", at, "wa_1")

    assert intent is Intent.OPT_OUT
    (item,) = alice.get("/opt-outs").json["items"]
    assert item["phoneNumber"] == "+15550000001"
    assert (item["source"], item["keyword"], item["whatsappSessionId"]) == ("keyword", "PARAR", "wa_1")
    assert listed(bob) == []


def test_start_takes_the_number_off_and_stop_again_puts_it_back(build, alice):
    at = utcnow()
    record_inbound("user-a", "+15550000001", "STOP", at)

    assert record_inbound("user-a", "+15550000001", "start", at + timedelta(seconds=1)) is Intent.OPT_IN
    assert listed(alice) == []
    record_inbound("user-a", "+15550000001", "unsubscribe", at + timedelta(seconds=2))
    assert listed(alice) == ["+15550000001"]


def test_a_start_older_than_the_opt_out_does_not_undo_it(build, alice):
    at = utcnow()
    record_inbound("user-a", "+15550000001", "STOP", at)

    record_inbound("user-a", "+15550000001", "UNSTOP", at - timedelta(minutes=1))

    assert listed(alice) == ["+15550000001"]


def test_a_start_also_undoes_a_manual_opt_out(build, alice):
    alice.post("/opt-outs", {"phoneNumbers": ["+15550000001"]})

    record_inbound("user-a", "+15550000001", "START", utcnow() + timedelta(seconds=1))

    assert listed(alice) == []


@pytest.mark.parametrize(
    ("phone", "text"),
    [
        ("+15550000001", "stop sending me this"),
        ("+15550000001", "Thanks!"),
        (None, "STOP"),
        ("not a number", "STOP"),
        ("+15550000001", ""),
    ],
)
def test_other_messages_change_nothing(build, alice, phone, text):
    assert record_inbound("user-a", phone, text, utcnow()) is None

    assert listed(alice) == []


def test_a_repeated_stop_keeps_the_first_record(build, alice):
    at = utcnow()
    record_inbound("user-a", "+15550000001", "STOP", at)
    first = alice.get("/opt-outs").json["items"]

    record_inbound("user-a", "+15550000001", "QUIT", at + timedelta(hours=1))

    assert alice.get("/opt-outs").json["items"] == first


def test_the_openapi_document_describes_the_opt_out_routes(refused):
    paths = refused.get("/openapi.json", user=None).json["paths"]

    assert set(paths["/opt-outs"]) == {"get", "post"}
    assert set(paths["/opt-outs"]["post"]["requestBody"]["content"]) == {"application/json", "text/csv"}
    assert {"200", "422"} <= set(paths["/opt-outs"]["post"]["responses"])
    assert {"204", "404"} <= set(paths["/opt-outs/{phone_number}"]["delete"]["responses"])
