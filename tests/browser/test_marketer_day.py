"""A marketer's day in the dashboard, in a real Chromium against the local stack and the fake WAHA.

Maria signs in through the development sign-in page, connects her shop's WhatsApp number
with its QR code, creates a campaign from a list and a message she saved before (with a send
window in her time zone and the opt-out footer), sends a test to her own phone, launches it,
watches its progress and ETA move, pauses it, sees WhatsApp's delivered and read acks arrive,
resumes it to the end, exports its deliveries as CSV, duplicates it, retries the contacts
WhatsApp refused as a new campaign, and deletes an old list, whose contacts leave DynamoDB.

A screenshot of each view goes to artifacts/screenshots/; with UPDATE_DOCS_SCREENSHOTS=1 the
views' screenshots also replace those under docs/screenshots/ that the README shows.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from campaigns.data import sessions
from campaigns.data.models import Contact, ContactList
from tests import stack_fixtures
from tests.fakewaha import FakeWaha
from tests.stack_fixtures import ApiClient, wait_for

pytestmark = pytest.mark.browser

start_stack = stack_fixtures.start_stack

VIEWPORT = {"width": 1280, "height": 900}
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIME_ZONE = "Europe/Madrid"
FOOTER = "Reply STOP to stop receiving these messages"
TEMPLATE = "Hi {Name}, our spring sale starts today!"
MOVING_MS = 30_000  # the machine may be busy (two cores, other test runs)
# Spring customers: ten contacts, two of whom WhatsApp does not know (they fail).
SPRING = [
    (f"+346000001{i:02d}", name)
    for i, name in enumerate(["Ana", "Bea", "", "Carlos", "Dani", "Eva", "", "Fer", "Gala", "Hugo"])
]
NOT_ON_WHATSAPP = {SPRING[3][0], SPRING[8][0]}
WINTER = [(f"+346000002{i:02d}", f"W{i}") for i in range(5)]
MY_PHONE = "+34 600 000 999"


@pytest.fixture
def maria_page(browser: Any) -> Iterator[Page]:
    """A 1280 px page in Madrid's time zone that accepts downloads; page errors fail the test."""
    context = browser.new_context(
        viewport=VIEWPORT, locale="en-US", timezone_id=TIME_ZONE, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page reported errors: {errors}"


def view_shot(shot: Any, page: Page, view: str) -> None:
    """A screenshot of a whole view, kept for the README when asked to. The notice of the step
    before is cleared first: a whole-page shot would paint the sticky banner over the view."""
    page.evaluate("() => { document.getElementById('notice').textContent = ''; }")
    path = shot(page, view)
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / f"{view}.png")


def contacts(rows: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"phoneNumber": phone, **({"firstName": name} if name else {})} for phone, name in rows]


def chat(phone: str) -> str:
    return f"{re.sub(r'[^0-9]', '', phone)}@c.us"


def open_window_now() -> tuple[str, str]:
    """A send window open now in Madrid: from an hour ago to three hours on."""
    now = datetime.now(ZoneInfo(TIME_ZONE))
    return (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=3)).strftime("%H:%M")


WATCH_ETA = """
() => {
  window.etaSeen = [];
  const record = () => {
    const time = document.querySelector('[data-testid="figure-eta"] time');
    const value = time && time.getAttribute("datetime");
    if (value && !window.etaSeen.includes(value)) window.etaSeen.push(value);
  };
  new MutationObserver(record).observe(document.getElementById("view"), { childList: true, subtree: true, characterData: true });
}
"""


