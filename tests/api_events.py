"""API Gateway HTTP API (payload format 2.0) events with JWT claims, and a small
client that feeds them to the API Lambda's handler the way Lambda does."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from devstack.context import SimulatedContext

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
_NO_BODY = object()


def http_event(
    method: str,
    path: str,
    *,
    user: str | None = "user-a",
    body: Any = _NO_BODY,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
    claims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event as API Gateway hands it to the function: lower-case headers, a
    JWT authorizer's claims (none when `user` is None), JSON `body` serialised."""
    if body is not _NO_BODY:
        raw_body = json.dumps(body)
    all_headers = {"host": "api.example.com", "user-agent": "pytest", "accept": "application/json"}
    if raw_body is not None:
        all_headers["content-type"] = "application/json"
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    if user is not None:
        all_headers["authorization"] = "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
    now = time.time()
    request_context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "a1b2c3d4e5",
        "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "a1b2c3d4e5",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.10",
            "userAgent": "pytest",
        },
        "requestId": f"req-{uuid.uuid4().hex[:16]}",
        "routeKey": f"{method} /{{proxy+}}",
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if claims is not None or user is not None:
        jwt_claims = (
            {"sub": user, "iss": "https://issuer.example.com", "aud": "campaigns-web"} if user else {}
        )
        jwt_claims.update(claims or {})
        request_context["authorizer"] = {"jwt": {"claims": jwt_claims, "scopes": None}}
    if base64_body and raw_body is not None:
        raw_body = base64.b64encode(raw_body.encode()).decode()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} /{{proxy+}}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": all_headers,
        "requestContext": request_context,
        "pathParameters": {"proxy": path.lstrip("/")},
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if raw_body is not None:
        event["body"] = raw_body
    return event


@dataclass
class ApiAnswer:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None

    @property
    def message(self) -> str:
        return self.json["message"]


def invoke(event: Any) -> ApiAnswer:
    """Call the API Lambda's handler with `event` and a Lambda-like context."""
    from functions.api.app import lambda_handler

    raw = lambda_handler(event, SimulatedContext(function_name="api", timeout_ms=29_000))
    body = raw.get("body") or ""
    if raw.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return ApiAnswer(status=raw["statusCode"], headers=dict(raw.get("headers") or {}), text=body)


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


@dataclass
class ApiClient:
    """One signed-in user talking to the API handler."""

    user: str | None = "user-a"
    history: list[ApiAnswer] = field(default_factory=list)

    def call(self, method: str, path: str, **kwargs: Any) -> ApiAnswer:
        kwargs.setdefault("user", self.user)
        answer = invoke(http_event(method, path, **kwargs))
        self.history.append(answer)
        return answer

    def get(self, path: str, **kwargs: Any) -> ApiAnswer:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = _NO_BODY, **kwargs: Any) -> ApiAnswer:
        return self.call("POST", path, body=body, **kwargs)
