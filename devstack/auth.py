"""Local JWTs: what API Gateway's JWT authorizer checks, done with a shared HS256 secret.

In AWS the authorizer verifies the token against the identity provider's keys and
hands the function its claims as strings. Locally the tokens are signed with
`LOCAL_JWT_SECRET`; `make token USER=alice` prints one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import jwt

DEFAULT_SECRET = "local-dev-only-jwt-secret-change-me"
SECRET_ENV = "LOCAL_JWT_SECRET"
ALGORITHM = "HS256"
ISSUER = "local-dev"
DEFAULT_TTL_SECONDS = 12 * 3600


class InvalidToken(Exception):
    """The request carries no usable bearer token; API Gateway answers 401."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def secret_from_env(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get(SECRET_ENV) or DEFAULT_SECRET


def make_token(
    user: str,
    secret: str | None = None,
    ttl: int = DEFAULT_TTL_SECONDS,
    *,
    now: float | None = None,
    **claims: Any,
) -> str:
    """An HS256 token whose `sub` is `user`, valid for `ttl` seconds."""
    if not user:
        raise ValueError("a token needs a user id")
    issued = int(time.time() if now is None else now)
    payload = {"sub": user, "iss": ISSUER, "iat": issued, "exp": issued + ttl, **claims}
    return jwt.encode(payload, secret or secret_from_env(), algorithm=ALGORITHM)


def verify_token(token: str, secret: str) -> dict[str, Any]:
    """The token's claims, or InvalidToken. Only HS256 is accepted: a token that
    names another algorithm (`none` included) is refused before any other check."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("the token is malformed") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"the token must be signed with {ALGORITHM}")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub"], "verify_aud": False},
            leeway=0,
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the token has expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("the token's signature does not match") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"the token is invalid: {exc}") from exc
    if not isinstance(claims.get("sub"), str) or not claims["sub"].strip():
        raise InvalidToken("the token's sub claim must be a non-empty string")
    return claims


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    if not authorization:
        raise InvalidToken("the Authorization header is missing")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("the Authorization header must be 'Bearer <token>'")
    return token


def authorizer_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as API Gateway hands them to the function: every value a string
    (numbers as digits, lists as "[a b]")."""
    result: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, bool):
            result[name] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            result[name] = "[" + " ".join(str(item) for item in value) + "]"
        elif isinstance(value, float) and value.is_integer():
            result[name] = str(int(value))
        else:
            result[name] = str(value)
    return result


def scopes(claims: Mapping[str, Any]) -> list[str] | None:
    scope = claims.get("scope")
    if isinstance(scope, str) and scope.strip():
        return scope.split()
    return None
