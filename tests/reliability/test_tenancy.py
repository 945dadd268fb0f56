"""The tenancy matrix: every operation of docs/openapi.json, called over HTTP on the
local stack by user B with user A's ids, page tokens and numbers.

The document is read, not copied: a new route is covered as soon as it is
documented, and a route with a path id that this test cannot fill fails it. For A's
campaigns (final, scheduled, paused), lists, templates, media items, WhatsApp
numbers (paired, and waiting for a QR scan) and opt-out numbers, B's every call must
be 404 (never 403, 409 or 200), carry nothing of A's (ids, names, texts, phone
numbers, WAHA session names, message ids) in its body or headers, reach WAHA for
none of A's numbers, and leave every table as it was. Page tokens from A's listings
are refused (400, as documented for a token the listing did not hand out to the
caller). A's existing ids and random ids of the same shape are answered in the same
time, within an order of magnitude (medians of several).
"""

from __future__ import annotations

import dataclasses
import json
import random
import statistics
import string
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import boto3
import pytest
import requests

from campaigns import config
from devstack.stack import LocalStack
from tests.fakewaha import FakeWaha
from tests.reliability.figures import FIGURES
from tests.stack_fixtures import ApiClient, table_prefix

SUITE = "tenancy"
DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
TIMING_ROUNDS = 7
TIMING_FACTOR = 10  # "an order of magnitude"

# A valid body for each documented operation that takes one and a path id.
BODIES: dict[str, Any] = {
    "appendContacts": {"contacts": [{"phoneNumber": "+15550729999", "firstName": "Bob's"}]},
    "requestWhatsAppPairingCode": {"phoneNumber": "+15550729998"},
    "changeWhatsAppSession": {"label": "Taken over", "dailyLimit": 5},
    "sendTestMessage": {"phoneNumber": "+15550729997"},
    "retryCampaign": {"statuses": ["Failed"]},
}
# Operations with no id of another user to pass: B calls them as himself, and nothing of
# A's may show in the answer (so does any such operation documented later).
NO_IDS = {
    "health",
    "docs",
    "openapi_json",
    "createContactList",
    "createMessageTemplate",
    "createMediaItem",
    "createWhatsAppSession",
    "receiveWahaWebhook",
}


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method.upper(), path, operation))
    return found


def path_params(operation: dict[str, Any]) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"]


def query_params(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}


# --------------------------------------------------------------------------- the stack and its users


@pytest.fixture(scope="module")
def stack(dynamodb_endpoint: str, waha: FakeWaha) -> Iterator[LocalStack]:
    local = LocalStack(
        port=0,
        table_prefix=table_prefix(),
        waha_base_url=waha.base_url,
        waha_api_key=waha.api_key,
        schedule_seconds=3600,  # no tick starts or changes anything during the matrix
        env={"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "2", "WAHA_MAX_ATTEMPTS": "2"},
        retry_delays_s=(0.05,),
        stop_timeout_s=10.0,
    ).start()
    try:
        yield local
    finally:
        local.stop()


@dataclass
class Tenant:
    """User A's objects, everything that would identify them, and her page tokens."""

    client: ApiClient
    ids: dict[str, list[str]] = field(default_factory=dict)  # path parameter -> A's values
    secrets: set[str] = field(default_factory=set)
    tokens: dict[str, str] = field(default_factory=dict)  # listing path -> A's nextToken
    waha_names: list[str] = field(default_factory=list)
    campaigns: list[str] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)


