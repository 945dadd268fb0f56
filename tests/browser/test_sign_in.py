"""Signing in to the dashboard in a real Chromium, as a user does: the OAuth 2.0
authorization-code flow with PKCE through the local stack's development sign-in
page (the same code path as Cognito's hosted UI in AWS), no token pasted.

The page keeps its tokens in memory, renews the access token before it expires or
when the API answers 401, survives a reload through the refresh token alone, and
signs out at the provider. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests import stack_fixtures
from tests.stack_fixtures import ApiClient, wait_for

pytestmark = pytest.mark.browser

start_stack = stack_fixtures.start_stack

# Chrome reports every 401 answer as a console error; in these tests the ones from
# the API after a forced expiry are expected. Anything else fails the test.
# The machine may be busy (other tests, benchmarks): an answer gets this long.
SLOW_MS = 30_000
EXPECTED_CONSOLE = re.compile(r"Failed to load resource: the server responded with a status of 401")


@pytest.fixture
def page_with_log(browser: Any) -> Iterator[tuple[Page, list[str], list[tuple[str, str, int]]]]:
    """A page in a fresh context, the page's unexpected errors, and every (method, path, status) it fetched."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    traffic: list[tuple[str, str, int]] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(f"console: {message.text}")
            if message.type == "error" and not EXPECTED_CONSOLE.search(message.text)
            else None
        ),
    )
    page.on(
        "response",
        lambda response: traffic.append(
            (response.request.method, urlsplit(response.url).path, response.status)
        ),
    )
    try:
        yield page, errors, traffic
    finally:
        context.close()
    assert not errors, f"the page reported errors: {errors}"


def seed_campaign(stack: Any, user: str) -> dict[str, Any]:
    client = ApiClient(stack, user)
    client.register_session(f"{user}-phone")
    listed = client.contact_list(stack_fixtures.contacts(3, prefix="+1555060"))
    template = client.template("Hi {Name}")
    return client.campaign(listed["id"], template["id"], name="Autumn offers")


def sign_in_through_the_provider(page: Page, base_url: str, user: str) -> dict[str, list[str]]:
    """Click Sign in, type the user id on the development sign-in page, come back signed in.
    Returns the authorization request's query."""
    page.goto(f"{base_url}/")
    expect(page.get_by_test_id("signin-view")).to_be_visible()
    page.get_by_test_id("oauth-signin-button").click()
    page.wait_for_url(re.compile(r"/local-auth/authorize\?"))
    query = parse_qs(urlsplit(page.url).query)
    page.get_by_label("User id").fill(user)
    page.get_by_test_id("local-auth-submit").click()
    expect(page.get_by_test_id("dashboard")).to_be_visible()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(user)
    return query


def storage_of(page: Page) -> dict[str, dict[str, str]]:
    return page.evaluate(
        """() => ({
          local: Object.fromEntries(Object.entries(localStorage)),
          session: Object.fromEntries(Object.entries(sessionStorage)),
        })"""
    )


