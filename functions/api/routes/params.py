"""What routes read from a request besides their body: the caller, the page
parameters, the body's content type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from campaigns.api.errors import Unauthorized
from campaigns.data.pagination import MAX_LIMIT, MAX_TOKEN_CHARS
from campaigns.observability import logger

MAX_USER_ID_CHARS = 256

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
NextToken = Annotated[
    str | None,
    Query(alias="nextToken", max_length=MAX_TOKEN_CHARS, description="From the previous page's answer."),
]


def dig(node: Any, *keys: str) -> Any:
    """event["a"]["b"]... or None, whatever shape a directly invoked event has."""
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def user_id_from(event: Any) -> str | None:
    """The authorizer's `sub` claim, or None when there is no usable one."""
    sub = dig(event, "requestContext", "authorizer", "jwt", "claims", "sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_USER_ID_CHARS:
        return None
    return sub


def caller(router: Router) -> str:
    """The user making the current request; Unauthorized when there is none."""
    user_id = user_id_from(router.current_event.raw_event)
    if user_id is None:
        raise Unauthorized()
    logger.append_keys(user_id=user_id)
    return user_id


def content_type(router: Router) -> str:
    headers = router.current_event.headers or {}
    return next((v for k, v in headers.items() if k.lower() == "content-type"), "") or ""
