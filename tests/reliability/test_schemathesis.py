"""Schemathesis against the local stack's own OpenAPI document (GET /openapi.json):
every operation, valid and invalid data, authenticated as a real user whose own
objects (lists, templates, media, sessions, campaigns in several states, opt-out
numbers) are fed into the generated requests. No answer may be a 5xx, and every
answer must match the document: status code, content type and body. The operations
exercised are exactly those of docs/openapi.json.

Then sequences of calls along the links schemathesis infers from the document (an
id a response carries, used by the operations that take it): a campaign created,
read, run, paused, retried, deleted, in the orders its state machine draws."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Flaky, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.stack import LocalStack
from tests.reliability.figures import FIGURES
from tests.stack_fixtures import ApiClient, table_prefix

SUITE = "schemathesis"
EXAMPLES = 15  # per operation and generation mode
USER = "schemathesis-user"
DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
STATEFUL_SCENARIOS = 15
STATEFUL_STEPS = 8


def documented_operations() -> set[str]:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return {
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method in methods
        if method in ("get", "post", "put", "patch", "delete")
    }


class Objects:
    """The user's real objects, handed out in turn (some generated ids stay as they are,
    so that unknown ids are exercised too)."""

    def __init__(self, ids: dict[str, list[str]]) -> None:
        self.ids = ids
        self._turns = {name: itertools.cycle([*values, None]) for name, values in ids.items()}

    def next(self, name: str) -> str | None:
        return next(self._turns[name]) if name in self._turns else None


@pytest.fixture(scope="module")
def stack(dynamodb_endpoint: str) -> Iterator[LocalStack]:
    local = LocalStack(
        port=0, table_prefix=table_prefix(), retry_delays_s=(0.05,), stop_timeout_s=10.0
    ).start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def objects(stack: LocalStack) -> Objects:
    user = ApiClient(stack, USER)
    session = user.register_session("schemathesis-phone")["id"]
    people = [{"phoneNumber": f"+1555030{index:04d}", "firstName": f"N{index}"} for index in range(3)]
    lists = [user.contact_list(people)["id"] for _ in range(2)]
    templates = [user.template("Hi {Name}")["id"]]
    media = [
        user.ok(
            "POST",
            "/media-items",
            {"name": "Flyer", "storagePath": "https://example.com/flyer.jpg", "mimeType": "image/jpeg"},
            201,
        )["id"]
    ]
    campaigns = []
    for action in (None, "pause", "cancel", None):
        campaign = user.campaign(lists[0], templates[0], whatsappSessionId=session)
        if action:
            user.ok("POST", f"/campaigns/{campaign['id']}/{action}")
        campaigns.append(campaign["id"])
    # A finished campaign with deliveries: its export, retry and delivery pages have rows.
    done = user.campaign(lists[1], templates[0], whatsappSessionId=session)
    user.ok("POST", f"/campaigns/{done['id']}/run", status=202)
    assert user.wait_status(done["id"], {"Completed"})["sentCount"] == len(people)
    campaigns.append(done["id"])
    opted = ["+15550309001", "+15550309002", "+15550309003"]
    user.ok("POST", "/opt-outs", {"phoneNumbers": opted})
    return Objects(
        {
            "campaign_id": campaigns,
            "list_id": lists,
            "template_id": templates,
            "media_id": media,
            "phone_number": opted,
            "contactListId": lists,
            "messageTemplateId": templates,
            "mediaLibraryItemId": media,
            "whatsappSessionId": [session],
            "session_id": [session],
        }
    )


@pytest.fixture(scope="module")
def http(stack: LocalStack) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {stack.token(USER)}"
    session.hooks["response"].append(FIGURES.response_hook(SUITE))
    return session


def _use_real_ids(case: Any, objects: Objects) -> None:
    for name in list(case.path_parameters or {}):
        real = objects.next(name)
        if real is not None:
            case.path_parameters[name] = real
    _use_real_body_ids(case, objects)


def _use_real_body_ids(case: Any, objects: Objects) -> None:
    if isinstance(case.body, dict):
        for name in ("contactListId", "messageTemplateId", "mediaLibraryItemId", "whatsappSessionId"):
            if name in case.body:
                real = objects.next(name)
                if real is not None:
                    case.body[name] = real


MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _exercise(
    operation: Any,
    mode: GenerationMode,
    stack: LocalStack,
    objects: Objects,
    http: requests.Session,
    calls: Counter[str],
) -> None:
    """EXAMPLES generated requests for one operation in one mode, each validated."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Any) -> None:
        FIGURES.case(SUITE)
        if mode is GenerationMode.POSITIVE:
            _use_real_ids(case, objects)
        else:
            FIGURES.fault(SUITE)  # a request made to violate the document
        response = case.call(session=http, base_url=stack.base_url)
        calls[f"{operation.method.upper()} {operation.path}"] += 1
        case.validate_response(response, checks=CHECKS)

    exercise()


