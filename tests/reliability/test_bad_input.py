"""Hand-written bad input over HTTP on the local stack: tokens that must not pass,
another user's ids on every route, a first name that contains {Name}, 1 MB strings,
1,001 contacts in one request, bodies that are not UTF-8 or not JSON.

Every answer is a 4xx with a JSON `message` where the contract says so, never a 5xx,
and nothing is created or changed by a refused request."""

from __future__ import annotations

import base64
import json
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from devstack.auth import make_token
from devstack.stack import LocalStack
from tests.fakewaha import FakeWaha
from tests.reliability import invariants
from tests.reliability.figures import FIGURES
from tests.stack_fixtures import ApiClient, table_prefix

SUITE = "bad input"
SECRET = "reliability-secret-long-enough-for-hs256-signatures"
MB = 1_000_000


@pytest.fixture(scope="module")
def stack(dynamodb_endpoint: str, waha: FakeWaha) -> Iterator[LocalStack]:
    local = LocalStack(
        port=0,
        table_prefix=table_prefix(),
        jwt_secret=SECRET,
        waha_base_url=waha.base_url,
        waha_api_key=waha.api_key,
        env={"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "2", "WAHA_MAX_ATTEMPTS": "2"},
        retry_delays_s=(0.05,),
        stop_timeout_s=10.0,
    ).start()
    try:
        yield local
    finally:
        local.stop()


def _client(stack: LocalStack, user: str) -> ApiClient:
    client = ApiClient(stack, user)
    client.http.hooks["response"].append(FIGURES.response_hook(SUITE))
    return client


class Alice:
    """A user with one of everything; bob and the bad tokens go after her objects."""

    def __init__(self, stack: LocalStack, waha: FakeWaha) -> None:
        tag = uuid.uuid4().hex[:8]
        self.client = _client(stack, f"alice-{tag}")
        connected = self.client.register_session(fake_waha=waha)
        self.session_id, self.session = connected["id"], connected["wahaName"]
        people = [{"phoneNumber": f"+1555040{index:04d}", "firstName": f"A{index}"} for index in range(3)]
        self.list_id = self.client.contact_list(people)["id"]
        self.template_id = self.client.template("Hi {Name}")["id"]
        self.media_id = self.client.ok(
            "POST",
            "/media-items",
            {"name": "Flyer", "storagePath": "https://example.com/a.jpg", "mimeType": "image/jpeg"},
            201,
        )["id"]
        self.campaign_id = self.client.campaign(
            self.list_id, self.template_id, whatsappSessionId=self.session_id
        )["id"]

    def campaign_body(self) -> dict[str, Any]:
        return {
            "name": "Spring",
            "contactListId": self.list_id,
            "messageTemplateId": self.template_id,
            "mediaLibraryItemId": self.media_id,
            "defaultNameValue": "friend",
            "whatsappSessionId": self.session_id,
        }

    def routes(self) -> list[tuple[str, str, Any]]:
        """Every authenticated route of the contract, with a body that would be valid."""
        campaign = f"/campaigns/{self.campaign_id}"
        return [
            ("GET", "/contact-lists", None),
            ("POST", "/contact-lists", {"name": "L", "contacts": [{"phoneNumber": "+15550409999"}]}),
            ("GET", f"/contact-lists/{self.list_id}", None),
            (
                "POST",
                f"/contact-lists/{self.list_id}/contacts",
                {"contacts": [{"phoneNumber": "+15550409998"}]},
            ),
            ("GET", "/message-templates", None),
            ("POST", "/message-templates", {"name": "T", "textContent": "Hello"}),
            ("GET", "/media-items", None),
            (
                "POST",
                "/media-items",
                {"name": "M", "storagePath": "https://example.com/b.jpg", "mimeType": "image/jpeg"},
            ),
            ("GET", "/whatsapp-sessions", None),
            ("POST", "/whatsapp-sessions", {"label": "Second number"}),
            ("GET", f"/whatsapp-sessions/{self.session_id}", None),
            ("GET", f"/whatsapp-sessions/{self.session_id}/qr", None),
            ("POST", f"/whatsapp-sessions/{self.session_id}/pairing-code", {"phoneNumber": "+15550409997"}),
            ("PATCH", f"/whatsapp-sessions/{self.session_id}", {"label": "Taken over"}),
            ("DELETE", f"/whatsapp-sessions/{self.session_id}", None),
            ("GET", "/campaigns", None),
            ("POST", "/campaigns", self.campaign_body()),
            ("GET", campaign, None),
            ("POST", f"{campaign}/run", None),
            ("POST", f"{campaign}/resume", None),
            ("POST", f"{campaign}/pause", None),
            ("POST", f"{campaign}/cancel", None),
            ("GET", f"{campaign}/deliveries", None),
        ]

    def unchanged(self) -> None:
        """Alice's campaign was not started, paused or cancelled; nothing was added."""
        campaign = self.client.get_campaign(self.campaign_id)
        assert campaign["status"] == "Scheduled"
        assert [c["id"] for c in self.client.ok("GET", "/campaigns")["items"]] == [self.campaign_id]
        assert len(self.client.ok("GET", "/contact-lists")["items"]) == 1
        assert len(self.client.ok("GET", "/message-templates")["items"]) == 1
        assert self.client.ok("GET", f"/contact-lists/{self.list_id}")["contactCount"] == 3


@pytest.fixture
def alice(stack: LocalStack, waha: FakeWaha) -> Alice:
    return Alice(stack, waha)


def _count(bad: bool = True) -> None:
    """One request of the suite; `bad`: made to be refused (not a control request)."""
    FIGURES.case(SUITE)
    if bad:
        FIGURES.fault(SUITE)


def _send(
    stack: LocalStack, method: str, path: str, body: Any = None, *, bad: bool = True, **kwargs: Any
) -> requests.Response:
    _count(bad)
    response = requests.request(method, f"{stack.base_url}{path}", json=body, timeout=30, **kwargs)
    if response.status_code >= 500:
        FIGURES.server_error(SUITE)
    return response


def _is_json_error(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("message"), str) and bool(body["message"])


# --------------------------------------------------------------------------- tokens


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _bad_tokens(user: str) -> dict[str, str]:
    later = int(time.time()) + 600
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HS512 with a short key: that is the point
        hs512 = jwt.encode({"sub": user, "exp": later}, SECRET, algorithm="HS512")
    good = make_token(user, SECRET)
    header, payload, signature = good.split(".")
    return {
        "expired": make_token(user, SECRET, ttl=-5),
        "signed with another secret": make_token(user, "another-secret-that-is-long-enough-for-hs256"),
        "alg none": f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment({'sub': user, 'exp': later})}.",
        "alg none, signature kept": f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signature}",
        "alg HS512": hs512,
        "payload swapped for another user": f"{header}.{_segment({'sub': 'mallory', 'exp': later})}.{signature}",
        "signature stripped": f"{header}.{payload}.",
        "no exp": jwt.encode({"sub": user}, SECRET, algorithm="HS256"),
        "no sub": jwt.encode({"exp": later}, SECRET, algorithm="HS256"),
        "not yet valid": jwt.encode(
            {"sub": user, "exp": later, "nbf": later - 60}, SECRET, algorithm="HS256"
        ),
        "garbage": "not-a-token",
        "empty": "",
    }


