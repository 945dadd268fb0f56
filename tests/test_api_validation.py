"""What the API answers to requests it must refuse: no user, malformed bodies,
wrong types, huge or unknown fields. Always a 4xx with a message, never a 5xx."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.api import library
from tests.api_events import ApiClient, http_event, invoke

AUTHENTICATED_ROUTES = [
    ("POST", "/contact-lists"),
    ("POST", "/contact-lists/list_x/contacts"),
    ("GET", "/contact-lists"),
    ("GET", "/contact-lists/list_x"),
    ("POST", "/message-templates"),
    ("GET", "/message-templates"),
    ("POST", "/media-items"),
    ("GET", "/media-items"),
    ("POST", "/whatsapp-sessions"),
    ("GET", "/whatsapp-sessions"),
    ("GET", "/whatsapp-sessions/wa_x"),
    ("GET", "/whatsapp-sessions/wa_x/qr"),
    ("POST", "/whatsapp-sessions/wa_x/pairing-code"),
    ("PATCH", "/whatsapp-sessions/wa_x"),
    ("DELETE", "/whatsapp-sessions/wa_x"),
    ("POST", "/campaigns"),
    ("GET", "/campaigns"),
    ("GET", "/campaigns/cmp_x"),
    ("POST", "/campaigns/cmp_x/run"),
    ("POST", "/campaigns/cmp_x/resume"),
    ("POST", "/campaigns/cmp_x/pause"),
    ("POST", "/campaigns/cmp_x/cancel"),
    ("GET", "/campaigns/cmp_x/deliveries"),
    ("GET", "/no-such-route"),
]
BODY_ROUTES = [
    "/contact-lists",
    "/contact-lists/list_x/contacts",
    "/message-templates",
    "/media-items",
    "/whatsapp-sessions/wa_x/pairing-code",
    "/campaigns",
]
VALID_BODIES = {
    "/contact-lists": {"name": "L", "contacts": [{"phoneNumber": "+15550000001"}]},
    "/contact-lists/list_x/contacts": {"contacts": [{"phoneNumber": "+15550000001"}]},
    "/message-templates": {"name": "T", "textContent": "Hi"},
    "/media-items": {"name": "M", "storagePath": "https://cdn.example.com/a.jpg", "mimeType": "image/jpeg"},
    "/whatsapp-sessions/wa_x/pairing-code": {"phoneNumber": "+15550000001"},
    "/campaigns": {"name": "C", "contactListId": "l", "messageTemplateId": "t", "defaultNameValue": "friend"},
}
HUGE = "x" * 1_000_000


@pytest.fixture
def alice(dynamodb_endpoint) -> ApiClient:
    return ApiClient("user-a")


def assert_client_error(answer, status: int | None = None) -> None:
    assert 400 <= answer.status < 500, (answer.status, answer.text)
    if status is not None:
        assert answer.status == status, answer.text
    assert isinstance(answer.json["message"], str) and answer.json["message"]


# -------------------------------------------------------------------- 401


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED_ROUTES)
def test_a_request_without_claims_is_401_on_every_route(dynamodb_endpoint, method, path):
    answer = invoke(http_event(method, path, user=None, body={"anything": "even invalid"}))

    assert answer.status == 401
    assert answer.json == {"message": "Unauthorized"}


@pytest.mark.parametrize(
    "request_context_change",
    [
        {"authorizer": {"jwt": {"claims": {"iss": "x"}}}},
        {"authorizer": {"jwt": {"claims": {"sub": "   "}}}},
        {"authorizer": {"jwt": {"claims": {"sub": 12}}}},
        {"authorizer": {"jwt": {"claims": {"sub": "u" * 300}}}},
        {"authorizer": {"jwt": None}},
        {"authorizer": "nope"},
    ],
)
def test_unusable_claims_are_401(dynamodb_endpoint, request_context_change):
    event = http_event("GET", "/campaigns", user=None)
    event["requestContext"].update(request_context_change)

    assert invoke(event).status == 401


@pytest.mark.parametrize(
    "event", [{}, {"version": "2.0"}, {"requestContext": None}, {"requestContext": {"http": 1}}]
)
def test_a_direct_invocation_with_a_bare_event_is_401(event):
    assert invoke(event).status == 401


def test_the_resolver_itself_refuses_a_request_without_claims(dynamodb_endpoint):
    from functions.api.app import app

    raw = app.resolve(http_event("GET", "/campaigns", user=None), None)

    assert raw["statusCode"] == 401
    assert json.loads(raw["body"]) == {"message": "Unauthorized"}


@pytest.mark.parametrize("path", ["/health", "/openapi.json"])
def test_health_and_openapi_need_no_user(path):
    assert invoke(http_event("GET", path, user=None)).status == 200


def test_a_cors_preflight_needs_no_user():
    event = http_event(
        "OPTIONS",
        "/campaigns",
        user=None,
        headers={"origin": "https://app.example.com", "access-control-request-method": "POST"},
    )

    answer = invoke(event)

    assert answer.status == 204
    assert "Access-Control-Allow-Origin" in answer.headers


def test_answers_carry_cors_headers(alice):
    answer = alice.get("/health", headers={"origin": "https://app.example.com"})

    assert answer.headers.get("Access-Control-Allow-Origin") in ("*", "https://app.example.com")


def test_an_unknown_route_is_404_with_a_message(alice):
    answer = alice.get("/no-such-route")

    assert answer.status == 404
    assert answer.json == {"message": "Not found"}


# --------------------------------------------------------------- bodies


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize(
    "raw", ["{", "not json", "<xml/>", '{"name": "x",}', "{'name': 'x'}", "[" * 100_000, "1" * 5000, "   "]
)
def test_a_body_that_is_not_json_is_400(alice, path, raw):
    answer = alice.post(path, raw_body=raw)

    assert_client_error(answer, 400)
    assert "JSON" in answer.message


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize("raw", ["[]", '"text"', "42", "null", "true", ""])
def test_a_json_body_that_is_not_an_object_is_422(alice, path, raw):
    assert_client_error(alice.post(path, raw_body=raw), 422)


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_a_missing_body_is_422(alice, path):
    answer = alice.post(path)

    assert_client_error(answer, 422)


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_unknown_fields_are_422_and_named(alice, path):
    answer = alice.post(path, {**VALID_BODIES[path], "surprise": 1})

    assert_client_error(answer, 422)
    assert "surprise: unknown field" in answer.message


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_missing_fields_are_422_and_named(alice, path):
    body = dict(VALID_BODIES[path])
    field = next(k for k in body if k != "contacts" or path.endswith("/contacts"))
    del body[field]

    answer = alice.post(path, body)

    assert_client_error(answer, 422)
    assert field in answer.message
    assert any(d["field"] == field for d in answer.json["details"])


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_wrong_types_are_422(alice, path):
    body = {
        key: ({"nested": True} if isinstance(value, str) else "text")
        for key, value in VALID_BODIES[path].items()
    }

    assert_client_error(alice.post(path, body), 422)


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_huge_strings_are_422(alice, path):
    body = {key: (HUGE if isinstance(value, str) else value) for key, value in VALID_BODIES[path].items()}
    if "contacts" in body:
        body["contacts"] = [{"phoneNumber": "+15550000001", "firstName": HUGE}]

    assert_client_error(alice.post(path, body), 422)


def test_validation_details_never_echo_the_input(alice):
    answer = alice.post("/message-templates", {"name": "T", "textContent": "secret-" + "x" * 5000})

    assert answer.status == 422
    assert "secret-" not in answer.text


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_broken_base64_or_utf8_is_400(alice, path):
    bad_base64 = http_event("POST", path, raw_body="%%%not-base64")
    bad_base64["isBase64Encoded"] = True
    bad_utf8 = http_event("POST", path, raw_body=base64.b64encode(b'{"name": "\xff\xfe"}').decode())
    bad_utf8["isBase64Encoded"] = True

    assert_client_error(invoke(bad_base64), 400)
    assert_client_error(invoke(bad_utf8), 400)


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_a_body_of_another_content_type_is_400(alice, path):
    answer = alice.post(
        path, raw_body="name=x", headers={"content-type": "application/x-www-form-urlencoded"}
    )

    assert_client_error(answer)


@pytest.mark.parametrize(
    "path",
    [
        "/contact-lists/{}",
        "/contact-lists/{}/contacts",
        "/campaigns/{}",
        "/campaigns/{}/run",
        "/campaigns/{}/deliveries",
    ],
)
def test_an_absurd_id_is_404(tables, alice, path):
    method = "POST" if path.endswith(("/run", "/contacts")) else "GET"
    kwargs = {"body": {"contacts": [{"phoneNumber": "+15550000001"}]}} if path.endswith("/contacts") else {}

    answer = alice.call(method, path.format("z" * 3000), **kwargs)

    assert answer.status == 404


def test_a_bug_is_a_500_with_a_generic_message(alice, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("internal detail")

    monkeypatch.setattr(library, "list_templates", broken)

    answer = alice.get("/message-templates")

    assert answer.status == 500
    assert answer.json == {"message": "Internal server error"}


def test_logs_carry_the_requests_correlation_id_and_user(alice):
    from campaigns.observability import logger

    event = http_event("GET", "/contact-lists/list_missing")

    invoke(event)

    assert logger.get_correlation_id() == event["requestContext"]["requestId"]
    assert logger.get_current_keys()["user_id"] == "user-a"


# ---------------------------------------------------------------- fuzzing

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _near_valid(path: str) -> st.SearchStrategy:
    """Bodies shaped like the route's, with any JSON as values: they get past the
    JSON parser and exercise the field validators."""
    keys = [*VALID_BODIES[path], "mediaLibraryItemId", "scheduledAt", "minDelayMs", "contacts"]
    return st.dictionaries(st.sampled_from(keys), json_values, max_size=6)


@pytest.mark.parametrize("path", BODY_ROUTES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_body_gets_a_5xx(tables, path, data):
    body = data.draw(st.one_of(json_values, _near_valid(path)))

    answer = ApiClient("fuzzer").post(path, body)

    assert answer.status < 500, answer.text
    assert answer.status >= 400 or answer.status in (200, 201)


def test_an_answer_that_breaks_its_own_schema_is_a_500_not_a_422(alice, monkeypatch):
    monkeypatch.setattr(library, "list_templates", lambda *a: {"items": [{"id": 1}], "nextToken": None})

    answer = alice.get("/message-templates")

    assert answer.status == 500
    assert answer.json == {"message": "Internal server error"}