def test_signs_in_with_pkce_renews_an_expired_token_and_signs_out(start_stack, page_with_log, shots) -> None:
    page, _errors, traffic = page_with_log
    # A 10 s token: the page's timer would renew it after 8 s.
    stack = start_stack(env={"LOCAL_ACCESS_TOKEN_TTL_SECONDS": "10"})
    authority = stack.server.auth
    campaign = seed_campaign(stack, "erin")
    shot = shots("sign-in")
    # The page's timers and clock are ours to stop (for the forced expiry below).
    page.clock.install()

    # When erin signs in through the sign-in page
    page.goto(f"{stack.base_url}/")
    expect(page.get_by_test_id("oauth-signin-button")).to_be_visible()
    shot(page, "start")
    query = sign_in_through_the_provider(page, stack.base_url, "erin")
    # (the page's clock stops now, before its timer renews the token; see below)
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 0.1)  # seconds since the epoch

    # Then the request carried a PKCE challenge (S256) and a state, and the page's address is clean again
    assert query["code_challenge_method"] == ["S256"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", query["code_challenge"][0])
    assert len(query["state"][0]) >= 16
    assert query["redirect_uri"] == [f"{stack.base_url}/"]
    assert page.url == f"{stack.base_url}/"
    assert authority.grants == ["authorization_code"]
    # And she sees her campaigns
    expect(page.get_by_test_id(f"status-{campaign['id']}")).to_have_text("Scheduled")
    shot(page, "signed-in")
    # And no token is in localStorage; only the refresh token, in sessionStorage
    stored = storage_of(page)
    assert not any(value.startswith("eyJ") for value in stored["local"].values()), stored
    assert list(stored["session"]) == ["campaignRunner.refreshToken"], stored
    assert not stored["session"]["campaignRunner.refreshToken"].startswith("eyJ")

    # When the page's clock has stopped (a sleeping laptop: no timer renews the token) and the token expires
    time.sleep(10.5)
    assert authority.grants == ["authorization_code"]
    page.get_by_test_id("refresh-button").click()

    # Then the API's 401 makes the page renew the token with the refresh token and try again
    wait_for(
        lambda: authority.grants == ["authorization_code", "refresh_token"], SLOW_MS / 1000, "a refresh grant"
    )
    expect(page.get_by_test_id("campaigns-updated")).not_to_have_text("")
    expect(page.get_by_test_id(f"status-{campaign['id']}")).to_have_text("Scheduled")
    expect(page.get_by_test_id("dashboard")).to_be_visible()
    expect(page.get_by_test_id("error-banner")).to_be_hidden()

    def retried_after_401() -> bool:
        page.evaluate("0")  # Playwright's sync API delivers the page's events only during a call
        calls = [(method, status) for method, path, status in traffic if path == "/campaigns"]
        return ("GET", 401) in calls and ("GET", 200) in calls[calls.index(("GET", 401)) + 1 :]

    wait_for(
        retried_after_401, SLOW_MS / 1000, "GET /campaigns answered 401, then 200 with the renewed token"
    )
    page.clock.resume()

    # When she signs out
    page.get_by_test_id("signout-button").click()

    # Then the page goes through the provider's logout and back, signed out, with nothing stored
    expect(page.get_by_test_id("signin-view")).to_be_visible()
    expect(page.get_by_test_id("oauth-signin-button")).to_be_visible()
    assert ("GET", "/local-auth/logout", 302) in traffic
    assert storage_of(page)["session"] == {}
    shot(page, "signed-out")
    page.reload()
    expect(page.get_by_test_id("signin-view")).to_be_visible()
    expect(page.get_by_test_id("dashboard")).to_be_hidden()
    assert authority.grants == ["authorization_code", "refresh_token"]


def test_token_is_renewed_before_it_expires_and_a_reload_keeps_the_session(
    start_stack, page_with_log
) -> None:
    page, _errors, traffic = page_with_log
    stack = start_stack(env={"LOCAL_ACCESS_TOKEN_TTL_SECONDS": "3"})
    authority = stack.server.auth
    campaign = seed_campaign(stack, "frank")

    sign_in_through_the_provider(page, stack.base_url, "frank")
    expect(page.get_by_test_id(f"status-{campaign['id']}")).to_have_text("Scheduled")

    # A 3 s token is renewed at 80 % of its life, by the page's timer, before the API refuses it
    wait_for(lambda: authority.grants.count("refresh_token") >= 2, 10, "two timely refreshes")
    page.get_by_test_id("refresh-button").click()
    expect(page.get_by_test_id(f"status-{campaign['id']}")).to_have_text("Scheduled")
    assert not [entry for entry in traffic if entry[2] == 401], traffic

    # A reload forgets the tokens in memory and gets new ones from the refresh token, without the sign-in page
    before = len(authority.grants)
    page.reload()
    expect(page.get_by_test_id("dashboard")).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_test_id("signed-in-as")).to_have_text("frank")
    expect(page.get_by_test_id(f"status-{campaign['id']}")).to_have_text("Scheduled")
    assert authority.grants[before] == "refresh_token"
    assert not any(path == "/local-auth/authorize" for _, path, _ in traffic[-20:])


def test_a_callback_this_page_did_not_ask_for_is_refused(start_stack, page_with_log) -> None:
    page, _errors, traffic = page_with_log
    stack = start_stack()

    page.goto(f"{stack.base_url}/?code=stolen-code&state=forged-state")

    expect(page.get_by_test_id("error-message")).to_contain_text("does not match the request this page made")
    expect(page.get_by_test_id("signin-view")).to_be_visible()
    assert page.url == f"{stack.base_url}/"
    assert stack.server.auth.grants == []
    assert not any(path == "/local-auth/token" for _, path, _ in traffic)


def test_without_token_paste_the_page_offers_only_the_provider(start_stack, page_with_log) -> None:
    page, _errors, traffic = page_with_log
    # As on the deployed dashboard: config.json has no tokenPaste
    stack = start_stack(env={"LOCAL_TOKEN_PASTE": "0"})
    campaign = seed_campaign(stack, "gina")
    page.goto(f"{stack.base_url}/")
    # An API address typed into an earlier version of the page must not win over config.json's
    page.evaluate("localStorage.setItem('campaignRunner.apiBaseUrl', 'http://127.0.0.1:9')")
    page.reload()

    expect(page.get_by_test_id("oauth-signin-button")).to_be_visible()
    expect(page.get_by_test_id("signin-form")).to_be_hidden()
    expect(page.get_by_test_id("token-paste-note")).to_be_hidden()
    sign_in_through_the_provider(page, stack.base_url, "gina")
    expect(page.get_by_test_id(f"status-{campaign['id']}")).to_have_text("Scheduled")
    assert ("GET", "/campaigns", 200) in traffic