TOKEN_KINDS = sorted(_bad_tokens("x"))


@pytest.mark.parametrize("kind", TOKEN_KINDS)
def test_a_bad_token_gets_401_on_every_route(stack: LocalStack, alice: Alice, kind: str) -> None:
    token = _bad_tokens(alice.client.user)[kind]
    for method, path, body in alice.routes():
        response = _send(stack, method, path, body, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (kind, method, path, response.status_code, response.text[:200])
        assert _is_json_error(response), response.text[:200]
    alice.unchanged()


def test_no_token_or_a_malformed_header_gets_401_and_public_routes_stay_public(
    stack: LocalStack, alice: Alice
) -> None:
    token = make_token(alice.client.user, SECRET)
    for headers in (
        {},
        {"Authorization": token},
        {"Authorization": f"Basic {token}"},
        {"Authorization": "Bearer"},
    ):
        for method, path, body in alice.routes():
            response = _send(stack, method, path, body, headers=headers)
            assert response.status_code == 401, (headers, method, path, response.status_code)
            assert _is_json_error(response)
    for path in ("/health", "/openapi.json"):
        assert _send(stack, "GET", path, bad=False).status_code == 200
        assert (
            _send(stack, "GET", path, bad=False, headers={"Authorization": "Bearer garbage"}).status_code
            == 200
        )
    alice.unchanged()


# --------------------------------------------------------------------------- another user's ids


def test_another_users_ids_are_not_found_on_every_route(
    stack: LocalStack, waha: FakeWaha, alice: Alice
) -> None:
    bob = _client(stack, f"bob-{uuid.uuid4().hex[:8]}")
    bob_session = bob.register_session(fake_waha=waha)["id"]
    bob_template = bob.template("Bob {Name}")["id"]
    bob_list = bob.contact_list([{"phoneNumber": "+15550419999"}])["id"]

    for method, path, body in alice.routes():
        if path.startswith(("/campaigns/", "/contact-lists/", "/whatsapp-sessions/")):
            response = bob.request(method, path, body)
            _count()
            assert response.status_code == 404, (method, path, response.status_code, response.text[:200])
            assert _is_json_error(response)
            assert alice.campaign_id not in response.text and alice.list_id not in response.text
            assert alice.session_id not in response.text and alice.session not in response.text

    # Creating a campaign over any of alice's objects is refused (422), never created.
    base = {
        "name": "Bob's",
        "contactListId": bob_list,
        "messageTemplateId": bob_template,
        "defaultNameValue": "friend",
        "whatsappSessionId": bob_session,
    }
    for field, value in (
        ("contactListId", alice.list_id),
        ("messageTemplateId", alice.template_id),
        ("mediaLibraryItemId", alice.media_id),
        ("whatsappSessionId", alice.session_id),
        # No route takes a WAHA session name: not even bob's own would be accepted.
        ("wahaSession", alice.session),
    ):
        response = bob.request("POST", "/campaigns", {**base, field: value})
        _count()
        assert response.status_code == 422, (field, response.status_code, response.text[:200])
        assert _is_json_error(response)
    # Alice's WhatsApp number cannot be named, taken over, blocked or probed: no route takes a
    # WAHA name, and her number is still hers, paired and unchanged.
    _count()
    assert bob.request("POST", "/whatsapp-sessions", {"name": alice.session}).status_code == 422
    mine = alice.client.ok("GET", f"/whatsapp-sessions/{alice.session_id}")
    assert (mine["status"], mine["label"]) == ("WORKING", "Main number")
    assert waha.sessions.get(alice.session) == "WORKING" and alice.session not in waha.logged_out

    # Bob's lists show none of alice's objects; alice's page token is useless to him.
    for path in ("/campaigns", "/contact-lists", "/message-templates", "/media-items", "/whatsapp-sessions"):
        _count()
        listed = bob.ok("GET", path)
        assert all(
            value not in json.dumps(listed)
            for value in (
                alice.campaign_id,
                alice.list_id,
                alice.template_id,
                alice.media_id,
                alice.session,
                alice.session_id,
            )
        )
    alice.client.template("Second")  # two templates: alice's first page has a nextToken
    page = alice.client.ok("GET", "/message-templates?limit=1")
    assert page["nextToken"]
    _count()
    stolen = bob.http.get(
        f"{stack.base_url}/message-templates", params={"limit": 1, "nextToken": page["nextToken"]}, timeout=30
    )
    assert stolen.status_code in (200, 400), stolen.text[:200]
    assert alice.template_id not in stolen.text and "Second" not in stolen.text
    assert bob.ok("GET", "/campaigns")["items"] == []
    campaign = alice.client.get_campaign(alice.campaign_id)
    assert campaign["status"] == "Scheduled"


# --------------------------------------------------------------------------- {Name} in a name


def test_a_first_name_containing_the_placeholder_is_not_expanded_again(
    stack: LocalStack, waha: FakeWaha, alice: Alice
) -> None:
    names = ["{Name}", "{name} {NAME}", "\\1 \\g<0> $1", "  {Name}  ", "{{Name}}", "{Name", None, "   "]
    people = [
        {"phoneNumber": f"+1555042{index:04d}", **({"firstName": name} if name is not None else {})}
        for index, name in enumerate(names)
    ]
    listed = alice.client.contact_list(people)
    template = alice.client.template("Hi {Name}, {name}!")
    campaign = alice.client.campaign(
        listed["id"], template["id"], whatsappSessionId=alice.session_id, defaultNameValue="{NAME}"
    )
    for _ in names:
        _count()
    assert alice.client.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
    done = alice.client.wait_status(campaign["id"], {"Completed", "Paused", "Failed"})
    assert done["status"] == "Completed", done

    texts = waha.texts_by_chat()
    for person, name in zip(people, names, strict=True):
        shown = (name or "").strip() or "{NAME}"
        chat = invariants.chat_of(person["phoneNumber"])
        assert texts[chat] == [f"Hi {shown}, {shown}!"], (name, texts[chat])
    invariants.check(
        invariants.from_api(alice.client, campaign["id"]),
        [p["phoneNumber"] for p in people],
        invariants.chats_from_fake(waha),
        unknown_allowance=0,
        suite=SUITE,
    )


# --------------------------------------------------------------------------- 1 MB strings


def _one_mb_bodies(alice: Alice) -> list[tuple[str, str, dict[str, Any]]]:
    big = "x" * MB
    campaign = alice.campaign_body()
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/message-templates", {"name": big, "textContent": "Hello"}),
        ("POST", "/message-templates", {"name": "T", "textContent": big}),
        ("POST", "/contact-lists", {"name": big, "contacts": [{"phoneNumber": "+15550430000"}]}),
        ("POST", "/contact-lists", {"name": "L", "contacts": [{"phoneNumber": big}]}),
        (
            "POST",
            "/contact-lists",
            {"name": "L", "contacts": [{"phoneNumber": "+15550430000", "firstName": big}]},
        ),
        (
            "POST",
            f"/contact-lists/{alice.list_id}/contacts",
            {"contacts": [{"phoneNumber": "+1555043", "firstName": big}]},
        ),
        (
            "POST",
            "/media-items",
            {"name": big, "storagePath": "https://example.com/a.jpg", "mimeType": "image/jpeg"},
        ),
        (
            "POST",
            "/media-items",
            {"name": "M", "storagePath": "https://example.com/" + big, "mimeType": "image/jpeg"},
        ),
        ("POST", "/media-items", {"name": "M", "storagePath": "https://example.com/a.jpg", "mimeType": big}),
        ("POST", "/whatsapp-sessions", {"label": big}),
    ]
    for field in (
        "name",
        "contactListId",
        "messageTemplateId",
        "mediaLibraryItemId",
        "defaultNameValue",
        "whatsappSessionId",
    ):
        cases.append(("POST", "/campaigns", {**campaign, field: big}))
    return cases


