"""Local JWTs: what API Gateway's JWT authorizer checks, done with a shared HS256 secret.

In AWS the authorizer verifies the token against the identity provider's keys and
hands the function its claims as strings. Locally the tokens are signed with
`LOCAL_JWT_SECRET`; `make token USER=alice` prints one, and the development sign-in
below (what the dashboard uses) issues them through the same OAuth flow as Cognito.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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


# ------------------------------------------------------- development sign-in
# The OAuth 2.0 authorization-code flow with PKCE, as Cognito's hosted UI and token
# endpoint run it, for the dashboard on the local stack: /local-auth/authorize asks
# for a user id (no password), /local-auth/token exchanges the code for the HS256
# tokens the local authorizer accepts. Codes are single-use and short-lived; the
# verifier must match the challenge (S256 only); a refresh token serves until it
# expires, as Cognito's does (no rotation).

LOCAL_CLIENT_ID = "local-dashboard"
ACCESS_TTL_ENV = "LOCAL_ACCESS_TOKEN_TTL_SECONDS"
TOKEN_PASTE_ENV = "LOCAL_TOKEN_PASTE"
DEFAULT_ACCESS_TTL_SECONDS = 3600
CODE_TTL_SECONDS = 60
REFRESH_TTL_SECONDS = 7 * 24 * 3600
MAX_USER_ID_CHARS = 128
MAX_RECENT_USERS = 8
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class OAuthError(Exception):
    """An OAuth error answer: `error` is the RFC 6749 code, `description` for people."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def pkce_challenge(verifier: str) -> str:
    """S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def is_loopback_url(url: str) -> bool:
    """An http(s) URL on this machine: the only redirect targets the local sign-in accepts."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and parts.hostname in _LOOPBACK_HOSTS and not parts.fragment
    except ValueError:
        return False


def valid_user_id(user: str) -> bool:
    return bool(user) and len(user) <= MAX_USER_ID_CHARS and user == user.strip() and user.isprintable()


