"""The local stack's development sign-in over HTTP: the OAuth 2.0 authorization-code
flow with PKCE that the dashboard runs against Cognito in AWS, with the endpoints'
shape the contract gives (`/local-auth/authorize`, `/local-auth/token`), issuing
tokens the local JWT authorizer accepts."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from devstack.auth import LOCAL_CLIENT_ID, LocalAuthority, pkce_challenge
from devstack.server import LocalApiServer

SECRET = "test-secret-for-the-local-development-sign-in"


def claims_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Stands in for the API function: answers the claims the authorizer handed over."""
    return {"statusCode": 200, "body": json.dumps(event["requestContext"]["authorizer"]["jwt"]["claims"])}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def authority(clock: Clock) -> LocalAuthority:
    return LocalAuthority(SECRET, code_ttl=60, clock=clock)


@pytest.fixture
def server(authority: LocalAuthority) -> Iterator[LocalApiServer]:
    api = LocalApiServer(SECRET, claims_handler, port=0, auth=authority).start()
    try:
        yield api
    finally:
        api.stop()


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


class Flow:
    """One dashboard's sign-in: its PKCE pair, state and redirect URI."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.redirect_uri = f"{base_url}/"
        self.verifier = new_verifier()
        self.state = secrets.token_urlsafe(16)

    def authorize_params(self, **extra: str) -> dict[str, str]:
        return {
            "response_type": "code",
            "client_id": LOCAL_CLIENT_ID,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "code_challenge": pkce_challenge(self.verifier),
            "code_challenge_method": "S256",
            **extra,
        }

    def authorize(self, user: str = "alice", **extra: str) -> requests.Response:
        return requests.get(
            f"{self.base_url}/local-auth/authorize",
            params=self.authorize_params(login_hint=user, **extra),
            allow_redirects=False,
            timeout=5,
        )

    def code(self, user: str = "alice") -> str:
        answer = self.authorize(user)
        assert answer.status_code == 302, answer.text
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        assert query["state"] == [self.state]
        return query["code"][0]

    def exchange(self, code: str, **overrides: str) -> requests.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": LOCAL_CLIENT_ID,
            "code_verifier": self.verifier,
            **overrides,
        }
        return requests.post(f"{self.base_url}/local-auth/token", data=form, timeout=5)


def refresh(base_url: str, refresh_token: str) -> requests.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": LOCAL_CLIENT_ID}
    return requests.post(f"{base_url}/local-auth/token", data=form, timeout=5)


def call_api(base_url: str, access_token: str) -> requests.Response:
    return requests.get(
        f"{base_url}/campaigns", headers={"Authorization": f"Bearer {access_token}"}, timeout=5
    )


def assert_invalid_grant(answer: requests.Response) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_grant"
    assert answer.headers["cache-control"] == "no-store"


# ------------------------------------------------------------------ config


def test_config_json_points_the_dashboard_at_the_development_sign_in(server: LocalApiServer) -> None:
    answer = requests.get(f"{server.base_url}/config.json", timeout=5)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "apiUrl": "",
        "clientId": LOCAL_CLIENT_ID,
        "authorizeUrl": "/local-auth/authorize",
        "tokenUrl": "/local-auth/token",
        "logoutUrl": "/local-auth/logout",
        "tokenPaste": True,
    }


def test_token_paste_is_turned_off_by_its_variable() -> None:
    assert (
        LocalAuthority.from_env(SECRET, {"LOCAL_TOKEN_PASTE": "0"}).dashboard_config()["tokenPaste"] is False
    )
    assert LocalAuthority.from_env(SECRET, {}).dashboard_config()["tokenPaste"] is True
    assert LocalAuthority.from_env(SECRET, {"LOCAL_ACCESS_TOKEN_TTL_SECONDS": "7"}).access_ttl == 7


# --------------------------------------------------------------- the flow


def test_code_flow_with_pkce_issues_tokens_the_local_authorizer_accepts(server: LocalApiServer) -> None:
    flow = Flow(server.base_url)

    answer = flow.exchange(flow.code("alice"))

    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    tokens = answer.json()
    assert set(tokens) == {"access_token", "id_token", "refresh_token", "expires_in", "token_type"}
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    claims = call_api(server.base_url, tokens["access_token"]).json()
    assert claims["sub"] == "alice"
    assert claims["client_id"] == LOCAL_CLIENT_ID
    identity = jwt.decode(tokens["id_token"], SECRET, algorithms=["HS256"], audience=LOCAL_CLIENT_ID)
    assert identity["sub"] == "alice"
    assert identity["token_use"] == "id"


def test_the_form_signs_in_the_user_id_typed_and_lists_recent_users(server: LocalApiServer) -> None:
    flow = Flow(server.base_url)
    page = requests.get(f"{server.base_url}/local-auth/authorize", params=flow.authorize_params(), timeout=5)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert f"value='{pkce_challenge(flow.verifier)}'" in page.text
    assert "Recent users" not in page.text

    posted = requests.post(
        f"{server.base_url}/local-auth/authorize",
        data={**flow.authorize_params(), "user": "bob"},
        allow_redirects=False,
        timeout=5,
    )
    assert posted.status_code == 302
    code = parse_qs(urlsplit(posted.headers["location"]).query)["code"][0]
    assert call_api(server.base_url, flow.exchange(code).json()["access_token"]).json()["sub"] == "bob"

    again = requests.get(
        f"{server.base_url}/local-auth/authorize", params=Flow(server.base_url).authorize_params()
    )
    assert "Recent users" in again.text and "value='bob'" in again.text


def test_user_ids_are_escaped_on_the_sign_in_page(server: LocalApiServer) -> None:
    flow = Flow(server.base_url)
    flow.exchange(flow.code("<script>alert(1)</script>"))

    page = requests.get(
        f"{server.base_url}/local-auth/authorize", params=Flow(server.base_url).authorize_params()
    )

    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_redirect_keeps_the_redirect_uris_own_query(server: LocalApiServer) -> None:
    flow = Flow(server.base_url)
    flow.redirect_uri = f"{server.base_url}/?view=campaigns"

    location = urlsplit(flow.authorize().headers["location"])

    query = parse_qs(location.query)
    assert query["view"] == ["campaigns"] and query["state"] == [flow.state] and query["code"]
    assert flow.exchange(query["code"][0]).status_code == 200


# ------------------------------------------------------------ refused grants


def test_a_wrong_verifier_is_refused_and_spends_the_code(server: LocalApiServer) -> None:
    flow = Flow(server.base_url)
    code = flow.code()

    assert_invalid_grant(flow.exchange(code, code_verifier=new_verifier()))
    # The right verifier now finds the code gone: one attempt per code.
    assert_invalid_grant(flow.exchange(code))


def test_a_verifier_that_is_not_pkce_shaped_is_refused(server: LocalApiServer) -> None:
    flow = Flow(server.base_url)
    flow.verifier = "short"
    digest = base64.urlsafe_b64encode(hashlib.sha256(b"short").digest()).rstrip(b"=").decode()
    answer = requests.get(
        f"{server.base_url}/local-auth/authorize",
        params={**flow.authorize_params(login_hint="alice"), "code_challenge": digest},
        allow_redirects=False,
        timeout=5,
    )
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]

    assert_invalid_grant(flow.exchange(code))


def test_a_replayed_code_is_refused(server: LocalApiServer) -> None:
    flow = Flow(server.base_url)
    code = flow.code()

    assert flow.exchange(code).status_code == 200
    assert_invalid_grant(flow.exchange(code))


def test_an_expired_code_is_refused(server: LocalApiServer, clock: Clock) -> None:
    flow = Flow(server.base_url)
    code = flow.code()

    clock.now += 61

    assert_invalid_grant(flow.exchange(code))


def test_a_different_redirect_uri_is_refused(server: LocalApiServer) -> None:
    flow = Flow(server.base_url)

    assert_invalid_grant(flow.exchange(flow.code(), redirect_uri=f"{server.base_url}/elsewhere"))


def test_an_unknown_client_is_refused(server: LocalApiServer) -> None:
    flow = Flow(server.base_url)

    answer = flow.exchange(flow.code(), client_id="someone-else")

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_authorize_without_pkce_redirects_back_with_an_error(server: LocalApiServer) -> None:
    flow = Flow(server.base_url)
    for missing in ({"code_challenge": ""}, {"code_challenge_method": "plain"}):
        params = {**flow.authorize_params(login_hint="alice"), **missing}
        answer = requests.get(
            f"{server.base_url}/local-auth/authorize", params=params, allow_redirects=False, timeout=5
        )

        assert answer.status_code == 302
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        assert query["error"] == ["invalid_request"]
        assert query["state"] == [flow.state]
        assert "code" not in query


def test_authorize_never_redirects_off_this_machine(server: LocalApiServer) -> None:
    flow = Flow(server.base_url)
    flow.redirect_uri = "https://attacker.example/"

    answer = flow.authorize()

    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "127.0.0.1" in answer.text


def test_token_endpoint_refuses_other_grants_and_methods(server: LocalApiServer) -> None:
    url = f"{server.base_url}/local-auth/token"

    password = requests.post(url, data={"grant_type": "password", "client_id": LOCAL_CLIENT_ID}, timeout=5)
    assert password.status_code == 400 and password.json()["error"] == "unsupported_grant_type"
    assert requests.get(url, timeout=5).status_code == 405


# ------------------------------------------------------------------ refresh


def test_refresh_token_gives_new_access_tokens_until_it_expires(server: LocalApiServer, clock: Clock) -> None:
    flow = Flow(server.base_url)
    first = flow.exchange(flow.code("carol")).json()

    renewed = refresh(server.base_url, first["refresh_token"])

    assert renewed.status_code == 200, renewed.text
    tokens = renewed.json()
    assert call_api(server.base_url, tokens["access_token"]).json()["sub"] == "carol"
    # As Cognito's: not rotated, so a refresh whose answer a reload cut off loses nothing
    assert tokens["refresh_token"] == first["refresh_token"]
    assert refresh(server.base_url, first["refresh_token"]).status_code == 200

    clock.now += 7 * 24 * 3600 + 1
    assert_invalid_grant(refresh(server.base_url, first["refresh_token"]))
    assert_invalid_grant(refresh(server.base_url, "never-issued"))


def test_an_expired_access_token_gets_401_and_a_refresh_restores_access() -> None:
    # Tokens carry whole seconds: a 3 s token lives 2 to 3 s.
    authority = LocalAuthority(SECRET, access_ttl=3)
    api = LocalApiServer(SECRET, claims_handler, port=0, auth=authority).start()
    try:
        flow = Flow(api.base_url)
        tokens = flow.exchange(flow.code("dave")).json()
        assert call_api(api.base_url, tokens["access_token"]).status_code == 200

        time.sleep(3.2)

        expired = call_api(api.base_url, tokens["access_token"])
        assert expired.status_code == 401
        assert "expired" in expired.headers["www-authenticate"]
        renewed = refresh(api.base_url, tokens["refresh_token"]).json()
        assert call_api(api.base_url, renewed["access_token"]).json()["sub"] == "dave"
        assert authority.grants == ["authorization_code", "refresh_token"]
    finally:
        api.stop()


# ------------------------------------------------------------------- logout


def test_logout_returns_to_a_page_on_this_machine_only(server: LocalApiServer) -> None:
    url = f"{server.base_url}/local-auth/logout"
    home = f"{server.base_url}/"

    back = requests.get(url, params={"client_id": LOCAL_CLIENT_ID, "logout_uri": home}, allow_redirects=False)
    assert back.status_code == 302 and back.headers["location"] == home

    away = requests.get(
        url,
        params={"client_id": LOCAL_CLIENT_ID, "logout_uri": "https://attacker.example/"},
        allow_redirects=False,
    )
    assert away.status_code == 400 and "location" not in away.headers