def test_one_megabyte_strings_are_refused_without_a_5xx(stack: LocalStack, alice: Alice) -> None:
    token = {"Authorization": f"Bearer {make_token(alice.client.user, SECRET)}"}
    for method, path, body in _one_mb_bodies(alice):
        response = _send(stack, method, path, body, headers=token)
        assert response.status_code in (400, 413, 422), (path, list(body), response.status_code)
        assert _is_json_error(response), response.text[:200]
        assert len(response.content) < 20_000, "the error echoes the 1 MB input"
    # The same strings where a URL carries them: 10 KB ids and query values, then 1 MB
    # (which the HTTP server refuses before the API sees it; never a 5xx).
    kb10 = "y" * 10_000
    for path in (
        f"/campaigns/{kb10}",
        f"/campaigns/{kb10}/run",
        f"/contact-lists/{kb10}",
        f"/campaigns/{kb10}/deliveries",
        f"/campaigns?nextToken={kb10}",
        f"/contact-lists?nextToken={kb10}",
    ):
        method = "POST" if path.endswith("/run") else "GET"
        response = _send(stack, method, path, headers=token)
        assert response.status_code in (400, 404, 422), (path[:40], response.status_code)
        assert _is_json_error(response)
    for path in (f"/campaigns/{'z' * MB}", f"/campaigns?nextToken={'z' * MB}"):
        response = _send(stack, "GET", path, headers=token)
        assert 400 <= response.status_code < 500, response.status_code
    alice.unchanged()


