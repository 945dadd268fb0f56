"""Bug: a user "held" a WhatsApp session by typing its WAHA name, first come first
served. Bob registered `alice-shop`, the name of alice's paired number, and sent a
campaign from it; he could lock alice out (409 for her) and learn which names were
live numbers. Now no route takes a WAHA name: the server names every session."""

from __future__ import annotations

from campaigns.data.models import Campaign, WhatsAppSession


def test_no_user_can_take_send_from_or_probe_a_session_by_its_waha_name(alice, bob, build):
    # Given alice's number, paired in WAHA as "alice-shop", and bob with a list and a template
    bob_list = build.contact_list(2, user_id="user-b")
    bob_template = build.template(user_id="user-b")

    # When bob names it to hold it, then to send a campaign from it
    take = bob.post("/whatsapp-sessions", {"name": "alice-shop"})
    send = bob.post(
        "/campaigns",
        {
            "name": "From alice's number",
            "contactListId": bob_list.id,
            "messageTemplateId": bob_template.id,
            "defaultNameValue": "friend",
            "wahaSession": "alice-shop",
        },
    )

    # Then both are refused as requests naming something no route accepts
    assert take.status == 422 and "name" in take.message
    assert send.status == 422 and "wahaSession" in send.message
    assert [item.name for item in WhatsAppSession.scan()] == []
    assert list(Campaign.scan()) == []


def test_whether_a_name_is_taken_is_never_revealed(alice, bob, build):
    # Given a session alice has under some WAHA name
    build.session("alice-shop")

    # When bob names it, and names one nobody has
    known = bob.post("/whatsapp-sessions", {"name": "alice-shop"})
    unknown = bob.post("/whatsapp-sessions", {"name": "nobody-has-this"})

    # Then both answers are the same refusal: nothing tells the live name apart
    assert (known.status, known.json) == (unknown.status, unknown.json) == (422, known.json)
    assert WhatsAppSession.get("alice-shop").user_id == "user-a"
