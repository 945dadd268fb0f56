"""WAHA (WhatsApp HTTP API) client: requests, retries and the meaning of every failure.

`WahaClient` speaks WAHA's HTTP API and turns every failure into one of the
runner's outcomes (see `campaigns.sending.sender`). The rule that decides the
retry policy is the product's promise, "never a contact twice": a request that
may have been written to WAHA is repeated only when WAHA can deduplicate it.

- Nothing was sent, provably (connection refused, connect timeout): retry with
  backoff, then `WahaUnavailable` (a `SendDeferred`: the runner rides it out).
- A call that sends nothing (session status, number check, new message id)
  answered 5xx or timed out: the same, since repeating it is harmless.
- A send (sendText, sendImage, sendVideo, sendFile) failed after its request may
  have been written (any 5xx that is not a recognised refusal, a read timeout, a
  connection or TLS stream broken before the answer): retry only when the request
  carries a pre-generated message id, which WAHA/WhatsApp deduplicate; otherwise
  `SendOutcomeUnknown` at once.
- WhatsApp refused the message, so nothing was delivered: an invalid number is
  `ContactRejected`; the reach-out timelock (463) and message capping (475) are
  `WhatsAppRestricted`; rate limits (429, `rate-overlimit`) are retried with a
  longer backoff, then `RateLimited`.
- Anything that needs a human (bad API key, session missing or not WORKING,
  another 4xx): a `SendNotAttempted` at once.

Reasons are shown to users: they name no internal host, port or WAHA path; those
details go to the log lines. Message ids are returned in WAHA's serialized form
`true_<chatId>_<id>`, the form `message.ack` webhooks carry, so a delivery can be
matched to its acks.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from campaigns.observability import logger
from campaigns.sending.sender import (
    ContactRejected,
    Media,
    SendDeferred,
    SendError,
    SendNotAttempted,
    SendOutcomeUnknown,
)

DEFAULT_CONNECT_TIMEOUT_S = 3.05
DEFAULT_READ_TIMEOUT_S = 30.0
DEFAULT_MAX_ATTEMPTS = 3
# WAHA waits about this long for a session to become WORKING before answering 422.
WAHA_STATUS_WAIT_S = 5.0
UNKNOWN_STATUS = "unknown"

TIMELOCK_REASON = (
    "WhatsApp temporarily blocks messages from this number to new contacts "
    "(reach-out timelock, error 463). It usually lasts hours to days; restarting "
    "or re-pairing the session does not lift it. Resume the campaign later."
)
CAPPING_REASON = (
    "WhatsApp's message capping quota for this number is exhausted (error 475): "
    "no more messages to new contacts until the quota cycle renews. Resume the campaign later."
)
UNREACHABLE = "The WhatsApp server (WAHA) could not be reached"
NOT_ANSWERING = "The WhatsApp server (WAHA) is not answering"
UNUSABLE_ADDRESS = "The WhatsApp server (WAHA) address is not usable; nothing was sent"

# Engine error texts (500 `exception.message`) that mean "this number cannot be messaged".
_INVALID_NUMBER_RE = re.compile(
    r"invalid wid|wid error|invalid jid|no device part|not on whatsapp|not registered on whatsapp"
    r"|not a whatsapp user|number (?:does not|doesn't) exist",
    re.IGNORECASE,
)
_RATE_LIMIT_RE = re.compile(r"rate-?overlimit|rate[ -]limit", re.IGNORECASE)
# WhatsApp error codes travel inside texts like "2 UNKNOWN: server returned error 463".
_TIMELOCK_RE = re.compile(r"(?<!\d)463(?!\d)|reach-?out ?time-?lock", re.IGNORECASE)
_CAPPING_RE = re.compile(r"(?<!\d)475(?!\d)|message capping", re.IGNORECASE)
_SESSION_MISSING_RE = re.compile(
    r"didn't find a session|did not find a session|session .{0,80}not (?:found|exist)", re.IGNORECASE
)
_OLD_NOT_WORKING_RE = re.compile(r"session under (\w+) status", re.IGNORECASE)
_PHONE_RE = re.compile(r"\+?[\d\s\-().]+")
# What a user-facing reason must not carry: addresses, host:port pairs and WAHA paths.
_INTERNAL_RES = (
    (re.compile(r"\b[a-z][a-z0-9+.\-]*://\S+", re.IGNORECASE), "[address]"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), "[address]"),
    (re.compile(r"\b(?:localhost|[\w-]+(?:\.[\w-]+)+):\d{1,5}\b", re.IGNORECASE), "[address]"),
    (re.compile(r"(?:\b(?:GET|POST|PUT|PATCH|DELETE)\s+)?/api/\S*"), "[WAHA path]"),
)

_REASON_MAX_CHARS = 300


# --------------------------------------------------------------------------- exceptions
# Finer kinds of the runner's exceptions; the runner only needs the base classes.


class ApiKeyRejected(SendNotAttempted):
    """WAHA answered 401/403."""


class SessionNotFound(SendNotAttempted):
    def __init__(self, reason: str, session: str) -> None:
        super().__init__(reason)
        self.session = session


class SessionNotWorking(SendNotAttempted):
    def __init__(self, reason: str, session: str, status: str) -> None:
        super().__init__(reason)
        self.session = session
        self.status = status


class EndpointUnsupported(SendNotAttempted):
    """This WAHA version or engine does not offer the endpoint (404 route, 405, 501)."""


class RequestRefused(SendNotAttempted):
    """Another 4xx: the request itself was refused; nothing was sent."""

    def __init__(self, reason: str, status_code: int) -> None:
        super().__init__(reason)
        self.status_code = status_code


class RateLimited(SendNotAttempted):
    """WhatsApp kept answering rate-overlimit / HTTP 429 after the retries."""


class WhatsAppRestricted(SendNotAttempted):
    """WhatsApp refuses this number's messages for a while (463 timelock, 475 capping)."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.code = code


