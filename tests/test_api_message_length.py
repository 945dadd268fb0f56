"""WhatsApp's 4,096-character limit: a campaign whose message, personalised with the
longest name it will carry, is longer is refused when it is created; so is a
template longer than that by itself."""

from __future__ import annotations

import pytest

from campaigns.data import contact_names
from campaigns.domain.message_length import MAX_MESSAGE_CHARS, could_exceed, rendered_chars, too_long_reason
from tests.builders import Builder


def body(build: Builder, text: str, names: list[str | None], default: str = "friend") -> dict:
    build.session()
    contacts = [(f"+1555{index:07d}", name) for index, name in enumerate(names)]
    return {
        "name": "Long",
        "contactListId": build.contact_list(contacts).id,
        "messageTemplateId": build.template(text).id,
        "defaultNameValue": default,
    }


# ---------------------------------------------------------------- pure rules


def test_the_rendered_length_counts_every_placeholder_in_any_case():
    assert rendered_chars("Hi {Name}, {name}!", "Ana") == len("Hi Ana, Ana!")


def test_a_message_at_the_limit_passes_and_one_character_more_does_not():
    template = "x" * (MAX_MESSAGE_CHARS - 3) + "{Name}"

    assert too_long_reason(template, "Ana") is None
    reason = too_long_reason(template, "Anna")
    assert reason is not None and "4,097 characters" in reason and "4,096" in reason


def test_only_a_template_that_a_long_name_could_take_over_needs_its_contacts_read():
    assert not could_exceed("Hello {Name}!", 100)
    assert could_exceed("x" * 4000 + "{Name}", 100)
    assert not could_exceed("x" * 4096, 100)
    assert could_exceed("x" * 4097, 0)


# ------------------------------------------------------------------- the API


def test_a_campaign_over_the_limit_with_its_longest_first_name_is_422(build, alice):
    text = "x" * (MAX_MESSAGE_CHARS - 10) + "{Name}"
    request = body(build, text, ["Ana", "Maximiliano-Alejandro", None])

    answer = alice.post("/campaigns", request)

    assert answer.status == 422
    assert answer.json["details"][0]["field"] == "messageTemplateId"
    assert "4,096" in answer.message
    assert alice.get("/campaigns").json["items"] == []


def test_a_campaign_whose_longest_name_fits_is_created(build, alice):
    text = "x" * (MAX_MESSAGE_CHARS - 10) + "{Name}"

    answer = alice.post("/campaigns", body(build, text, ["Ana", "Bartholome", None], default="friend"))

    assert answer.status == 201


def test_the_default_name_counts_when_it_is_the_longest(build, alice):
    text = "x" * (MAX_MESSAGE_CHARS - 10) + "{Name}"

    answer = alice.post("/campaigns", body(build, text, ["Ana", None], default="our dearest customer"))

    assert answer.status == 422
    assert "20 characters" in answer.message


def test_a_template_at_the_limit_without_placeholders_makes_a_campaign(build, alice):
    answer = alice.post("/campaigns", body(build, "y" * MAX_MESSAGE_CHARS, ["Ana"]))

    assert answer.status == 201


def test_a_template_longer_than_the_limit_by_itself_is_refused(alice):
    answer = alice.post("/message-templates", {"name": "Long", "textContent": "y" * (MAX_MESSAGE_CHARS + 1)})

    assert answer.status == 422
    assert answer.json["details"][0]["field"] == "textContent"


def test_a_short_template_never_reads_the_contacts(build, alice, monkeypatch):
    def unexpected(list_id: str) -> str:
        raise AssertionError("contacts read for a template no name can take over the limit")

    monkeypatch.setattr(contact_names, "longest_first_name", unexpected)

    assert alice.post("/campaigns", body(build, "Hello {Name}!", ["Ana"] * 3)).status == 201


@pytest.mark.parametrize("count", [0, 1, 130])
def test_the_longest_first_name_is_read_across_pages(build, count):
    names = [f"N{index}" for index in range(count)]
    if count:
        names[count // 2] = "Longest-Name-Of-All"
    contact_list = build.contact_list([(f"+1555{i:07d}", name) for i, name in enumerate(names)])

    assert contact_names.longest_first_name(contact_list.id) == ("Longest-Name-Of-All" if count else "")
