"""The fake WAHA answers like WAHA: shapes checked against the published 2026.7.1 spec
(tests/data/waha_openapi_subset.json), status codes and error bodies as observed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator

from tests import fakewaha
from tests.fakewaha import FakeWaha

# The fixture, also offered by the shared conftest; bound here so this file runs on its own.
fake_waha = fakewaha.fake_waha

SUBSET_PATH = Path(__file__).parent / "data" / "waha_openapi_subset.json"
SUBSET: dict[str, Any] = json.loads(SUBSET_PATH.read_text(encoding="utf-8"))

# Error bodies are not in the spec; these shapes are the ones WAHA was seen to answer.
NEST_ERROR = {
    "type": "object",
    "required": ["statusCode", "message"],
    "properties": {
        "statusCode": {"type": "integer"},
        "message": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "error": {"type": "string"},
    },
}
STATUS_CHECK_ERROR = {
    "type": "object",
    "required": ["error", "session", "status", "expected"],
    "properties": {
        "error": {"type": "string"},
        "session": {"type": "string"},
        "status": {"type": "string"},
        "expected": {"type": "array", "items": {"type": "string"}},
    },
}
ENGINE_ERROR = {
    "type": "object",
    "required": ["statusCode", "exception"],
    "properties": {
        "statusCode": {"const": 500},
        "exception": {
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string"}},
        },
    },
}


def schema_validator(name: str) -> Draft202012Validator:
    """A validator for `#/components/schemas/<name>`, resolving refs inside the subset."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": SUBSET["components"]})


def response_schema(path: str, method: str, status: str) -> str:
    content = SUBSET["paths"][path][method]["responses"][status]["content"]["application/json"]
    return content["schema"]["$ref"].rsplit("/", 1)[-1]


def request_schema(path: str, method: str = "post") -> str:
    content = SUBSET["paths"][path][method]["requestBody"]["content"]["application/json"]
    return content["schema"]["$ref"].rsplit("/", 1)[-1]


def assert_valid(instance: Any, schema: str | dict[str, Any]) -> None:
    validator = schema_validator(schema) if isinstance(schema, str) else Draft202012Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, errors


def call(fake: FakeWaha, method: str, path: str, key: str | None = "", **kwargs: Any) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-Api-Key"] = key or fake.api_key or ""
    return requests.request(method, fake.base_url + path, headers=headers, timeout=5, **kwargs)


# ---------------------------------------------------------------------- the subset file


def test_subset_names_its_source() -> None:
    source = SUBSET["x-source"]
    assert source["version"] == "2026.7.1"
    assert source["sha256"] == "3ad7163a00d9abce2294fce142ad2a00a4e21df3c3e4c2238d11d08d157ab72f"
    assert source["file"].endswith("openapi.json")
    assert SUBSET["components"]["securitySchemes"]["api_key"]["name"] == "X-Api-Key"


def test_subset_refs_all_resolve() -> None:
    text = json.dumps(SUBSET)
    names = set(SUBSET["components"]["schemas"])
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in names, ref


# ---------------------------------------------------------------------- answers vs the spec


@pytest.mark.parametrize("status", ["WORKING", "SCAN_QR_CODE", "STARTING", "FAILED"])
def test_session_info_matches_spec(fake_waha: FakeWaha, status: str) -> None:
    fake_waha.set_session("sales", status)
    response = call(fake_waha, "GET", "/api/sessions/sales")
    assert response.status_code == 200
    assert response.json()["status"] == status
    assert_valid(response.json(), response_schema("/api/sessions/{session}", "get", "200"))


def test_me_matches_spec(fake_waha: FakeWaha) -> None:
    response = call(fake_waha, "GET", "/api/sessions/default/me")
    assert response.status_code == 200
    assert_valid(response.json(), response_schema("/api/sessions/{session}/me", "get", "200"))


