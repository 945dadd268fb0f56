"""The operator's command that hands an existing WAHA session (WAHA Core's `default`)
to one user: the user then sees it, sends through it and gets its webhooks."""

from __future__ import annotations

import pytest

from scripts import adopt_session
from tests import waha_world
from tests.fakewaha import FakeWaha
from tests.waha_world import WEBHOOK_URL

waha_api = waha_world.waha_api  # the fixture, used by name


def test_the_default_session_is_handed_to_one_user(waha_api: FakeWaha, alice, bob):
    session_id = adopt_session.adopt("default", "user-a")

    listed = alice.get("/whatsapp-sessions").json["items"]
    [update] = waha_api.request_log("update-session")
    [hook] = update["body"]["config"]["webhooks"]
    assert [s["id"] for s in listed] == [session_id]
    assert listed[0]["status"] == "WORKING" and listed[0]["phoneNumber"] == "+15550001111"
    assert hook["url"] == f"{WEBHOOK_URL}?session=default"
    assert waha_api.drop("default") == 200  # its webhooks are signed with its own key and taken
    assert alice.get("/whatsapp-sessions").json["items"][0]["status"] == "SCAN_QR_CODE"
    assert bob.get(f"/whatsapp-sessions/{session_id}").status == 404

    with pytest.raises(SystemExit, match="already belongs"):
        adopt_session.adopt("default", "user-b")


def test_a_session_waha_does_not_have_is_refused(waha_api: FakeWaha, alice):
    with pytest.raises(SystemExit, match="no usable session"):
        adopt_session.adopt("not-there", "user-a")

    assert alice.get("/whatsapp-sessions").json["items"] == []


def test_a_name_waha_could_not_have_is_refused_before_anything(capsys):
    with pytest.raises(SystemExit):
        adopt_session.main(["--name", "bad name!", "--user", "user-a"])

    assert "--name" in capsys.readouterr().err
