"""The local HTTP front door: what API Gateway's HTTP API does for the API function.

Each request becomes a payload format 2.0 event (routes and authorizer as
template.yaml declares them: `GET /health` and `GET /openapi.json` without auth,
`GET|POST /{proxy+}` behind the JWT authorizer), the API function's handler runs,
and its result becomes the HTTP response. The dashboard's files in web/ are served
at `/` and by file name; API routes take precedence. `/config.json` tells the
dashboard to sign in through the development sign-in at `/local-auth/` (authorize,
token, logout: the OAuth code flow with PKCE, as Cognito's endpoints run it).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import mimetypes
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from devstack.auth import (
    LOCAL_CLIENT_ID,
    InvalidToken,
    LocalAuthority,
    OAuthError,
    authorizer_claims,
    bearer_token,
    is_loopback_url,
    scopes,
    verify_token,
)
from devstack.context import SimulatedContext

log = logging.getLogger("devstack.api")

Handler = Callable[[dict[str, Any], Any], Any]

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
PUBLIC_ROUTES = frozenset({"/health", "/openapi.json", "/docs"})
WEBHOOK_ROUTE = "/webhooks/waha"
AUTH_ROUTES = frozenset({"/local-auth/authorize", "/local-auth/token", "/local-auth/logout"})
CONFIG_PATH = "/config.json"
API_TIMEOUT_MS = 29_000  # the API function's timeout in template.yaml
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
CORS_ALLOW_METHODS = "GET,POST,PATCH,DELETE,OPTIONS"
CORS_ALLOW_HEADERS = "authorization,content-type"
CORS_MAX_AGE = "600"

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}


def api_handler() -> Handler:
    from functions.api.app import lambda_handler

    return lambda_handler


class _HTTPServer(ThreadingHTTPServer):
    # Requests in progress finish on stop (each connection closes after one request,
    # and a silent client times out), so no API write is cut off halfway.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of clients (WAHA's webhooks, a page's
    # parallel reads) would see connections reset before a thread takes them.
    request_queue_size = 128
    api: LocalApiServer


class LocalApiServer:
    def __init__(
        self,
        jwt_secret: str,
        handler: Handler | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        web_root: Path | None = WEB_ROOT,
        auth: LocalAuthority | None = None,
    ) -> None:
        self.jwt_secret = jwt_secret
        self.auth = auth if auth is not None else LocalAuthority.from_env(jwt_secret)
        self.host = host
        self.requested_port = port
        self.web_root = web_root.resolve() if web_root is not None else None
        self._handler = handler
        # One invocation at a time, as in one Lambda execution environment: the
        # handler's module state (the resolver's current event) is not shared
        # between concurrent requests.
        self._invoke_lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "the API server is not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalApiServer:
        if self._handler is None:
            self._handler = api_handler()
        self._server = _HTTPServer((self.host, self.requested_port), _RequestHandler)
        self._server.api = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="api-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self._server = None
        self._thread = None

    # --------------------------------------------------------------- routing

    def route(self, method: str, raw_path: str) -> tuple[str, Any]:
        """("api", (routeKey, pathParameters, needs_auth)), ("static", file), ("auth", path),
        ("config", None) or ("none", None)."""
        if raw_path in AUTH_ROUTES:
            return "auth", raw_path
        if raw_path == CONFIG_PATH and method in ("GET", "HEAD"):
            return "config", None
        if method == "GET" and raw_path in PUBLIC_ROUTES:
            return "api", (f"GET {raw_path}", None, False)
        if method == "POST" and raw_path == WEBHOOK_ROUTE:  # WAHA signs it; no JWT
            return "api", (f"POST {raw_path}", None, False)
        if method in ("GET", "HEAD"):
            static = self.static_file(raw_path)
            if static is not None:
                return "static", static
        if method in ("GET", "POST", "PATCH", "DELETE") and raw_path.strip("/"):
            return "api", (f"{method} /{{proxy+}}", {"proxy": unquote(raw_path[1:])}, True)
        return "none", None

    def static_file(self, raw_path: str) -> Path | None:
        """A file of web/ for `/` and for paths whose last segment has an extension
        (API paths have none, apart from the public /openapi.json)."""
        if self.web_root is None:
            return None
        path = unquote(raw_path)
        if path in ("/", "/index.html"):
            relative = "index.html"
        else:
            last = path.rsplit("/", 1)[-1]
            if "." not in last.strip("."):
                return None
            relative = path.lstrip("/")
        parts = relative.split("/")
        if any(part in ("", ".", "..") or part.startswith(".") or "\\" in part for part in parts):
            return None
        candidate = (self.web_root / relative).resolve()
        if not candidate.is_relative_to(self.web_root) or not candidate.is_file():
            return None
        return candidate

    # ------------------------------------------------------------ invocation

    def invoke(self, event: dict[str, Any]) -> Any:
        assert self._handler is not None
        context = SimulatedContext(function_name="api", timeout_ms=API_TIMEOUT_MS)
        with self._invoke_lock:
            return self._handler(event, context)

    def authorize(self, headers: Mapping[str, str]) -> dict[str, Any]:
        return verify_token(bearer_token(headers.get("authorization")), self.jwt_secret)


# ------------------------------------------------------------------ event shape


def build_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    route_key: str,
    path_parameters: dict[str, str] | None,
    claims: Mapping[str, Any] | None,
    source_ip: str,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload format 2.0 event."""
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    now = datetime.now(UTC)
    request_id = base64.b32encode(uuid.uuid4().bytes)[:16].decode()
    host = merged.get("host", "127.0.0.1").split(":", 1)[0]
    context: dict[str, Any] = {
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": authorizer_claims(claims), "scopes": scopes(claims)}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


class HandlerResponseError(Exception):
    """The handler's result is not something API Gateway can turn into a response."""


def parse_result(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """A payload 2.0 result as (status, headers, body). A result without a
    statusCode is, as API Gateway infers it, a 200 JSON body."""
    if not isinstance(result, dict) or "statusCode" not in result:
        try:
            body = json.dumps(result).encode()
        except (TypeError, ValueError) as exc:
            raise HandlerResponseError("the result is not JSON") from exc
        return 200, [("content-type", "application/json")], body
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError) as exc:
        raise HandlerResponseError("statusCode is not a number") from exc
    if not 100 <= status <= 599:
        raise HandlerResponseError(f"statusCode {status} is out of range")
    raw_body = result.get("body")
    if raw_body is None:
        raw_body = ""
    if not isinstance(raw_body, str):
        raise HandlerResponseError("body must be a string")
    body = base64.b64decode(raw_body) if result.get("isBase64Encoded") else raw_body.encode("utf-8")
    headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    if not any(name.lower() == "content-type" for name, _ in headers) and body:
        headers.append(("content-type", "application/json"))
    return status, headers, body


def _json(message: str) -> bytes:
    return json.dumps({"message": message}).encode()


def _allowed_origin(origin: str | None) -> str | None:
    """Origins on this machine (a dashboard served elsewhere on localhost); the
    dashboard under / needs no CORS."""
    if not origin:
        return None
    parts = urlsplit(origin)
    if parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return origin
    return None


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = 10  # a client that sends nothing does not hold the server on stop
    server_version = "devstack"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    # ---------------------------------------------------------------- dispatch

    def _dispatch(self, method: str) -> None:
        threading.current_thread().name = "api"
        started = time.monotonic()
        api = self.server.api
        parts = urlsplit(self.path)
        raw_path = parts.path or "/"
        status = 500
        try:
            status = self._route_and_answer(method, api, parts, raw_path)
        except Exception:
            log.exception("The local API server failed on %s %s", method, self.path)
            status = self._send(500, [("content-type", "application/json")], _json("Internal Server Error"))
        finally:
            elapsed = (time.monotonic() - started) * 1000
            log.info("%s %s %d %.0f ms", method, self.path, status, elapsed)

    def _route_and_answer(self, method: str, api: LocalApiServer, parts: Any, raw_path: str) -> int:
        json_type = [("content-type", "application/json")]
        body = self._read_body()
        if body is None:
            return self._send(413, json_type, _json("Request Entity Too Large"))
        if method == "OPTIONS":
            return self._preflight()
        kind, target = api.route(method, raw_path)
        if kind == "static":
            return self._send_file(target, head=method == "HEAD")
        if kind == "config":
            config = json.dumps(api.auth.dashboard_config()).encode()
            return self._send(200, [*json_type, ("cache-control", "no-store")], config, head=method == "HEAD")
        if kind == "auth":
            return self._local_auth(method, target, parts.query, body)
        if kind == "none":
            return self._send(404, json_type, _json("Not Found"), head=method == "HEAD")
        route_key, path_parameters, needs_auth = target
        headers = list(self.headers.items())
        claims = None
        if needs_auth:
            try:
                claims = api.authorize({name.lower(): value for name, value in headers})
            except InvalidToken as exc:
                description = exc.description.replace('"', "'").replace("\r", " ").replace("\n", " ")
                challenge = f'Bearer error="invalid_token" error_description="{description}"'
                return self._send(401, [*json_type, ("www-authenticate", challenge)], _json("Unauthorized"))
        event = build_event(
            method=method,
            raw_path=raw_path,
            raw_query=parts.query,
            headers=headers,
            body=body,
            route_key=route_key,
            path_parameters=path_parameters,
            claims=claims,
            source_ip=self.client_address[0],
        )
        return self._invoke(event)

    def _invoke(self, event: dict[str, Any]) -> int:
        request_id = event["requestContext"]["requestId"]
        try:
            status, headers, body = parse_result(self.server.api.invoke(event))
        except HandlerResponseError as exc:
            log.error("The API handler's result is not a valid response: %s", exc)
            status, headers, body = (
                500,
                [("content-type", "application/json")],
                _json("Internal Server Error"),
            )
        except Exception:
            log.exception("The API handler raised")
            status, headers, body = (
                500,
                [("content-type", "application/json")],
                _json("Internal Server Error"),
            )
        headers.append(("apigw-requestid", request_id))
        return self._send(status, headers, body)

    # ------------------------------------------------------ development sign-in

    def _local_auth(self, method: str, path: str, query: str, body: bytes) -> int:
        auth = self.server.api.auth
        params = dict(parse_qsl(query, keep_blank_values=True))
        form = (
            dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            if method == "POST"
            else {}
        )
        if path == "/local-auth/token":
            if method != "POST":
                return self._oauth_json(
                    405, {"error": "invalid_request", "error_description": "POST the form"}
                )
            try:
                return self._oauth_json(200, auth.token(form))
            except OAuthError as exc:
                return self._oauth_json(
                    exc.status, {"error": exc.error, "error_description": exc.description}
                )
        if path == "/local-auth/logout":
            logout_uri = params.get("logout_uri", "")
            if params.get("client_id") != LOCAL_CLIENT_ID or not is_loopback_url(logout_uri):
                return self._sign_in_page(
                    400, None, "Sign-out needs client_id and a logout_uri on this machine."
                )
            return self._redirect(logout_uri)
        if method not in ("GET", "POST"):
            return self._send(405, [("allow", "GET, POST")], b"")
        fields = params if method == "GET" else form
        try:
            request = auth.authorization_request(fields)
        except OAuthError as exc:
            if exc.status == 302:
                return self._redirect(
                    fields["redirect_uri"],
                    error=exc.error,
                    error_description=exc.description,
                    state=fields.get("state", ""),
                )
            return self._sign_in_page(400, None, exc.description)
        user = form.get("user", "").strip() if method == "POST" else request.login_hint
        if not user:
            return self._sign_in_page(200, request, None if method == "GET" else "Enter a user id.")
        try:
            code = auth.issue_code(request, user)
        except OAuthError as exc:
            return self._sign_in_page(400, request, exc.description)
        return self._redirect(request.redirect_uri, code=code, state=request.state)

    def _redirect(self, target: str, **params: str) -> int:
        parts = urlsplit(target)
        query = "&".join(part for part in (parts.query, urlencode(params)) if part)
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
        return self._send(302, [("location", location), ("cache-control", "no-store")], b"")

    def _oauth_json(self, status: int, payload: dict[str, Any]) -> int:
        headers = [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
            ("pragma", "no-cache"),
        ]
        return self._send(status, headers, json.dumps(payload).encode())

    def _sign_in_page(self, status: int, request: Any, error: str | None) -> int:
        page = sign_in_page(request, self.server.api.auth.recent_users, error)
        headers = [
            ("content-type", "text/html; charset=utf-8"),
            ("cache-control", "no-store"),
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
            ("referrer-policy", "no-referrer"),
        ]
        return self._send(status, headers, page.encode())

    # ---------------------------------------------------------------- helpers

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over API Gateway's limit."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _cors_headers(self) -> list[tuple[str, str]]:
        origin = _allowed_origin(self.headers.get("Origin"))
        return [("access-control-allow-origin", origin), ("vary", "origin")] if origin else []

    def _preflight(self) -> int:
        headers = self._cors_headers()
        if headers:
            headers += [
                ("access-control-allow-methods", CORS_ALLOW_METHODS),
                ("access-control-allow-headers", CORS_ALLOW_HEADERS),
                ("access-control-max-age", CORS_MAX_AGE),
            ]
        return self._send(204, headers, b"")

    def _send_file(self, path: Path, head: bool) -> int:
        content_type = _CONTENT_TYPES.get(path.suffix.lower()) or (
            mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        data = path.read_bytes()
        headers = [("content-type", content_type), ("cache-control", "no-cache")]
        return self._send(200, headers, data, head=head, length=len(data))

    def _send(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        head: bool = False,
        length: int = -1,
    ) -> int:
        try:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            for name, value in self._cors_headers():
                if not any(existing.lower() == name for existing, _ in headers):
                    self.send_header(name, value)
            self.send_header("content-length", str(length if length >= 0 else len(body)))
            self.send_header("connection", "close")
            self.end_headers()
            if body and not head:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client left
        self.close_connection = True
        return status

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return  # one line per request comes from _dispatch


# ------------------------------------------------------------ sign-in page

_PAGE_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f6f8; color: #1c2733; }
main { max-width: 26rem; margin: 10vh auto; padding: 2rem; background: #fff; border-radius: 8px;
  box-shadow: 0 1px 3px rgb(0 0 0 / 15%); }
h1 { font-size: 1.4rem; margin-top: 0; }
label { display: block; font-weight: 600; margin-bottom: .25rem; }
input[type=text] { box-sizing: border-box; width: 100%; padding: .5rem; font: inherit; border: 1px solid #8a97a5;
  border-radius: 4px; }
button { font: inherit; padding: .5rem 1rem; margin-top: .75rem; border-radius: 4px; border: 1px solid #0b6e4f;
  background: #0b6e4f; color: #fff; cursor: pointer; }
.recent button { background: #fff; color: #0b6e4f; margin-right: .5rem; }
.note { color: #4f5d6b; font-size: .9rem; }
.error { color: #a4161a; font-weight: 600; }
"""


def sign_in_page(request: Any, recent: list[str], error: str | None) -> str:
    """The development sign-in: a user id, no password (the local stack trusts this machine)."""
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Sign in (local development)</title><style>{_PAGE_STYLE}</style></head><body><main>",
        "<h1>Sign in to the local stack</h1>",
    ]
    if error:
        parts.append(f"<p class='error' role='alert' data-testid='local-auth-error'>{esc(error)}</p>")
    if request is not None:
        hidden = {
            "response_type": "code",
            "client_id": request.client_id,
            "redirect_uri": request.redirect_uri,
            "state": request.state,
            "code_challenge": request.code_challenge,
            "code_challenge_method": "S256",
        }
        fields = "".join(f"<input type='hidden' name='{esc(k)}' value='{esc(v)}'>" for k, v in hidden.items())
        parts.append(f"<form method='post' action='/local-auth/authorize'>{fields}")
        parts.append(
            "<label for='user'>User id</label>"
            "<input id='user' name='user' type='text' autocomplete='username' autocapitalize='off'"
            " spellcheck='false' maxlength='128' autofocus data-testid='local-auth-user'>"
            "<button type='submit' data-testid='local-auth-submit'>Sign in</button>"
        )
        if recent:
            buttons = "".join(
                f"<button type='submit' name='user' value='{esc(user)}' formnovalidate>{esc(user)}</button>"
                for user in recent
            )
            parts.append(f"<p class='recent'><span class='note'>Recent users:</span><br>{buttons}</p>")
        parts.append("</form>")
    parts.append(
        "<p class='note'>Development sign-in of <code>make dev</code>: any user id signs in, without a"
        " password. The deployed dashboard signs in with Cognito.</p></main></body></html>"
    )
    return "".join(parts)