def _build_alice(stack: LocalStack, waha: FakeWaha) -> Tenant:
    tag = uuid.uuid4().hex[:10]
    alice = ApiClient(stack, f"alice-{tag}")
    alice.http.hooks["response"].append(FIGURES.response_hook(SUITE))
    a = Tenant(alice)
    paired = alice.register_session(f"Alice shop {tag}")
    assert waha.pair(paired["wahaName"], phone_digits="15550715555", push_name=f"Alice Push {tag}") == 200
    waiting = alice.register_session(f"Alice spare {tag}")  # stays SCAN_QR_CODE: has a QR code
    assert alice.ok("GET", f"/whatsapp-sessions/{waiting['id']}")["status"] == "SCAN_QR_CODE"
    phones = [f"+1555071{index:04d}" for index in range(4)]
    people = [{"phoneNumber": p, "firstName": f"Alicia{tag}{i}"} for i, p in enumerate(phones)]
    lists = [
        alice.contact_list(people, name=f"Alice VIPs {tag}")["id"],
        alice.contact_list(people[:2], name=f"Alice spare list {tag}")["id"],
    ]
    templates = [
        alice.template(f"Secret offer {tag} for {{Name}}", name=f"Alice template {tag}")["id"],
        alice.template(f"Unused text {tag}", name=f"Alice spare template {tag}")["id"],
    ]
    media = [
        alice.ok(
            "POST",
            "/media-items",
            {
                "name": f"Alice flyer {i} {tag}",
                "storagePath": f"https://cdn.example.com/{tag}/{i}.jpg",
                "mimeType": "image/jpeg",
            },
            201,
        )["id"]
        for i in range(2)
    ]
    # A final campaign with a Failed delivery (it can be retried), a scheduled one and a paused one.
    waha.reject_numbers.add(phones[1].lstrip("+"))
    done = alice.campaign(
        lists[0],
        templates[0],
        whatsappSessionId=paired["id"],
        mediaLibraryItemId=media[0],
        name=f"Alice done {tag}",
    )
    assert alice.request("POST", f"/campaigns/{done['id']}/run").status_code == 202
    finished = alice.wait_status(done["id"], {"Completed", "Paused", "Failed"})
    assert (finished["status"], finished["failedCount"]) == ("Completed", 1), finished
    later = alice.campaign(
        lists[0],
        templates[0],
        whatsappSessionId=paired["id"],
        name=f"Alice later {tag}",
        scheduledAt="2099-01-01T09:00:00Z",
    )
    paused = alice.campaign(
        lists[1],
        templates[0],
        whatsappSessionId=paired["id"],
        name=f"Alice paused {tag}",
        scheduledAt="2099-01-01T09:00:00Z",
    )
    alice.ok("POST", f"/campaigns/{paused['id']}/pause")
    opted = ["+15550718801", "+15550718802"]
    alice.ok("POST", "/opt-outs", {"phoneNumbers": opted})
    alice.template(f"Third {tag}", name=f"Alice third {tag}")  # every listing has a second page
    alice.ok(
        "POST",
        "/media-items",
        {
            "name": f"Alice third {tag}",
            "storagePath": f"https://cdn.example.com/{tag}/3.jpg",
            "mimeType": "image/jpeg",
        },
        201,
    )

    a.campaigns = [done["id"], later["id"], paused["id"]]
    a.lists = lists
    a.waha_names = [paired["wahaName"], waiting["wahaName"]]
    a.ids = {
        "campaign_id": a.campaigns,
        "list_id": lists,
        "template_id": templates,
        "media_id": media,
        "session_id": [paired["id"], waiting["id"]],
        "phone_number": [quote(p, safe="") for p in opted],
    }
    log = alice.deliveries(done["id"])
    a.secrets = {
        *(value for name, values in a.ids.items() if name != "phone_number" for value in values),
        *a.waha_names,
        *phones,
        *(p.lstrip("+") for p in phones + opted),
        *opted,
        *(d["messageId"] for d in log if d.get("messageId")),
        alice.user,
        tag,
        "15550715555",
    }
    for path in (
        "/campaigns",
        "/contact-lists",
        "/message-templates",
        "/media-items",
        "/whatsapp-sessions",
        "/opt-outs",
        f"/campaigns/{done['id']}/deliveries",
    ):
        page = alice.ok("GET", f"{path}?limit=1")
        assert page.get("nextToken"), path
        a.tokens[path] = page["nextToken"]
        a.secrets.add(page["nextToken"])
    return a


@pytest.fixture(scope="module")
def alice(stack: LocalStack, waha: FakeWaha) -> Tenant:
    return _build_alice(stack, waha)


