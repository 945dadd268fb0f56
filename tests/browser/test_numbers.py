"""The Numbers view (#/numbers) in a real Chromium, against the local stack and the fake WAHA.

A number's whole life through the page: connected with a label and a low daily limit, its
QR code shown large and fetched again while it waits, a pairing code asked for, paired by
the phone (the fake WAHA's signed webhook), its daily limit changed, refused disconnection
while a campaign runs on it, then disconnected after confirmation. Then the view at phone
width, from the keyboard, and what it leaves running when another view replaces it.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from campaigns.data import sessions
from tests import stack_fixtures
from tests.browser.view_pages import assert_fits, label_problems, sign_in, tab_to
from tests.fakewaha import FakeWaha
from tests.stack_fixtures import ApiClient, wait_for

pytestmark = pytest.mark.browser

start_stack = stack_fixtures.start_stack

REFUSALS = r"Failed to load resource: the server responded with a status of (409|422)"
PAIRED_DIGITS = "34612345678"
QR_REFRESH_MS = 15_000
POLL_MS = 3_000


def connect(page: Page, label: str, daily_limit: str | None = None) -> str:
    """Connect a number through the form; the new row's session id."""
    page.get_by_test_id("number-label-input").fill(label)
    if daily_limit is not None:
        page.get_by_test_id("number-daily-limit-input").fill(daily_limit)
    page.get_by_test_id("connect-number-button").click()
    row = page.get_by_test_id("number-row").filter(
        has=page.get_by_test_id("number-label").get_by_text(label, exact=True)
    )
    expect(row).to_have_count(1)
    session_id = row.get_attribute("data-session-id")
    assert session_id
    return session_id


def qr_fetches(fake_waha: FakeWaha, waha_name: str) -> int:
    return sum(1 for r in fake_waha.request_log("qr") if waha_name in r["path"])


