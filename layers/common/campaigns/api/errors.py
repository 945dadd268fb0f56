"""The one place where errors become HTTP answers.

Use cases raise the product's errors (`campaigns.domain.errors`): NotFound is 404,
Invalid 422, WrongState 409, QuotaExceeded 429. Only what the edge itself refuses
has an HTTP class here: a body that is not JSON (BadRequest, 400) and a request
without a user (Unauthorized, 401). A page token the listing did not hand out is
a 400, like a malformed request.

Every error body is `{"message": str}` plus, where it helps, `details` (a list of
objects, e.g. one per invalid field or contact). Nothing a client sends can make the
API answer 5xx: a 500 means a bug or an outage, and is logged with its traceback.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from campaigns.data.pagination import InvalidPageToken
from campaigns.domain.errors import (
    DomainError,
    Invalid,
    NotFound,
    QuotaExceeded,
    StoreConflict,
    WrongState,
    WrongStatus,
)
from campaigns.domain.statuses import CANCELLABLE, PAUSABLE, RESUMABLE, RUNNABLE, CampaignStatus
from campaigns.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

UNAUTHORIZED = "Unauthorized"
MAX_DETAILS = 1000
_SUMMARY_DETAILS = 5


class ApiError(Exception):
    """A request the edge refuses before any use case runs, with its HTTP status."""

    status_code: int = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(ApiError):
    """The body cannot be read (not JSON, not CSV, undecodable)."""

    status_code = HTTPStatus.BAD_REQUEST


class Unauthorized(ApiError):
    status_code = HTTPStatus.UNAUTHORIZED

    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


def error_body(message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details[:MAX_DETAILS]
    return body


def unauthorized_answer(cors_headers: Mapping[str, str]) -> dict[str, Any]:
    """The 401 the API handler gives before routing, as a Lambda proxy answer."""
    return {
        "statusCode": HTTPStatus.UNAUTHORIZED.value,
        "headers": {"Content-Type": "application/json", **cors_headers},
        "body": json.dumps(error_body(UNAUTHORIZED)),
        "isBase64Encoded": False,
    }


# ------------------------------------------------------------- validation errors


def _field_path(parts: Iterable[Any]) -> str:
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _readable(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required"
    message = str(error.get("msg") or kind or "invalid")
    # pydantic prefixes messages raised by validators; the reason alone reads better
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message


def validation_details(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic-style errors as `{in, field, message, position?}` objects. The input
    values are left out: they can be huge or personal."""
    details: list[dict[str, Any]] = []
    for error in errors:
        loc = tuple(error.get("loc") or ())
        where = "body"
        if loc and loc[0] in ("body", "query", "path", "header"):
            where, loc = str(loc[0]), loc[1:]
        detail: dict[str, Any] = {"in": where, "field": _field_path(loc) or None, "message": _readable(error)}
        if len(loc) >= 2 and loc[0] == "contacts" and isinstance(loc[1], int):
            detail["position"] = loc[1]
        details.append(detail)
    return details


def summarise(details: list[dict[str, Any]], prefix: str = "Invalid request") -> str:
    parts = [f"{d.get('field') or d.get('in')}: {d.get('message')}" for d in details[:_SUMMARY_DETAILS]]
    more = len(details) - _SUMMARY_DETAILS
    suffix = f" (and {more} more)" if more > 0 else ""
    return f"{prefix}: " + "; ".join(parts) + suffix if parts else prefix


def invalid_request(errors: Iterable[Mapping[str, Any]], prefix: str = "Invalid request") -> Invalid:
    details = validation_details(errors)
    return Invalid(summarise(details, prefix), details)


def _is_json_error(errors: list[Mapping[str, Any]]) -> bool:
    return any(e.get("type") == "json_invalid" for e in errors)


# ------------------------------------------------------------------ status words

_ALLOWED_FROM = {"run": RUNNABLE, "resume": RESUMABLE, "pause": PAUSABLE, "cancel": CANCELLABLE}


def wrong_status_message(exc: WrongStatus) -> str:
    allowed = _ALLOWED_FROM.get(exc.action)
    names = " or ".join(s.value for s in CampaignStatus if allowed and s in allowed)
    only = f"; only a {names} campaign can be {_past(exc.action)}" if names else ""
    return f"Cannot {exc.action} the campaign: it is {exc.status}{only}"