@pytest.fixture(scope="module")
def bob(stack: LocalStack, waha: FakeWaha) -> ApiClient:
    bob = ApiClient(stack, f"bob-{uuid.uuid4().hex[:10]}")
    bob.http.hooks["response"].append(FIGURES.response_hook(SUITE))
    session = bob.register_session("Bob's number", fake_waha=waha)
    listed = bob.contact_list(
        [{"phoneNumber": "+15550729000"}, {"phoneNumber": "+15550729001"}], name="Bob's list"
    )
    bob.campaign(listed["id"], bob.template("Bob says hi")["id"], whatsappSessionId=session["id"])
    return bob


class Tables:
    def __init__(self, stack: LocalStack) -> None:
        self.client = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint, region_name="us-east-1")
        self.names = list(dataclasses.asdict(config.settings().tables).values())

    def snapshot(self) -> dict[str, list[str]]:
        found = {}
        for table in self.names:
            items: list[str] = []
            for page in self.client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                items.extend(json.dumps(item, sort_keys=True) for item in page["Items"])
            found[table] = sorted(items)
        return found


@dataclass
class Findings:
    leaks: list[str] = field(default_factory=list)

    def check(self, what: str, answer: requests.Response, secrets: set[str], expected: set[int]) -> None:
        FIGURES.case(SUITE)
        FIGURES.fault(SUITE)
        if answer.status_code not in expected:
            self.leaks.append(
                f"{what}: {answer.status_code} (expected {sorted(expected)}) {answer.text[:160]}"
            )
            return
        shown = answer.text + " " + " ".join(f"{k}: {v}" for k, v in answer.headers.items())
        for secret in secrets:
            if secret and secret in shown:
                self.leaks.append(f"{what}: shows {secret!r}")
        if answer.status_code >= 400:
            try:
                message = answer.json().get("message")
            except ValueError:
                message = None
            if not isinstance(message, str) or not message:
                self.leaks.append(f"{what}: {answer.status_code} without a JSON message")


