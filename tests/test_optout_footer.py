"""The optional opt-out footer: a campaign created with `optOutFooter: true` ends every
message with OPT_OUT_FOOTER ("Reply STOP to stop receiving these messages" unless
configured) on a line of its own; the footer counts in WhatsApp's 4,096 characters
when the campaign is created; the campaign object says whether it has one."""

from __future__ import annotations

import pytest

from campaigns import config
from campaigns.domain.message_length import MAX_MESSAGE_CHARS
from campaigns.domain.personalise import render_message, with_footer
from campaigns.runner.service import RunResult
from tests import stack_fixtures
from tests.builders import Builder
from tests.fakewaha import FakeWaha
from tests.runner_harness import Harness
from tests.stack_fixtures import ApiClient

start_stack = stack_fixtures.start_stack
DEFAULT_FOOTER = "Reply STOP to stop receiving these messages"
WAHA_ENV = {"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "6", "WAHA_MAX_ATTEMPTS": "2"}


@pytest.fixture
def footer_setting(monkeypatch):
    """Set OPT_OUT_FOOTER for one test."""

    def set_footer(text: str) -> None:
        monkeypatch.setenv("OPT_OUT_FOOTER", text)
        config.reload_settings()

    yield set_footer
    monkeypatch.undo()
    config.reload_settings()


def campaign_body(build: Builder, text: str = "Hello {Name}!", contacts=2, **fields) -> dict:
    build.session()
    return {
        "name": "Spring sale",
        "contactListId": build.contact_list(contacts).id,
        "messageTemplateId": build.template(text).id,
        "defaultNameValue": "friend",
        **fields,
    }


# ------------------------------------------------------------------- rendering


def test_the_footer_ends_the_message_on_a_line_of_its_own():
    assert render_message("Hi {Name}!", "Ana", "friend", DEFAULT_FOOTER) == f"Hi Ana!\n\n{DEFAULT_FOOTER}"
    assert render_message("Hi {Name}!", "Ana", "friend") == "Hi Ana!"
    # Trailing blank space of the message does not pile up before it
    assert with_footer("Hi!\n\n  \n", DEFAULT_FOOTER) == f"Hi!\n\n{DEFAULT_FOOTER}"
    # A name that looks like a placeholder is not expanded, nor is the footer
    assert render_message("{name}", "{Name}", "x", "{Name}") == "{Name}\n\n{Name}"


# ------------------------------------------------------------------------- API


def test_the_field_is_stored_and_answered_and_defaults_to_false(build, alice):
    with_footer_ = alice.post("/campaigns", campaign_body(build, optOutFooter=True))
    without = alice.post("/campaigns", campaign_body(build))

    assert (with_footer_.status, without.status) == (201, 201)
    assert with_footer_.json["optOutFooter"] is True
    assert without.json["optOutFooter"] is False
    assert alice.get(f"/campaigns/{with_footer_.json['id']}").json["optOutFooter"] is True
    listed = {c["id"]: c["optOutFooter"] for c in alice.get("/campaigns").json["items"]}
    assert listed == {with_footer_.json["id"]: True, without.json["id"]: False}


@pytest.mark.parametrize("value", ["yes", 1, None, "true"])
def test_anything_but_a_boolean_is_422(build, alice, value):
    answer = alice.post("/campaigns", campaign_body(build, optOutFooter=value))

    assert answer.status == 422
    assert answer.json["details"][0]["field"] == "optOutFooter"


def test_the_footer_counts_in_the_length_check(build, alice):
    # A message that fits exactly with the footer, and one character more
    room = MAX_MESSAGE_CHARS - len("\n\n" + DEFAULT_FOOTER)
    exact, over = "x" * room, "x" * (room + 1)

    fits = alice.post("/campaigns", campaign_body(build, exact, optOutFooter=True))
    too_long = alice.post("/campaigns", campaign_body(build, over, optOutFooter=True))
    without_footer = alice.post("/campaigns", campaign_body(build, over))

    assert fits.status == 201
    assert too_long.status == 422
    assert too_long.json["details"][0]["field"] == "messageTemplateId"
    assert "4,097 characters" in too_long.message and "opt-out footer" in too_long.message
    assert without_footer.status == 201


def test_the_footer_with_the_longest_name_of_the_list_is_what_is_checked(build, alice):
    build.session()
    room = MAX_MESSAGE_CHARS - len("\n\n" + DEFAULT_FOOTER)
    text = "{Name}" + "x" * (room - len("Maximiliana"))
    names = build.contact_list([("+15550000001", "Ana"), ("+15550000002", "Maximiliana")])
    body = {
        "name": "Names",
        "contactListId": names.id,
        "messageTemplateId": build.template(text).id,
        "defaultNameValue": "friend",
    }

    assert alice.post("/campaigns", {**body, "optOutFooter": True}).status == 201
    longer = build.contact_list([("+15550000003", "Maximilianas")])
    refused = alice.post("/campaigns", {**body, "contactListId": longer.id, "optOutFooter": True})
    assert refused.status == 422 and "(12 characters) and the opt-out footer" in refused.message


def test_a_configured_footer_is_the_one_counted(build, alice, footer_setting):
    footer_setting("Responde BAJA para no recibir más mensajes de nuestra tienda, gracias")
    room = MAX_MESSAGE_CHARS - len("\n\n" + DEFAULT_FOOTER)

    answer = alice.post("/campaigns", campaign_body(build, "x" * room, optOutFooter=True))

    assert answer.status == 422  # the longer configured footer no longer fits


# ---------------------------------------------------------------------- runner


def test_the_runner_sends_the_footer_only_for_a_campaign_that_asks_for_it(build):
    asks = build.campaign(
        [("+15550000001", "Ana"), ("+15550000002", None)], "Hi {Name}!", opt_out_footer=True
    )
    plain = build.campaign([("+15550000003", "Bo")], "Hi {Name}!")
    harness = Harness()

    assert harness.run(asks.id) is RunResult.COMPLETED
    assert harness.run(plain.id) is RunResult.COMPLETED

    assert [m.text for m in harness.sender.sent] == [
        f"Hi Ana!\n\n{DEFAULT_FOOTER}",
        f"Hi friend!\n\n{DEFAULT_FOOTER}",
        "Hi Bo!",
    ]


def test_over_http_waha_receives_the_configured_footer_in_texts_and_captions(
    start_stack, fake_waha: FakeWaha
) -> None:
    footer = "Responde BAJA para no recibir más mensajes"
    stack = start_stack(
        waha_base_url=fake_waha.base_url,
        waha_api_key=fake_waha.api_key,
        env={**WAHA_ENV, "OPT_OUT_FOOTER": footer},
    )
    alice = ApiClient(stack, "alice")
    session = alice.register_session(fake_waha=fake_waha)
    listed = alice.contact_list(
        [{"phoneNumber": "+34600000001", "firstName": "Ana"}, {"phoneNumber": "+34600000002"}]
    )
    template = alice.template("Hola {Name}, rebajas hoy")
    flyer = alice.ok(
        "POST",
        "/media-items",
        {"name": "Flyer", "storagePath": "https://cdn.example.com/flyer.jpg", "mimeType": "image/jpeg"},
        201,
    )

    texts = alice.campaign(listed["id"], template["id"], optOutFooter=True, whatsappSessionId=session["id"])
    assert texts["optOutFooter"] is True
    captions = alice.campaign(
        listed["id"],
        template["id"],
        optOutFooter=True,
        mediaLibraryItemId=flyer["id"],
        whatsappSessionId=session["id"],
    )
    for campaign in (texts, captions):
        assert alice.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
        assert alice.wait_status(campaign["id"], {"Completed", "Paused", "Failed"})["status"] == "Completed"

    sent = [(s["endpoint"], s["text"] or s["caption"]) for s in fake_waha.sent()]
    expected = [f"Hola Ana, rebajas hoy\n\n{footer}", f"Hola friend, rebajas hoy\n\n{footer}"]
    assert sent == [("sendText", text) for text in expected] + [("sendImage", text) for text in expected]
