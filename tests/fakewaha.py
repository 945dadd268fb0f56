"""A fake WAHA server: real HTTP on 127.0.0.1, WAHA's shapes and status codes, and knobs
to make it misbehave the way a real WAHA and WhatsApp do.

Follows WAHA 2026.7.1 (tests/data/waha_openapi_subset.json) for the endpoints the
campaign sender uses, and the observed behaviour recorded in the team's WAHA notes:
201 for sends, 401 `{message, statusCode}` for a bad key, 404 Nest body for a
missing/stopped session, 422 `{error, session, status, expected}` for a session that
is not WORKING, 500 `{statusCode, exception: {message}, request}` for engine errors.

Sessions: it creates, starts, logs out and deletes sessions as WAHA's session API
does, serves a pairing QR code (PNG, base64 JSON or raw value) and pairing codes
while a session is SCAN_QR_CODE, and plays WAHA's side of the webhooks each
session was created with: `pair`, `drop`, `ack` and `inbound` post signed events
(HMAC-SHA512 of the raw body with the session's key, as WAHA 2026 signs them);
`replay` posts one again (a WAHA retry), and events can be sent in any order.

Usage in a test::

    def test_something(fake_waha):
        fake_waha.fail_next(2, status=503)
        client = WahaClient(fake_waha.base_url, fake_waha.api_key)
        ...
        assert fake_waha.count_by_chat() == {"12132132131@c.us": 1}
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import socket
import struct
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

ENGINES = ("SPEC", "WEBJS", "NOWEB", "GOWS", "EMPTY")
SEND_ENDPOINTS = frozenset({"sendText", "sendImage", "sendVideo", "sendFile"})
SESSION_ADMIN_ENDPOINTS = frozenset(
    {"create-session", "update-session", "delete-session", "logout", "qr", "request-code"}
)
ALL_ENDPOINTS = frozenset(
    SEND_ENDPOINTS
    | {"session", "me", "new-message-id", "check-exists", "startTyping", "stopTyping", "unknown"}
    | SESSION_ADMIN_ENDPOINTS
)
ME_ID = "15550001111@c.us"

_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/api/sessions"), "create-session"),
    ("DELETE", re.compile(r"/api/sessions/(?P<session>[^/]+)"), "delete-session"),
    ("PUT", re.compile(r"/api/sessions/(?P<session>[^/]+)"), "update-session"),
    ("POST", re.compile(r"/api/sessions/(?P<session>[^/]+)/logout"), "logout"),
    ("GET", re.compile(r"/api/(?P<session>[^/]+)/auth/qr"), "qr"),
    ("POST", re.compile(r"/api/(?P<session>[^/]+)/auth/request-code"), "request-code"),
    ("GET", re.compile(r"/api/sessions/(?P<session>[^/]+)"), "session"),
    ("GET", re.compile(r"/api/sessions/(?P<session>[^/]+)/me"), "me"),
    ("GET", re.compile(r"/api/contacts/check-exists"), "check-exists"),
    ("GET", re.compile(r"/api/(?P<session>[^/]+)/new-message-id"), "new-message-id"),
    ("POST", re.compile(r"/api/(?P<endpoint>sendText|sendImage|sendVideo|sendFile)"), ""),
    ("POST", re.compile(r"/api/(?P<endpoint>startTyping|stopTyping)"), ""),
]

# Required body fields per endpoint (from the spec's request schemas).
_REQUIRED = {
    "sendText": ("session", "chatId", "text"),
    "sendImage": ("session", "chatId", "file"),
    "sendFile": ("session", "chatId", "file"),
    "sendVideo": ("session", "chatId", "file", "convert"),
    "startTyping": ("session", "chatId"),
    "stopTyping": ("session", "chatId"),
    "create-session": ("name",),
    "request-code": ("phoneNumber",),
}
# Delivers one webhook: (url, headers, raw body) -> the receiver's HTTP status.
Deliver = Callable[[str, dict[str, str], bytes], int]


@dataclass
class _Injection:
    """A scripted misbehaviour for the next `remaining` matching requests."""

    remaining: int
    endpoints: frozenset[str]
    status: int = 503
    body: Any = None
    seconds: float = 0.0
    process: bool = False  # handle the request for real first (it "reached WhatsApp")
    drop: bool = False  # close the connection without answering


@dataclass
class _Reply:
    status: int
    body: Any = None  # dict/list -> JSON; None -> empty body
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without writing a response


class FakeWaha:
    """State and controls of the fake server. All public methods are thread-safe."""

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key: str | None = api_key or f"fake-waha-key-{secrets.token_hex(8)}"
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self.errors: list[BaseException] = []  # unexpected exceptions inside the fake
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        assert self._server is not None, "fake WAHA is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeWaha:
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop at once: hung or slow handlers are woken up, the socket is closed."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being handled (e.g. a hung one finished)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._in_flight == 0:
                    return True
            time.sleep(0.01)
        return False

    def reset(self) -> None:
        """Back to a single WORKING "default" session, a well-behaved server and no records."""
        with self._lock:
            self.sessions: dict[str, str] = {"default": "WORKING"}
            self.me_extra: dict[str, dict[str, Any]] = {}
            # WAHA 2026.7.2 puts reachoutTimelock in GET /me; whether session info's `me` has it too
            # is not documented, so it can be switched off.
            self.session_info_me_extra = True
            self.engine = "SPEC"
            self.supports_message_id = True
            self.message_id_unsupported_status = 404
            self.check_exists_supported = True
            self.latency_ms = 0
            self.not_working_wait_s = 0.0  # real WAHA waits ~5 s before its 422
            self.reject_numbers: set[str] = set()
            self.chat_ids: dict[str, str] = {}  # digits -> chatId check-exists answers
            self.timelock = False
            self.capped = False
            self.messages: list[dict[str, Any]] = []
            self.typing: list[dict[str, Any]] = []
            self.requests: list[dict[str, Any]] = []
            self.deduped = 0
            self._accepted_ids: dict[str, dict[str, Any]] = {}
            self._issued_ids: set[str] = set()
            self._drops: dict[str, tuple[int, str]] = {}
            self._injections: list[_Injection] = []
            # Sessions' configs as created (webhooks with their HMAC keys), paired numbers,
            # sessions logged out, and every webhook posted with its answer.
            self.configs: dict[str, dict[str, Any]] = {}
            self.me_ids: dict[str, str] = {}
            self.push_names: dict[str, str] = {}
            self.logged_out: list[str] = []
            self.new_session_status = "SCAN_QR_CODE"
            self.webhooks: list[dict[str, Any]] = []
            self.deliver: Deliver | None = None  # None: an HTTP POST to the webhook's URL

    # ------------------------------------------------------------------ controls

    def set_session(self, name: str, status: str = "WORKING", **me_extra: Any) -> None:
        """Add or change a session; `me_extra` is merged into its `me` (e.g. reachoutTimelock=...)."""
        with self._lock:
            self.sessions[name] = status
            if me_extra:
                self.me_extra[name] = dict(me_extra)

    def remove_session(self, name: str) -> None:
        with self._lock:
            self.sessions.pop(name, None)

    def drop_after(self, k: int, session: str = "default", status: str = "SCAN_QR_CODE") -> None:
        """After `k` more accepted sends the session falls to `status` (sends then get 422)."""
        with self._lock:
            if k <= 0:
                self.sessions[session] = status
            else:
                self._drops[session] = (k, status)

    def fail_next(
        self,
        n: int,
        status: int = 503,
        body: Any = None,
        *,
        endpoints: Iterable[str] = SEND_ENDPOINTS,
        process: bool = False,
    ) -> None:
        """The next `n` matching requests answer `status`; with `process`, after really handling them
        (a gateway that times out after the message went out)."""
        self._inject(_Injection(n, frozenset(endpoints), status=status, body=body, process=process))

    def hang_next(self, n: int, seconds: float, *, endpoints: Iterable[str] = SEND_ENDPOINTS) -> None:
        """The next `n` matching requests are handled (a send is recorded: it reached WhatsApp), then
        the answer is held back `seconds`, long enough for a client read timeout."""
        self._inject(_Injection(n, frozenset(endpoints), seconds=seconds, process=True))

    def break_next(self, n: int, *, endpoints: Iterable[str] = SEND_ENDPOINTS, process: bool = True) -> None:
        """The next `n` matching requests are read (and, with `process`, handled: a send is recorded),
        then the connection is closed without an answer, as a proxy or TLS stream that breaks
        after the request was written."""
        self._inject(_Injection(n, frozenset(endpoints), process=process, drop=True))

    def rate_limit_next(
        self, n: int, status: int = 500, *, endpoints: Iterable[str] = SEND_ENDPOINTS
    ) -> None:
        """WhatsApp rate limits: 500 `rate-overlimit` (NOWEB style) or a plain 429."""
        body = _rate_limit_body(status)
        self._inject(_Injection(n, frozenset(endpoints), status=status, body=body))

    def _inject(self, injection: _Injection) -> None:
        unknown = injection.endpoints - ALL_ENDPOINTS
        if unknown:
            raise ValueError(f"unknown endpoints {sorted(unknown)}")
        with self._lock:
            self._injections.append(injection)

    # ------------------------------------------------------------------ assertions

    def sent(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self.messages]

    def texts_by_chat(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = defaultdict(list)
        for message in self.sent():
            result[message["chatId"]].append(message.get("text") or message.get("caption") or "")
        return dict(result)

    def count_by_chat(self) -> dict[str, int]:
        return {chat: len(texts) for chat, texts in self.texts_by_chat().items()}

    def count_requests(self, endpoint: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if endpoint is None or r["endpoint"] == endpoint)

    def request_log(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.requests if endpoint is None or r["endpoint"] == endpoint]

    # ------------------------------------------------------------------ request handling

    def handle(self, method: str, raw_path: str, headers: Any, raw_body: bytes) -> _Reply:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        endpoint, path_session = _route(method, path)
        body = _parse_body(headers, raw_body) if method in ("POST", "PUT") else {}
        entry = {
            "method": method,
            "path": path,
            "endpoint": endpoint,
            "query": query,
            "body": body,
            "headers": {k: v for k, v in headers.items() if k.lower() != "x-api-key"},
            "api_key": headers.get("X-Api-Key"),
            "time": time.monotonic(),
            "status": None,
        }
        with self._lock:
            self.requests.append(entry)
            self._in_flight += 1
        try:
            if self.latency_ms:
                self._stopping.wait(self.latency_ms / 1000)
            injection = self._take_injection(endpoint)
            if injection is not None and not injection.process:
                reply = _Reply(injection.status, injection.body if injection.body is not None else {})
                reply = _default_error_body(reply, method, path)
            else:
                reply = self._answer(method, path, endpoint, path_session, query, headers, body)
                if injection is not None and injection.seconds:
                    self._stopping.wait(injection.seconds)
                elif injection is not None and not injection.drop:
                    reply = _default_error_body(_Reply(injection.status, injection.body), method, path)
            if injection is not None and injection.drop:
                reply = _Reply(0, drop=True)
            entry["status"] = reply.status
            return reply
        finally:
            with self._lock:
                self._in_flight -= 1

    def _take_injection(self, endpoint: str) -> _Injection | None:
        with self._lock:
            for injection in self._injections:
                if injection.remaining > 0 and endpoint in injection.endpoints:
                    injection.remaining -= 1
                    return injection
        return None

    def _answer(
        self,
        method: str,
        path: str,
        endpoint: str,
        path_session: str | None,
        query: dict[str, str],
        headers: Any,
        body: dict[str, Any],
    ) -> _Reply:
        if self.api_key is not None and self.api_key not in (
            headers.get("X-Api-Key"),
            query.get("x-api-key"),
        ):
            return _Reply(401, {"message": "Unauthorized", "statusCode": 401})
        if endpoint == "unknown":
            return _not_found_route(method, path)
        if endpoint in _REQUIRED:
            missing = [name for name in _REQUIRED[endpoint] if name not in body]
            if missing:
                return _Reply(
                    400,
                    {
                        "statusCode": 400,
                        "message": [f"{name} should not be empty" for name in missing],
                        "error": "Bad Request",
                    },
                )
        if endpoint == "check-exists":
            if not self.check_exists_supported:
                return _not_found_route(method, path)
            if "phone" not in query:
                return _Reply(
                    400, {"statusCode": 400, "message": ["phone must be a string"], "error": "Bad Request"}
                )
        if endpoint == "new-message-id" and not self.supports_message_id:
            return self._message_id_unsupported(method, path)
        if endpoint in SESSION_ADMIN_ENDPOINTS:
            return self._session_admin(endpoint, path_session, query, headers, body)

        session = path_session or body.get("session") or query.get("session") or "default"
        with self._lock:
            status = self.sessions.get(session)
        if status is None or status == "STOPPED":
            return _session_not_found(session)
        if endpoint == "session":
            return _Reply(200, self._session_info(session, status))
        if endpoint == "me":
            return _Reply(200, self._me(session)) if status == "WORKING" else _Reply(200)
        if status != "WORKING":
            if self.not_working_wait_s:
                self._stopping.wait(self.not_working_wait_s)
            return _Reply(
                422,
                {
                    "error": "Session status is not as expected. Try again later or restart the session",
                    "session": session,
                    "status": status,
                    "expected": ["WORKING"],
                },
            )
        if endpoint == "new-message-id":
            return _Reply(200, {"id": self._issue_id()})
        if endpoint == "check-exists":
            digits = query["phone"].replace("+", "").strip()
            if digits in self.reject_numbers:
                return _Reply(200, {"numberExists": False})
            return _Reply(200, {"numberExists": True, "chatId": self.chat_ids.get(digits, f"{digits}@c.us")})
        if endpoint in ("startTyping", "stopTyping"):
            with self._lock:
                self.typing.append(
                    {
                        "endpoint": endpoint,
                        "session": session,
                        "chatId": body["chatId"],
                        "time": time.monotonic(),
                    }
                )
            return _Reply(201)
        return self._send(endpoint, session, body, path)

    # ------------------------------------------------------------------ sessions

    def _session_admin(
        self, endpoint: str, name: str | None, query: dict[str, str], headers: Any, body: dict[str, Any]
    ) -> _Reply:
        if endpoint == "create-session":
            return self._create_session(body)
        assert name is not None
        with self._lock:
            status = self.sessions.get(name)
            if endpoint == "delete-session":  # idempotent, empty 200
                self.sessions.pop(name, None)
                self.configs.pop(name, None)
                return _Reply(200)
        if status is None:
            return _session_not_found(name)
        if endpoint == "update-session":  # WAHA restarts it with the new config
            config = body.get("config") if isinstance(body.get("config"), dict) else {}
            with self._lock:
                self.configs[name] = config
            return _Reply(200, {"name": name, "status": status, "config": config})
        if endpoint == "logout":
            with self._lock:
                self.logged_out.append(name)
                self.me_ids.pop(name, None)
                self.sessions[name] = "STARTING"  # WAHA restarts a session it logged out
            return _Reply(201, {"name": name, "status": "STARTING", "config": self.configs.get(name, {})})
        if status != "SCAN_QR_CODE":
            return _Reply(422, _status_not_expected(name, status, "SCAN_QR_CODE"))
        if endpoint == "request-code":
            return _Reply(201, {"code": "FAKE-" + secrets.token_hex(2).upper()})
        value = f"2@fake-qr-{name}"
        if query.get("format") == "raw":
            return _Reply(200, {"value": value})
        png = _png()
        if "image/png" in (headers.get("Accept") or ""):
            return _Reply(200, png)
        return _Reply(200, {"mimetype": "image/png", "data": base64.b64encode(png).decode()})

    def _create_session(self, body: dict[str, Any]) -> _Reply:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return _Reply(
                400, {"statusCode": 400, "message": ["name must be a string"], "error": "Bad Request"}
            )
        with self._lock:
            if name in self.sessions:
                message = f"Session '{name}' already exists. Use PUT to update it."
                return _Reply(422, {"statusCode": 422, "message": message, "error": "Unprocessable Entity"})
            config = body.get("config") if isinstance(body.get("config"), dict) else {}
            self.configs[name] = config
            status = self.new_session_status if body.get("start", True) else "STOPPED"
            self.sessions[name] = status
        return _Reply(201, {"name": name, "status": status, "config": config})

    # ------------------------------------------------------------------ webhooks

    def pair(self, name: str, phone_digits: str = "15550001111", push_name: str = "Fake WAHA") -> int:
        """The phone scanned the QR code: WORKING, and the session.status webhook says so."""
        with self._lock:
            self.sessions[name] = "WORKING"
            self.me_ids[name] = f"{phone_digits}@c.us"
            self.push_names[name] = push_name
        me = {"id": f"{phone_digits}@c.us", "pushName": push_name}
        return self.emit(name, "session.status", {"name": name, "status": "WORKING"}, me=me)

    def drop(self, name: str, status: str = "SCAN_QR_CODE", **emit: Any) -> int:
        """The number disconnected: the session falls to `status`, the webhook says so."""
        with self._lock:
            self.sessions[name] = status
        return self.emit(name, "session.status", {"name": name, "status": status}, **emit)

    def ack(self, name: str, message_id: str, ack_name: str, **emit: Any) -> int:
        """WhatsApp acknowledged a sent message (SERVER, DEVICE, READ, PLAYED, ERROR)."""
        numbers = {"ERROR": -1, "PENDING": 0, "SERVER": 1, "DEVICE": 2, "READ": 3, "PLAYED": 4}
        chat = message_id.split("_")[1] if message_id.count("_") >= 2 else ""
        payload = {
            "id": message_id,
            "from": self.me_ids.get(name, ME_ID),
            "to": chat,
            "participant": None,
            "fromMe": True,
            "ack": numbers[ack_name],
            "ackName": ack_name,
        }
        return self.emit(name, "message.ack", payload, **emit)

    def inbound(self, name: str, from_digits: str, text: str, **emit: Any) -> int:
        """A contact wrote to the number."""
        payload = {
            "id": f"false_{from_digits}@c.us_{_new_id()}",
            "from": f"{from_digits}@c.us",
            "fromMe": False,
            "body": text,
        }
        return self.emit(name, "message", payload, **emit)

    def emit(
        self,
        name: str,
        event: str,
        payload: dict[str, Any],
        *,
        me: dict[str, Any] | None = None,
        event_id: str | None = None,
        timestamp_ms: int | None = None,
        key: str | None = None,
        signature: str | None = None,
    ) -> int:
        """Post one webhook event as WAHA does to every webhook of the session's config;
        `key`/`signature` override the configured key or the computed signature."""
        with self._lock:
            hooks = list((self.configs.get(name) or {}).get("webhooks") or [])
            metadata = (self.configs.get(name) or {}).get("metadata") or {}
        assert hooks, f"fake WAHA: session {name!r} has no webhook"
        when = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        status = 0
        for hook in hooks:
            if event not in hook.get("events", []):
                continue
            envelope = {
                "id": event_id or f"evt_{secrets.token_hex(13)}",
                "timestamp": when,
                "event": event,
                "session": name,
                "metadata": metadata,
                "me": me or {"id": self.me_ids.get(name, ME_ID), "pushName": "Fake WAHA"},
                "payload": payload,
                "engine": "NOWEB",
                "environment": {"version": "2026.7.1", "engine": "NOWEB", "tier": "CORE"},
            }
            raw = json.dumps(envelope).encode()
            headers = {
                "Content-Type": "application/json",
                "X-Webhook-Request-Id": secrets.token_hex(8),
                "X-Webhook-Timestamp": str(when),
            }
            hmac_key = key if key is not None else (hook.get("hmac") or {}).get("key")
            if hmac_key is not None:
                headers["X-Webhook-Hmac"] = (
                    signature or hmac.new(hmac_key.encode(), raw, hashlib.sha512).hexdigest()
                )
                headers["X-Webhook-Hmac-Algorithm"] = "sha512"
            status = self._post(hook["url"], headers, raw)
        return status

    def replay(self, index: int = -1) -> int:
        """Post an earlier webhook again, byte for byte (WAHA retrying it)."""
        with self._lock:
            sent = self.webhooks[index]
        return self._post(sent["url"], sent["headers"], sent["raw"])

    def _post(self, url: str, headers: dict[str, str], raw: bytes) -> int:
        if self.deliver is not None:
            status = self.deliver(url, headers, raw)
        else:
            import requests

            status = requests.post(url, data=raw, headers=headers, timeout=10).status_code
        with self._lock:
            self.webhooks.append({"url": url, "headers": dict(headers), "raw": raw, "status": status})
        return status

    def _send(self, endpoint: str, session: str, body: dict[str, Any], path: str) -> _Reply:
        chat_id = str(body["chatId"])
        digits = chat_id.split("@", 1)[0]
        if digits in self.reject_numbers:
            return _engine_error("Error: wid error: invalid wid", path, body)
        if self.timelock:
            return _engine_error("2 UNKNOWN: server returned error 463", path, body)
        if self.capped:
            return _engine_error("2 UNKNOWN: server returned error 475", path, body)
        requested_id = body.get("id") if endpoint == "sendText" and self.supports_message_id else None
        with self._lock:
            if isinstance(requested_id, str) and requested_id in self._accepted_ids:
                # WhatsApp deduplicates by message id: the retry is answered, not delivered again.
                self.deduped += 1
                return _Reply(201, self._engine_answer(self._accepted_ids[requested_id]))
            message_id = requested_id if isinstance(requested_id, str) and requested_id else _new_id()
            message = {
                "endpoint": endpoint,
                "session": session,
                "chatId": chat_id,
                "text": body.get("text"),
                "caption": body.get("caption"),
                "file": body.get("file"),
                "id": requested_id,
                "message_id": f"true_{chat_id}_{message_id}",
                "short_id": message_id,
                "time": time.monotonic(),
            }
            self.messages.append(message)
            if isinstance(requested_id, str):
                self._accepted_ids[requested_id] = message
            if session in self._drops:
                left, new_status = self._drops[session]
                if left <= 1:
                    del self._drops[session]
                    self.sessions[session] = new_status
                else:
                    self._drops[session] = (left - 1, new_status)
            return _Reply(201, self._engine_answer(message))

    # ------------------------------------------------------------------ answers

    def _message_id_unsupported(self, method: str, path: str) -> _Reply:
        status = self.message_id_unsupported_status
        if status == 404:  # a WAHA older than 2026.4.3: no such route
            return _not_found_route(method, path)
        if status == 422:  # an engine without the feature
            return _Reply(
                422,
                {
                    "statusCode": 422,
                    "message": "The method is not implemented in the current engine",
                    "error": "Unprocessable Entity",
                },
            )
        return _Reply(
            status, {"statusCode": status, "message": "Not Implemented", "error": "Not Implemented"}
        )

    def _issue_id(self) -> str:
        new = _new_id()
        with self._lock:
            self._issued_ids.add(new)
        return new

    def _me(self, session: str, extra: bool = True) -> dict[str, Any]:
        me: dict[str, Any] = {
            "id": self.me_ids.get(session, ME_ID),
            "pushName": self.push_names.get(session, "Fake WAHA"),
            "lid": "123123@lid",
        }
        if extra:
            with self._lock:
                me.update(self.me_extra.get(session, {}))
        return me

    def _session_info(self, session: str, status: str) -> dict[str, Any]:
        info: dict[str, Any] = {
            "name": session,
            "status": status,
            "config": {"metadata": {}, "debug": False, "webhooks": []},
            "presence": {},
            "timestamps": {"activity": int(time.time() * 1000)},
            "assignedWorker": "fake-worker",
        }
        if status == "WORKING":
            info["me"] = self._me(session, extra=self.session_info_me_extra)
        return info

    def _engine_answer(self, message: dict[str, Any]) -> Any:
        """The 201 body as each engine really shapes it."""
        chat_id = message["chatId"]
        short = message["short_id"]
        serialized = message["message_id"]
        text = message.get("text") or message.get("caption") or ""
        now = int(time.time())
        engine = self.engine
        if engine == "EMPTY":
            return None
        if engine == "GOWS":
            return {"id": serialized, "_data": {"Info": {"ID": short, "Chat": chat_id, "IsFromMe": True}}}
        if engine == "NOWEB":
            return {
                "key": {
                    "remoteJid": chat_id.replace("@c.us", "@s.whatsapp.net"),
                    "fromMe": True,
                    "id": short,
                },
                "message": {"extendedTextMessage": {"text": text}},
                "messageTimestamp": str(now),
                "status": "PENDING",
            }
        if engine == "WEBJS":
            return {
                "id": {"fromMe": True, "remote": chat_id, "id": short, "_serialized": serialized},
                "ack": 0,
                "hasMedia": message["file"] is not None,
                "body": text,
                "type": "chat" if message["file"] is None else "image",
                "timestamp": now,
                "from": ME_ID,
                "to": chat_id,
                "fromMe": True,
            }
        # SPEC: the WAMessage the 2026.7.1 spec declares.
        file = message.get("file") or {}
        return {
            "id": serialized,
            "timestamp": now,
            "from": ME_ID,
            "fromMe": True,
            "source": "api",
            "to": chat_id,
            "participant": "",
            "body": text,
            "hasMedia": bool(file),
            "mediaUrl": file.get("url", "") if isinstance(file, dict) else "",
            "ack": 1,
            "ackName": "SERVER",
        }


# ---------------------------------------------------------------------- module helpers


def _new_id() -> str:
    return "3EB0" + secrets.token_hex(8).upper()


def _route(method: str, path: str) -> tuple[str, str | None]:
    for route_method, pattern, name in _ROUTES:
        match = pattern.fullmatch(path)
        if route_method == method and match:
            groups = match.groupdict()
            session = unquote(groups["session"]) if groups.get("session") else None
            return name or groups["endpoint"], session
    return "unknown", None


def _parse_body(headers: Any, raw: bytes) -> dict[str, Any]:
    # Nest parses JSON only when the client says it is JSON.
    if "application/json" not in (headers.get("Content-Type") or ""):
        return {}
    try:
        parsed = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _status_not_expected(session: str, status: str, expected: str) -> dict[str, Any]:
    return {
        "error": "Session status is not as expected. Try again later or restart the session",
        "session": session,
        "status": status,
        "expected": [expected],
    }


def _png() -> bytes:
    """A small, valid PNG (a 2x2 black-and-white square): what a QR image is to a client."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"\x00\x00\xff\x00\xff\x00"
    header = struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _not_found_route(method: str, path: str) -> _Reply:
    return _Reply(404, {"message": f"Cannot {method} {path}", "error": "Not Found", "statusCode": 404})