def test_every_operation_answers_as_documented_and_never_5xx(
    stack: LocalStack, objects: Objects, http: requests.Session
) -> None:
    # schemathesis.pytest.from_fixture cannot run under pytest 9 (it rewrites
    # Function._nodeid, which no longer exists), so each operation is driven through
    # its Hypothesis strategy here. The document is the one the running stack serves.
    # docs/openapi.json itself (the stack serves the same document, tests/test_api_openapi.py
    # checks; schemathesis leaves out the operation it loads a document from).
    schema = schemathesis.openapi.from_path(DOCUMENT)
    # Requests carry a real user's token; generating (or leaving out) the security header
    # is not what this test is about: the hand-written cases cover tokens.
    schema.config.generation.update(with_security_parameters=False)
    failures: dict[str, BaseException] = {}
    not_negatable: list[str] = []
    operations = []
    calls: Counter[str] = Counter()
    # Deletes last: the user's objects stay for every other operation to use.
    ordered = sorted(
        (result.ok() for result in schema.get_all_operations()), key=lambda op: op.method == "delete"
    )
    for operation in ordered:
        name = f"{operation.method.upper()} {operation.path}"
        operations.append(name)
        for mode in MODES:
            label = f"{name} ({mode.value})"
            try:
                _exercise(operation, mode, stack, objects, http, calls)
            except Unsatisfiable:
                # Every value of its parameters is valid (a path id is any string): there
                # is no invalid request to make, e.g. GET /health in negative mode.
                not_negatable.append(label)
            except BaseException as exc:  # collected: one report for every operation
                failures[label] = exc
    print(f"{len(operations)} operations; no invalid request exists for: {', '.join(not_negatable)}")
    FIGURES.detail(
        SUITE, "operations exercised", f"{len(calls)} of {len(documented_operations())} documented"
    )
    assert set(calls) == documented_operations(), sorted(set(calls) ^ documented_operations())
    assert all(label.endswith("(negative)") for label in not_negatable), not_negatable
    assert not failures, "\n\n".join(f"== {label}\n{exc}" for label, exc in failures.items())


def test_linked_calls_in_sequence_answer_as_documented_and_never_5xx(
    stack: LocalStack, objects: Objects, http: requests.Session
) -> None:
    """Schemathesis' state machine over the links it infers from the document: each step
    feeds an id from an earlier answer (or the user's own) into the next operation.

    The server's state moves on between runs, so Hypothesis cannot replay a sequence:
    a failed check is collected (and reported below) rather than raised, and a run that
    Hypothesis gives up as inconsistent is followed by a fresh one, as schemathesis'
    own runner does."""
    schema = schemathesis.openapi.from_url(f"{stack.base_url}/openapi.json")
    schema.config.generation.update(with_security_parameters=False)
    steps: Counter[str] = Counter()
    failures: list[str] = []

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            # Path ids come from the links (earlier answers); a new campaign names the
            # user's own list, template, media and number, so that it is created.
            _use_real_body_ids(case, objects)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"session": http, "base_url": stack.base_url}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            FIGURES.case(SUITE)
            steps[f"{case.operation.method.upper()} {case.operation.path}"] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:  # collected, see above
                failures.append(f"{case.operation.method.upper()} {case.operation.path}: {exc}")

    runs, restarts = 0, 0
    while sum(steps.values()) < STATEFUL_SCENARIOS * STATEFUL_STEPS and runs < 6:
        runs += 1
        try:
            Sequences.run(
                settings=settings(
                    max_examples=STATEFUL_SCENARIOS,
                    stateful_step_count=STATEFUL_STEPS,
                    phases=[Phase.generate],
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
            )
        except Flaky:
            restarts += 1
    FIGURES.detail(
        SUITE,
        "stateful steps along inferred links",
        f"{sum(steps.values())} calls over {len(steps)} operations in {runs} runs ({restarts} given up)",
    )
    assert not failures, "\n\n".join(failures[:10])
    assert len(steps) >= 10, steps
    assert sum(steps.values()) >= STATEFUL_SCENARIOS * STATEFUL_STEPS // 2, steps
