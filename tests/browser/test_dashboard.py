"""The dashboard end to end in a real Chromium, against the local stack and a fake WAHA.

One campaign's whole life through the page: created with the form (CSV upload,
live preview), opened on its own page, run, paused when the WhatsApp session drops,
resumed from the list, completed, and its deliveries listed, each contact once. Then
the views at phone width, and their labels and keyboard reachability. Screenshots go
to artifacts/screenshots/.
"""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests import stack_fixtures
from tests.fakewaha import FakeWaha
from tests.stack_fixtures import ApiClient

pytestmark = pytest.mark.browser

# Fixtures of stack_fixtures, used by name below.
start_stack = stack_fixtures.start_stack

STATE_CHANGE_MS = 20_000  # the machine may be busy: campaigns and polling get time to move
DROP_AFTER = 6
DEFAULT_NAME = "friend"
TEMPLATE = "Hello {Name}, your order is ready."

# (phone number as written in the file, first name); blank names get DEFAULT_NAME.
CONTACTS = [
    ("+15550300001", "Ana"),
    ("+15550300002", ""),
    ("+15550300003", "Bruno, Jr."),
    ("+1 (555) 030-0004", "Chloé"),
    ("+15550300005", "   "),
    ("+15550300006", "Dmitri"),
    ("+15550300007", ""),
    ("+15550300008", "Eve"),
    ("+15550300009", "Farah"),
    ("+15550300010", ""),
    ("+15550300011", "Gustavo"),
    ("+15550300012", "Hana"),
]


def clean_phone(raw: str) -> str:
    return re.sub(r"[\s().-]", "", raw)


def expected_text(first_name: str) -> str:
    return TEMPLATE.replace("{Name}", first_name.strip() or DEFAULT_NAME)


