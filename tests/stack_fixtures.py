"""Helpers for tests that start the local stack and drive it over HTTP."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from devstack.stack import DRY_RUN_PREFIX, LocalStack

_prefixes = itertools.count(1)


def table_prefix() -> str:
    """Tables of their own for each stack: moto servers in one process share their data."""
    return f"stack{next(_prefixes)}-{int(time.time() * 1000) % 100_000}-"


@pytest.fixture
def start_stack() -> Iterator[Callable[..., LocalStack]]:
    """Start a local stack on a free port (embedded DynamoDB unless told otherwise);
    every stack started through this fixture is stopped after the test."""
    started: list[LocalStack] = []

    def start(**options: Any) -> LocalStack:
        options.setdefault("port", 0)
        options.setdefault("table_prefix", table_prefix())
        options.setdefault("retry_delays_s", (0.05,))
        options.setdefault("stop_timeout_s", 10.0)
        stack = LocalStack(**options)
        started.append(stack)
        return stack.start()

    yield start
    for stack in reversed(started):
        stack.stop()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class ApiClient:
    """One user of the local stack's HTTP API."""

    def __init__(self, stack: LocalStack, user: str) -> None:
        self.stack = stack
        self.user = user
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {stack.token(user)}"

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.http.request(method, f"{self.stack.base_url}{path}", json=body, timeout=30, **kwargs)

    def ok(self, method: str, path: str, body: Any = None, status: int | tuple[int, ...] = 200) -> Any:
        response = self.request(method, path, body)
        expected = status if isinstance(status, tuple) else (status,)
        assert response.status_code in expected, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    # ------------------------------------------------------------ building blocks

    def register_session(self, label: str = "Main number", fake_waha: Any = None) -> dict[str, Any]:
        """Connect a number: the server creates the session; with the fake WAHA, the fake
        pairs it at once (its signed session.status webhook reaches this stack). The
        answer carries `wahaName`, the name the server gave it, for the fake's controls."""
        from campaigns.data import sessions

        session = self.ok("POST", "/whatsapp-sessions", {"label": label}, 201)
        found = sessions.find(self.user, session["id"])
        assert found is not None
        if fake_waha is not None:
            assert fake_waha.pair(found.name) == 200
            session = self.ok("GET", f"/whatsapp-sessions/{session['id']}")
        return {**session, "wahaName": found.name}

    def contact_list(self, contacts: list[dict[str, Any]], name: str = "Customers") -> dict[str, Any]:
        return self.ok("POST", "/contact-lists", {"name": name, "contacts": contacts}, 201)

    def template(self, text: str, name: str = "Greeting") -> dict[str, Any]:
        return self.ok("POST", "/message-templates", {"name": name, "textContent": text}, 201)

    def campaign(self, list_id: str, template_id: str, **fields: Any) -> dict[str, Any]:
        body = {
            "name": "Campaign",
            "contactListId": list_id,
            "messageTemplateId": template_id,
            "defaultNameValue": "friend",
            "minDelayMs": 0,
            "maxDelayMs": 0,
            **fields,
        }
        return self.ok("POST", "/campaigns", body, 201)

    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/campaigns/{campaign_id}")

    def wait_status(self, campaign_id: str, statuses: set[str], timeout: float = 30) -> dict[str, Any]:
        return wait_for(
            lambda: (c := self.get_campaign(campaign_id))["status"] in statuses and c,
            timeout,
            f"campaign {campaign_id} to become one of {sorted(statuses)}",
        )

    def deliveries(self, campaign_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = None
        while True:
            query = {"nextToken": token} if token else {}
            response = self.http.get(
                f"{self.stack.base_url}/campaigns/{campaign_id}/deliveries", params=query, timeout=30
            )
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            token = page.get("nextToken")
            if not token:
                return items


def contacts(count: int, prefix: str = "+1555020") -> list[dict[str, Any]]:
    """Phone numbers in order; every fourth contact has no first name, every fifth a blank one."""
    result: list[dict[str, Any]] = []
    for index in range(count):
        contact: dict[str, Any] = {"phoneNumber": f"{prefix}{index:04d}"}
        if index % 4 == 3:
            pass
        elif index % 5 == 4:
            contact["firstName"] = "  "
        else:
            contact["firstName"] = f"Name{index}"
        result.append(contact)
    return result


class DryRunLines(logging.Handler):
    """The dry-run sender's `Would send to ...` lines, from the functions' logger."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._lock_lines = threading.Lock()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(DRY_RUN_PREFIX):
            with self._lock_lines:
                self.lines.append(message)

    def phones(self) -> list[str]:
        with self._lock_lines:
            return [line[len(DRY_RUN_PREFIX) :].split(":", 1)[0] for line in self.lines]


@pytest.fixture
def dry_run_lines() -> Iterator[DryRunLines]:
    from campaigns.observability import logger

    handler = DryRunLines()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