def test_a_marketers_day(start_stack, fake_waha: FakeWaha, maria_page: Page, shots, tmp_path: Path) -> None:
    # Given the local stack in front of the fake WAHA, and what Maria saved on an earlier day
    stack = start_stack(waha_base_url=fake_waha.base_url, waha_api_key=fake_waha.api_key, schedule_seconds=1)
    maria = ApiClient(stack, "maria")
    spring = maria.contact_list(contacts(SPRING), name="Spring customers")
    winter = maria.contact_list(contacts(WINTER), name="Winter customers")
    template = maria.template(TEMPLATE, name="Spring offer")
    fake_waha.reject_numbers.update(phone.lstrip("+") for phone in NOT_ON_WHATSAPP)
    page = maria_page
    shot = shots("marketer")

    # When she signs in through the sign-in page
    page.goto(f"{stack.base_url}/")
    expect(page.get_by_test_id("oauth-signin-button")).to_be_visible()
    view_shot(shot, page, "sign-in")
    page.get_by_test_id("oauth-signin-button").click()
    page.wait_for_url(re.compile(r"/local-auth/authorize\?"))
    page.get_by_label("User id").fill("maria")
    page.get_by_test_id("local-auth-submit").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text("maria")
    expect(page.get_by_test_id("campaigns-empty")).to_be_visible()

    # And connects her number: the QR code shows, the phone scans it, the number is WORKING
    page.get_by_test_id("nav-numbers").click()
    expect(page.get_by_test_id("numbers-view")).to_be_visible()
    page.get_by_test_id("number-label-input").fill("Shop")
    page.get_by_test_id("connect-number-button").click()
    row = page.get_by_test_id("number-row")
    expect(row).to_have_count(1)
    session_id = row.get_attribute("data-session-id")
    assert session_id
    expect(row.get_by_test_id("qr-image")).to_be_visible()
    view_shot(shot, page, "numbers")
    waha_name = sessions.find("maria", session_id).name
    assert fake_waha.pair(waha_name, phone_digits="34600000001", push_name="Tienda Maria") == 200
    expect(row.get_by_test_id("number-status")).to_have_text("WORKING", timeout=MOVING_MS)
    expect(row.get_by_test_id("number-phone")).to_have_text("+34600000001")

    # (Last winter's campaign went out through it to the winter list, and is long finished)
    old = maria.campaign(winter["id"], template["id"], name="Winter sale", whatsappSessionId=session_id)
    assert maria.request("POST", f"/campaigns/{old['id']}/run").status_code == 202
    assert maria.wait_status(old["id"], {"Completed", "Paused", "Failed"})["status"] == "Completed"

    # When she creates a campaign from her saved list and message, in a send window of her time zone
    page.get_by_test_id("nav-create").click()
    expect(page.get_by_test_id("list-source-saved")).to_be_checked()
    page.get_by_label("Name", exact=True).fill("Spring sale")
    expect(page.get_by_test_id("session-select")).to_have_value(session_id)
    expect(page.get_by_test_id("session-select")).to_contain_text("Shop (+34600000001)")
    page.get_by_label("Saved list", exact=True).select_option(spring["id"])
    expect(page.get_by_test_id("list-select")).to_contain_text("Spring customers (10 contacts)")
    page.get_by_label("Saved message", exact=True).select_option(template["id"])
    page.get_by_label("Name for contacts without one").fill("friend")
    page.get_by_test_id("optout-footer-input").check()
    expect(page.get_by_test_id("template-preview")).to_have_text(
        f"Hi friend, our spring sale starts today!\n\n{FOOTER}"
    )
    page.get_by_label("Shortest pause between messages (seconds)").fill("1.5")
    page.get_by_label("Longest pause between messages (seconds)").fill("2")
    page.get_by_label("Only send during these hours").check()
    expect(page.get_by_test_id("window-zone-select")).to_have_value(TIME_ZONE)  # the browser's own zone
    start, end = open_window_now()
    page.get_by_label("From", exact=True).fill(start)
    page.get_by_label("Until", exact=True).fill(end)

    # And sends a test to her own phone before launching anything
    page.get_by_label("Your phone number").fill(MY_PHONE)
    page.get_by_test_id("send-test-button").click()
    expect(page.get_by_test_id("test-send-result")).to_contain_text(
        "Test sent to +34600000999 (9 more tests today)"
    )
    texts = fake_waha.texts_by_chat()
    assert sorted(texts) == sorted([chat(MY_PHONE), *(chat(phone) for phone, _ in WINTER)])
    # (POST /campaigns/{id}/test sends the personalised text; the footer is the runner's to add)
    assert [
        text.startswith("Hi friend, our spring sale starts today!") for text in texts[chat(MY_PHONE)]
    ] == [True]
    view_shot(shot, page, "create")

    # Then creating it opens the campaign the test went through, waiting for Run: nothing else was sent
    page.get_by_test_id("create-submit").click()
    expect(page.get_by_test_id("detail-name")).to_have_text("Spring sale")
    campaign_id = page.url.rsplit("/", 1)[-1]
    names = [c["name"] for c in maria.ok("GET", "/campaigns")["items"]]
    assert sorted(names) == ["Spring sale", "Winter sale"], names
    status = page.get_by_test_id("detail-status")
    expect(status).to_have_text("Scheduled")
    expect(page.get_by_test_id("fact-window")).to_have_text(
        re.compile(rf"^{start}\u2013{end}.*\({TIME_ZONE}\), every day$")
    )
    expect(page.get_by_test_id("fact-number")).to_have_text("Shop (+34600000001)")
    assert len(fake_waha.texts_by_chat()) == len(WINTER) + 1

    # When she launches it, she watches the progress and the ETA move
    page.evaluate(WATCH_ETA)
    page.get_by_test_id(f"action-run-{campaign_id}").click()
    expect(status).to_have_text("Running", timeout=MOVING_MS)
    progress = page.get_by_test_id("detail-progress")
    expect(progress).to_have_attribute("aria-valuenow", re.compile(r"^[3-9]$"), timeout=MOVING_MS)
    expect(page.get_by_test_id("figure-eta")).to_contain_text(re.compile(r"\((in \d+ min|any moment now)\)"))
    wait_for(lambda: len(page.evaluate("window.etaSeen")) >= 2, MOVING_MS / 1000, "the ETA to be read again")

    # And pauses it
    page.get_by_test_id(f"action-pause-{campaign_id}").click()
    expect(status).to_have_text("Paused", timeout=MOVING_MS)
    sent = [d for d in maria.deliveries(campaign_id) if d["status"] == "Sent"]
    assert len(sent) >= 2

    # When WhatsApp acknowledges them (signed webhooks): all delivered, the first two read
    for index, delivery in enumerate(sent):
        assert fake_waha.ack(waha_name, delivery["messageId"], "READ" if index < 2 else "DEVICE") == 200
    page.get_by_test_id("detail-refresh").click()

    # Then the page shows the delivered and read rates of what was sent
    delivered = f"100% ({len(sent)} of {len(sent)} sent)"
    expect(page.get_by_test_id("figure-delivered")).to_have_text(delivered)
    expect(page.get_by_test_id("figure-read")).to_contain_text(f"(2 of {len(sent)} sent)")
    expect(page.get_by_test_id("delivery-ack-0")).to_have_text("Read")
    expect(page.get_by_test_id(f"delivery-ack-{len(sent) - 1}")).to_have_text("Delivered")
    view_shot(shot, page, "campaign")

    # When she resumes it, it goes on to the end: the two numbers not on WhatsApp failed
    page.get_by_test_id(f"action-resume-{campaign_id}").click()
    expect(status).to_have_text("Completed", timeout=MOVING_MS * 2)
    expect(progress).to_have_attribute(
        "aria-valuetext", "10 of 10 handled: 8 sent, 2 failed, 0 unknown, 0 skipped"
    )
    expect(page.get_by_test_id("sends-chart")).to_have_attribute("data-sent", "8")
    expect(page.get_by_test_id("sends-chart")).to_have_attribute("data-read", "2")
    deliveries = maria.deliveries(campaign_id)
    assert {d["phoneNumber"] for d in deliveries if d["status"] == "Failed"} == NOT_ON_WHATSAPP
    texts = fake_waha.texts_by_chat()
    for phone, name in SPRING:
        wanted = (
            []
            if phone in NOT_ON_WHATSAPP
            else [f"Hi {name or 'friend'}, our spring sale starts today!\n\n{FOOTER}"]
        )
        assert texts.get(chat(phone), []) == wanted, phone

    # When she exports the deliveries, the file's rows are the deliveries
    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename == f"{campaign_id}-deliveries.csv"
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert [
        (int(r["contactIndex"]), r["phoneNumber"], r["status"], r["messageId"], r["ack"]) for r in rows
    ] == [
        (d["contactIndex"], d["phoneNumber"], d["status"], d["messageId"] or "", d["ack"] or "")
        for d in deliveries
    ]
    expect(page.get_by_test_id("deliveries-message")).to_have_text(
        "The CSV of every delivery is downloading."
    )

    # And a duplicate starts from the same list, message, number, pacing and window
    page.get_by_test_id("duplicate-button").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Spring sale (copy)")
    expect(page.get_by_test_id("list-select")).to_have_value(spring["id"])
    expect(page.get_by_test_id("template-select")).to_have_value(template["id"])
    expect(page.get_by_test_id("session-select")).to_have_value(session_id)
    expect(page.get_by_label("Longest pause between messages (seconds)")).to_have_value("2")
    expect(page.get_by_label("From", exact=True)).to_have_value(start)
    expect(page.get_by_test_id("optout-footer-input")).to_be_checked()
    page.go_back()

    # When she retries the failed contacts, a new campaign over those two waits for Run
    expect(page.get_by_test_id("detail-name")).to_have_text("Spring sale")
    page.get_by_test_id("retry-button").click()
    expect(page.get_by_test_id("retry-failed")).to_be_checked()
    expect(page.get_by_test_id("retry-unknown")).to_be_disabled()
    page.get_by_test_id("confirm-yes").click()
    expect(page.get_by_test_id("detail-name")).to_have_text("Spring sale (retry)")
    expect(page.get_by_test_id("detail-status")).to_have_text("Scheduled")
    expect(page.get_by_test_id("fact-list")).to_have_text("Spring sale - retry of Failed (2 contacts)")
    retry = maria.get_campaign(page.url.rsplit("/", 1)[-1])
    assert [c.phone_number for c in Contact.query(retry["contactListId"])] == [
        p for p, _ in SPRING if p in NOT_ON_WHATSAPP
    ]

    # And the list shows the three campaigns, the finished ones without commands
    page.get_by_test_id("nav-campaigns").click()
    expect(page.get_by_test_id(f"status-{campaign_id}")).to_have_text("Completed")
    expect(page.locator('[data-testid^="campaign-row-"]')).to_have_count(3)
    view_shot(shot, page, "campaigns")

    # When she deletes the old winter list (its campaign is finished)
    page.get_by_test_id("nav-create").click()
    page.get_by_label("Saved list", exact=True).select_option(winter["id"])
    page.get_by_test_id("delete-list-button").click()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("5 contacts are erased for good")
    page.get_by_test_id("confirm-yes").click()

    # Then it is gone from the page, and its contacts from DynamoDB
    expect(page.get_by_test_id("notice")).to_contain_text('The contact list "Winter customers" is deleted.')
    expect(page.get_by_test_id("list-select").locator(f'option[value="{winter["id"]}"]')).to_have_count(0)
    assert list(Contact.query(winter["id"], consistent_read=True)) == []
    assert ContactList.count("maria", ContactList.id == winter["id"]) == 0
    assert len(list(Contact.query(spring["id"], consistent_read=True))) == len(SPRING)

    # And a customer who answered STOP is on her opt-out list
    assert fake_waha.inbound(waha_name, "34600000100", "STOP") == 200
    page.get_by_test_id("nav-optouts").click()
    expect(page.get_by_test_id("optouts-view")).to_contain_text("+34600000100")
    view_shot(shot, page, "opt-outs")


