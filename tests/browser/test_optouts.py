"""The Opt-outs view (#/opt-outs) in a real Chromium, against the local stack.

Numbers typed in, a bad one refused with nothing saved and the reason shown by the
number; a CSV file imported, its bad lines listed by line and left out; the list as the
API keeps it, with a number that replied STOP; one number taken off after confirmation,
and a removal refused on its own row. Then the view at phone width.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from campaigns.api.optouts import record_inbound
from campaigns.timeutil import utcnow
from tests import stack_fixtures
from tests.browser.view_pages import assert_fits, label_problems, sign_in
from tests.stack_fixtures import ApiClient

pytestmark = pytest.mark.browser

start_stack = stack_fixtures.start_stack

REFUSALS = r"Failed to load resource: the server responded with a status of (404|422)"


def open_optouts(page: Page, stack: Any, user: str) -> None:
    sign_in(page, stack, user, "#/opt-outs")
    expect(page.get_by_test_id("optouts-view")).to_be_visible()


def listed(client: ApiClient) -> dict[str, str]:
    """The caller's opt-out list as the API keeps it: number -> source."""
    items = client.ok("GET", "/opt-outs", None)["items"]
    return {item["phoneNumber"]: item["source"] for item in items}


def row_of(page: Page, phone: str):
    return page.locator(f'[data-testid="optout-row"][data-phone-number="{phone}"]')


