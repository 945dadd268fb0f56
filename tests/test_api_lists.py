"""Contact lists (JSON and CSV), message templates and media items through the API handler."""

from __future__ import annotations

import pytest

from campaigns.api import library
from campaigns.api.models import ContactIn
from campaigns.data import contact_lists
from campaigns.data.models import Contact, ContactList, MediaLibraryItem, MessageTemplate
from campaigns.timeutil import utcnow
from tests.builders import Builder

CSV = {"content-type": "text/csv"}


def contacts_of(list_id: str) -> list[tuple[int, str, str | None]]:
    return [
        (int(c.index), c.phone_number, c.first_name) for c in Contact.query(list_id, consistent_read=True)
    ]


def numbers(start: int, count: int) -> list[dict]:
    return [{"phoneNumber": f"+4915{n:09d}", "firstName": f"N{n}"} for n in range(start, start + count)]


# --------------------------------------------------------------- create


def test_create_answers_201_and_stores_normalised_contacts_in_order(alice):
    body = {
        "name": "  Customers  ",
        "defaultCountry": "US",
        "contacts": [
            {"phoneNumber": "+1 (555) 000-0001", "firstName": "  Ana "},
            {"phoneNumber": "5550000002"},
            {"phoneNumber": "+44.20.7946.0958", "firstName": "   "},
        ],
    }

    answer = alice.post("/contact-lists", body)

    assert answer.status == 201
    assert answer.json["name"] == "Customers"
    assert answer.json["contactCount"] == 3
    assert answer.json["defaultCountry"] == "US"
    assert answer.json["id"].startswith("list_")
    assert contacts_of(answer.json["id"]) == [
        (0, "+15550000001", "Ana"),
        (1, "+15550000002", None),
        (2, "+442079460958", None),
    ]


def test_create_with_no_contacts_makes_an_empty_list(alice):
    answer = alice.post("/contact-lists", {"name": "Later"})

    assert answer.status == 201
    assert answer.json["contactCount"] == 0


def test_invalid_rows_are_rejected_with_their_positions_and_nothing_is_written(alice):
    body = {
        "name": "L",
        "contacts": [
            {"phoneNumber": "+15550000001"},
            {"phoneNumber": "12345"},
            {"phoneNumber": "+1555000000100000"},
            {"phoneNumber": "+15550000004"},
            {"phoneNumber": "call me"},
        ],
    }

    answer = alice.post("/contact-lists", body)

    assert answer.status == 422
    assert [d["position"] for d in answer.json["details"]] == [1, 2, 4]
    assert [d["message"].split(":")[0] for d in answer.json["details"]] == [
        "written without a country",
        "too long for +1 (US)",
        "not a phone number",
    ]
    assert "contacts[1].phoneNumber" in answer.message
    assert list(ContactList.scan()) == [] and list(Contact.scan()) == []


def test_duplicates_within_the_request_are_rejected_and_reported(alice):
    body = {
        "name": "L",
        "contacts": [
            {"phoneNumber": "+15550000001"},
            {"phoneNumber": "+15550000002"},
            {"phoneNumber": "+1 555 000 0001"},
        ],
    }

    answer = alice.post("/contact-lists", body)

    assert answer.status == 422
    assert answer.json["details"] == [
        {
            "in": "body",
            "field": "contacts[2].phoneNumber",
            "position": 2,
            "phoneNumber": "+15550000001",
            "message": "duplicate of position 0",
            "duplicateOf": 0,
        }
    ]
    assert list(Contact.scan()) == []


def test_more_than_1000_contacts_in_one_request_is_422(refused):
    answer = refused.post("/contact-lists", {"name": "Big", "contacts": numbers(0, 1001)})

    assert answer.status == 422
    assert "contacts" in answer.message


def test_exactly_1000_contacts_are_accepted(alice):
    answer = alice.post("/contact-lists", {"name": "Big", "contacts": numbers(0, 1000)})

    assert answer.status == 201
    assert answer.json["contactCount"] == 1000


# --------------------------------------------------------------- append