def test_send_text_request_and_answer_match_spec(fake_waha: FakeWaha) -> None:
    body = {"session": "default", "chatId": "12132132131@c.us", "text": "Hi", "linkPreview": True}
    assert_valid(body, request_schema("/api/sendText"))
    response = call(fake_waha, "POST", "/api/sendText", json=body)
    assert response.status_code == 201
    assert_valid(response.json(), response_schema("/api/sendText", "post", "201"))
    assert fake_waha.texts_by_chat() == {"12132132131@c.us": ["Hi"]}


@pytest.mark.parametrize("path", ["/api/sendImage", "/api/sendFile"])
def test_send_media_answers_an_object(fake_waha: FakeWaha, path: str) -> None:
    body = {
        "session": "default",
        "chatId": "12132132131@c.us",
        "file": {"url": "https://example.com/a.jpg", "mimetype": "image/jpeg", "filename": "a.jpg"},
        "caption": "Look",
    }
    assert_valid(body, request_schema(path))
    response = call(fake_waha, "POST", path, json=body)
    assert response.status_code == 201
    assert_valid(
        response.json(),
        SUBSET["paths"][path]["post"]["responses"]["201"]["content"]["application/json"]["schema"],
    )
    assert fake_waha.sent()[0]["caption"] == "Look"


def test_send_video_needs_convert(fake_waha: FakeWaha) -> None:
    body = {
        "session": "default",
        "chatId": "12132132131@c.us",
        "file": {"url": "https://example.com/v.mp4", "mimetype": "video/mp4", "filename": "v.mp4"},
    }
    assert "convert" in SUBSET["components"]["schemas"]["MessageVideoRequest"]["required"]
    assert call(fake_waha, "POST", "/api/sendVideo", json=body).status_code == 400
    assert call(fake_waha, "POST", "/api/sendVideo", json={**body, "convert": False}).status_code == 201


@pytest.mark.parametrize("phone, exists", [("12132132131", True), ("19999999999", False)])
def test_check_exists_matches_spec(fake_waha: FakeWaha, phone: str, exists: bool) -> None:
    fake_waha.reject_numbers.add("19999999999")
    response = call(
        fake_waha, "GET", "/api/contacts/check-exists", params={"phone": phone, "session": "default"}
    )
    assert response.status_code == 200
    assert_valid(response.json(), response_schema("/api/contacts/check-exists", "get", "200"))
    assert response.json()["numberExists"] is exists
    assert ("chatId" in response.json()) is exists


def test_new_message_id_matches_spec(fake_waha: FakeWaha) -> None:
    response = call(fake_waha, "GET", "/api/default/new-message-id")
    assert response.status_code == 200
    assert_valid(response.json(), response_schema("/api/{session}/new-message-id", "get", "200"))


def test_typing_answers_201(fake_waha: FakeWaha) -> None:
    body = {"session": "default", "chatId": "12132132131@c.us"}
    assert_valid(body, request_schema("/api/startTyping"))
    assert call(fake_waha, "POST", "/api/startTyping", json=body).status_code == 201
    assert call(fake_waha, "POST", "/api/stopTyping", json=body).status_code == 201
    assert [t["endpoint"] for t in fake_waha.typing] == ["startTyping", "stopTyping"]


# ---------------------------------------------------------------------- errors


def test_missing_or_wrong_key_is_401(fake_waha: FakeWaha) -> None:
    for key in (None, "wrong"):
        response = call(fake_waha, "GET", "/api/sessions/default", key=key)
        assert response.status_code == 401
        assert response.json() == {"message": "Unauthorized", "statusCode": 401}
        assert_valid(response.json(), NEST_ERROR)
    assert call(fake_waha, "GET", "/api/sessions/default").status_code == 200
    query_auth = requests.get(
        f"{fake_waha.base_url}/api/sessions/default", params={"x-api-key": fake_waha.api_key}, timeout=5
    )
    assert query_auth.status_code == 200


def test_unknown_or_stopped_session_is_404(fake_waha: FakeWaha) -> None:
    fake_waha.set_session("stopped", "STOPPED")
    for name in ("nobody", "stopped"):
        response = call(fake_waha, "GET", f"/api/sessions/{name}")
        assert response.status_code == 404
        assert_valid(response.json(), NEST_ERROR)
        assert f"We didn't find a session with name '{name}'" in response.json()["message"]