def test_a_number_is_connected_paired_edited_and_disconnected(
    start_stack, fake_waha: FakeWaha, new_page_expecting, shots
) -> None:
    # Given the local stack in front of the fake WAHA, and alice on the Numbers view (the page's
    # clock is Playwright's, so the QR code's 15 s refresh can be fast-forwarded)
    stack = start_stack(waha_base_url=fake_waha.base_url, waha_api_key=fake_waha.api_key, schedule_seconds=1)
    alice = ApiClient(stack, "alice")
    page = new_page_expecting(REFUSALS)
    page.clock.install()
    shot = shots("numbers")
    sign_in(page, stack, "alice", "#/numbers")
    view = page.get_by_test_id("numbers-view")
    expect(view).to_be_visible()
    expect(page.get_by_test_id("numbers-status")).to_contain_text("no WhatsApp number connected")
    limit_input = page.get_by_test_id("number-daily-limit-input")
    expect(limit_input).to_have_value("200")  # a low limit suggested for a new number, and why
    expect(page.get_by_text(re.compile("WhatsApp bans newly linked numbers"))).to_be_visible()

    # When she connects a number with a label and a daily limit of her own
    session_id = connect(page, "Shop", daily_limit="150")
    row = page.locator(f'[data-testid="number-row"][data-session-id="{session_id}"]')
    waha_name = sessions.find("alice", session_id).name

    # Then the server created it as asked, and the row waits for a scan with the QR code shown large
    assert alice.ok("GET", f"/whatsapp-sessions/{session_id}")["dailyLimit"] == 150
    expect(row.get_by_test_id("number-status")).to_have_text("SCAN_QR_CODE")
    expect(row.get_by_test_id("number-phone")).to_have_text("Not paired yet")
    expect(row.get_by_test_id("number-daily-limit")).to_have_text("150 messages a day")
    qr = row.get_by_test_id("qr-image")
    expect(qr).to_be_visible()
    expect(qr).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", qr.element_handle())
    box = qr.bounding_box()
    assert box and box["width"] >= 280 and box["height"] >= 280, box
    expect(page.get_by_test_id("numbers-polling")).to_be_visible()
    shot(page, "qr-code")

    # And the QR code is fetched again while it waits, as WAHA rotates it
    fetched = qr_fetches(fake_waha, waha_name)
    assert fetched >= 1
    page.clock.fast_forward(QR_REFRESH_MS + 1_000)
    wait_for(lambda: qr_fetches(fake_waha, waha_name) > fetched, 10, "the QR code to be fetched again")
    expect(qr).to_be_visible()

    # When she asks for a pairing code instead, first with a number WhatsApp cannot have
    phone_input = row.get_by_test_id("pairing-phone-input")
    phone_input.fill("+999 123 456 789")
    row.get_by_test_id("pairing-code-button").click()

    # Then the API's refusal shows under the field, and no code
    expect(row.get_by_test_id("pairing-phone-input-error")).to_contain_text("Could not get a pairing code")
    expect(phone_input).to_have_attribute("aria-invalid", "true")
    expect(row.get_by_test_id("pairing-code")).to_be_hidden()
    assert fake_waha.count_requests("request-code") == 0

    # And with her phone's number, a code comes back, shown large, with where to type it
    phone_input.fill("+34 612 345 678")
    row.get_by_test_id("pairing-code-button").click()
    code = row.get_by_test_id("pairing-code")
    expect(code).to_have_text(re.compile(r"^FAKE-[0-9A-F]{4}$"))
    expect(row.get_by_test_id("pairing-code-hint")).to_contain_text("Link with phone number instead")
    assert float(code.evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)")) >= 24
    requested = fake_waha.request_log("request-code")
    assert [(r["path"], r["body"].get("phoneNumber")) for r in requested] == [
        (f"/api/{waha_name}/auth/request-code", PAIRED_DIGITS)
    ]
    shot(page, "pairing-code")

    # When the phone scans the code (the fake pairs the session and reports it by its webhook)
    assert fake_waha.pair(waha_name, phone_digits=PAIRED_DIGITS, push_name="Tienda Ana") == 200
    page.clock.fast_forward(POLL_MS + 500)

    # Then the row shows WORKING with the paired number and its name, and the QR code is gone
    expect(row.get_by_test_id("number-status")).to_have_text("WORKING")
    expect(row.get_by_test_id("number-phone")).to_have_text(f"+{PAIRED_DIGITS}")
    expect(row.get_by_test_id("number-push-name")).to_have_text("Tienda Ana")
    expect(row.get_by_test_id("pairing-done")).to_have_text(
        f"Paired with +{PAIRED_DIGITS} (Tienda Ana). Campaigns can now send through it."
    )
    expect(qr).to_be_hidden()
    expect(page.get_by_test_id("numbers-polling")).to_be_hidden()
    shot(page, "paired")

    # When she edits the daily limit, first to something that is not a limit
    row.get_by_test_id("edit-number-button").click()
    edit_limit = row.get_by_test_id("edit-daily-limit-input")
    expect(row.get_by_test_id("edit-label-input")).to_be_focused()
    expect(edit_limit).to_have_value("150")
    edit_limit.fill("0")
    row.get_by_test_id("save-number-button").click()
    expect(edit_limit).to_have_attribute("aria-invalid", "true")
    expect(row.locator(".field-error").filter(has_text="between 1 and 100,000")).to_be_visible()
    edit_limit.fill("350")
    row.get_by_test_id("save-number-button").click()

    # Then the row and the API both say 350
    expect(row.get_by_test_id("number-daily-limit")).to_have_text("350 messages a day")
    expect(row.get_by_test_id("edit-number-button")).to_be_focused()
    assert alice.ok("GET", f"/whatsapp-sessions/{session_id}")["dailyLimit"] == 350

    # When a campaign is running on the number and she tries to disconnect it
    listed = alice.contact_list(stack_fixtures.contacts(3, prefix="+1555066"))
    template = alice.template("Hola {Name}")
    campaign = alice.campaign(
        listed["id"], template["id"], whatsappSessionId=session_id, minDelayMs=600_000, maxDelayMs=600_000
    )
    alice.ok("POST", f"/campaigns/{campaign['id']}/run", status=202)
    alice.wait_status(campaign["id"], {"Running"})
    row.get_by_test_id("disconnect-button").click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_contain_text("Disconnect Shop?")
    expect(dialog).to_contain_text("scheduled campaigns on it are paused")
    page.get_by_test_id("confirm-yes").click()

    # Then the refusal shows on that number's row, and it stays connected
    expect(row.get_by_test_id("number-error")).to_contain_text("A campaign is running on this number")
    expect(row.get_by_test_id("number-status")).to_have_text("WORKING")
    assert fake_waha.logged_out == []
    shot(page, "disconnect-refused")

    # When the campaign is cancelled, and she changes her mind once before confirming
    alice.ok("POST", f"/campaigns/{campaign['id']}/cancel", status=(200, 202))
    alice.wait_status(campaign["id"], {"Cancelled"})
    row.get_by_test_id("disconnect-button").click()
    page.get_by_test_id("confirm-no").click()
    expect(dialog).to_have_count(0)
    assert fake_waha.count_requests("logout") == 0
    row.get_by_test_id("disconnect-button").click()
    page.get_by_test_id("confirm-yes").click()

    # Then the number is gone from the page and from the API, and WAHA logged it out and deleted it
    expect(row).to_have_count(0)
    expect(page.get_by_test_id("numbers-status")).to_contain_text("no WhatsApp number connected")
    expect(page.get_by_test_id("notice")).to_contain_text("Disconnected Shop.")
    assert alice.ok("GET", "/whatsapp-sessions")["items"] == []
    assert fake_waha.logged_out == [waha_name]
    assert [r["path"] for r in fake_waha.request_log("delete-session")] == [f"/api/sessions/{waha_name}"]
    assert waha_name not in fake_waha.sessions