# --------------------------------------------------------------------------- 1,001 contacts


def _csv(count: int, prefix: str) -> bytes:
    return ("phoneNumber,firstName\n" + "".join(f"{prefix}{i:04d},N{i}\n" for i in range(count))).encode()


def test_one_thousand_and_one_contacts_in_one_request_are_refused(stack: LocalStack, alice: Alice) -> None:
    headers = {"Authorization": f"Bearer {make_token(alice.client.user, SECRET)}"}
    csv = {**headers, "Content-Type": "text/csv"}
    many = [{"phoneNumber": f"+1555044{i:04d}"} for i in range(1001)]
    refused = [
        _send(stack, "POST", "/contact-lists", {"name": "Big", "contacts": many}, headers=headers),
        _send(stack, "POST", f"/contact-lists/{alice.list_id}/contacts", {"contacts": many}, headers=headers),
        _send(stack, "POST", "/contact-lists?name=Big", data=_csv(1001, "+1555045"), headers=csv),
        _send(
            stack,
            "POST",
            f"/contact-lists/{alice.list_id}/contacts",
            data=_csv(1001, "+1555045"),
            headers=csv,
        ),
    ]
    for response in refused:
        assert response.status_code == 422, (response.status_code, response.text[:200])
        assert _is_json_error(response)
        assert "1000" in response.text or "1,000" in response.text
    alice.unchanged()
    # Exactly 1,000 is accepted, and appending one more to it is fine (the limit is per request).
    created = _send(
        stack, "POST", "/contact-lists", {"name": "Full", "contacts": many[:1000]}, headers=headers
    )
    assert created.status_code == 201 and created.json()["contactCount"] == 1000
    more = _send(
        stack,
        "POST",
        f"/contact-lists/{created.json()['id']}/contacts",
        {"contacts": [many[1000]]},
        bad=False,
        headers=headers,
    )
    assert more.status_code == 200 and more.json()["contactCount"] == 1001


