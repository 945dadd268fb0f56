"""Steps the browser tests of single dashboard views share: signing in straight onto a
view's route, and measuring what a person at a phone or a keyboard would meet."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

# Controls without a name, and elements that act as buttons without being ones, inside `root`.
LABEL_PROBLEMS = """
(root) => {
  const named = (el) => (el.getAttribute("aria-label") || [...(el.labels ?? [])].map((l) => l.textContent).join(" ")).trim();
  const problems = [];
  for (const el of root.querySelectorAll("input, select, textarea")) if (!named(el)) problems.push(`${el.dataset.testid} has no label`);
  for (const el of root.querySelectorAll("button")) if (!(el.getAttribute("aria-label") || el.textContent).trim()) problems.push(`${el.dataset.testid} has no name`);
  for (const el of root.querySelectorAll("div[onclick], span[onclick], [role=button]")) problems.push(`${el.tagName} acts as a button`);
  return problems;
}
"""


def sign_in(page: Page, stack: Any, user: str, route: str) -> None:
    """Open `route` (e.g. `#/numbers`) and sign in there with a pasted token: the view it names shows."""
    page.goto(f"{stack.base_url}/{route}")
    page.get_by_label("Access token").fill(stack.token(user))
    page.get_by_test_id("signin-button").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(user)


def horizontal_overflow(page: Page) -> dict[str, Any]:
    """The page's scroll width against the viewport's, and the first elements sticking out."""
    return page.evaluate(
        """() => {
          const wide = [...document.querySelectorAll("body *")]
            .filter((el) => el.getClientRects().length && el.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5)
            .map((el) => `${el.tagName.toLowerCase()}.${el.className} right=${el.getBoundingClientRect().right}`);
          return { scrollWidth: document.scrollingElement.scrollWidth, innerWidth: window.innerWidth, wide };
        }"""
    )


def assert_fits(page: Page) -> None:
    measured = horizontal_overflow(page)
    assert measured["scrollWidth"] <= measured["innerWidth"], f"horizontal overflow: {measured}"


def label_problems(page: Page, testid: str) -> list[str]:
    return page.evaluate(LABEL_PROBLEMS, page.get_by_test_id(testid).element_handle())


def tab_to(page: Page, testid: str, limit: int = 40) -> list[str]:
    """Press Tab until the element with this test id has the focus; the test ids passed on the way."""
    passed: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => document.activeElement?.dataset?.testid ?? document.activeElement?.id ?? ''"
        )
        passed.append(focused)
        if focused == testid:
            return passed
    raise AssertionError(f"{testid} not reached by Tab: {passed}")