def test_send_on_session_not_working_is_422(fake_waha: FakeWaha) -> None:
    fake_waha.set_session("default", "STARTING")
    body = {"session": "default", "chatId": "12132132131@c.us", "text": "Hi"}
    response = call(fake_waha, "POST", "/api/sendText", json=body)
    assert response.status_code == 422
    assert_valid(response.json(), STATUS_CHECK_ERROR)
    assert response.json()["status"] == "STARTING"
    assert fake_waha.sent() == []


def test_invalid_number_is_500_invalid_wid(fake_waha: FakeWaha) -> None:
    fake_waha.reject_numbers.add("12345678")
    body = {"session": "default", "chatId": "12345678@c.us", "text": "Hi"}
    response = call(fake_waha, "POST", "/api/sendText", json=body)
    assert response.status_code == 500
    assert_valid(response.json(), ENGINE_ERROR)
    assert "invalid wid" in response.json()["exception"]["message"]


def test_timelock_and_rate_limit_bodies(fake_waha: FakeWaha) -> None:
    body = {"session": "default", "chatId": "12132132131@c.us", "text": "Hi"}
    fake_waha.rate_limit_next(1)
    response = call(fake_waha, "POST", "/api/sendText", json=body)
    assert response.status_code == 500
    assert response.json()["exception"]["message"] == "rate-overlimit"
    fake_waha.rate_limit_next(1, status=429)
    assert call(fake_waha, "POST", "/api/sendText", json=body).status_code == 429
    fake_waha.timelock = True
    response = call(fake_waha, "POST", "/api/sendText", json=body)
    assert_valid(response.json(), ENGINE_ERROR)
    assert response.json()["exception"]["message"] == "2 UNKNOWN: server returned error 463"
    assert fake_waha.sent() == []


def test_unsupported_message_id_answers_like_an_older_waha(fake_waha: FakeWaha) -> None:
    fake_waha.supports_message_id = False
    response = call(fake_waha, "GET", "/api/default/new-message-id")
    assert response.status_code == 404
    assert response.json()["message"] == "Cannot GET /api/default/new-message-id"


def test_body_without_json_content_type_is_400(fake_waha: FakeWaha) -> None:
    response = requests.post(
        f"{fake_waha.base_url}/api/sendText",
        data=json.dumps({"session": "default", "chatId": "1@c.us", "text": "x"}),
        headers={"X-Api-Key": fake_waha.api_key or ""},
        timeout=5,
    )
    assert response.status_code == 400
    assert_valid(response.json(), NEST_ERROR)


# ---------------------------------------------------------------------- engines and controls


@pytest.mark.parametrize(
    "engine, check",
    [
        ("WEBJS", lambda b: b["id"]["_serialized"].startswith("true_12132132131@c.us_")),
        ("NOWEB", lambda b: b["key"]["id"].startswith("3EB0") and b["key"]["fromMe"] is True),
        ("GOWS", lambda b: b["id"].startswith("true_12132132131@c.us_")),
        ("SPEC", lambda b: b["id"].startswith("true_12132132131@c.us_")),
    ],
)
def test_engines_shape_the_answer(fake_waha: FakeWaha, engine: str, check: Any) -> None:
    fake_waha.engine = engine
    body = {"session": "default", "chatId": "12132132131@c.us", "text": "Hi"}
    response = call(fake_waha, "POST", "/api/sendText", json=body)
    assert response.status_code == 201
    assert check(response.json())


def test_empty_engine_answers_201_without_body(fake_waha: FakeWaha) -> None:
    fake_waha.engine = "EMPTY"
    body = {"session": "default", "chatId": "12132132131@c.us", "text": "Hi"}
    response = call(fake_waha, "POST", "/api/sendText", json=body)
    assert response.status_code == 201
    assert response.content == b""


