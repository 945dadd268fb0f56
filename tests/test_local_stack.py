"""The local stack: the HTTP front door (payload 2.0, JWT authorizer), the runner's
background invocations, the schedule, and whole campaigns driven over real HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from devstack.auth import DEFAULT_SECRET, InvalidToken, make_token, verify_token
from devstack.context import SimulatedContext
from devstack.dynamodb import AtomicMotoServer
from devstack.invoker import LocalInvoker
from devstack.schedule import LocalSchedule
from devstack.server import LocalApiServer
from devstack.stack import runner_retries_from_template
from tests import stack_fixtures
from tests.stack_fixtures import ApiClient, contacts, table_prefix, wait_for

# Fixtures of stack_fixtures, used by name below.
start_stack = stack_fixtures.start_stack
dry_run_lines = stack_fixtures.dry_run_lines

REPO = Path(__file__).resolve().parent.parent
SECRET = "a-test-secret-that-is-long-enough-for-hs256"


# ----------------------------------------------------------------------- tokens


def _forged(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    with warnings.catch_warnings():  # the same secret, too short for HS512: that is the point
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm=algorithm)


def _unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _bad_tokens() -> dict[str, str]:
    later = int(time.time()) + 600
    return {
        "wrong secret": make_token("alice", "another-secret-that-is-also-long-enough"),
        "expired": make_token("alice", SECRET, ttl=-5),
        "alg none": _unsigned({"sub": "alice", "exp": later}),
        "alg HS512": _forged({"sub": "alice", "exp": later}, algorithm="HS512"),
        "no sub": _forged({"exp": later}),
        "blank sub": _forged({"sub": " ", "exp": later}),
        "no exp": _forged({"sub": "alice"}),
        "garbage": "not.a.token",
    }


def test_tokens_are_hs256_with_sub_and_exp() -> None:
    claims = verify_token(make_token("alice", SECRET, ttl=60), SECRET)
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 60
    for reason, token in _bad_tokens().items():
        with pytest.raises(InvalidToken):
            verify_token(token, SECRET)
            pytest.fail(f"accepted a token with {reason}")


def test_make_token_prints_a_token_for_the_user() -> None:
    env = {**os.environ, "LOCAL_JWT_SECRET": SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "token", "alice"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert verify_token(result.stdout.strip(), SECRET)["sub"] == "alice"
    with pytest.raises(InvalidToken):
        verify_token(result.stdout.strip(), DEFAULT_SECRET)


# ------------------------------------------------------------- the front door


class _Echo:
    """An API handler that answers with the event it was given."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        self.contexts.append(context)
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}


@pytest.fixture
def echo_server():
    echo = _Echo()
    server = LocalApiServer(SECRET, echo, port=0).start()
    try:
        yield server, echo
    finally:
        server.stop()


def test_a_request_becomes_a_payload_2_event_with_the_authorizers_claims(echo_server) -> None:
    server, echo = echo_server
    token = make_token("alice", SECRET, scope="campaigns.read campaigns.write")
    response = requests.post(
        f"{server.base_url}/campaigns/c-1/run?x=1&x=2&empty=",
        data=b'{"a": 1}',
        headers={"Authorization": f"Bearer {token}", "X-Custom": "yes", "Cookie": "a=1; b=2"},
        timeout=10,
    )
    assert response.status_code == 200
    event = response.json()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /{proxy+}"
    assert event["rawPath"] == "/campaigns/c-1/run"
    assert event["rawQueryString"] == "x=1&x=2&empty="
    assert event["queryStringParameters"] == {"x": "1,2", "empty": ""}
    assert event["pathParameters"] == {"proxy": "campaigns/c-1/run"}
    assert event["headers"]["x-custom"] == "yes"
    assert all(name == name.lower() for name in event["headers"])
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["body"] == '{"a": 1}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"]["method"] == "POST"
    assert context["http"]["path"] == "/campaigns/c-1/run"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["routeKey"] == "POST /{proxy+}"
    assert context["stage"] == "$default"
    assert isinstance(context["timeEpoch"], int)
    jwt_ctx = context["authorizer"]["jwt"]
    assert jwt_ctx["claims"]["sub"] == "alice"
    assert jwt_ctx["claims"]["exp"].isdigit()  # API Gateway hands claims over as strings
    assert jwt_ctx["scopes"] == ["campaigns.read", "campaigns.write"]
    assert echo.contexts[-1].function_name == "api"
    assert echo.contexts[-1].get_remaining_time_in_millis() > 0