def test_numbers_are_added_imported_listed_and_removed(
    start_stack, new_page_expecting, shots, tmp_path: Path
) -> None:
    # Given dana, one of whose contacts replied STOP to her number
    stack = start_stack()
    dana = ApiClient(stack, "dana")
    record_inbound("dana", "+447700900123", "Stop!", utcnow())
    page = new_page_expecting(REFUSALS)
    shot = shots("optouts")

    # When she opens the opt-outs
    open_optouts(page, stack, "dana")

    # Then the number that replied STOP is there, saying so
    expect(page.get_by_test_id("optout-row")).to_have_count(1)
    expect(row_of(page, "+447700900123")).to_contain_text('Replied "STOP"')

    # When she types three numbers, one of them not a phone number
    add_input = page.get_by_test_id("optout-add-input")
    add_input.fill("+34 612 345 678, +1 (415) 555-0100\n12ab")
    page.get_by_test_id("optout-add-button").click()

    # Then the bad one is shown by its place and what she wrote, and nothing was added
    errors = page.get_by_test_id("optout-add-errors")
    expect(errors).to_contain_text('Number 3 ("12ab")')
    expect(page.get_by_test_id("optout-add-input-error")).to_contain_text("Nothing was added")
    expect(add_input).to_have_attribute("aria-invalid", "true")
    expect(add_input).to_be_focused()
    assert listed(dana) == {"+447700900123": "keyword"}
    shot(page, "refused")

    # When she takes it out and adds again
    add_input.fill("+34 612 345 678, +1 (415) 555-0100")
    page.get_by_test_id("optout-add-button").click()

    # Then both are on the list, in E.164, and the box is empty again
    expect(page.get_by_test_id("notice")).to_have_text("2 numbers added to the opt-out list.")
    expect(page.get_by_test_id("optout-row")).to_have_count(3)
    expect(add_input).to_have_value("")
    expect(errors).to_be_hidden()
    assert listed(dana) == {"+447700900123": "keyword", "+34612345678": "manual", "+14155550100": "manual"}

    # When she imports a CSV: a header, a new number, one already there, a national number
    # without a country, an empty cell and a new number after them
    csv_file = tmp_path / "unsubscribed.csv"
    csv_file.write_text(
        "name,phoneNumber\nAna,+52 55 1234 5678\nBruno,+34612345678\nChloé,612 000 111\nDmitri,\nEve,+15550109999\n",
        encoding="utf-8",
    )
    page.get_by_test_id("optout-import-input").set_input_files(str(csv_file))

    # Then the good ones are added, and the bad lines are listed by line and left out
    summary = page.get_by_test_id("optout-import-summary")
    expect(summary).to_have_text(
        "unsubscribed.csv: 2 numbers added to the opt-out list; 1 was on it already; "
        "2 lines were left out (see below)."
    )
    import_errors = page.get_by_test_id("optout-import-errors").locator("li")
    expect(import_errors).to_have_count(2)
    expect(import_errors.nth(0)).to_contain_text('Line 4 ("612 000 111")')
    expect(import_errors.nth(1)).to_have_text("Line 5: no phone number")
    expect(page.get_by_test_id("optout-row")).to_have_count(5)
    assert listed(dana) == {
        "+447700900123": "keyword",
        "+34612345678": "manual",
        "+14155550100": "manual",  # typed earlier; the file's copy changed nothing
        "+525512345678": "import",
        "+15550109999": "import",
    }
    expect(page.get_by_test_id("optout-row").filter(has_text="+525512345678")).to_contain_text(
        "Imported from a file"
    )
    shot(page, "imported")

    # And a national number goes in with the country she names for it
    page.get_by_test_id("optout-country-input").fill("ES")
    add_input.fill("612 000 111")
    page.get_by_test_id("optout-add-button").click()
    expect(row_of(page, "+34612000111")).to_have_count(1)
    page.get_by_test_id("optout-country-input").fill("")

    # And the list shows what the API keeps, in number order
    shown = [row.get_attribute("data-phone-number") for row in page.get_by_test_id("optout-row").all()]
    assert shown == sorted(listed(dana)), shown

    # When she removes one but keeps it on when asked, then removes it for real
    row = row_of(page, "+14155550100")
    row.get_by_test_id("optout-remove-button").click()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("Take +14155550100 off the opt-out list?")
    page.get_by_test_id("confirm-no").click()
    expect(row).to_have_count(1)
    assert "+14155550100" in listed(dana)
    row.get_by_test_id("optout-remove-button").click()
    page.get_by_test_id("confirm-yes").click()

    # Then it is gone from the page and from the API, and the keyboard is on the next row's button
    expect(row).to_have_count(0)
    expect(page.get_by_test_id("notice")).to_have_text("+14155550100 is off the opt-out list.")
    assert "+14155550100" not in listed(dana)
    expect(page.locator(":focus")).to_have_attribute("data-testid", "optout-remove-button")

    # When a number was taken off elsewhere meanwhile and she removes it here
    assert dana.request("DELETE", "/opt-outs/%2B15550109999").status_code == 204
    stale = row_of(page, "+15550109999")
    stale.get_by_test_id("optout-remove-button").click()
    page.get_by_test_id("confirm-yes").click()

    # Then the refusal shows on that row, and the rest of the list is untouched
    expect(stale.get_by_test_id("optout-row-error")).to_contain_text("not on your opt-out list")
    expect(page.get_by_test_id("optout-row")).to_have_count(5)
    shot(page, "row-error")


def test_the_list_pages_and_fits_a_phone(start_stack, new_page, shots) -> None:
    # Given erin with 60 numbers on her list (more than a page of 50)
    stack = start_stack()
    erin = ApiClient(stack, "erin")
    numbers = [f"+1555020{n:04d}" for n in range(60)]
    assert erin.ok("POST", "/opt-outs", {"phoneNumbers": numbers})["added"] == numbers
    page = new_page(width=375, height=740)
    shot = shots("optouts-phone")

    # When she opens the opt-outs on a phone
    open_optouts(page, stack, "erin")

    # Then the first 50 show, each as a card within the screen, and the rest come with Load more
    rows = page.get_by_test_id("optout-row")
    expect(rows).to_have_count(50)
    expect(page.get_by_test_id("optouts-status")).to_contain_text("50 shown, more below")
    assert_fits(page)
    assert label_problems(page, "optouts-view") == []
    box = rows.first.get_by_test_id("optout-remove-button").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375, box
    shot(page, "list", full_page=False)
    page.get_by_test_id("optouts-more-button").click()
    expect(rows).to_have_count(60)
    expect(page.get_by_test_id("optouts-more-button")).to_be_hidden()
    expect(page.get_by_test_id("optouts-status")).to_contain_text("60 on the list")
    assert [row.get_attribute("data-phone-number") for row in rows.all()] == numbers