def test_refusals_are_said_where_they_happen(start_stack, fake_waha: FakeWaha, new_page_expecting) -> None:
    # Given a paired number, a list, and two campaigns waiting for Run
    stack = start_stack(waha_base_url=fake_waha.base_url, waha_api_key=fake_waha.api_key, schedule_seconds=1)
    nina = ApiClient(stack, "nina")
    session = nina.register_session("Kiosk", fake_waha=fake_waha)
    listed = nina.contact_list(contacts(WINTER), name="Regulars")
    template = nina.template("Hello {Name}", name="Hello")
    first = nina.campaign(listed["id"], template["id"], name="First", whatsappSessionId=session["id"])
    second = nina.campaign(listed["id"], template["id"], name="Second", whatsappSessionId=session["id"])
    page = new_page_expecting(r"status of (409|429)")
    page.goto(f"{stack.base_url}/#/campaigns/{first['id']}")
    page.get_by_label("Access token").fill(stack.token("nina"))
    page.get_by_test_id("signin-button").click()
    expect(page.get_by_test_id("detail-name")).to_have_text("First")

    # When she tests it on her phone, then once more after the day's ten tests were used
    page.get_by_label("Your phone number").fill(MY_PHONE)
    page.get_by_test_id("send-test-button").click()
    result = page.get_by_test_id("test-send-result")
    expect(result).to_contain_text("(9 more tests today)")
    for _ in range(9):
        nina.ok("POST", f"/campaigns/{first['id']}/test", {"phoneNumber": MY_PHONE}, 202)
    page.get_by_test_id("send-test-button").click()

    # Then the 429 is said next to the button, as an error
    expect(result).to_contain_text("No test sent: today's tests of this campaign are used up.")
    expect(result).to_have_attribute("role", "alert")
    assert fake_waha.count_by_chat() == {chat(MY_PHONE): 10}

    # When she cancels it, the page asks first, and Cancelled it is
    page.get_by_test_id(f"action-cancel-{first['id']}").click()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("cannot be resumed")
    page.get_by_test_id("confirm-yes").click()
    expect(page.get_by_test_id("detail-status")).to_have_text("Cancelled")

    # When the number drops and she tests the second campaign, WAHA's refusal is said (409)
    assert fake_waha.drop(session["wahaName"]) == 200
    page.goto(f"{stack.base_url}/#/campaigns/{second['id']}")
    expect(page.get_by_test_id("detail-name")).to_have_text("Second")
    page.get_by_label("Your phone number").fill(MY_PHONE)
    page.get_by_test_id("send-test-button").click()
    expect(result).to_contain_text("No test sent now:")
    assert fake_waha.count_by_chat() == {chat(MY_PHONE): 10}

    # When she deletes its list, which the second campaign still waits to use, the 409 is said at the list
    page.get_by_test_id("nav-create").click()
    page.get_by_label("Saved list", exact=True).select_option(listed["id"])
    page.get_by_test_id("delete-list-button").click()
    page.get_by_test_id("confirm-yes").click()
    expect(page.get_by_test_id("list-select-error")).to_contain_text("Could not delete it:")
    assert len(list(Contact.query(listed["id"], consistent_read=True))) == len(WINTER)

    # And deleting the second campaign from its page takes her back to a list without it
    page.get_by_test_id("nav-campaigns").click()
    page.get_by_test_id(f"open-campaign-{second['id']}").click()
    page.get_by_test_id("delete-button").click()
    page.get_by_test_id("confirm-yes").click()
    expect(page.get_by_test_id("notice")).to_contain_text('Campaign "Second" deleted.')
    expect(page.get_by_test_id(f"campaign-row-{first['id']}")).to_be_visible()
    expect(page.get_by_test_id(f"campaign-row-{second['id']}")).to_have_count(0)
    assert nina.request("GET", f"/campaigns/{second['id']}").status_code == 404


