"""Opaque page tokens for the listing routes.

A token is base64url of `{"owner": <userId>, "key": <DynamoDB LastEvaluatedKey>}`.
It is checked before DynamoDB sees it: the owner must be the caller, and the key
must have exactly the listing's key attributes, with the partition the caller is
allowed to read. A token from another user's listing, another listing, or garbage
is an `InvalidPageToken` (the API answers 400), never a DynamoDB error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pynamodb.exceptions import QueryError

from campaigns.domain.errors import Invalid

T = TypeVar("T")

MAX_TOKEN_CHARS = 4096
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class InvalidPageToken(Invalid):
    """A `nextToken` this listing did not hand out to this caller."""

    def __init__(self, reason: str = "it is not a token this listing handed out") -> None:
        super().__init__(f"Invalid nextToken: {reason}")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None


@dataclass(frozen=True)
class KeyShape:
    """The key attributes of one listing: name -> DynamoDB type ("S" or "N"), and
    the values some of them must have (the partition the caller may read)."""

    types: Mapping[str, str]
    fixed: Mapping[str, str]


def encode_token(owner: str, key: Mapping[str, Any] | None) -> str | None:
    if not key:
        return None
    raw = json.dumps({"owner": owner, "key": key}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str | None, owner: str, shape: KeyShape) -> dict[str, Any] | None:
    """The LastEvaluatedKey inside `token`, or None for the first page."""
    if token is None or token == "":
        return None
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidPageToken("it is too long")
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode())
    except (ValueError, binascii.Error, UnicodeError, RecursionError) as exc:
        raise InvalidPageToken("it cannot be decoded") from exc
    if not isinstance(data, dict) or data.get("owner") != owner:
        raise InvalidPageToken()
    key = data.get("key")
    if not isinstance(key, dict) or set(key) != set(shape.types):
        raise InvalidPageToken()
    for name, kind in shape.types.items():
        value = key[name]
        if not isinstance(value, dict) or set(value) != {kind} or not isinstance(value[kind], str):
            raise InvalidPageToken()
        text = value[kind]
        if not text or len(text) > 1024:
            raise InvalidPageToken()
        # DynamoDB numbers carry at most 38 digits
        if kind == "N" and not (text.lstrip("-").isdigit() and len(text.lstrip("-")) <= 38):
            raise InvalidPageToken()
        if name in shape.fixed and text != shape.fixed[name]:
            raise InvalidPageToken()
    return key


def read_page(
    query: Callable[..., Iterator[T]], owner: str, shape: KeyShape, limit: int, token: str | None
) -> Page[T]:
    """Run `query(limit=, page_size=, last_evaluated_key=)` (a pynamodb query, bound to
    its partition) for one page."""
    start = decode_token(token, owner, shape)
    results = query(limit=limit, page_size=limit, last_evaluated_key=start)
    try:
        items = list(results)
    except QueryError as exc:
        # A well-formed key DynamoDB still refuses (e.g. it names no item of this index)
        if start is not None and getattr(exc, "cause_response_code", None) == "ValidationException":
            raise InvalidPageToken() from exc
        raise
    next_key = results.last_evaluated_key if len(items) >= limit else None  # type: ignore[attr-defined]
    return Page(items=items, next_token=encode_token(owner, next_key))


def user_page(
    query: Callable[..., Iterator[T]],
    user_id: str,
    key_types: Mapping[str, str],
    limit: int,
    token: str | None,
) -> Page[T]:
    """One page of a listing partitioned by user: the token's `userId` must be the caller."""
    return read_page(query, user_id, KeyShape(types=key_types, fixed={"userId": user_id}), limit, token)


__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "InvalidPageToken",
    "KeyShape",
    "Page",
    "decode_token",
    "encode_token",
    "read_page",
    "user_page",
]