def _request(bob: ApiClient, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
    return bob.request(method, path, body, **kwargs)


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


# --------------------------------------------------------------------------- the matrix


def test_another_users_ids_and_tokens_are_404_on_every_documented_route(
    stack: LocalStack, waha: FakeWaha, alice: Tenant, bob: ApiClient
) -> None:
    tables = Tables(stack)
    before = tables.snapshot()
    waha_seen = len(waha.request_log())
    findings = Findings()
    exercised: set[str] = set()
    unknown: list[str] = []

    for method, path, operation in operations():
        name = operation.get("operationId", f"{method} {path}")
        params = path_params(operation)
        if params:
            missing = [p for p in params if p not in alice.ids]
            body_needed = bool(operation.get("requestBody", {}).get("required")) and name not in BODIES
            if missing or body_needed:
                unknown.append(f"{name}: no value for {missing or 'its body'}")
                continue
            for value in alice.ids[params[0]]:
                url = _fill(path, {params[0]: value})
                answer = _request(bob, method, url, BODIES.get(name))
                findings.check(f"{name} {url}", answer, alice.secrets, {404})
                if "nextToken" in query_params(operation):
                    for token in alice.tokens.values():
                        answer = _request(bob, method, url, params={"nextToken": token})
                        findings.check(f"{name} {url} with A's token", answer, alice.secrets, {404})
            if "nextToken" in query_params(operation) and params == ["campaign_id"]:
                # B's own campaign with A's page tokens: refused, never a page of A's.
                own = _fill(path, {"campaign_id": bob.ok("GET", "/campaigns")["items"][0]["id"]})
                for token in alice.tokens.values():
                    answer = _request(bob, method, own, params={"nextToken": token})
                    findings.check(f"{name} (B's own) with A's token", answer, alice.secrets, {400})
            exercised.add(name)
        elif "nextToken" in query_params(operation) and method == "GET":
            own = _request(bob, method, path)
            findings.check(f"{name} (B's own)", own, alice.secrets, {200})
            token = alice.tokens.get(path)
            if token is None:
                unknown.append(f"{name}: no page token of A's for {path}")
                continue
            for candidate in {token, *alice.tokens.values()}:
                answer = _request(bob, method, path, params={"nextToken": candidate, "limit": 1})
                findings.check(f"{name} with A's token", answer, alice.secrets, {400})
            exercised.add(name)
        elif name == "createCampaign":
            _campaign_over_alices_ids(bob, alice, findings)
            exercised.add(name)
        elif name == "addOptOuts":
            exercised.add(name)  # below, once the tables are compared: it writes B's own list
        elif name in NO_IDS:
            exercised.add(name)  # below as well: B's own creations
        else:
            # A route without ids that this matrix does not know yet: B calls it as himself,
            # and its answer, whatever it is short of a 5xx, shows nothing of A's.
            answer = _request(bob, method, path, {} if method in ("POST", "PUT", "PATCH") else None)
            findings.check(f"{name} (no ids)", answer, alice.secrets, set(range(200, 500)))
            exercised.add(name)

    after = tables.snapshot()
    changed = {
        table: len(set(before[table]) ^ set(after[table]))
        for table in before
        if before[table] != after[table]
    }
    waha_calls = [
        r for r in waha.request_log()[waha_seen:] if any(n in json.dumps(r) for n in alice.waha_names)
    ]
    FIGURES.leaks(SUITE, len(findings.leaks) + len(changed) + len(waha_calls))
    assert not unknown, unknown
    assert not findings.leaks, "\n".join(findings.leaks)
    assert not changed, f"B's requests changed the tables: {changed}"
    assert not waha_calls, f"B's requests reached WAHA for A's numbers: {waha_calls}"

    _bobs_own_writes(stack, bob, alice, findings)
    assert not findings.leaks, "\n".join(findings.leaks)
    documented = {
        operation.get("operationId", f"{method} {path}") for method, path, operation in operations()
    }
    assert exercised == documented, sorted(documented ^ exercised)


def _campaign_over_alices_ids(bob: ApiClient, alice: Tenant, findings: Findings) -> None:
    own_session = bob.ok("GET", "/whatsapp-sessions")["items"][0]["id"]
    own_list = bob.ok("GET", "/contact-lists")["items"][0]["id"]
    own_template = bob.ok("GET", "/message-templates")["items"][0]["id"]
    base = {
        "name": "Bob's",
        "contactListId": own_list,
        "messageTemplateId": own_template,
        "defaultNameValue": "friend",
        "whatsappSessionId": own_session,
    }
    for field_name, values in (
        ("contactListId", alice.ids["list_id"]),
        ("messageTemplateId", alice.ids["template_id"]),
        ("mediaLibraryItemId", alice.ids["media_id"]),
        ("whatsappSessionId", alice.ids["session_id"]),
    ):
        for value in values:
            answer = _request(bob, "POST", "/campaigns", {**base, field_name: value})
            findings.check(f"createCampaign with A's {field_name}", answer, alice.secrets, {422})


def _bobs_own_writes(stack: LocalStack, bob: ApiClient, alice: Tenant, findings: Findings) -> None:
    """B's own creations and opt-outs show nothing of A's; A's numbers on B's opt-out
    list are new to it (B must not learn that they are on A's)."""
    alices_before = _alices_view(alice)
    opted = [unquote(p) for p in alice.ids["phone_number"][:1]]
    answer = _request(bob, "POST", "/opt-outs", {"phoneNumbers": opted})
    findings.check(
        "addOptOuts with A's numbers",
        answer,
        alice.secrets - set(opted) - {p.lstrip("+") for p in opted},
        {200},
    )
    if answer.status_code == 200:
        body = answer.json()
        if sorted(body.get("added", [])) != sorted(opted) or body.get("alreadyOptedOut"):
            findings.leaks.append(f"addOptOuts: B's list answered as if it knew A's: {body}")
    for method, path, body, expected in (
        ("GET", "/health", None, {200}),
        ("GET", "/openapi.json", None, {200}),
        ("GET", "/docs", None, {200}),
        ("POST", "/contact-lists", {"name": "Bob 2", "contacts": [{"phoneNumber": "+15550729100"}]}, {201}),
        ("POST", "/message-templates", {"name": "Bob 2", "textContent": "Hi"}, {201}),
        (
            "POST",
            "/media-items",
            {"name": "Bob 2", "storagePath": "https://cdn.example.com/bob.jpg", "mimeType": "image/jpeg"},
            {201},
        ),
        ("POST", "/whatsapp-sessions", {"label": "Bob 2"}, {201}),
        (
            "POST",
            "/webhooks/waha",
            {"event": "message.ack", "session": alice.waha_names[0], "payload": {}},
            {401},
        ),
        (
            "POST",
            f"/webhooks/waha?session={alice.waha_names[0]}",
            {"event": "message.ack", "session": alice.waha_names[0], "payload": {}},
            {401},
        ),
    ):
        answer = _request(bob, method, path, body)
        findings.check(f"B's {method} {path}", answer, alice.secrets, expected)
    if _alices_view(alice) != alices_before:
        findings.leaks.append("A's objects changed while B wrote his own")


def _alices_view(alice: Tenant) -> dict[str, Any]:
    """Everything A sees of her own, as she reads it."""
    client = alice.client
    view: dict[str, Any] = {}
    for path in ("/campaigns", "/contact-lists", "/message-templates", "/media-items", "/opt-outs"):
        view[path] = client.ok("GET", f"{path}?limit=100")["items"]
    view["sessions"] = [
        {k: v for k, v in s.items() if k != "statusAt"}
        for s in client.ok("GET", "/whatsapp-sessions?limit=100")["items"]
    ]
    for campaign_id in alice.campaigns:
        view[campaign_id] = client.deliveries(campaign_id)
    return view


# --------------------------------------------------------------------------- timing


def _same_shape(value: str, rng: random.Random) -> str:
    """A value that looks like `value` (same prefix, length and alphabet) but names nothing."""
    if value.startswith("%2B"):
        digits = value[3:]
        return "%2B" + digits[:4] + "".join(rng.choice(string.digits) for _ in digits[4:])
    prefix, _, rest = value.rpartition("_")
    alphabet = (
        string.hexdigits[:16]
        if all(c in string.hexdigits for c in rest)
        else string.ascii_lowercase + string.digits
    )
    return (prefix + "_" if prefix else "") + "".join(rng.choice(alphabet) for _ in rest)


def test_another_users_existing_ids_take_as_long_as_ids_that_do_not_exist(
    stack: LocalStack, alice: Tenant, bob: ApiClient
) -> None:
    rng = random.Random(16)
    findings = Findings()
    ratios: dict[str, float] = {}
    bobs_numbers = {item["phoneNumber"] for item in bob.ok("GET", "/opt-outs?limit=100")["items"]}
    for method, path, operation in operations():
        params = path_params(operation)
        if not params or params[0] not in alice.ids:
            continue
        name = operation["operationId"]
        # A number B put on his own list is his too: time one only A holds.
        existing = next(value for value in alice.ids[params[0]] if unquote(value) not in bobs_numbers)
        made_up = _same_shape(existing, rng)
        assert made_up != existing and len(made_up) == len(existing)
        times: dict[str, list[float]] = {"existing": [], "made up": []}
        for _ in range(TIMING_ROUNDS):
            for label, value in (("existing", existing), ("made up", made_up)):
                url = _fill(path, {params[0]: value})
                started = time.perf_counter()
                answer = _request(bob, method, url, BODIES.get(name))
                times[label].append(time.perf_counter() - started)
                findings.check(f"{name} ({label})", answer, alice.secrets, {404})
        medians = {label: statistics.median(values) for label, values in times.items()}
        ratio = max(medians.values()) / max(min(medians.values()), 1e-6)
        ratios[name] = ratio
        if ratio >= TIMING_FACTOR:
            findings.leaks.append(
                f"{name}: A's id answered in {medians['existing'] * 1000:.1f} ms, a made-up one in {medians['made up'] * 1000:.1f} ms"
            )
    FIGURES.leaks(SUITE, len(findings.leaks))
    worst = max(ratios, key=ratios.get)
    FIGURES.detail(
        SUITE,
        "slowest over fastest median, A's id against a made-up one",
        f"{ratios[worst]:.2f}x at most ({worst}), {len(ratios)} routes, {TIMING_ROUNDS} rounds each",
    )
    assert len(ratios) >= 20, sorted(ratios)
    assert not findings.leaks, "\n".join(findings.leaks)