def test_append_adds_contacts_after_the_last_in_order(alice):
    created = alice.post("/contact-lists", {"name": "L", "contacts": numbers(0, 2)}).json

    answer = alice.post(f"/contact-lists/{created['id']}/contacts", {"contacts": numbers(2, 3)})

    assert answer.status == 200
    assert answer.json["contactCount"] == 5
    assert answer.json["updatedAt"] >= created["updatedAt"]
    assert [c[0] for c in contacts_of(created["id"])] == [0, 1, 2, 3, 4]
    assert [c[1] for c in contacts_of(created["id"])] == [f"+4915{n:09d}" for n in range(5)]


def test_append_refuses_numbers_already_in_the_list(alice):
    created = alice.post("/contact-lists", {"name": "L", "contacts": numbers(0, 3)}).json

    answer = alice.post(
        f"/contact-lists/{created['id']}/contacts", {"contacts": numbers(5, 1) + numbers(1, 1)}
    )

    assert answer.status == 422
    assert answer.json["details"][0]["position"] == 1
    assert answer.json["details"][0]["existingIndex"] == 1
    assert ContactList.get("user-a", created["id"]).contact_count == 3
    assert len(contacts_of(created["id"])) == 3


def test_an_append_arriving_between_anothers_reservation_and_its_writes_gets_its_own_range(
    tables, monkeypatch
):
    """Two appends to one list at once: each reserves its index range with one atomic
    ADD before writing, so whatever happens in between cannot overlap its range."""
    contact_list = library.create_contact_list("user-a", "L", [], utcnow())
    first = [ContactIn(phoneNumber=f"+491600000{n:03d}") for n in range(30)]
    second = [ContactIn(phoneNumber=f"+491700000{n:03d}") for n in range(20)]
    write = contact_lists.write_contacts
    interleaved = []

    def write_after_a_concurrent_append(list_id, start, contacts):
        if not interleaved:
            interleaved.append(start)
            library.append_contacts("user-a", contact_list.id, second, utcnow())
        write(list_id, start, contacts)

    monkeypatch.setattr(contact_lists, "write_contacts", write_after_a_concurrent_append)

    library.append_contacts("user-a", contact_list.id, first, utcnow())

    stored = contacts_of(contact_list.id)
    assert [c[0] for c in stored] == list(range(50))
    assert [c[1] for c in stored] == [c.phone_number for c in first + second]
    assert ContactList.get("user-a", contact_list.id).contact_count == 50


def test_append_with_no_contacts_is_422(alice):
    created = alice.post("/contact-lists", {"name": "L"}).json

    assert alice.post(f"/contact-lists/{created['id']}/contacts", {"contacts": []}).status == 422


def test_append_to_a_missing_list_is_404(alice):
    answer = alice.post("/contact-lists/list_missing/contacts", {"contacts": numbers(0, 1)})

    assert answer.status == 404
    assert answer.json == {"message": "Contact list not found"}


def test_another_user_cannot_append_to_or_read_a_list(alice, bob):
    created = alice.post("/contact-lists", {"name": "L", "contacts": numbers(0, 2)}).json

    appended = bob.post(f"/contact-lists/{created['id']}/contacts", {"contacts": numbers(7, 1)})
    read = bob.get(f"/contact-lists/{created['id']}")

    assert (appended.status, read.status) == (404, 404)
    assert ContactList.get("user-a", created["id"]).contact_count == 2
    assert len(contacts_of(created["id"])) == 2
    assert bob.get("/contact-lists").json["items"] == []


# ------------------------------------------------------------------ CSV


def test_create_from_csv_with_bom_crlf_quotes_and_blank_lines(alice):
    text = '\ufeffphoneNumber,firstName\r\n+15550000001,"Ana, Maria"\r\n\r\n"+1 555 000 0002",\r\n+15550000003,Bo\r\n'

    answer = alice.post("/contact-lists", raw_body=text, headers=CSV, query={"name": "From CSV"})

    assert answer.status == 201, answer.text
    assert answer.json["name"] == "From CSV"
    assert contacts_of(answer.json["id"]) == [
        (0, "+15550000001", "Ana, Maria"),
        (1, "+15550000002", None),
        (2, "+15550000003", "Bo"),
    ]


