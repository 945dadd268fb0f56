"""Schemathesis against the local stack's own OpenAPI document (GET /openapi.json):
every operation, valid and invalid data, authenticated as a real user whose own
objects (lists, templates, media, sessions, campaigns in several states) are fed
into the generated requests. No answer may be a 5xx, and every answer must match
the document: status code, content type and body."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
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
    return Objects(
        {
            "campaign_id": campaigns,
            "list_id": lists,
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
    operation: Any, mode: GenerationMode, stack: LocalStack, objects: Objects, http: requests.Session
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
        case.validate_response(response, checks=CHECKS)

    exercise()


def test_every_operation_answers_as_documented_and_never_5xx(
    stack: LocalStack, objects: Objects, http: requests.Session
) -> None:
    # schemathesis.pytest.from_fixture cannot run under pytest 9 (it rewrites
    # Function._nodeid, which no longer exists), so each operation is driven through
    # its Hypothesis strategy here. The document is the one the running stack serves.
    schema = schemathesis.openapi.from_url(f"{stack.base_url}/openapi.json")
    # Requests carry a real user's token; generating (or leaving out) the security header
    # is not what this test is about: the hand-written cases cover tokens.
    schema.config.generation.update(with_security_parameters=False)
    failures: dict[str, BaseException] = {}
    not_negatable: list[str] = []
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        name = f"{operation.method.upper()} {operation.path}"
        operations.append(name)
        for mode in MODES:
            label = f"{name} ({mode.value})"
            try:
                _exercise(operation, mode, stack, objects, http)
            except Unsatisfiable:
                # Every value of its parameters is valid (a path id is any string): there
                # is no invalid request to make, e.g. GET /health in negative mode.
                not_negatable.append(label)
            except BaseException as exc:  # collected: one report for every operation
                failures[label] = exc
    print(f"{len(operations)} operations; no invalid request exists for: {', '.join(not_negatable)}")
    assert len(operations) >= 17, operations
    assert all(label.endswith("(negative)") for label in not_negatable), not_negatable
    assert not failures, "\n\n".join(f"== {label}\n{exc}" for label, exc in failures.items())