def _session_not_found(session: str) -> _Reply:
    return _Reply(
        404,
        {
            "statusCode": 404,
            "message": (
                f"We didn't find a session with name '{session}'. "
                f"Please start it first by using POST /api/sessions/{session}/start request"
            ),
            "error": "Not Found",
        },
    )


def _engine_error(message: str, path: str, body: dict[str, Any], data: Any = None) -> _Reply:
    """WAHA's AllExceptionsFilter body for an error thrown by the engine."""
    exception: dict[str, Any] = {
        "message": message,
        "name": "Error",
        "stack": f"Error: {message}\n    at fake",
    }
    if data is not None:
        exception["data"] = data
    return _Reply(
        500,
        {
            "statusCode": 500,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "exception": exception,
            "request": {"path": path, "method": "POST", "body": body, "query": {}},
            "version": {"version": "2026.7.1", "engine": "FAKE", "tier": "CORE"},
        },
    )


def _rate_limit_body(status: int) -> dict[str, Any]:
    if status == 429:
        return {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"}
    return _engine_error("rate-overlimit", "/api/sendText", {}, data=429).body


_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _default_error_body(reply: _Reply, method: str, path: str) -> _Reply:
    """Injected failures without a body get a plausible one (a proxy's text or Nest's JSON)."""
    if reply.body not in (None, {}):
        return reply
    if reply.status in (502, 504):
        return _Reply(reply.status, f"<html><body>{reply.status} {_REASONS[reply.status]}</body></html>")
    if reply.status >= 500:
        return _Reply(
            reply.status,
            {"statusCode": reply.status, "message": _REASONS.get(reply.status, "Server Error")},
        )
    return _Reply(reply.status, {"statusCode": reply.status, "message": f"Fake error for {method} {path}"})


# ---------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # not socketserver's 5: bursts of concurrent calls
    fake: FakeWaha

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return  # the client gave up (read timeout): expected
        if exc is not None:
            self.fake.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "FakeWAHA/2026.7.1"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = self.server.fake.handle(method, self.path, self.headers, raw)
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.body is None:
            payload, content_type = b"", None
        elif isinstance(reply.body, bytes):
            payload, content_type = reply.body, "image/png"
        elif isinstance(reply.body, str):
            payload, content_type = reply.body.encode(), "text/html; charset=utf-8"
        else:
            payload, content_type = json.dumps(reply.body).encode(), "application/json; charset=utf-8"
        try:
            self.send_response(reply.status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if payload:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet tests


@pytest.fixture
def fake_waha() -> Iterator[FakeWaha]:
    """A started fake WAHA server (one WORKING "default" session); stopped after the test."""
    fake = FakeWaha().start()
    try:
        yield fake
    finally:
        fake.stop()
    if fake.errors:
        raise AssertionError(f"fake WAHA raised: {fake.errors!r}")