def test_a_campaign_outside_its_send_window_shows_why_it_waits_and_until_when(
    start_stack, maria_page: Page
) -> None:
    # Given a campaign whose send window (in Madrid) opens in two hours, run now
    stack = start_stack(schedule_seconds=1)
    olga = ApiClient(stack, "olga")
    olga.register_session("Front desk")
    listed = olga.contact_list(contacts(WINTER), name="Regulars")
    template = olga.template("Hello {Name}", name="Hello")
    now = datetime.now(ZoneInfo(TIME_ZONE))
    opens = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    window = {
        "start": opens.strftime("%H:%M"),
        "end": (opens + timedelta(hours=1)).strftime("%H:%M"),
        "timeZone": TIME_ZONE,
    }
    later = olga.campaign(listed["id"], template["id"], name="Tonight", sendWindow=window)
    assert olga.request("POST", f"/campaigns/{later['id']}/run").status_code == 202
    waiting = wait_for(
        lambda: (c := olga.get_campaign(later["id"]))["status"] == "Running" and c["waitingUntil"] and c,
        20,
        "the run to wait for its window",
    )

    # When Olga (in Madrid) signs in
    page = maria_page
    page.goto(f"{stack.base_url}/")
    page.get_by_label("Access token").fill(stack.token("olga"))
    page.get_by_test_id("signin-button").click()

    # Then the list says why it waits and when it goes on, in her local time
    note = page.get_by_test_id(f"waiting-{later['id']}")
    expect(note).to_contain_text(f"Waiting: {waiting['waitReason']}")
    resumes = note.locator("time")
    expect(resumes).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    resumes_at = resumes.get_attribute("datetime")
    assert (
        datetime.fromisoformat(resumes_at).astimezone(ZoneInfo(TIME_ZONE)).strftime("%H:%M")
        == window["start"]
    )
    expect(resumes).to_contain_text(opens.strftime("%-I:%M"))  # shown in Madrid's time, not UTC

    # And so does its page
    page.get_by_test_id(f"open-campaign-{later['id']}").click()
    expect(page.get_by_test_id("detail-wait")).to_contain_text(waiting["waitReason"])
    expect(page.get_by_test_id("detail-wait").locator("time")).to_have_attribute("datetime", resumes_at)