def test_same_pre_generated_id_is_delivered_once(fake_waha: FakeWaha) -> None:
    message_id = call(fake_waha, "GET", "/api/default/new-message-id").json()["id"]
    body = {"session": "default", "chatId": "12132132131@c.us", "text": "Hi", "id": message_id}
    first = call(fake_waha, "POST", "/api/sendText", json=body)
    second = call(fake_waha, "POST", "/api/sendText", json=body)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert fake_waha.count_by_chat() == {"12132132131@c.us": 1}
    assert fake_waha.deduped == 1


def test_drop_after_turns_the_session_to_scan_qr_code(fake_waha: FakeWaha) -> None:
    fake_waha.drop_after(2)
    body = {"session": "default", "chatId": "12132132131@c.us", "text": "Hi"}
    codes = [call(fake_waha, "POST", "/api/sendText", json=body).status_code for _ in range(3)]
    assert codes == [201, 201, 422]
    assert call(fake_waha, "GET", "/api/sessions/default").json()["status"] == "SCAN_QR_CODE"


def test_fail_next_and_latency(fake_waha: FakeWaha) -> None:
    fake_waha.fail_next(2, status=503)
    body = {"session": "default", "chatId": "12132132131@c.us", "text": "Hi"}
    codes = [call(fake_waha, "POST", "/api/sendText", json=body).status_code for _ in range(3)]
    assert codes == [503, 503, 201]
    fake_waha.latency_ms = 100
    started = time.monotonic()
    call(fake_waha, "GET", "/api/sessions/default")
    assert time.monotonic() - started >= 0.1
    assert fake_waha.count_requests("sendText") == 3


def test_hang_records_then_withholds_the_answer(fake_waha: FakeWaha) -> None:
    fake_waha.hang_next(1, seconds=5)
    body = {"session": "default", "chatId": "12132132131@c.us", "text": "Hi"}
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            f"{fake_waha.base_url}/api/sendText",
            json=body,
            headers={"X-Api-Key": fake_waha.api_key or ""},
            timeout=(1, 0.2),
        )
    assert fake_waha.count_by_chat() == {"12132132131@c.us": 1}


def test_stop_is_fast_even_with_a_hung_request() -> None:
    fake = FakeWaha().start()
    fake.hang_next(1, seconds=30, endpoints={"session"})
    with pytest.raises(requests.ReadTimeout):
        requests.get(
            f"{fake.base_url}/api/sessions/default",
            headers={"X-Api-Key": fake.api_key or ""},
            timeout=(1, 0.1),
        )
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 1.0
    assert fake.wait_idle(timeout=1.0)


def test_reset_restores_defaults(fake_waha: FakeWaha) -> None:
    fake_waha.engine = "NOWEB"
    fake_waha.set_session("other", "FAILED")
    fake_waha.timelock = True
    fake_waha.reset()
    assert fake_waha.engine == "SPEC"
    assert fake_waha.sessions == {"default": "WORKING"}
    assert fake_waha.timelock is False
    assert fake_waha.sent() == [] and fake_waha.count_requests() == 0


@pytest.mark.parametrize("process, delivered", [(True, 1), (False, 0)])
def test_break_closes_the_connection_without_an_answer(
    fake_waha: FakeWaha, process: bool, delivered: int
) -> None:
    fake_waha.break_next(1, process=process)
    body = {"session": "default", "chatId": "12132132131@c.us", "text": "Hi"}
    with pytest.raises(requests.ConnectionError):
        call(fake_waha, "POST", "/api/sendText", json=body)
    assert len(fake_waha.sent()) == delivered
    assert fake_waha.request_log("sendText")[0]["status"] == 0
    # The next request is answered normally.
    assert call(fake_waha, "POST", "/api/sendText", json=body).status_code == 201
    assert len(fake_waha.sent()) == delivered + 1


def test_fail_after_processing_delivers_then_answers_the_error(fake_waha: FakeWaha) -> None:
    upstream = (
        "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
    )
    fake_waha.fail_next(1, 503, upstream, process=True)
    body = {"session": "default", "chatId": "12132132131@c.us", "text": "Hi"}
    response = call(fake_waha, "POST", "/api/sendText", json=body)
    assert response.status_code == 503 and response.text == upstream
    assert fake_waha.count_by_chat() == {"12132132131@c.us": 1}