def test_append_from_csv_in_any_column_order_and_base64(alice):
    created = alice.post("/contact-lists", {"name": "L", "contacts": numbers(0, 1)}).json
    text = "firstName,phoneNumber\nZoe,+15550000009\n"

    answer = alice.post(
        f"/contact-lists/{created['id']}/contacts",
        raw_body=text,
        headers={"content-type": "text/csv; charset=utf-8"},
        base64_body=True,
    )

    assert answer.status == 200, answer.text
    assert contacts_of(created["id"])[1] == (1, "+15550000009", "Zoe")


def test_csv_rows_with_invalid_numbers_are_reported_by_position(alice):
    text = "phoneNumber,firstName\n+15550000001,A\nnope,B\n+15550000003,C\n123,D\n"

    answer = alice.post("/contact-lists", raw_body=text, headers=CSV, query={"name": "L"})

    assert answer.status == 422
    assert [d["position"] for d in answer.json["details"]] == [1, 3]
    assert list(ContactList.scan()) == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("+15550000001,Ana\n", "header"),
        ("phone,name\n+15550000001,Ana\n", "header"),
        ("phoneNumber,firstName,email\n+15550000001,Ana,a@x\n", "header"),
        ("phoneNumber,firstName\n+15550000001,Ana,extra\n", "fields"),
        ("phoneNumber,firstName\n+15550000001,Ana\n+15550000001,Bis\n", "Duplicate"),
    ],
)
def test_malformed_csv_is_422_with_a_message(refused, text, words):
    answer = refused.post("/contact-lists", raw_body=text, headers=CSV, query={"name": "L"})

    assert answer.status == 422
    assert words in answer.message


def test_csv_list_creation_needs_a_name(refused):
    answer = refused.post("/contact-lists", raw_body="phoneNumber\n+15550000001\n", headers=CSV)

    assert answer.status == 422
    assert "name" in answer.message


def test_a_csv_over_1000_rows_is_422(refused):
    text = "phoneNumber\n" + "".join(f"+4917{n:09d}\n" for n in range(1001))

    answer = refused.post("/contact-lists", raw_body=text, headers=CSV, query={"name": "L"})

    assert answer.status == 422
    assert "1000" in answer.message


# --------------------------------------------------------- phone numbers


def test_one_number_written_with_extra_international_zeros_is_a_duplicate(alice):
    body = {
        "name": "L",
        "contacts": [
            {"phoneNumber": "+15551230001"},
            {"phoneNumber": "+0015551230001"},
            {"phoneNumber": "+00015551230001"},
        ],
    }

    answer = alice.post("/contact-lists", body)

    assert answer.status == 422
    assert [(d["position"], d["duplicateOf"], d["phoneNumber"]) for d in answer.json["details"]] == [
        (1, 0, "+15551230001"),
        (2, 0, "+15551230001"),
    ]
    assert list(ContactList.scan()) == [] and list(Contact.scan()) == []


def test_national_numbers_take_the_lists_default_country(alice):
    body = {
        "name": "UK",
        "defaultCountry": "GB",
        "contacts": [{"phoneNumber": "07911 123456"}, {"phoneNumber": "+1 (555) 123-4567"}],
    }

    answer = alice.post("/contact-lists", body)

    assert answer.status == 201, answer.text
    assert answer.json["defaultCountry"] == "GB"
    assert contacts_of(answer.json["id"]) == [(0, "+447911123456", None), (1, "+15551234567", None)]


def test_a_us_national_number_with_the_us_as_default_country(alice):
    body = {"name": "US", "defaultCountry": "us", "contacts": [{"phoneNumber": "(555) 123-4567"}]}

    answer = alice.post("/contact-lists", body)

    assert answer.status == 201, answer.text
    assert answer.json["defaultCountry"] == "US"
    assert contacts_of(answer.json["id"]) == [(0, "+15551234567", None)]


def test_a_national_number_without_a_default_country_is_refused_at_its_position(alice):
    body = {"name": "L", "contacts": [{"phoneNumber": "+15551230001"}, {"phoneNumber": "(555) 123-4567"}]}

    answer = alice.post("/contact-lists", body)

    assert answer.status == 422
    assert [(d["position"], d["field"]) for d in answer.json["details"]] == [(1, "contacts[1].phoneNumber")]
    assert "defaultCountry" in answer.json["details"][0]["message"]
    assert list(ContactList.scan()) == [] and list(Contact.scan()) == []


