"""Fixtures for the dashboard's end-to-end tests: Debian's Chromium driven by Playwright,
a page per test, and a place for screenshots.

The tests skip, with the reason, when Chromium is not installed or cannot start
(`make browser` installs it with apt-get when run as root). Set
BROWSER_TESTS_REQUIRED=1 (e.g. in CI) to make that a failure instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
LAUNCH_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 900}
EXPECT_TIMEOUT_MS = 10_000


def _unavailable(reason: str) -> None:
    if os.environ.get("BROWSER_TESTS_REQUIRED") == "1":
        pytest.fail(f"{reason} (BROWSER_TESTS_REQUIRED=1)", pytrace=False)
    pytest.skip(reason)


def _launch_failure(exc: Exception) -> str:
    """The gist of Playwright's launch error: its first line, the browser's own error output and
    how the process ended (the full message also lists every command-line flag)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    stderr = list(dict.fromkeys(line.split("[err]", 1)[1].strip() for line in lines if "[err]" in line))[:3]
    ended = [m.group(1) for line in lines if (m := re.search(r"<process did exit: ([^>]*)>", line))][:1]
    return "; ".join([lines[0], *stderr, *ended])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for a module's tests, closed when they are done."""
    if not CHROMIUM.exists():
        _unavailable(
            f"Chromium is not installed at {CHROMIUM}: run `make browser` as root "
            "(apt-get install chromium) to run the browser tests"
        )
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package is missing ({exc}): run `make venv`")
    # The machine may be busy (other tests, two cores): give the page time before an assertion fails.
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    try:
        playwright = sync_playwright().start()
    except Exception as exc:
        _unavailable(f"Playwright's driver did not start: {_launch_failure(exc)}")
    args = [*LAUNCH_ARGS, "--no-sandbox"] if os.geteuid() == 0 else list(LAUNCH_ARGS)
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
    except Exception as exc:
        playwright.stop()
        _unavailable(f"Chromium at {CHROMIUM} did not start: {_launch_failure(exc)}")
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """`new_page(width=..., height=...)`: a page in a fresh context (empty storage); closed after the test.
    Uncaught errors and console errors (failed loads, CSP violations) fail the test."""
    contexts: list[Any] = []
    page_errors: list[str] = []

    def make(width: int = DESKTOP["width"], height: int = DESKTOP["height"]) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: page_errors.append(f"uncaught: {error}"))
        page.on(
            "console",
            lambda message: (
                page_errors.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert not page_errors, f"the page reported errors: {page_errors}"


@pytest.fixture
def new_page_expecting(browser: Any) -> Iterator[Any]:
    """`new_page_expecting(pattern, width=..., height=...)`: a page like `new_page`'s, for tests that
    provoke API refusals on purpose. Chromium reports every 4xx answer as a console error ("Failed
    to load resource: ... status of 409"); those matching `pattern` are expected, any other console
    error or uncaught error still fails the test."""
    contexts: list[Any] = []
    page_errors: list[str] = []

    def make(pattern: str, width: int = DESKTOP["width"], height: int = DESKTOP["height"]) -> Any:
        expected = re.compile(pattern)
        context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: page_errors.append(f"uncaught: {error}"))
        page.on(
            "console",
            lambda message: (
                page_errors.append(f"console: {message.text}")
                if message.type == "error" and not expected.search(message.text)
                else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert not page_errors, f"the page reported errors: {page_errors}"


class Shots:
    """Screenshots under artifacts/screenshots/, named `<prefix>-<nn>-<step>.png`: the whole page,
    or with `full_page=False` what the viewport shows (sticky banners where the user sees them)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.count = 0
        self.paths: list[Path] = []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for old in SCREENSHOTS.glob(f"{prefix}-*.png"):
            old.unlink()

    def __call__(self, page: Any, step: str, *, full_page: bool = True) -> Path:
        self.count += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.paths.append(path)
        return path


@pytest.fixture
def shots() -> Callable[[str], Shots]:
    """`shots("journey")`: a numbered series of screenshots for one test."""
    return Shots