@dataclass(frozen=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    state: str
    code_challenge: str
    login_hint: str | None


@dataclass
class _Code:
    user: str
    client_id: str
    redirect_uri: str
    challenge: str
    expires_at: float


@dataclass
class _Refresh:
    user: str
    client_id: str
    expires_at: float


class LocalAuthority:
    """The development sign-in's state: codes waiting to be exchanged, live refresh
    tokens, and the users who signed in lately (offered on the sign-in page)."""

    def __init__(
        self,
        secret: str,
        *,
        access_ttl: int = DEFAULT_ACCESS_TTL_SECONDS,
        code_ttl: int = CODE_TTL_SECONDS,
        refresh_ttl: int = REFRESH_TTL_SECONDS,
        token_paste: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.access_ttl = access_ttl
        self.code_ttl = code_ttl
        self.refresh_ttl = refresh_ttl
        self.token_paste = token_paste
        self.clock = clock
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._recent: list[str] = []
        self.grants: list[str] = []  # grant types answered, in order (what tests watch)

    @classmethod
    def from_env(cls, secret: str, environ: Mapping[str, str] | None = None) -> LocalAuthority:
        environ = os.environ if environ is None else environ
        raw_ttl = (environ.get(ACCESS_TTL_ENV) or "").strip()
        try:
            access_ttl = max(1, int(raw_ttl)) if raw_ttl else DEFAULT_ACCESS_TTL_SECONDS
        except ValueError:
            access_ttl = DEFAULT_ACCESS_TTL_SECONDS
        paste = (environ.get(TOKEN_PASTE_ENV) or "1").strip().lower() not in ("0", "false", "no", "off")
        return cls(secret, access_ttl=access_ttl, token_paste=paste)

    def dashboard_config(self) -> dict[str, Any]:
        """The dashboard's config.json on the local stack: same origin, these endpoints."""
        return {
            "apiUrl": "",
            "clientId": LOCAL_CLIENT_ID,
            "authorizeUrl": "/local-auth/authorize",
            "tokenUrl": "/local-auth/token",
            "logoutUrl": "/local-auth/logout",
            "tokenPaste": self.token_paste,
        }

    @property
    def recent_users(self) -> list[str]:
        with self._lock:
            return list(self._recent)

    # ----------------------------------------------------------- authorize

    def authorization_request(self, params: Mapping[str, str]) -> AuthorizationRequest:
        """The checked query of GET /local-auth/authorize. A bad client or redirect URI
        is an OAuthError with status 400 (shown, never redirected to); other problems
        are OAuthErrors the caller sends back to the redirect URI."""
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if client_id != LOCAL_CLIENT_ID:
            raise OAuthError("invalid_client", f"unknown client_id; the local stack's is {LOCAL_CLIENT_ID!r}")
        if not is_loopback_url(redirect_uri):
            raise OAuthError(
                "invalid_request", "redirect_uri must be an http(s) URL on 127.0.0.1 or localhost"
            )
        request = AuthorizationRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            state=params.get("state", ""),
            code_challenge=params.get("code_challenge", ""),
            login_hint=(params.get("login_hint") or "").strip() or None,
        )
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "only response_type=code is supported", status=302)
        if params.get("code_challenge_method") != "S256" or not _CHALLENGE.fullmatch(request.code_challenge):
            raise OAuthError(
                "invalid_request",
                "PKCE is required: code_challenge with code_challenge_method=S256",
                status=302,
            )
        return request

    def issue_code(self, request: AuthorizationRequest, user: str) -> str:
        if not valid_user_id(user):
            raise OAuthError("invalid_request", f"a user id is 1 to {MAX_USER_ID_CHARS} printable characters")
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._purge()
            self._codes[code] = _Code(
                user,
                request.client_id,
                request.redirect_uri,
                request.code_challenge,
                self.clock() + self.code_ttl,
            )
            if user in self._recent:
                self._recent.remove(user)
            self._recent.insert(0, user)
            del self._recent[MAX_RECENT_USERS:]
        return code

    # --------------------------------------------------------------- token

    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """POST /local-auth/token: the tokens for an authorization code or a refresh token."""
        grant = form.get("grant_type", "")
        if form.get("client_id") != LOCAL_CLIENT_ID:
            raise OAuthError("invalid_client", "unknown client_id", status=401)
        if grant == "authorization_code":
            user, refresh = self._redeem_code(form), None
        elif grant == "refresh_token":
            user, refresh = self._redeem_refresh(form), form["refresh_token"]
        else:
            raise OAuthError(
                "unsupported_grant_type", "grant_type must be authorization_code or refresh_token"
            )
        with self._lock:
            self.grants.append(grant)
        return self._tokens(user, form["client_id"], refresh)

    def _redeem_code(self, form: Mapping[str, str]) -> str:
        with self._lock:
            # Popped before any check: a code is good for one attempt, right or wrong.
            code = self._codes.pop(form.get("code", ""), None)
        if code is None:
            raise OAuthError("invalid_grant", "the authorization code is unknown or was already used")
        if code.expires_at <= self.clock():
            raise OAuthError("invalid_grant", "the authorization code has expired")
        if form.get("redirect_uri") != code.redirect_uri or form.get("client_id") != code.client_id:
            raise OAuthError(
                "invalid_grant", "redirect_uri or client_id differ from the authorization request"
            )
        verifier = form.get("code_verifier", "")
        if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
            pkce_challenge(verifier), code.challenge
        ):
            raise OAuthError("invalid_grant", "the code_verifier does not match the code_challenge")
        return code.user

    def _redeem_refresh(self, form: Mapping[str, str]) -> str:
        with self._lock:
            refresh = self._refresh.get(form.get("refresh_token", ""))
        if (
            refresh is None
            or refresh.expires_at <= self.clock()
            or refresh.client_id != form.get("client_id")
        ):
            raise OAuthError("invalid_grant", "the refresh token is unknown or expired")
        return refresh.user

    def _tokens(self, user: str, client_id: str, refresh: str | None) -> dict[str, Any]:
        """New access and ID tokens; a new refresh token for a code, the same one on refresh."""
        now = self.clock()
        if refresh is None:
            refresh = secrets.token_urlsafe(32)
            with self._lock:
                self._refresh[refresh] = _Refresh(user, client_id, now + self.refresh_ttl)
        common = {"client_id": client_id, "auth_time": int(now)}
        access = make_token(
            user,
            self.secret,
            self.access_ttl,
            now=now,
            token_use="access",
            scope="openid email profile",
            **common,
        )
        identity = make_token(
            user, self.secret, self.access_ttl, now=now, token_use="id", aud=client_id, **common
        )
        return {
            "access_token": access,
            "id_token": identity,
            "refresh_token": refresh,
            "expires_in": self.access_ttl,
            "token_type": "Bearer",
        }

    def _purge(self) -> None:
        now = self.clock()
        for code in [c for c, item in self._codes.items() if item.expires_at <= now]:
            del self._codes[code]
        for token in [t for t, item in self._refresh.items() if item.expires_at <= now]:
            del self._refresh[token]