class WahaUnavailable(SendDeferred):
    """Nothing was sent: WAHA unreachable, or 5xx / no answer to a call that sends nothing,
    after the retries. WAHA is down or restarting; the runner waits and tries again."""


# --------------------------------------------------------------------------- helpers


def chat_id_for(phone_number: str) -> str:
    """`+447911123456` (E.164, as contacts are stored) -> `447911123456@c.us`.

    Spaces, dashes, dots and brackets are tolerated. A number whose digits start
    with 0 is refused, not repaired: no country code starts with 0, so `00...` is
    not E.164 and guessing a country from it would message someone else.
    """
    raw = (phone_number or "").strip()
    if not raw or not _PHONE_RE.fullmatch(raw):
        raise ContactRejected(f"'{phone_number}' is not a phone number")
    digits = re.sub(r"\D", "", raw)
    # E.164 numbers have at most 15 digits; fewer than 7 cannot be a full international number.
    if digits.startswith("0") or not 7 <= len(digits) <= 15:
        raise ContactRejected(f"'{phone_number}' is not an international phone number")
    return f"{digits}@c.us"


def public_text(text: str) -> str:
    """`text` without internal addresses, host:port pairs or WAHA paths: fit for a user-facing reason."""
    for pattern, replacement in _INTERNAL_RES:
        text = pattern.sub(replacement, text)
    return text


def serialized_message_id(chat_id: str, message_id: str, from_me: bool = True) -> str:
    return f"{'true' if from_me else 'false'}_{chat_id}_{message_id}"


def extract_message_id(body: Any, chat_id: str, pre_generated_id: str | None = None) -> str | None:
    """The sent message's id from whatever the engine answered, never raising.

    Shapes seen: a string `id` (WAMessage, GOWS); `id._serialized` (WEBJS);
    `key.id` (NOWEB/Baileys, a short id that is serialized here as
    `true_<chatId>_<key.id>` to match webhook ids); an empty or non-JSON body
    (then the pre-generated id, serialized the same way, when one was used).
    """
    try:
        if isinstance(body, Mapping):
            ident = body.get("id")
            if isinstance(ident, str) and ident.strip():
                return ident.strip()
            if isinstance(ident, Mapping):
                serialized = ident.get("_serialized")
                if isinstance(serialized, str) and serialized.strip():
                    return serialized.strip()
                inner = ident.get("id")
                if isinstance(inner, str) and inner.strip():
                    return serialized_message_id(chat_id, inner.strip(), ident.get("fromMe") is not False)
            key = body.get("key")
            if isinstance(key, Mapping):
                key_id = key.get("id")
                if isinstance(key_id, str) and key_id.strip():
                    return serialized_message_id(chat_id, key_id.strip(), key.get("fromMe") is not False)
    except Exception:  # an exotic mapping must not turn a sent message into a crash
        logger.warning("Could not read the message id from WAHA's answer")
    if pre_generated_id:
        return serialized_message_id(chat_id, pre_generated_id)
    return None