def _past(action: str) -> str:
    return {"run": "run", "resume": "resumed", "pause": "paused", "cancel": "cancelled"}.get(action, action)


# -------------------------------------------------------------- HTTP mapping


def _json_response(status: int, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    from aws_lambda_powertools.event_handler import Response, content_types

    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(error_body(message, details), ensure_ascii=False),
    )


# Each family of the product's errors and its answer; the most specific first.
_DOMAIN_STATUS: tuple[tuple[type[DomainError], HTTPStatus], ...] = (
    (InvalidPageToken, HTTPStatus.BAD_REQUEST),
    (NotFound, HTTPStatus.NOT_FOUND),
    (Invalid, HTTPStatus.UNPROCESSABLE_ENTITY),
    (WrongState, HTTPStatus.CONFLICT),
    (QuotaExceeded, HTTPStatus.TOO_MANY_REQUESTS),
)


def _refused(status: int, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    logger.info("Request refused", extra={"status": int(status), "reason": message})
    return _json_response(status, message, details)


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    """Every exception a route can raise, mapped once to its HTTP answer."""
    _register_refusals(app)
    _register_framework_errors(app)


def _register_refusals(app: APIGatewayHttpResolver) -> None:
    """The edge's own refusals and the product's errors."""

    @app.exception_handler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return _refused(exc.status_code, exc.message, exc.details)

    @app.exception_handler(DomainError)
    def _domain_error(exc: DomainError) -> Response:
        status = next((code for family, code in _DOMAIN_STATUS if isinstance(exc, family)), None)
        if status is None:  # a family nobody mapped yet: a bug, not the client's fault
            logger.error("A domain error without an HTTP answer", exc_info=exc)
            return _json_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")
        return _refused(status, exc.message, exc.details)

    @app.exception_handler(WrongStatus)
    def _wrong_status(exc: WrongStatus) -> Response:
        details = [{"status": exc.status, "action": exc.action}]
        return _refused(HTTPStatus.CONFLICT, wrong_status_message(exc), details)

    @app.exception_handler(StoreConflict)
    def _conflict(exc: StoreConflict) -> Response:
        return _refused(HTTPStatus.CONFLICT, "The campaign changed meanwhile; reload it and try again")


def _register_framework_errors(app: APIGatewayHttpResolver) -> None:
    """What Powertools raises (bad parameters or bodies, no such route, an answer that
    breaks its schema), and anything unexpected."""
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError
    from aws_lambda_powertools.event_handler.openapi.exceptions import (
        RequestUnsupportedContentType,
        RequestValidationError,
        ResponseValidationError,
    )

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if any((e.get("loc") or ("",))[0] == "response" for e in errors):
            # The route's own answer failed its schema: a bug, not the request's fault
            logger.error("Response failed its own schema", extra={"errors": validation_details(errors)})
            return _json_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")
        if _is_json_error(errors):
            return _json_response(HTTPStatus.BAD_REQUEST, "The request body is not valid JSON")
        details = validation_details(errors)
        return _json_response(HTTPStatus.UNPROCESSABLE_ENTITY, summarise(details), details)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(exc: RequestUnsupportedContentType) -> Response:
        return _json_response(
            HTTPStatus.BAD_REQUEST, "The request body must be JSON (Content-Type: application/json)"
        )

    # A body whose base64 or UTF-8 is broken never reaches the JSON parser.
    @app.exception_handler([binascii.Error, UnicodeDecodeError])
    def _undecodable(exc: Exception) -> Response:
        return _json_response(
            HTTPStatus.BAD_REQUEST, "The request body could not be decoded (base64 or UTF-8)"
        )

    @app.exception_handler(NotFoundError)
    def _no_route(exc: NotFoundError) -> Response:
        return _json_response(HTTPStatus.NOT_FOUND, "Not found")

    @app.exception_handler(ResponseValidationError)
    def _bad_response(exc: ResponseValidationError) -> Response:
        logger.error("Response failed its own schema", extra={"errors": validation_details(exc.errors())})
        return _json_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")

    @app.exception_handler(Exception)
    def _bug(exc: Exception) -> Response:
        logger.exception("Unhandled error")
        return _json_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")


__all__ = [
    "ApiError",
    "BadRequest",
    "InvalidPageToken",
    "Unauthorized",
    "error_body",
    "invalid_request",
    "register_error_handlers",
    "summarise",
    "unauthorized_answer",
    "validation_details",
    "wrong_status_message",
]