def test_a_list_without_a_default_country_says_so(alice):
    answer = alice.post("/contact-lists", {"name": "L", "contacts": [{"phoneNumber": "+447911123456"}]})

    assert answer.status == 201
    assert answer.json["defaultCountry"] is None


@pytest.mark.parametrize("country", ["UK", "XX", "G", "GBR", ""])
def test_a_default_country_that_is_no_region_code_is_422(refused, country):
    body = {"name": "L", "defaultCountry": country, "contacts": [{"phoneNumber": "+447911123456"}]}

    answer = refused.post("/contact-lists", body)

    assert answer.status == 422
    assert [d["field"] for d in answer.json["details"]] == ["defaultCountry"]
    assert "ISO 3166" in answer.json["details"][0]["message"]


def test_a_number_too_long_for_its_country_is_refused_with_the_reason(alice):
    answer = alice.post("/contact-lists", {"name": "L", "contacts": [{"phoneNumber": "+44 79111 2345678"}]})

    assert answer.status == 422
    assert answer.json["details"][0]["position"] == 0
    assert "too long for +44 (GB)" in answer.json["details"][0]["message"]


def test_digits_of_other_scripts_are_numbers_too(alice):
    answer = alice.post("/contact-lists", {"name": "L", "contacts": [{"phoneNumber": "+٤٤ ٧٩١١ ١٢٣٤٥٦"}]})

    assert answer.status == 201, answer.text
    assert contacts_of(answer.json["id"]) == [(0, "+447911123456", None)]


def test_a_csv_upload_takes_its_default_country_from_the_query(alice):
    text = "phoneNumber,firstName\n07911 123456,Ann\n+33 6 12 34 56 78,Zoe\n"

    answer = alice.post(
        "/contact-lists", raw_body=text, headers=CSV, query={"name": "L", "defaultCountry": "GB"}
    )

    assert answer.status == 201, answer.text
    assert answer.json["defaultCountry"] == "GB"
    assert contacts_of(answer.json["id"]) == [(0, "+447911123456", "Ann"), (1, "+33612345678", "Zoe")]


def test_a_csv_upload_with_a_default_country_that_is_no_region_is_422(refused):
    text = "phoneNumber\n07911 123456\n"

    answer = refused.post(
        "/contact-lists", raw_body=text, headers=CSV, query={"name": "L", "defaultCountry": "UK"}
    )

    assert answer.status == 422
    assert [d["field"] for d in answer.json["details"]] == ["defaultCountry"]


def test_appends_read_national_numbers_with_the_lists_default_country(alice):
    created = alice.post(
        "/contact-lists",
        {"name": "UK", "defaultCountry": "GB", "contacts": [{"phoneNumber": "07911 123456"}]},
    ).json

    answer = alice.post(
        f"/contact-lists/{created['id']}/contacts", {"contacts": [{"phoneNumber": "07911 123457"}]}
    )
    csv = alice.post(
        f"/contact-lists/{created['id']}/contacts", raw_body="phoneNumber\n020 7946 0958\n", headers=CSV
    )

    assert (answer.status, csv.status) == (200, 200), (answer.text, csv.text)
    assert [c[1] for c in contacts_of(created["id"])] == ["+447911123456", "+447911123457", "+442079460958"]


def test_an_append_refuses_a_number_the_list_has_in_another_notation(alice):
    created = alice.post(
        "/contact-lists",
        {"name": "UK", "defaultCountry": "GB", "contacts": [*numbers(0, 1), {"phoneNumber": "07911 123456"}]},
    ).json

    answer = alice.post(
        f"/contact-lists/{created['id']}/contacts",
        {"contacts": [{"phoneNumber": "+33612345678"}, {"phoneNumber": "0044 7911 123456"}]},
    )

    assert answer.status == 422
    assert answer.json["details"] == [
        {
            "in": "body",
            "field": "contacts[1].phoneNumber",
            "position": 1,
            "phoneNumber": "+447911123456",
            "message": "already in the list at index 1",
            "existingIndex": 1,
        }
    ]
    assert len(contacts_of(created["id"])) == 2


def test_an_append_without_a_default_country_refuses_national_numbers(alice):
    created = alice.post("/contact-lists", {"name": "L", "contacts": numbers(0, 1)}).json

    answer = alice.post(
        f"/contact-lists/{created['id']}/contacts", {"contacts": [{"phoneNumber": "07911 123456"}]}
    )

    assert answer.status == 422
    assert answer.json["details"][0]["position"] == 0
    assert len(contacts_of(created["id"])) == 1