def media_endpoint(mime_type: str) -> str:
    main = (mime_type or "").split(";", 1)[0].strip().lower()
    if main.startswith("image/"):
        return "sendImage"
    if main.startswith("video/"):
        return "sendVideo"
    return "sendFile"


_DEFAULT_FILENAMES = {"sendImage": "image.jpg", "sendVideo": "video.mp4", "sendFile": "file"}


def media_file(media: Media) -> dict[str, str]:
    """WAHA's remote `file` object. A filename is always given: sendVideo requires one."""
    filename = media.filename
    if not filename:
        path = urlsplit(media.url).path
        filename = unquote(path.rsplit("/", 1)[-1]) if path else ""
    if not filename:
        filename = _DEFAULT_FILENAMES[media_endpoint(media.mime_type)]
    return {"url": media.url, "mimetype": media.mime_type, "filename": filename}


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _error_text(body: Any, raw: str) -> str:
    """The human part of WAHA's error bodies, never the echoed request.

    Shapes: Nest `{statusCode, message, error}`, the status check's
    `{error, session, status, expected}`, 500 `{exception: {message}, request: ...}`
    and `{error: {code, key, message}}`. The 500 body echoes the request (with the
    campaign's text), so only the message fields are read.
    """
    if not isinstance(body, Mapping):
        return " ".join((raw or "").split())[:_REASON_MAX_CHARS]
    parts: list[str] = []
    exception = body.get("exception")
    if isinstance(exception, Mapping) and isinstance(exception.get("message"), str):
        parts.append(exception["message"])
    message = body.get("message")
    if isinstance(message, str):
        parts.append(message)
    elif isinstance(message, list):
        parts.extend(str(m) for m in message if isinstance(m, str | int | float))
    error = body.get("error")
    if isinstance(error, str):
        parts.append(error)
    elif isinstance(error, Mapping):
        parts.extend(str(error[k]) for k in ("message", "key") if isinstance(error.get(k), str))
    text = "; ".join(p.strip() for p in parts if p and p.strip())
    return " ".join(text.split())[:_REASON_MAX_CHARS]


def _error_code(body: Any) -> int | None:
    """`exception.data` / `exception.code`, where engines put WhatsApp's numeric code."""
    if isinstance(body, Mapping) and isinstance(body.get("exception"), Mapping):
        for key in ("data", "code", "status"):
            value = body["exception"].get(key)
            if isinstance(value, int):
                return value
    return None