# --------------------------------------------------------------------------- bodies that are not UTF-8 or JSON

BAD_BODIES = {
    "latin-1": ('{"name": "Jos\u00e9", "textContent": "Ol\u00e1"}'.encode("latin-1"), "application/json"),
    "utf-16": ('{"name": "a", "textContent": "b"}'.encode("utf-16"), "application/json"),
    "random bytes": (bytes(range(256)) * 4, "application/json"),
    "invalid utf-8 in a string": (b'{"name": "\xc3\x28", "textContent": "b"}', "application/json"),
    "lone surrogate escape": (b'{"name": "\\ud800", "textContent": "\\udfff"}', "application/json"),
    "nul bytes": (b'{"name": "a\x00b", "textContent": "\x00"}', "application/json"),
    "truncated json": (b'{"name": "a", "textCon', "application/json"),
    "json array": (b"[1, 2, 3]", "application/json"),
    "json null": (b"null", "application/json"),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "5,000-digit number": (
        b'{"name": "a", "textContent": "b", "n": ' + b"9" * 5000 + b"}",
        "application/json",
    ),
    "csv in latin-1": ("phoneNumber,firstName\n+15550460000,Jos\u00e9\n".encode("latin-1"), "text/csv"),
    "xml": (b"<contacts/>", "application/xml"),
}


@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_a_body_that_is_not_utf8_or_not_json_gets_a_4xx(stack: LocalStack, alice: Alice, kind: str) -> None:
    data, content_type = BAD_BODIES[kind]
    headers = {
        "Authorization": f"Bearer {make_token(alice.client.user, SECRET)}",
        "Content-Type": content_type,
    }
    for method, path, _ in alice.routes():
        if method != "POST":
            continue
        response = _send(stack, method, path, data=data, headers=headers)
        assert response.status_code < 500, (kind, path, response.status_code, response.text[:200])
        if path.endswith(("/run", "/resume", "/pause", "/cancel")):
            continue  # these read no body: the campaign's state decides
        assert response.status_code in (400, 415, 422), (
            kind,
            path,
            response.status_code,
            response.text[:200],
        )
        assert _is_json_error(response)
    # The bodiless actions may have changed alice's campaign; the rest must not have added anything.
    assert len(alice.client.ok("GET", "/message-templates")["items"]) == 1
    assert alice.client.ok("GET", f"/contact-lists/{alice.list_id}")["contactCount"] == 3