def test_binary_bodies_are_base64_encoded_and_public_routes_need_no_token(echo_server) -> None:
    server, _ = echo_server
    token = make_token("alice", SECRET)
    response = requests.post(
        f"{server.base_url}/contact-lists",
        data=b"\xff\xfe\x00binary",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    event = response.json()
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe\x00binary"

    for path in ("/health", "/openapi.json"):
        event = requests.get(f"{server.base_url}{path}", timeout=10).json()
        assert event["routeKey"] == f"GET {path}"
        assert "authorizer" not in event["requestContext"]
        assert "pathParameters" not in event


@pytest.mark.parametrize("reason", sorted(_bad_tokens()))
def test_a_bad_token_gets_401_before_the_function_runs(echo_server, reason: str) -> None:
    server, echo = echo_server
    token = _bad_tokens()[reason]
    response = requests.get(
        f"{server.base_url}/campaigns", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert echo.events == []


def test_missing_or_malformed_authorization_gets_401(echo_server) -> None:
    server, echo = echo_server
    token = make_token("alice", SECRET)
    for headers in (
        {},
        {"Authorization": token},
        {"Authorization": f"Basic {token}"},
        {"Authorization": "Bearer"},
    ):
        for method in ("GET", "POST"):
            response = requests.request(method, f"{server.base_url}/campaigns", headers=headers, timeout=10)
            assert response.status_code == 401, (method, headers)
    assert echo.events == []


def test_routes_the_template_does_not_declare_are_404(echo_server) -> None:
    server, echo = echo_server
    headers = {"Authorization": f"Bearer {make_token('alice', SECRET)}"}
    for method in ("PUT",):  # PATCH and DELETE: the sessions (and deletes) routes
        response = requests.request(method, f"{server.base_url}/campaigns", headers=headers, timeout=10)
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}
    assert echo.events == []


def test_the_functions_answer_becomes_the_http_response() -> None:
    answers: list[Any] = [
        {
            "statusCode": 201,
            "headers": {"content-type": "text/plain", "x-answer": "42"},
            "cookies": ["session=abc; HttpOnly"],
            "body": base64.b64encode(b"\x00\x01binary").decode(),
            "isBase64Encoded": True,
        },
        {"items": [1, 2]},  # no statusCode: API Gateway infers a 200 JSON answer
        {"statusCode": 200, "body": {"not": "a string"}},
    ]

    def handler(event: dict[str, Any], context: Any) -> Any:
        if not answers:
            raise RuntimeError("boom")
        return answers.pop(0)

    server = LocalApiServer(SECRET, handler, port=0).start()
    try:
        headers = {"Authorization": f"Bearer {make_token('alice', SECRET)}"}
        first = requests.get(f"{server.base_url}/anything", headers=headers, timeout=10)
        assert first.status_code == 201
        assert first.content == b"\x00\x01binary"
        assert first.headers["x-answer"] == "42"
        assert first.headers["content-type"] == "text/plain"
        assert first.cookies["session"] == "abc"
        assert first.headers["apigw-requestid"]
        second = requests.get(f"{server.base_url}/anything", headers=headers, timeout=10)
        assert (second.status_code, second.json()) == (200, {"items": [1, 2]})
        for _ in range(2):  # a body that is not a string, then an exception
            broken = requests.get(f"{server.base_url}/anything", headers=headers, timeout=10)
            assert (broken.status_code, broken.json()) == (500, {"message": "Internal Server Error"})
    finally:
        server.stop()


def _raw_get(base_url: str, raw_path: str) -> tuple[int, bytes]:
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", raw_path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_dashboard_is_served_and_nothing_outside_web(echo_server) -> None:
    server, echo = echo_server
    index = requests.get(f"{server.base_url}/", timeout=10)
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert (REPO / "web" / "index.html").read_bytes() == index.content
    script = requests.get(f"{server.base_url}/app.js", timeout=10)
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    for path in (
        "/../template.yaml",
        "/%2e%2e/template.yaml",
        "/..%2ftemplate.yaml",
        "/web/../template.yaml",
    ):
        status, body = _raw_get(server.base_url, path)
        assert status in (401, 404), path
        assert b"AWSTemplateFormatVersion" not in body
    assert echo.events == []  # those never reached the function with a token


# --------------------------------------------------------- runner invocations


def test_a_failing_runner_invocation_is_retried_with_the_same_request_id() -> None:
    attempts: list[str] = []
    done = threading.Event()

    def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
        attempts.append(context.aws_request_id)
        if len(attempts) < 3:
            raise RuntimeError("transient")
        done.set()
        return {"ok": True}

    invoker = LocalInvoker(flaky, timeout_ms=5_000, workers=2, max_retries=2, retry_delays_s=(0.05,)).start()
    try:
        invoker.invoke({"campaignId": "c-1", "hop": 0})
        assert done.wait(5)
        assert invoker.wait_idle(5)
        assert len(attempts) == 3 and len(set(attempts)) == 1
        assert (invoker.errors, invoker.retries, invoker.discarded) == (2, 2, 0)
    finally:
        invoker.stop()


def test_a_runner_invocation_that_keeps_failing_is_discarded_after_the_retries() -> None:
    calls: list[dict[str, Any]] = []

    def broken(event: dict[str, Any], context: Any) -> None:
        calls.append(event)
        raise RuntimeError("always")

    invoker = LocalInvoker(broken, timeout_ms=5_000, max_retries=1, retry_delays_s=(0.05,)).start()
    try:
        invoker.invoke({"campaignId": "c-2", "hop": 0})
        time.sleep(0.05)
        assert invoker.wait_idle(5)
        assert len(calls) == 2
        assert invoker.discarded == 1
    finally:
        invoker.stop()


def test_the_stack_retries_the_runner_as_the_template_configures() -> None:
    from devstack.tables import load_template

    config = load_template()["Resources"]["RunnerFunction"]["Properties"].get("EventInvokeConfig", {})
    assert runner_retries_from_template() == config.get("MaximumRetryAttempts", 2)


def test_stop_tells_running_invocations_their_time_is_up_and_drops_queued_ones() -> None:
    running = threading.Event()
    results: list[int] = []

    def runner(event: dict[str, Any], context: Any) -> None:
        running.set()
        while context.get_remaining_time_in_millis() > 0:  # works until it is told to hand off
            time.sleep(0.01)
        results.append(event["hop"])

    invoker = LocalInvoker(runner, timeout_ms=600_000, workers=1).start()
    invoker.invoke({"campaignId": "c-3", "hop": 0})
    invoker.invoke({"campaignId": "c-4", "hop": 0})
    assert running.wait(5)
    started = time.monotonic()
    report = invoker.stop(timeout_s=5)
    assert time.monotonic() - started < 2
    assert results == [0]
    assert report.dropped_events == [{"campaignId": "c-4", "hop": 0}]
    assert report.unfinished_workers == 0
    invoker.invoke({"campaignId": "c-5", "hop": 1})  # a late hand-off: not run
    assert results == [0]


def test_the_context_counts_down_and_can_expire_early() -> None:
    context = SimulatedContext(timeout_ms=1_000)
    assert 900 < context.get_remaining_time_in_millis() <= 1_000
    time.sleep(0.2)
    assert context.get_remaining_time_in_millis() <= 800
    context.expire()
    assert context.get_remaining_time_in_millis() == 0


def test_the_schedule_ticks_with_a_scheduled_event() -> None:
    events: list[dict[str, Any]] = []
    schedule = LocalSchedule(0.05, lambda event, context: events.append(event) or {"ok": True}).start()
    try:
        wait_for(lambda: len(events) >= 2, 5, "two ticks")
    finally:
        schedule.stop()
    assert events[0]["detail-type"] == "Scheduled Event"
    assert events[0]["source"] == "aws.events"
    assert schedule.tick_now() == {"ok": True}


# ------------------------------------------------- the stack over real HTTP


def test_401s_and_other_users_campaigns_over_the_real_api(start_stack) -> None:
    stack = start_stack(jwt_secret=SECRET)
    base = stack.base_url
    assert requests.get(f"{base}/health", timeout=10).status_code == 200
    document = requests.get(f"{base}/openapi.json", timeout=10)
    assert document.status_code == 200 and document.json()["openapi"].startswith("3.")
    for reason, token in _bad_tokens().items():
        for method, path in (("GET", "/campaigns"), ("POST", "/campaigns"), ("GET", "/whatsapp-sessions")):
            response = requests.request(
                method, f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, json={}, timeout=10
            )
            assert response.status_code == 401, (reason, method, path)
            assert response.json() == {"message": "Unauthorized"}
    assert requests.post(f"{base}/campaigns", json={}, timeout=10).status_code == 401

    alice, bob = ApiClient(stack, "alice"), ApiClient(stack, "bob")
    alice.register_session("alice-phone")
    listed = alice.contact_list(contacts(2))
    template = alice.template("Hi {Name}")
    campaign = alice.campaign(listed["id"], template["id"])
    assert bob.request("GET", f"/campaigns/{campaign['id']}").status_code == 404
    assert bob.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 404
    assert bob.ok("GET", "/campaigns")["items"] == []


def test_a_campaign_life_cycle_over_http(start_stack, dry_run_lines) -> None:
    # Given a user with a session, 12 contacts, a template with {Name} and {name}, and media
    stack = start_stack()
    alice = ApiClient(stack, "alice")
    alice.register_session("alice-phone")
    people = contacts(12)
    listed = alice.contact_list(people)
    template = alice.template("Hello {Name}, from us to {name}!")
    media = alice.ok(
        "POST",
        "/media-items",
        {"name": "Flyer", "storagePath": "https://example.com/flyer.jpg", "mimeType": "image/jpeg"},
        201,
    )
    campaign = alice.campaign(
        listed["id"], template["id"], mediaLibraryItemId=media["id"], minDelayMs=10, maxDelayMs=30
    )
    assert campaign["status"] == "Scheduled"
    assert campaign["lastProcessedContactIndex"] is None

    # When it runs
    assert alice.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
    done = alice.wait_status(campaign["id"], {"Completed", "Failed", "Paused"})

    # Then every contact got one personalised message, and the campaign says so
    assert done["status"] == "Completed"
    assert (done["sentCount"], done["failedCount"], done["unknownCount"]) == (12, 0, 0)
    assert done["totalContacts"] == 12
    assert done["completedAt"] and done["startedAt"]
    assert done["lastProcessedContactIndex"] is None
    deliveries = alice.deliveries(campaign["id"])
    assert [d["contactIndex"] for d in deliveries] == list(range(12))
    assert {d["status"] for d in deliveries} == {"Sent"}
    assert [d["phoneNumber"] for d in deliveries] == [p["phoneNumber"] for p in people]
    expected = []
    for person in people:
        name = (person.get("firstName") or "").strip() or "friend"
        expected.append(
            f'Would send to {person["phoneNumber"]}: "Hello {name}, from us to {name}!" '
            "with media https://example.com/flyer.jpg"
        )
    assert dry_run_lines.lines == expected
    assert [c["id"] for c in alice.ok("GET", "/campaigns")["items"]] == [campaign["id"]]

    # And a finished campaign cannot be run, resumed or cancelled again
    for action in ("run", "resume", "cancel", "pause"):
        assert alice.request("POST", f"/campaigns/{campaign['id']}/{action}").status_code == 409


def test_a_session_that_drops_pauses_the_campaign_and_resume_sends_the_rest_once(
    start_stack, fake_waha
) -> None:
    # Given WAHA whose session stops working after 4 messages
    stack = start_stack(
        waha_base_url=fake_waha.base_url,
        waha_api_key=fake_waha.api_key,
        env={"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "3", "WAHA_MAX_ATTEMPTS": "2"},
    )
    alice = ApiClient(stack, "alice")
    session = alice.register_session(fake_waha=fake_waha)
    assert session["status"] == "WORKING"
    fake_waha.drop_after(4, session=session["wahaName"])
    people = contacts(10)
    listed = alice.contact_list(people)
    template = alice.template("Hi {name}")
    campaign = alice.campaign(
        listed["id"], template["id"], whatsappSessionId=session["id"], minDelayMs=10, maxDelayMs=20
    )

    # When it runs, the campaign pauses when the session drops
    assert alice.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
    paused = alice.wait_status(campaign["id"], {"Paused", "Completed", "Failed"})
    assert paused["status"] == "Paused"
    assert paused["sentCount"] == 4
    assert paused["lastProcessedContactIndex"] == 3
    assert "SCAN_QR_CODE" in paused["pauseReason"] or "session" in paused["pauseReason"].lower()
    assert len(fake_waha.sent()) == 4
    assert alice.ok("GET", f"/whatsapp-sessions/{session['id']}")["status"] == "SCAN_QR_CODE"

    # And after the session is paired again, resume sends the rest, each contact once
    fake_waha.set_session(session["wahaName"], "WORKING")
    assert alice.request("POST", f"/campaigns/{campaign['id']}/resume").status_code == 202
    done = alice.wait_status(campaign["id"], {"Completed", "Failed"})
    assert done["status"] == "Completed"
    assert done["sentCount"] == 10
    by_chat = fake_waha.count_by_chat()
    assert len(by_chat) == 10 and set(by_chat.values()) == {1}
    deliveries = alice.deliveries(campaign["id"])
    assert [d["contactIndex"] for d in deliveries] == list(range(10))
    assert {d["status"] for d in deliveries} == {"Sent"}
    assert all(d["messageId"] for d in deliveries)


def test_a_short_lambda_timeout_makes_the_runner_invoke_itself_several_times(
    start_stack, dry_run_lines
) -> None:
    # Given a simulated timeout of 1.5 s and ~100 ms between sends
    stack = start_stack(timeout_ms=1_500)
    alice = ApiClient(stack, "alice")
    alice.register_session("alice-phone")
    people = contacts(30)
    listed = alice.contact_list(people)
    template = alice.template("Hi {Name}")
    campaign = alice.campaign(listed["id"], template["id"], minDelayMs=90, maxDelayMs=110)

    # When it runs
    assert alice.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
    done = alice.wait_status(campaign["id"], {"Completed", "Failed", "Paused"}, timeout=60)

    # Then it took several invocations, and each contact was sent exactly once
    assert done["status"] == "Completed", done
    assert done["sentCount"] == 30
    assert stack.invoker is not None and stack.invoker.invocations >= 3
    assert stack.invoker.errors == 0
    assert Counter(dry_run_lines.phones()) == Counter(p["phoneNumber"] for p in people)
    assert [d["contactIndex"] for d in alice.deliveries(campaign["id"])] == list(range(30))


@pytest.fixture
def external_dynamodb():
    server = AtomicMotoServer()
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_a_restart_mid_run_leaves_the_campaign_to_the_watchdog_which_finishes_it(
    start_stack, fake_waha, external_dynamodb
) -> None:
    # Given a stack on an external DynamoDB, with short leases and WAHA timeouts
    options = {
        "dynamodb_endpoint": external_dynamodb,
        "table_prefix": table_prefix(),
        "waha_base_url": fake_waha.base_url,
        "waha_api_key": fake_waha.api_key,
        "env": {
            "RUN_LEASE_SECONDS": "1",
            "WAHA_CONNECT_TIMEOUT_S": "0.5",
            "WAHA_READ_TIMEOUT_S": "1",
            "WAHA_MAX_ATTEMPTS": "1",
        },
    }
    first = start_stack(schedule_seconds=60, **options)
    alice = ApiClient(first, "alice")
    session = alice.register_session(fake_waha=fake_waha)
    people = contacts(24)
    listed = alice.contact_list(people)
    template = alice.template("Hi {Name}")
    campaign = alice.campaign(
        listed["id"], template["id"], whatsappSessionId=session["id"], minDelayMs=80, maxDelayMs=120
    )
    assert alice.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
    wait_for(lambda: alice.get_campaign(campaign["id"])["sentCount"] >= 6, 30, "six messages")

    # When the stack stops mid-run and a new one starts on the same data
    first.stop()
    stopped_at = len(fake_waha.sent())
    assert 6 <= stopped_at < 24
    second = start_stack(schedule_seconds=1, **options)
    alice = ApiClient(second, "alice")
    midway = alice.get_campaign(campaign["id"])
    assert midway["status"] == "Running"
    assert midway["sentCount"] == stopped_at  # nothing was left half-written

    # Then the schedule's watchdog takes the run over and finishes it
    done = alice.wait_status(campaign["id"], {"Completed", "Failed", "Paused"}, timeout=60)
    assert done["status"] == "Completed", done
    assert (done["sentCount"], done["unknownCount"]) == (24, 0)
    by_chat = fake_waha.count_by_chat()
    assert len(by_chat) == 24 and set(by_chat.values()) == {1}
    deliveries = alice.deliveries(campaign["id"])
    assert Counter(d["contactIndex"] for d in deliveries) == Counter(range(24))
    assert {d["status"] for d in deliveries} == {"Sent"}


# ------------------------------------------------------------------ make dev


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_make_dev_serves_and_stops_cleanly_on_ctrl_c() -> None:
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DYNAMODB_ENDPOINT", "WAHA_BASE_URL", "WAHA_API_KEY")
    }
    env.update({"PORT": str(port), "LOCAL_JWT_SECRET": SECRET, "NO_COLOR": "1"})
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "dev"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return requests.get(f"{base}/health", timeout=1).status_code == 200
            except requests.ConnectionError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                return False

        wait_for(healthy, 30, "make dev to answer /health", interval=0.2)
        token = make_token("alice", SECRET)
        response = requests.get(f"{base}/campaigns", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200
        assert requests.get(f"{base}/campaigns", timeout=10).status_code == 401
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "Local stack stopped" in output
    assert "GET /campaigns 401" in output


def test_the_local_preflight_allows_the_methods_the_deployed_api_allows(start_stack) -> None:
    from devstack.tables import load_template

    api = next(
        r for r in load_template()["Resources"].values() if r.get("Type") == "AWS::Serverless::HttpApi"
    )
    allowed = api["Properties"]["CorsConfiguration"]["AllowMethods"]
    stack = start_stack()

    answer = requests.options(
        f"{stack.base_url}/whatsapp-sessions/wa-1",
        headers={"Origin": "http://localhost:8080", "Access-Control-Request-Method": "PATCH"},
        timeout=5,
    )

    assert answer.status_code in (200, 204)
    local = answer.headers["Access-Control-Allow-Methods"].split(",")
    assert set(local) == set(allowed)