# ----------------------------------------------------------------- reads


def test_get_answers_the_list(alice):
    created = alice.post("/contact-lists", {"name": "L", "contacts": numbers(0, 2)}).json

    answer = alice.get(f"/contact-lists/{created['id']}")

    assert answer.status == 200
    assert answer.json == created


def test_get_a_missing_list_is_404(alice):
    assert alice.get("/contact-lists/list_missing").status == 404


def test_lists_are_listed_newest_first_with_pagination(alice):
    ids = [alice.post("/contact-lists", {"name": f"L{n}"}).json["id"] for n in range(3)]

    first = alice.get("/contact-lists", query={"limit": "2"}).json
    second = alice.get("/contact-lists", query={"limit": "2", "nextToken": first["nextToken"]}).json

    assert [item["id"] for item in first["items"] + second["items"]] == ids[::-1]
    assert second["nextToken"] is None


def test_a_list_token_of_another_user_is_400(alice, bob):
    for n in range(2):
        bob.post("/contact-lists", {"name": f"B{n}"})
    token = bob.get("/contact-lists", query={"limit": "1"}).json["nextToken"]

    assert alice.get("/contact-lists", query={"nextToken": token}).status == 400


# ------------------------------------------------------------- templates


def test_create_template_answers_201(alice):
    answer = alice.post("/message-templates", {"name": "Greeting", "textContent": "Hello {Name}!\nSee you"})

    assert answer.status == 201
    assert answer.json["textContent"] == "Hello {Name}!\nSee you"
    assert MessageTemplate.get("user-a", answer.json["id"]).name == "Greeting"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "G"},
        {"name": "G", "textContent": ""},
        {"name": "G", "textContent": "   "},
        {"name": "G", "textContent": "x" * 4097},
        {"name": "", "textContent": "Hi"},
        {"name": "G", "textContent": 42},
    ],
)
def test_invalid_templates_are_422(refused, body):
    assert refused.post("/message-templates", body).status == 422


def test_templates_are_listed_per_user(alice, bob):
    mine = alice.post("/message-templates", {"name": "A", "textContent": "Hi"}).json
    bob.post("/message-templates", {"name": "B", "textContent": "Yo"})

    answer = alice.get("/message-templates")

    assert answer.status == 200
    assert answer.json == {"items": [mine], "nextToken": None}


# ----------------------------------------------------------------- media


def test_create_media_item_answers_201(alice):
    body = {"name": "Banner", "storagePath": "https://cdn.example.com/b.jpg?v=2", "mimeType": "Image/JPEG"}

    answer = alice.post("/media-items", body)

    assert answer.status == 201
    assert answer.json["mimeType"] == "image/jpeg"
    assert answer.json["storagePath"] == "https://cdn.example.com/b.jpg?v=2"
    assert MediaLibraryItem.get("user-a", answer.json["id"]).name == "Banner"


@pytest.mark.parametrize(
    "overrides",
    [
        {"storagePath": "http://cdn.example.com/b.jpg"},
        {"storagePath": "ftp://cdn.example.com/b.jpg"},
        {"storagePath": "https:///nohost"},
        {"storagePath": "https://cdn.example.com/a b.jpg"},
        {"storagePath": "https://cdn.example.com/" + "a" * 2048},
        {"mimeType": "jpeg"},
        {"mimeType": "image/"},
        {"mimeType": "image/jpeg; charset=x"},
    ],
)
def test_invalid_media_items_are_422(refused, overrides):
    body = {
        "name": "Banner",
        "storagePath": "https://cdn.example.com/b.jpg",
        "mimeType": "image/jpeg",
        **overrides,
    }

    assert refused.post("/media-items", body).status == 422


def test_media_items_are_listed_per_user(alice, bob):
    body = {"name": "Banner", "storagePath": "https://cdn.example.com/b.jpg", "mimeType": "image/jpeg"}
    mine = alice.post("/media-items", body).json
    Builder(user_id="user-b").media()

    assert alice.get("/media-items").json == {"items": [mine], "nextToken": None}