def _safe_url(url: str) -> str:
    """The base URL without any user:password part, for log lines."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:  # a malformed address (e.g. a bad IPv6 literal or port)
        return "(malformed WAHA_BASE_URL)"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _retry_after_s(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


# --------------------------------------------------------------------------- retry policy


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter.

    Rate limits back off longer and keep half of the computed delay fixed, so a
    rate-limited retry never comes back almost at once.
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    rate_limit_base_delay_s: float = 5.0
    rate_limit_max_delay_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    def _ceiling_s(self, retry: int, rate_limited: bool) -> float:
        if rate_limited:
            return min(self.rate_limit_max_delay_s, self.rate_limit_base_delay_s * 2 ** (retry - 1))
        return min(self.max_delay_s, self.base_delay_s * 2 ** (retry - 1))

    def delay_s(
        self, retry: int, rate_limited: bool, rng: random.Random, retry_after_s: float | None = None
    ) -> float:
        """Delay before retry number `retry` (1 = the first retry)."""
        ceiling = self._ceiling_s(retry, rate_limited)
        if rate_limited:
            if retry_after_s is not None:
                # Bounded like any other delay, so `worst_case_backoff_s` stays true.
                return min(ceiling, retry_after_s)
            return ceiling / 2 + rng.random() * ceiling / 2
        return rng.random() * ceiling

    def worst_case_backoff_s(self, attempts: int | None = None) -> float:
        attempts = self.max_attempts if attempts is None else attempts
        return sum(
            max(self._ceiling_s(retry, False), self._ceiling_s(retry, True), 0.0)
            for retry in range(1, attempts)
        )


class _Kind(Enum):
    FATAL = "fatal"  # raise now
    RETRY = "retry"  # nothing was sent, provably: retry with backoff
    RATE = "rate"  # WhatsApp refused it for now: retry with longer backoff
    AMBIGUOUS = "ambiguous"  # the request may have been acted on: only a call that sends nothing is retried


@dataclass
class _Failure:
    kind: _Kind
    reason: str  # for users: no internal host, port or path
    error: SendError | None = None
    retry_after_s: float | None = None
    detail: str = ""  # for the logs
    unavailable: str = NOT_ANSWERING  # the reason when the retries run out and nothing was sent


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    endpoint: str
    session: str
    json_body: dict[str, Any] | None
    params: dict[str, str] | None
    headers: dict[str, str]
    # Sends a message, so an ambiguous failure may have delivered it.
    sends: bool
    # Carries a pre-generated id, so repeating it cannot deliver twice.
    deduplicated: bool
    max_attempts: int


# --------------------------------------------------------------------------- classification

# Raised before anything is written to the network.
_UNUSABLE_REQUEST = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)


def _could_not_connect(exc: requests.RequestException) -> bool:
    """True only when no connection was opened, so the request was never written."""
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a TLS stream can break after the request went out
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        inner = exc.args[0] if exc.args else None
        reason = inner.reason if isinstance(inner, MaxRetryError) else inner
        return isinstance(reason, NewConnectionError | ConnectTimeoutError)
    return False


def _transport_failure(exc: requests.RequestException, read_timeout_s: float) -> _Failure:
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, _UNUSABLE_REQUEST):
        error = WahaUnavailable(UNUSABLE_ADDRESS)
        return _Failure(_Kind.FATAL, error.reason, error, detail=detail)
    if _could_not_connect(exc):
        return _Failure(_Kind.RETRY, UNREACHABLE, detail=detail, unavailable=UNREACHABLE)
    if isinstance(exc, requests.ReadTimeout):
        return _Failure(_Kind.AMBIGUOUS, f"WAHA did not answer within {read_timeout_s:g} s", detail=detail)
    if isinstance(exc, requests.exceptions.SSLError):
        reason = "The secure connection to WAHA broke before it answered"
        return _Failure(_Kind.AMBIGUOUS, reason, detail=detail)
    if isinstance(exc, requests.ConnectionError):
        return _Failure(_Kind.AMBIGUOUS, "The connection to WAHA broke before it answered", detail=detail)
    return _Failure(_Kind.AMBIGUOUS, f"The request to WAHA failed ({type(exc).__name__})", detail=detail)


@dataclass(frozen=True)
class _Answer:
    """A non-2xx answer, read once: `raw` for the logs, `text` for users."""

    status: int
    body: Any
    raw: str
    text: str
    code: int | None
    retry_after_s: float | None

    @property
    def shown(self) -> str:
        return f"HTTP {self.status}" + (f": {self.text}" if self.text else "")


def _http_failure(answer: _Answer, endpoint: str, session: str) -> _Failure:
    detail = f"HTTP {answer.status}: {answer.raw}"
    rate_limited = answer.status == 429 or answer.code == 429 or _RATE_LIMIT_RE.search(answer.raw)
    if answer.status not in (401, 403) and rate_limited:
        return _Failure(_Kind.RATE, answer.shown, retry_after_s=answer.retry_after_s, detail=detail)
    if answer.status >= 500 and answer.status != 501:
        refusal = _whatsapp_refusal(answer)
        if refusal is None:
            unavailable = f"{NOT_ANSWERING} (HTTP {answer.status})"
            return _Failure(
                _Kind.AMBIGUOUS, f"WAHA answered {answer.shown}", detail=detail, unavailable=unavailable
            )
        return _Failure(_Kind.FATAL, refusal.reason, refusal, detail=detail)
    error = _refusal(answer, endpoint, session)
    return _Failure(_Kind.FATAL, error.reason, error, detail=detail)


def _whatsapp_refusal(answer: _Answer) -> SendError | None:
    """The 5xx engine errors that prove WhatsApp took nothing: an invalid number, 463, 475."""
    if answer.code == 463 or _TIMELOCK_RE.search(answer.raw):
        return WhatsAppRestricted(TIMELOCK_REASON, 463)
    if answer.code == 475 or _CAPPING_RE.search(answer.raw):
        return WhatsAppRestricted(CAPPING_REASON, 475)
    if _INVALID_NUMBER_RE.search(answer.raw):
        return ContactRejected(f"WhatsApp refused this number ({answer.text})")
    return None


def _refusal(answer: _Answer, endpoint: str, session: str) -> SendError:
    status, shown = answer.status, answer.shown
    if status == 401:
        return ApiKeyRejected("WAHA rejected the API key")
    if status == 403:
        return ApiKeyRejected(f"WAHA refused this API key for {endpoint} ({shown})")
    if status == 404:
        if _SESSION_MISSING_RE.search(answer.raw):
            logger.warning(
                "WAHA session not found or not started",
                extra={
                    "session": session,
                    "hint": f"POST /api/sessions/{session}/start",
                    "detail": answer.raw,
                },
            )
            return SessionNotFound(
                f"WhatsApp session '{session}' was not found on WAHA or is not started", session
            )
        if isinstance(answer.body, Mapping) and str(answer.body.get("message", "")).startswith("Cannot "):
            return EndpointUnsupported(f"This WAHA server has no {endpoint} endpoint ({shown})")
        return RequestRefused(f"WAHA answered {shown} for {endpoint}", status)
    if status == 422:
        not_working = _not_working_status(answer.body, answer.raw)
        if not_working is not None:
            reason = f"WhatsApp session '{session}' is not WORKING on WAHA (status {not_working})"
            return SessionNotWorking(reason, session, not_working)
        return RequestRefused(f"WAHA refused {endpoint} ({shown})", status)
    if status in (405, 501):
        return EndpointUnsupported(f"This WAHA server does not support {endpoint} ({shown})")
    return RequestRefused(f"WAHA refused {endpoint} ({shown})", status)


def _not_working_status(body: Any, text: str) -> str | None:
    if isinstance(body, Mapping) and ("expected" in body or "status" in body):
        status = body.get("status")
        return status if isinstance(status, str) and status else UNKNOWN_STATUS
    old = _OLD_NOT_WORKING_RE.search(text)
    return old.group(1).upper() if old else None


# --------------------------------------------------------------------------- client


ApiKeySource = str | Callable[[], str] | None


class WahaHttp:
    """WAHA over HTTP: one pooled session, timeouts on every call, the API key, and the retry
    policy that turns every failure into one of the runner's outcomes."""

    def __init__(
        self,
        base_url: str,
        api_key: ApiKeySource = None,
        *,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        http: requests.Session | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("WAHA base URL is required")
        if connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError("WAHA timeouts must be positive")
        self.base_url = base_url.rstrip("/")
        self.timeout = (float(connect_timeout_s), float(read_timeout_s))
        self.retry = retry or RetryPolicy()
        self._api_key = api_key
        self._known_secret: str | None = api_key if isinstance(api_key, str) else None
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._http = http or requests.Session()
        self._http.headers.update({"Content-Type": "application/json", "Accept": "application/json"})
        # Per thread: the local stack's runner workers share one client.
        self._attempts = threading.local()
        if read_timeout_s <= WAHA_STATUS_WAIT_S:
            logger.warning(
                "WAHA read timeout is not above WAHA's wait for a WORKING session: "
                "a 'not WORKING' answer will look like a timeout",
                extra={"read_timeout_s": read_timeout_s},
            )

    # ------------------------------------------------------------------ budget

    def last_attempt_started(self) -> float | None:
        """time.monotonic() when this thread's latest request attempt started."""
        return getattr(self._attempts, "started", None)

    def worst_case_ms(self, attempts: int | None = None) -> int:
        """Longest one call with its retries can take: every attempt times out, every backoff is maximal."""
        attempts = self.retry.max_attempts if attempts is None else attempts
        per_attempt = self.timeout[0] + self.timeout[1] + 0.25  # + local processing slack
        return math.ceil((attempts * per_attempt + self.retry.worst_case_backoff_s(attempts)) * 1000)

    # ------------------------------------------------------------------ core

    def redact(self, text: str) -> str:
        """Remove the API key from a text that may echo it (error bodies, exception texts)."""
        secret = self._known_secret
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "***")
        return text

    def _headers(self) -> dict[str, str]:
        key = self._api_key
        if callable(key):
            try:
                key = key()
            except Exception as exc:
                raise SendNotAttempted(
                    f"Could not read the WAHA API key ({type(exc).__name__}); nothing was sent"
                ) from None
            self._known_secret = key
        return {"X-Api-Key": key} if key else {}

    def _call(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        session: str,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        sends: bool = False,
        deduplicated: bool = False,
        attempts: int | None = None,
    ) -> Any:
        """One request with the retry policy; returns the parsed 2xx body (None when empty).

        `sends`: the request sends a message, so an ambiguous failure may have
        delivered it. `deduplicated`: it carries a pre-generated id, so repeating
        it cannot deliver twice.
        """
        request = _Request(
            method,
            f"{self.base_url}{path}",
            endpoint,
            session,
            json_body,
            params,
            self._headers(),
            sends,
            deduplicated,
            self.retry.max_attempts if attempts is None else attempts,
        )
        ambiguous: str | None = None
        failure: _Failure | None = None
        for attempt in range(1, request.max_attempts + 1):
            answered, body, failure = self._attempt(request)
            if answered:
                return body
            assert failure is not None
            ambiguous = self._judge(request, failure, ambiguous)
            if attempt < request.max_attempts:
                self._back_off(request, failure, attempt)
        assert failure is not None
        raise self._exhausted(request, failure, ambiguous)

    def _attempt(self, request: _Request) -> tuple[bool, Any, _Failure | None]:
        """One attempt: (True, body, None) on 2xx, else (False, None, what went wrong)."""
        self._attempts.started = time.monotonic()
        try:
            response = self._http.request(
                request.method,
                request.url,
                json=request.json_body,
                params=request.params,
                headers=request.headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            failure = _transport_failure(exc, self.timeout[1])
        else:
            if 200 <= response.status_code < 300:
                return True, _json_or_none(response), None
            failure = _http_failure(self._read_answer(response), request.endpoint, request.session)
        failure.detail = self.redact(failure.detail)
        return False, None, failure

    def _read_answer(self, response: requests.Response) -> _Answer:
        body = _json_or_none(response)
        raw = self.redact(_error_text(body, response.text))
        return _Answer(
            response.status_code, body, raw, public_text(raw), _error_code(body), _retry_after_s(response)
        )

    def _judge(self, request: _Request, failure: _Failure, ambiguous: str | None) -> str | None:
        """Raise when the call must stop now; else the reason an earlier attempt may have sent it."""
        if failure.kind is _Kind.FATAL:
            assert failure.error is not None
            if isinstance(failure.error, WahaUnavailable):
                self._log_unavailable(request, failure, 1)
            if ambiguous and isinstance(failure.error, SendNotAttempted):
                raise SendOutcomeUnknown(
                    f"An earlier attempt may have reached WhatsApp ({ambiguous}); "
                    f"then WAHA answered: {failure.reason}"
                ) from None
            raise failure.error from None
        if failure.kind is _Kind.AMBIGUOUS and request.sends:
            if not request.deduplicated:
                raise SendOutcomeUnknown(
                    f"{failure.reason}; the message may have reached WhatsApp, so it is not resent"
                ) from None
            return failure.reason
        return ambiguous

    def _back_off(self, request: _Request, failure: _Failure, attempt: int) -> None:
        delay = self.retry.delay_s(attempt, failure.kind is _Kind.RATE, self._rng, failure.retry_after_s)
        logger.warning(
            "WAHA request failed; retrying",
            extra={
                "endpoint": request.endpoint,
                "session": request.session,
                "attempt": attempt,
                "max_attempts": request.max_attempts,
                "reason": failure.reason,
                "detail": failure.detail,
                "waha_url": _safe_url(self.base_url),
                "delay_ms": round(delay * 1000),
            },
        )
        self._sleep(delay)

    def _exhausted(self, request: _Request, failure: _Failure, ambiguous: str | None) -> SendError:
        tries = f"{request.max_attempts} attempt{'s' if request.max_attempts != 1 else ''}"
        if ambiguous:
            return SendOutcomeUnknown(
                f"{ambiguous}; WAHA did not confirm the send after {tries}, "
                "so the message may or may not have reached WhatsApp"
            )
        if failure.kind is _Kind.RATE:
            return RateLimited(
                f"WhatsApp is rate limiting this number ({failure.reason}); gave up after {tries}. "
                "Resume the campaign later, with longer delays."
            )
        self._log_unavailable(request, failure, request.max_attempts)
        return WahaUnavailable(f"{failure.unavailable} after {tries}; nothing was sent")

    def _log_unavailable(self, request: _Request, failure: _Failure, attempts: int) -> None:
        logger.warning(
            "WAHA unavailable",
            extra={
                "endpoint": request.endpoint,
                "session": request.session,
                "attempts": attempts,
                "detail": failure.detail,
                "waha_url": _safe_url(self.base_url),
            },
        )


class WahaClient(WahaHttp):
    """Thin, strict WAHA client: the endpoints the campaign sender uses."""

    # None = not asked yet; False once WAHA said new-message-id does not exist here.
    message_id_supported: bool | None = None

    def session_info(self, session: str) -> Any:
        return self._call("GET", f"/api/sessions/{_path(session)}", endpoint="session", session=session)

    def me(self, session: str) -> Any:
        return self._call(
            "GET", f"/api/sessions/{_path(session)}/me", endpoint="me", session=session, attempts=1
        )

    def check_exists(self, session: str, phone_digits: str) -> Any:
        return self._call(
            "GET",
            "/api/contacts/check-exists",
            endpoint="check-exists",
            session=session,
            params={"phone": phone_digits, "session": session},
        )

    def new_message_id(self, session: str) -> str | None:
        """A pre-generated message id, or None where this WAHA/engine has none to give."""
        if self.message_id_supported is False:
            return None
        try:
            body = self._call(
                "GET", f"/api/{_path(session)}/new-message-id", endpoint="new-message-id", session=session
            )
        except EndpointUnsupported as exc:
            self._mark_message_id_unsupported(exc.reason)
            return None
        except RequestRefused as exc:
            # 422 is how engines without the feature answer ("not implemented in this engine").
            if exc.status_code != 422:
                raise
            self._mark_message_id_unsupported(exc.reason)
            return None
        ident = body.get("id") if isinstance(body, Mapping) else None
        if not isinstance(ident, str) or not ident.strip():
            logger.warning("WAHA answered new-message-id without an id; sending without one")
            return None
        self.message_id_supported = True
        return ident.strip()

    def send_text(
        self,
        session: str,
        chat_id: str,
        text: str,
        *,
        link_preview: bool = True,
        message_id: str | None = None,
    ) -> Any:
        body: dict[str, Any] = {
            "session": session,
            "chatId": chat_id,
            "text": text,
            "linkPreview": link_preview,
        }
        if message_id:
            body["id"] = message_id
        return self._call(
            "POST",
            "/api/sendText",
            endpoint="sendText",
            session=session,
            json_body=body,
            sends=True,
            deduplicated=bool(message_id),
        )

    def send_media(self, session: str, chat_id: str, media: Media, caption: str | None = None) -> Any:
        """sendImage / sendVideo / sendFile by mime type, with the text as caption.

        WAHA's media requests have no pre-generated id, so an ambiguous failure is never retried.
        """
        endpoint = media_endpoint(media.mime_type)
        body: dict[str, Any] = {"session": session, "chatId": chat_id, "file": media_file(media)}
        if caption:
            body["caption"] = caption
        if endpoint == "sendVideo":
            body["convert"] = False  # required by the schema; we send ready-made files
        return self._call(
            "POST", f"/api/{endpoint}", endpoint=endpoint, session=session, json_body=body, sends=True
        )

    def start_typing(self, session: str, chat_id: str) -> None:
        self._typing("startTyping", session, chat_id)

    def stop_typing(self, session: str, chat_id: str) -> None:
        self._typing("stopTyping", session, chat_id)

    def _typing(self, endpoint: str, session: str, chat_id: str) -> None:
        self._call(
            "POST",
            f"/api/{endpoint}",
            endpoint=endpoint,
            session=session,
            json_body={"session": session, "chatId": chat_id},
            attempts=1,
        )

    def _mark_message_id_unsupported(self, reason: str) -> None:
        self.message_id_supported = False
        logger.info(
            "WAHA offers no pre-generated message ids; sending without them", extra={"detail": reason}
        )


def _path(segment: str) -> str:
    return quote(segment, safe="")
