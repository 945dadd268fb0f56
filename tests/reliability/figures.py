"""The reliability suite's figures: cases run, faults injected, duplicates seen, silent
skips seen, unsigned webhooks accepted, cross-tenant leaks and 5xx seen, plus each
suite's own measured lines (`detail`).

One process-wide collector, safe to update from any thread (runner workers, the
local stack's HTTP threads, hypothesis examples). `conftest.py` prints the figures
at the end of the run and records them in RELIABILITY.md.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

# The suites, in the order the summary lists them.
SUITES = ("fault matrix", "stateful", "month", "webhooks", "tenancy", "schemathesis", "bad input")
KINDS = ("cases", "faults", "duplicates", "silent_skips", "unsigned_accepted", "leaks", "server_errors")


class Figures:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {suite: Counter() for suite in SUITES}
        self._details: dict[str, dict[str, str]] = {suite: {} for suite in SUITES}

    def add(self, suite: str, kind: str, n: int = 1) -> None:
        if suite not in self._counts:
            raise ValueError(f"unknown suite {suite!r}")
        if kind not in KINDS and not kind.startswith("extra:"):
            raise ValueError(f"unknown figure {kind!r}")
        with self._lock:
            self._counts[suite][kind] += n

    def case(self, suite: str, n: int = 1) -> None:
        self.add(suite, "cases", n)

    def fault(self, suite: str, n: int = 1) -> None:
        self.add(suite, "faults", n)

    def duplicates(self, suite: str, n: int) -> None:
        self.add(suite, "duplicates", n)

    def server_error(self, suite: str, n: int = 1) -> None:
        self.add(suite, "server_errors", n)

    def silent_skips(self, suite: str, n: int) -> None:
        """Contacts a campaign passed over without a delivery that says why."""
        self.add(suite, "silent_skips", n)

    def unsigned_accepted(self, suite: str, n: int) -> None:
        """Webhooks without a valid signature that changed anything."""
        self.add(suite, "unsigned_accepted", n)

    def leaks(self, suite: str, n: int) -> None:
        """Answers that revealed another user's data or its existence."""
        self.add(suite, "leaks", n)

    def detail(self, suite: str, name: str, value: str) -> None:
        """A measured line of the suite's own (the latest value for `name` wins)."""
        if suite not in self._details:
            raise ValueError(f"unknown suite {suite!r}")
        with self._lock:
            self._details[suite][name] = value

    def details(self) -> dict[str, dict[str, str]]:
        with self._lock:
            return {suite: dict(lines) for suite, lines in self._details.items()}

    def get(self, suite: str, kind: str) -> int:
        with self._lock:
            return self._counts[suite][kind]

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {suite: dict(counts) for suite, counts in self._counts.items()}

    def suites_run(self) -> list[str]:
        with self._lock:
            return [suite for suite, counts in self._counts.items() if counts["cases"] > 0]

    def response_hook(self, suite: str) -> Callable[..., Any]:
        """A `requests` response hook that counts every 5xx answer the suite sees."""

        def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
            if response.status_code >= 500:
                self.server_error(suite)
            return response

        return hook


FIGURES = Figures()
