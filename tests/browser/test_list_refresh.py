"""The campaign list is read again every few seconds; a click must survive that.

A press that starts on a campaign's name before a refresh and ends after it is
still a click on that name: the refresh updates the rows in place instead of
replacing the link under the pointer.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import stack_fixtures
from tests.browser.test_dashboard import _dry_run_campaigns, sign_in

pytestmark = pytest.mark.browser

start_stack = stack_fixtures.start_stack


def test_a_click_that_spans_a_refresh_still_opens_the_campaign(start_stack, new_page) -> None:
    # Given a signed-in list with a completed campaign
    stack = start_stack(schedule_seconds=1)
    done, _ = _dry_run_campaigns(stack, "erin")
    page = new_page()
    sign_in(page, stack.base_url, stack.token("erin"), "erin")
    link = page.get_by_test_id(f"open-campaign-{done['id']}")
    expect(link).to_be_visible()
    before = page.get_by_test_id("campaigns-updated").text_content()

    # When the mouse goes down on its name, the list is read again, and the mouse comes up
    box = link.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(1100)  # the "Updated" time is shown to the second
    page.evaluate("document.querySelector('[data-testid=refresh-button]').click()")
    expect(page.get_by_test_id("campaigns-updated")).not_to_have_text(before or "")
    expect(page.get_by_test_id("refresh-button")).to_be_enabled()
    page.mouse.up()

    # Then the campaign's page opens
    expect(page.get_by_test_id("detail-status")).to_have_text("Completed")
    assert page.url.endswith(f"#/campaigns/{done['id']}")