def test_at_phone_width_from_the_keyboard(start_stack, fake_waha: FakeWaha, new_page, shots) -> None:
    # Given bob on a 375 px wide phone, with one number paired already (over the API)
    stack = start_stack(waha_base_url=fake_waha.base_url, waha_api_key=fake_waha.api_key)
    bob = ApiClient(stack, "bob")
    bob.register_session("Zapatería-Centro-Histórico-Sucursal-Número-Dos", fake_waha=fake_waha)
    page = new_page(width=375, height=740)
    shot = shots("numbers-phone")
    sign_in(page, stack, "bob", "#/numbers")
    expect(page.get_by_test_id("number-row")).to_have_count(1)
    expect(page.get_by_test_id("number-status")).to_have_text("WORKING")

    # When he connects a second number with the keyboard alone: Tab to the name, type, Tab on to Connect
    page.get_by_test_id("numbers-refresh-button").focus()
    passed = tab_to(page, "number-label-input")
    assert "edit-number-button" in passed and "disconnect-button" in passed, passed
    page.keyboard.type("Kiosk")
    passed = tab_to(page, "connect-number-button", limit=3)
    assert passed == ["number-daily-limit-input", "connect-number-button"], passed
    page.keyboard.press("Enter")

    # Then the focus goes to the new number's pairing panel, its QR code fits the screen, and
    # nothing on the page is wider than the phone
    new_row = page.get_by_test_id("number-row").filter(has_text="Kiosk")
    expect(new_row.locator("#pairing-heading")).to_be_focused()
    qr = new_row.get_by_test_id("qr-image")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["width"] >= 240, box
    assert_fits(page)
    assert label_problems(page, "numbers-view") == []
    shot(page, "pairing")

    # And an edit form opened from the keyboard fits too, and Escape closes it where it opened
    first = page.get_by_test_id("number-row").first
    edit = first.get_by_test_id("edit-number-button")
    edit.focus()
    page.keyboard.press("Enter")
    expect(first.get_by_test_id("edit-label-input")).to_be_focused()
    expect(edit).to_have_attribute("aria-expanded", "true")
    assert_fits(page)
    shot(page, "editing", full_page=False)
    page.keyboard.press("Escape")
    expect(edit).to_be_focused()
    expect(edit).to_have_attribute("aria-expanded", "false")
    expect(first.get_by_test_id("edit-label-input")).to_be_hidden()


def test_leaving_the_view_stops_its_polling_and_qr_refresh(
    start_stack, fake_waha: FakeWaha, new_page
) -> None:
    # Given carol with a number that waits for its QR code to be scanned (connected over the API),
    # coming to the Numbers view from a link that asks to pair it
    stack = start_stack(waha_base_url=fake_waha.base_url, waha_api_key=fake_waha.api_key)
    carol = ApiClient(stack, "carol")
    session_id = carol.register_session("Stall")["id"]
    carol.register_session("Market", fake_waha=fake_waha)
    waha_name = sessions.find("carol", session_id).name
    page = new_page()
    page.clock.install()
    asked: list[str] = []
    page.on(
        "request", lambda request: asked.append(request.url) if "/whatsapp-sessions" in request.url else None
    )
    sign_in(page, stack, "carol", f"#/numbers?pair={session_id}")

    # Then that number's pairing is open, with its QR code, and the focus on it
    row = page.locator(f'[data-testid="number-row"][data-session-id="{session_id}"]')
    expect(row.get_by_test_id("qr-image")).to_be_visible()
    expect(row.locator("#pairing-heading")).to_be_focused()
    expect(page.get_by_test_id("pairing-panel")).to_have_count(1)

    # While it stays there, the list is read again every few seconds
    before = len(asked)
    page.clock.fast_forward(POLL_MS + 500)
    wait_for(lambda: len(asked) > before, 10, "the list to be read again")

    # When she goes to the opt-outs and time passes
    page.get_by_test_id("nav-optouts").click()
    expect(page.get_by_test_id("optouts-view")).to_be_visible()
    expect(page.get_by_test_id("numbers-view")).to_have_count(0)
    left_at, qr_at = len(asked), qr_fetches(fake_waha, waha_name)
    for _ in range(3):
        page.clock.fast_forward(QR_REFRESH_MS + 1_000)
    page.wait_for_timeout(500)

    # Then neither the list nor the QR code was asked for again
    assert len(asked) == left_at, asked[left_at:]
    assert qr_fetches(fake_waha, waha_name) == qr_at