def write_contacts_csv(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phoneNumber", "firstName"])
        writer.writerows(CONTACTS)
    return path


def sign_in(page: Page, base_url: str, token: str, user: str) -> None:
    page.goto(f"{base_url}/")
    expect(page.get_by_test_id("signin-view")).to_be_visible()
    page.get_by_label("Access token").fill(token)
    page.get_by_test_id("signin-button").click()
    expect(page.get_by_test_id("dashboard")).to_be_visible()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(user)


def campaign_id_from_url(page: Page) -> str:
    match = re.search(r"#/campaigns/([^/?]+)$", page.url)
    assert match, page.url
    return match.group(1)


# Records the campaign's (status, handled) whenever it changes, on the list or on its page.
WATCH_PROGRESS = """
(id) => {
  window.progressSeen = [];
  const record = () => {
    const bar = document.querySelector(`[data-testid="detail-progress"], [data-testid="progress-${id}"]`);
    const status = document.querySelector(`[data-testid="detail-status"], [data-testid="status-${id}"]`);
    if (!bar || !status) return;
    const entry = [status.textContent, Number(bar.getAttribute("aria-valuenow"))];
    const last = window.progressSeen[window.progressSeen.length - 1];
    if (!last || last[0] !== entry[0] || last[1] !== entry[1]) window.progressSeen.push(entry);
  };
  record();
  new MutationObserver(record).observe(document.getElementById("view"), { childList: true, subtree: true });
}
"""


def test_campaign_paused_by_a_dropped_session_is_resumed_and_completes(
    start_stack, fake_waha: FakeWaha, new_page, shots, tmp_path: Path
) -> None:
    # Given a local stack sending through a WAHA whose session drops after DROP_AFTER messages
    stack = start_stack(
        waha_base_url=fake_waha.base_url,
        waha_api_key=fake_waha.api_key,
        schedule_seconds=1,
        env={"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "10", "WAHA_MAX_ATTEMPTS": "2"},
    )
    alice = ApiClient(stack, "alice")
    session = alice.register_session("Shop", fake_waha=fake_waha)
    fake_waha.drop_after(DROP_AFTER, session=session["wahaName"])
    contacts_csv = write_contacts_csv(tmp_path / "contacts.csv")
    phones = [clean_phone(phone) for phone, _ in CONTACTS]
    page = new_page()
    shot = shots("journey")

    # When alice signs in with a pasted token
    sign_in(page, stack.base_url, stack.token("alice"), "alice")
    expect(page.get_by_test_id("campaigns-empty")).to_be_visible()
    expect(page.get_by_test_id("nav-campaigns")).to_have_attribute("aria-current", "page")
    shot(page, "signed-in")

    # And fills in the form: the CSV is read in the page, the preview shows the first contact's name
    page.get_by_test_id("nav-create").click()
    expect(page.locator("#create-heading")).to_be_focused()
    expect(page.get_by_test_id("session-select")).to_have_value(session["id"])
    page.get_by_label("Name", exact=True).fill("Spring sale")
    # Nothing is saved yet, so a CSV and a new message are the only choices
    expect(page.get_by_test_id("list-source-upload")).to_be_checked()
    expect(page.get_by_test_id("list-source-saved")).to_be_disabled()
    expect(page.get_by_test_id("template-source-write")).to_be_checked()
    page.get_by_label("Contacts CSV file").set_input_files(str(contacts_csv))
    expect(page.get_by_test_id("csv-summary")).to_have_text(f"contacts.csv: {len(CONTACTS)} contacts ready.")
    expect(page.get_by_test_id("csv-errors")).to_be_hidden()
    page.get_by_label("Message text").fill(TEMPLATE)
    page.get_by_label("Name for contacts without one").fill(DEFAULT_NAME)
    expect(page.get_by_test_id("template-preview-for")).to_contain_text("+15550300001 (Ana)")
    expect(page.get_by_test_id("template-preview")).to_have_text("Hello Ana, your order is ready.")
    page.get_by_label("Shortest pause between messages (seconds)").fill("0.4")
    page.get_by_label("Longest pause between messages (seconds)").fill("0.5")
    shot(page, "form-filled")
    page.get_by_test_id("create-submit").click()

    # Then the new campaign's page shows it Scheduled, with Run and no Resume
    expect(page.get_by_test_id("notice")).to_contain_text(
        'Campaign "Spring sale" created (Scheduled). It waits for Run.'
    )
    expect(page.get_by_test_id("detail-name")).to_have_text("Spring sale")
    campaign_id = campaign_id_from_url(page)
    status = page.get_by_test_id("detail-status")
    progress = page.get_by_test_id("detail-progress")
    resume = page.get_by_test_id(f"action-resume-{campaign_id}")
    expect(status).to_have_text("Scheduled")
    expect(progress).to_have_attribute("aria-valuenow", "0")
    expect(progress).to_have_attribute("aria-valuemax", str(len(CONTACTS)))
    expect(page.get_by_test_id("fact-list")).to_have_text(f"contacts ({len(CONTACTS)} contacts)")
    expect(page.get_by_test_id("fact-message")).to_have_text(TEMPLATE)
    expect(page.get_by_test_id("fact-pacing")).to_have_text("0.4\u20130.5 s between messages")
    expect(page.get_by_test_id(f"action-run-{campaign_id}")).to_be_enabled()
    expect(resume).to_have_count(0)
    page.evaluate(WATCH_PROGRESS, campaign_id)
    shot(page, "scheduled")

    # When it is run
    page.get_by_test_id(f"action-run-{campaign_id}").click()
    expect(page.get_by_test_id("notice")).to_contain_text('Run requested: "Spring sale".')

    # Then the bar moves while messages go out
    expect(progress).to_have_attribute("aria-valuenow", re.compile(r"^[1-9]\d*$"), timeout=STATE_CHANGE_MS)
    shot(page, "progress")

    # And when the session drops, the campaign is Paused with the reason, and offers Resume
    expect(status).to_have_text("Paused", timeout=STATE_CHANGE_MS)
    expect(progress).to_have_attribute("aria-valuenow", str(DROP_AFTER))
    expect(progress).to_have_attribute(
        "aria-valuetext",
        f"{DROP_AFTER} of {len(CONTACTS)} handled: {DROP_AFTER} sent, 0 failed, 0 unknown, 0 skipped",
    )
    reason = page.get_by_test_id("detail-pause-reason")
    expect(reason).to_contain_text("not WORKING")
    expect(reason).to_contain_text("SCAN_QR_CODE")
    expect(resume).to_be_enabled()
    expect(page.get_by_test_id(f"action-run-{campaign_id}")).to_have_count(0)
    assert len(fake_waha.sent()) == DROP_AFTER

    # And in the list, other campaigns (created over the API: one Scheduled, one Cancelled) offer no Resume
    listed = alice.contact_list([{"phoneNumber": "+15550309901", "firstName": "Other"}], name="Later")
    template = alice.template("Later {Name}")
    later = alice.campaign(
        listed["id"], template["id"], name="Later campaign", whatsappSessionId=session["id"]
    )
    dropped = alice.campaign(
        listed["id"], template["id"], name="Dropped campaign", whatsappSessionId=session["id"]
    )
    assert alice.request("POST", f"/campaigns/{dropped['id']}/cancel").status_code in (200, 202)
    page.get_by_test_id("nav-campaigns").click()
    expect(page.get_by_test_id(f"status-{later['id']}")).to_have_text("Scheduled")
    expect(page.get_by_test_id(f"status-{dropped['id']}")).to_have_text("Cancelled")
    expect(page.get_by_test_id(f"status-{campaign_id}")).to_have_text("Paused")
    expect(page.get_by_test_id(f"pause-reason-{campaign_id}")).to_contain_text("SCAN_QR_CODE")
    expect(page.locator('[data-testid^="action-resume-"]')).to_have_count(1)
    expect(page.get_by_test_id(f"action-run-{later['id']}")).to_be_visible()
    expect(page.get_by_test_id(f"campaign-row-{dropped['id']}").get_by_role("button")).to_have_count(0)
    expect(page.get_by_test_id(f"pause-reason-{later['id']}")).to_have_text("—")
    shot(page, "paused")

    # When the session is paired again and Resume is clicked (its request held back for a moment)
    fake_waha.set_session(session["wahaName"], "WORKING")
    held: list[Any] = []
    page.route("**/campaigns/*/resume", lambda route: held.append(route))
    resume.click()

    # Then the button is disabled and busy while the request is pending, even across a refresh
    expect(resume).to_be_disabled()
    expect(resume).to_have_attribute("aria-busy", "true")
    expect(resume).to_have_text("Resuming…")
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(held) == 1, "the page did not send POST /resume"
    page.wait_for_timeout(500)
    page.get_by_test_id("refresh-button").click()
    expect(page.get_by_test_id("refresh-button")).to_be_enabled()
    expect(resume).to_be_disabled()
    shot(page, "resume-pending")
    held[0].continue_()
    page.unroute("**/campaigns/*/resume")
    expect(page.get_by_test_id("notice")).to_contain_text('Resume requested: "Spring sale".')
    assert len(held) == 1, "one click made one request"

    # And on its page the campaign completes with every contact sent
    page.get_by_test_id(f"open-campaign-{campaign_id}").click()
    expect(status).to_have_text("Completed", timeout=STATE_CHANGE_MS)
    expect(progress).to_have_attribute("aria-valuenow", str(len(CONTACTS)))
    expect(progress).to_have_attribute(
        "aria-valuetext",
        f"{len(CONTACTS)} of {len(CONTACTS)} handled: {len(CONTACTS)} sent, 0 failed, 0 unknown, 0 skipped",
    )
    expect(page.get_by_test_id("figure-sent")).to_have_text(f"{len(CONTACTS)} of {len(CONTACTS)}")
    expect(page.get_by_test_id("figure-eta").locator("time")).to_have_count(1)
    expect(page.get_by_test_id("detail-pause-reason")).to_have_count(0)
    expect(page.get_by_test_id("detail-actions").locator('[data-testid^="action-"]')).to_have_count(0)
    expect(page.get_by_test_id("error-banner")).to_be_hidden()
    seen = page.evaluate("window.progressSeen")
    values = [value for _, value in seen]
    assert values == sorted(values), f"progress went backwards: {seen}"
    assert values[0] == 0 and values[-1] == len(CONTACTS) and DROP_AFTER in values, seen
    assert ["Paused", DROP_AFTER] in seen, seen
    shot(page, "completed")

    # And every contact is listed exactly once, in file order, Sent, with a message id
    delivery_rows = page.get_by_test_id("deliveries-body").locator("tr")
    expect(delivery_rows).to_have_count(len(CONTACTS))
    expect(page.get_by_test_id("deliveries-next")).to_be_disabled()
    listed_phones = [text.strip() for text in delivery_rows.locator("td:nth-child(2)").all_inner_texts()]
    assert listed_phones == phones
    statuses = [
        text.strip() for text in delivery_rows.locator('[data-testid^="delivery-status-"]').all_inner_texts()
    ]
    assert statuses == ["Sent"] * len(CONTACTS)
    message_ids = [text.strip() for text in delivery_rows.locator("td:nth-child(5)").all_inner_texts()]
    assert all(message_id and message_id != "—" for message_id in message_ids), message_ids
    expect(page.get_by_test_id("sends-chart")).to_have_attribute("data-sent", str(len(CONTACTS)))
    page.get_by_test_id("deliveries-panel").scroll_into_view_if_needed()
    shot(page, "deliveries")

    # And filtering by Failed shows none
    page.get_by_label("Status", exact=True).select_option("Failed")
    expect(page.get_by_test_id("deliveries-empty")).to_have_text("No deliveries with status Failed yet.")
    expect(delivery_rows).to_have_count(0)

    # And WhatsApp got one personalised message per contact, and nothing for the other campaigns
    expected = {f"{clean_phone(phone).lstrip('+')}@c.us": [expected_text(name)] for phone, name in CONTACTS}
    assert fake_waha.texts_by_chat() == expected
    assert fake_waha.deduped == 0


def _overflow(page: Page) -> dict[str, Any]:
    return page.evaluate(
        """() => {
          const root = document.scrollingElement;
          const wide = [...document.querySelectorAll("body *")]
            .filter((el) => el.getClientRects().length && el.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5)
            .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className} right=${el.getBoundingClientRect().right}`);
          return { scrollWidth: root.scrollWidth, innerWidth: window.innerWidth, wide };
        }"""
    )


def _assert_fits(page: Page, where: str) -> None:
    measured = _overflow(page)
    assert measured["scrollWidth"] <= measured["innerWidth"], f"{where}: horizontal overflow {measured}"


def _dry_run_campaigns(stack: Any, user: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Completed campaign with a long unbroken name and a Scheduled one, created over the API."""
    client = ApiClient(stack, user)
    client.register_session(f"{user}-phone")
    listed = client.contact_list(stack_fixtures.contacts(5, prefix="+1555040"))
    template = client.template("Hi {Name}")
    done = client.campaign(
        listed["id"], template["id"], name="Neujahrsgrüße-Kampagne-2026-Nordrhein-Westfalen-Bestandskunden"
    )
    assert client.request("POST", f"/campaigns/{done['id']}/run").status_code == 202
    client.wait_status(done["id"], {"Completed"})
    waiting = client.campaign(listed["id"], template["id"], name="Summer preview")
    return done, waiting


def test_phone_width_has_no_horizontal_overflow(start_stack, new_page, shots) -> None:
    stack = start_stack(schedule_seconds=1)
    done, waiting = _dry_run_campaigns(stack, "bob")
    page = new_page(width=375, height=740)
    shot = shots("phone")

    page.goto(f"{stack.base_url}/")
    expect(page.get_by_test_id("signin-view")).to_be_visible()
    _assert_fits(page, "sign-in")
    shot(page, "sign-in", full_page=False)

    sign_in(page, stack.base_url, stack.token("bob"), "bob")
    expect(page.get_by_test_id(f"status-{done['id']}")).to_have_text("Completed")
    expect(page.get_by_test_id(f"status-{waiting['id']}")).to_have_text("Scheduled")
    _assert_fits(page, "campaigns")
    # The table becomes one card per campaign, its buttons within the screen
    expect(page.get_by_test_id(f"campaign-row-{waiting['id']}")).to_have_css("display", "block")
    for action in ("run", "pause", "cancel"):
        box = page.get_by_test_id(f"action-{action}-{waiting['id']}").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375, (action, box)
    shot(page, "campaigns", full_page=False)

    # A campaign's page: its figures, chart and deliveries fit
    page.get_by_test_id(f"open-campaign-{done['id']}").click()
    expect(page.get_by_test_id("deliveries-body").locator("tr")).to_have_count(5)
    expect(page.get_by_test_id("sends-chart")).to_be_visible()
    _assert_fits(page, "campaign page")
    label_fonts = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="deliveries-body"] tr:first-child td')]
          .map((td) => getComputedStyle(td, "::before").fontFamily)"""
    )
    assert len(set(label_fonts)) == 1, f"the cards' labels are in different fonts: {label_fonts}"
    shot(page, "campaign", full_page=False)
    page.get_by_test_id("deliveries-panel").scroll_into_view_if_needed()
    shot(page, "deliveries", full_page=False)

    # An empty form: the banner and the errors next to the fields fit, and the banner, sticky at
    # the top, does not cover the field that gets the focus
    page.get_by_test_id("nav-create").click()
    expect(page.get_by_test_id("list-source-saved")).to_be_checked()
    _assert_fits(page, "create form")
    page.get_by_test_id("create-submit").click()
    expect(page.get_by_test_id("error-banner")).to_be_visible()
    expect(page.get_by_test_id("campaign-name-input-error")).to_have_text("Give the campaign a name.")
    name_input = page.get_by_label("Name", exact=True)
    expect(name_input).to_be_focused()
    expect(name_input).to_be_in_viewport()
    assert page.evaluate(
        """() => {
          const el = document.activeElement;
          const box = el.getBoundingClientRect();
          return document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2) === el;
        }"""
    ), "the focused field is covered"
    _assert_fits(page, "form errors")
    shot(page, "form-errors", full_page=False)
    page.get_by_label("Only send during these hours").check()
    _assert_fits(page, "send window")
    shot(page, "create-form")


LABEL_PROBLEMS = """
() => {
  const nameOf = (el) => {
    const labelled = (el.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean)
      .map((id) => document.getElementById(id)?.textContent ?? "").join(" ");
    const labels = [...(el.labels ?? [])].map((label) => label.textContent).join(" ");
    return (el.getAttribute("aria-label") || labelled || labels || "").trim();
  };
  const problems = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    if (!nameOf(el)) problems.push(`${el.tagName.toLowerCase()}#${el.id} has no label`);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!(el.getAttribute("aria-label") || el.textContent).trim()) problems.push(`${el.tagName.toLowerCase()}#${el.id} has no name`);
  }
  for (const el of document.querySelectorAll("[tabindex]")) {
    if (Number(el.getAttribute("tabindex")) > 0) problems.push(`${el.tagName.toLowerCase()}#${el.id} has a positive tabindex`);
  }
  for (const el of document.querySelectorAll("[role=progressbar], svg[role=img]")) {
    if (!nameOf(el)) problems.push(`${el.dataset.testid} has no name`);
  }
  return problems;
}
"""

FOCUSED = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  return el.dataset.testid || el.id || el.className || el.tagName.toLowerCase();
}
"""

REACHABLE = """
() => [...document.querySelectorAll("button, a[href], input, select, textarea")]
  .filter((el) => el.getClientRects().length && !el.disabled && !el.closest("[hidden]"))
  .filter((el) => el.type !== "radio" || el.checked)
  .map((el) => el.dataset.testid || el.id || el.className)
"""


def _tab_through(page: Page, limit: int = 160) -> list[str]:
    """Press Tab until focus has gone once round the page (past its end and back to where it
    started); the elements focused, in order (a control that takes several presses, like a
    date-time input, counts once)."""
    order: list[str] = []
    wrapped = False
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:  # past the last element: the next Tab starts again at the top
            wrapped = True
            continue
        if order and order[-1] == focused:
            continue
        if focused in order and (wrapped or focused == order[0]):
            return order
        order.append(focused)
    raise AssertionError(f"focus did not come round in {limit} presses of Tab: {order}")


def _assert_all_reachable(page: Page, where: str) -> None:
    assert page.evaluate(LABEL_PROBLEMS) == [], where
    order = _tab_through(page)
    missing = [name for name in page.evaluate(REACHABLE) if name not in order]
    assert missing == [], f"{where}: not reachable by Tab: {missing}; focus order: {order}"


def test_controls_are_labelled_and_reachable_by_keyboard(start_stack, new_page, shots) -> None:
    stack = start_stack(schedule_seconds=1)
    done, waiting = _dry_run_campaigns(stack, "carol")
    page = new_page()
    shot = shots("keyboard")
    page.goto(f"{stack.base_url}/")
    expect(page.get_by_test_id("signin-view")).to_be_visible()

    # The sign-in form: labelled, and usable with the keyboard alone
    assert page.evaluate(LABEL_PROBLEMS) == []
    order = _tab_through(page, limit=20)
    assert order[0] == "skip-link"
    for control in ("token-input", "token-show", "api-base-input", "signin-button"):
        assert control in order, (control, order)
    for _ in range(20):  # on round to the token field
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED) == "token-input":
            break
    expect(page.get_by_label("Access token")).to_be_focused()
    page.keyboard.type(stack.token("carol"))
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("dashboard")).to_be_visible()
    expect(page.get_by_test_id(f"status-{done['id']}")).to_have_text("Completed")
    expect(page.get_by_test_id(f"status-{waiting['id']}")).to_have_text("Scheduled")
    expect(page.locator("#campaigns-heading")).to_be_focused()

    # The list: every control labelled, every button and link reached by Tab
    _assert_all_reachable(page, "campaigns")

    # A campaign's page opens with Enter on its name, its heading focused, and is as reachable
    opener = page.get_by_test_id(f"open-campaign-{done['id']}")
    opener.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#detail-heading")).to_be_focused()
    expect(page.get_by_test_id("deliveries-body").locator("tr")).to_have_count(5)
    expect(page.get_by_test_id("fact-list")).to_contain_text("Customers (5 contacts)")
    _assert_all_reachable(page, "campaign page")
    shot(page, "campaign-by-keyboard")

    # Delete asks first: Escape keeps the campaign, and the focus goes back to the button
    delete = page.get_by_test_id("delete-button")
    delete.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("confirm-dialog")).to_be_visible()
    expect(page.get_by_test_id("confirm-no")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("confirm-dialog")).to_have_count(0)
    expect(delete).to_be_focused()
    expect(page.get_by_test_id("detail-status")).to_have_text("Completed")

    # The create form, with its send window open, is labelled and reachable too
    page.get_by_test_id("nav-create").click()
    expect(page.get_by_test_id("list-source-saved")).to_be_checked()
    page.get_by_label("Only send during these hours").check()
    page.get_by_test_id("media-select").select_option("url")
    _assert_all_reachable(page, "create form")

    # Back in the list, Run works from the keyboard too (Space on the focused button)
    page.get_by_test_id("nav-campaigns").click()
    run = page.get_by_test_id(f"action-run-{waiting['id']}")
    run.focus()
    page.keyboard.press("Space")
    expect(page.get_by_test_id("notice")).to_contain_text('Run requested: "Summer preview".')
    expect(page.get_by_test_id(f"status-{waiting['id']}")).to_have_text("Completed", timeout=STATE_CHANGE_MS)
