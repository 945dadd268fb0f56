"""The reliability suite's shared pieces: its figures, printed at the end of the run
and recorded in RELIABILITY.md after a full, passing run of the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakewaha import FakeWaha
from tests.reliability.figures import FIGURES, KINDS, SUITES

REPO = Path(__file__).resolve().parents[2]
REPORT = REPO / "RELIABILITY.md"
COMMAND = ".venv/bin/python -m pytest tests/reliability"

_timing = {"seconds": 0.0, "failed": 0}

ABOUT = {
    "fault matrix": (
        "The local stack over HTTP with the fake WAHA server (session drops after K sends, "
        "5xx bursts, timeouts, a refused number, 10 concurrent run and resume calls, duplicated "
        "async events), and the runner itself where a fault must land at an exact point "
        "(killed between claim and send and between send and record, the same event delivered "
        "2 and 3 times at once, DynamoDB throttling retried by the SDK and then persistent)."
    ),
    "stateful": (
        "Hypothesis rule-based state machine: random interleavings of run, pause, resume, "
        "cancel, delivered and duplicated runner events, session drops and reconnects, crashes "
        "before and after a send, ambiguous sends, refused numbers and schedule ticks past "
        "the lease; the invariants after every step. Cases are examples (sequences of steps)."
    ),
    "month": (
        "A simulated month on a fake clock: campaigns on shared WhatsApp numbers with "
        "overlapping schedules, send windows in several time zones across a daylight-saving "
        "change, opt-outs arriving mid-run, duplicated and crashed invocations; checked against "
        "what the fake WAHA received. Cases are the campaigns run (five through the month, two "
        "more through a day on one number with WAHA often slow); faults are the runner "
        "invocations duplicated, crashed or lost."
    ),
    "webhooks": (
        "Signed WAHA webhooks over HTTP: wrong, missing, truncated and replayed signatures, "
        "stale timestamps, 1 MB bodies, acks for unknown ids and for another user's message, "
        "acks out of order and repeated; no state change from unsigned input, no ack backwards, "
        "counters equal to the deliveries."
    ),
    "tenancy": (
        "Every route with another user's ids and page tokens: 404 with nothing of the other "
        "user's data in the body or headers, and no timing difference of an order of magnitude."
    ),
    "schemathesis": (
        "Schemathesis against GET /openapi.json on the local stack, every operation, valid "
        "and invalid data, authenticated as a real user whose own ids are fed in: no 5xx, "
        "status codes, content types and bodies as documented."
    ),
    "bad input": (
        "Hand-written cases over HTTP: expired, badly signed and alg: none tokens, another "
        "user's ids on every route, a first name containing {Name}, 1 MB strings, 1,001 "
        "contacts in one request, non-UTF-8 and non-JSON bodies."
    ),
}


# Bugs the suite found and pins with strict xfail tests (they fail today; once fixed,
# the xfail turns into an error that asks for the mark to go).
KNOWN_BUGS: dict[str, str] = {}

FIXED_BUGS = {
    "test_fault_matrix_reads.py::test_an_ack_whose_reads_are_throttled_is_taken_once_when_waha_retries[GetItem]": (
        "A webhook whose session read (GetItem) was throttled past the SDK's retries answered 500: "
        "the signature check read the session outside the handling that turns a failed write "
        "into 409. A read or write the webhook cannot make now is 409, and WAHA retries."
    ),
    "test_webhook_attacks.py::test_a_malformed_body_is_400_when_signed_and_401_when_not[deeply nested]": (
        "A correctly signed webhook body nested 50,000 deep answered 500: json.loads raised "
        "RecursionError, which the webhook's body check did not catch. It is 400 now."
    ),
    "test_webhook_attacks.py::test_an_ack_from_another_users_number_changes_nothing_of_the_victims": (
        "An ack posted by one user's own WAHA session, signed with its own key, moved another "
        "user's delivery and counters: record_ack found the delivery by message id alone. An "
        "ack now counts only from the session the message's campaign sends through."
    ),
    "test_fault_matrix_runner.py::test_a_late_copy_of_the_first_event_does_not_restart_a_campaign_the_user_paused": (
        "The runner took Paused campaigns, so a late or duplicated first runner event restarted a "
        "campaign the user paused. It now takes only a Scheduled campaign that is due; resume "
        "flips Paused to Scheduled first."
    ),
    "test_fault_matrix_runner.py::test_a_crash_then_cancel_still_records_the_in_flight_contact_unknown": (
        "A contact left in flight by a dead runner was never recorded once the campaign was "
        "cancelled or paused. Pause and cancel now keep the campaign watched until the lease "
        "ends, and the schedule records that contact as Unknown."
    ),
}


@pytest.fixture(scope="module")
def waha() -> Iterator[FakeWaha]:
    """One fake WAHA server for a module's cases over HTTP, stopped after them; any error
    it raised fails the module."""
    fake = FakeWaha().start()
    try:
        yield fake
    finally:
        fake.stop()
    assert not fake.errors, f"fake WAHA raised: {fake.errors!r}"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _timing["seconds"] += report.duration
    if report.failed:
        _timing["failed"] += 1


def _table(figures: dict[str, dict[str, int]]) -> list[str]:
    rows = [
        "| suite | cases run | faults injected | duplicates seen | silent skips seen "
        "| unsigned webhooks accepted | cross-tenant leaks | 5xx seen |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    totals = dict.fromkeys(KINDS, 0)
    for suite in SUITES:
        counts = figures.get(suite, {})
        values = [counts.get(kind, 0) for kind in totals]
        for kind, value in zip(totals, values, strict=True):
            totals[kind] += value
        rows.append(f"| {suite} | " + " | ".join(f"{value:,}" for value in values) + " |")
    rows.append("| **total** | " + " | ".join(f"**{value:,}**" for value in totals.values()) + " |")
    return rows


def render_report(figures: dict[str, dict[str, int]]) -> str:
    lines = [
        "# Reliability",
        "",
        "Written by `tests/reliability` at the end of a full, passing run of that suite",
        f"(`make test`, or `{COMMAND}`). Do not edit by hand: run the suite.",
        "",
        *_table(figures),
        "",
        "A duplicate is a contact that WhatsApp (the fake WAHA server, or the recording sender)",
        "received the campaign's message from more than once; a retried send carrying the same",
        "pre-generated message id is deduplicated, as WhatsApp does, and is not a duplicate.",
        "After every case the invariants of `tests/reliability/invariants.py` hold: no contact",
        "messaged twice; each contact ends Sent, Failed or Unknown exactly once; counters equal",
        "the deliveries; unknownCount at most the faults that can make a send's outcome unknown.",
        "A silent skip is a contact a campaign passed over with no delivery saying why (Skipped",
        "carries its reason). An unsigned webhook accepted is a webhook without a valid",
        "signature that changed anything; a cross-tenant leak is an answer that revealed another",
        "user's data or that it exists.",
        "",
        "A fault is one thing made to go wrong: a runner crash, a WAHA error answer, timeout,",
        "session drop or refused number, a duplicated, lost or concurrent invocation or call, a",
        "throttled DynamoDB answer; for schemathesis a request generated to violate the document",
        "(negative mode); for bad input a request built to be refused.",
        "",
        "## Suites",
        "",
    ]
    for suite in SUITES:
        lines += [f"- **{suite}**: {ABOUT[suite]}"]
    details = FIGURES.details()
    if any(details.values()):
        lines += ["", "## Measured", ""]
        for suite in SUITES:
            for name, value in details.get(suite, {}).items():
                lines += [f"- {suite}, {name}: {value}"]
    lines += [
        "",
        "## Known bugs, pinned by strict xfail tests",
        "",
        *([f"- `tests/reliability/{test}`: {text}" for test, text in KNOWN_BUGS.items()] or ["None open."]),
        "",
        "## Bugs this suite found, now fixed (their tests pass)",
        "",
        *[f"- `tests/reliability/{test}`: {text}" for test, text in FIXED_BUGS.items()],
        "",
        "The concurrency cases rely on the embedded DynamoDB (`devstack/dynamodb.py`) applying",
        "requests one at a time, as DynamoDB applies each conditional write atomically: moto's",
        "plain threaded server lets two concurrent conditional updates both pass.",
    ]
    return "\n".join(lines) + "\n"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    figures = FIGURES.snapshot()
    ran = FIGURES.suites_run()
    if not ran:
        return
    write = terminalreporter.write_line
    terminalreporter.write_sep("=", "reliability figures")
    for line in _table(figures):
        write(line)
    for suite, lines in FIGURES.details().items():
        for name, value in lines.items():
            write(f"{suite}, {name}: {value}")
    write(f"reliability tests took {_timing['seconds']:.1f} s (setup, calls and teardown)")
    complete = set(ran) == set(SUITES)
    if complete and exitstatus == 0 and _timing["failed"] == 0:
        text = render_report(figures)
        if not REPORT.exists() or REPORT.read_text(encoding="utf-8") != text:
            REPORT.write_text(text, encoding="utf-8")
        write(f"recorded in {REPORT.name}")
    else:
        missing = sorted(set(SUITES) - set(ran))
        why = f"suites not run: {', '.join(missing)}" if missing else "the run had failures"
        write(f"{REPORT.name} not updated ({why})")
