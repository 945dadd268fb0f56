"""Corpora of bad input over HTTP on the local stack (suite "bad input").

- Phone numbers: national formats of 10 countries with and without `defaultCountry`,
  `+`, `00` and zero-padded prefixes, Unicode digits (Arabic-Indic, Persian,
  Devanagari, fullwidth), spaces, dots, dashes and parentheses, 20 digits, empty,
  letters. Each row is answered as the contract says: 201 and the number stored in
  E.164, or 422 naming the row's position. The expected numbers are written by hand.
- Media URLs that would make WAHA fetch something internal: loopback, private,
  shared, link-local, reserved and multicast addresses, IPv6 and IPv4-mapped forms,
  decimal, octal and hex hosts, credentials, http, internal ports, and names that
  resolve to private addresses (through the API's resolver seam): 422.
- CSV injection through `deliveries.csv`: first names and numbers written with a
  leading `=`, `+`, `-`, `@`, tab or CR, and delivery cells (errors, message ids,
  acks) starting with them: every cell a spreadsheet could run is neutralised.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from campaigns.api.media_urls import set_resolver
from campaigns.data.models import Contact, Delivery
from campaigns.timeutil import utcnow
from devstack.stack import LocalStack
from tests.conftest import PUBLIC_TEST_ADDRESS
from tests.fakewaha import FakeWaha
from tests.reliability.figures import FIGURES
from tests.stack_fixtures import ApiClient, table_prefix

SUITE = "bad input"
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def stack(dynamodb_endpoint: str, waha: FakeWaha) -> Iterator[LocalStack]:
    local = LocalStack(
        port=0,
        table_prefix=table_prefix(),
        waha_base_url=waha.base_url,
        waha_api_key=waha.api_key,
        schedule_seconds=3600,
        env={"WAHA_CONNECT_TIMEOUT_S": "1", "WAHA_READ_TIMEOUT_S": "2", "WAHA_MAX_ATTEMPTS": "2"},
        retry_delays_s=(0.05,),
        stop_timeout_s=10.0,
    ).start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def user(stack: LocalStack) -> ApiClient:
    client = ApiClient(stack, f"corpus-{uuid.uuid4().hex[:8]}")
    client.http.hooks["response"].append(FIGURES.response_hook(SUITE))
    return client


def _json_error(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"], body
    return body


# --------------------------------------------------------------------------- phone numbers

GB_MOBILE = "+447911123456"

# (what it is, as written, defaultCountry, the E.164 number it is, or None: refused)
NATIONAL = [
    ("GB mobile", "07911 123456", "GB", GB_MOBILE),
    ("US, parentheses and dash", "(415) 555-2671", "US", "+14155552671"),
    ("DE Berlin landline", "030 12345678", "DE", "+493012345678"),
    ("FR mobile, pairs", "06 12 34 56 78", "FR", "+33612345678"),
    ("ES mobile, no trunk zero", "612 34 56 78", "ES", "+34612345678"),
    ("IT mobile, no trunk zero", "312 345 6789", "IT", "+393123456789"),
    ("BR Sao Paulo mobile", "(11) 91234-5678", "BR", "+5511912345678"),
    ("IN mobile, trunk zero", "098765 43210", "IN", "+919876543210"),
    ("JP mobile, dashes", "090-1234-5678", "JP", "+819012345678"),
    ("AU mobile", "0412 345 678", "AU", "+61412345678"),
]
INTERNATIONAL = [
    ("plus", "+44 7911 123456", None, GB_MOBILE),
    ("00 prefix", "0044 7911 123456", None, GB_MOBILE),
    ("00 prefix, spaced", "00 44 7911 123456", None, GB_MOBILE),
    ("plus with the 00 typed again", "+0044 7911 123456", None, GB_MOBILE),
    ("plus, national trunk zero kept", "+44 07911 123456", None, GB_MOBILE),
    ("plus, (0) written in", "+44 (0) 7911 123456", None, GB_MOBILE),
    ("plus beats defaultCountry", "+1 415 555 2671", "GB", "+14155552671"),
    ("00 beats defaultCountry", "0044 7911 123456", "US", GB_MOBILE),
    ("dots", "+44.7911.123.456", None, GB_MOBILE),
    ("dashes", "+44-7911-123-456", None, GB_MOBILE),
    ("parentheses", "+44 (7911) 123-456", None, GB_MOBILE),
    ("spaces around", "   +44 7911 123456   ", None, GB_MOBILE),
    (
        "Arabic-Indic digits",
        "+\u0664\u0664 \u0667\u0669\u0661\u0661 \u0661\u0662\u0663\u0664\u0665\u0666",
        None,
        GB_MOBILE,
    ),
    (
        "Persian digits, national",
        "\u06f0\u06f7\u06f9\u06f1\u06f1 \u06f1\u06f2\u06f3\u06f4\u06f5\u06f6",
        "GB",
        GB_MOBILE,
    ),
    (
        "Devanagari digits",
        "+\u096a\u096a \u096d\u096f\u0967\u0967 \u0967\u0968\u0969\u096a\u096b\u096c",
        None,
        GB_MOBILE,
    ),
    (
        "fullwidth digits and plus",
        "\uff0b\uff14\uff14 \uff17\uff19\uff11\uff11 \uff11\uff12\uff13\uff14\uff15\uff16",
        None,
        GB_MOBILE,
    ),
]
REFUSED = [
    ("20 digits with plus", "+12345678901234567890", None),
    ("20 digits with 00", "0012345678901234567890", None),
    ("20 digits, national", "12345678901234567890", "GB"),
    ("empty", "", None),
    ("spaces only", "     ", None),
    ("plus alone", "+", None),
    ("a country code alone", "+44", None),
    ("too short for GB", "+44 7911", None),
    ("too long for GB", "+44 7911 1234567", None),
    ("no such country code", "+999 1234 5678", None),
    ("an extension", "+1 415 555 2671 ext. 12", None),
    ("letters", "hello", None),
    ("letters after a country code", "+44 abc def", None),
    ("N/A", "N/A", "GB"),
    ("national without defaultCountry, leading zero", "07911 123456", None),
]


def _phone_cases() -> list[Any]:
    cases = [
        pytest.param(raw, country, e164, id=f"{label} ({country})") for label, raw, country, e164 in NATIONAL
    ]
    # The same national numbers without a country: refused, never guessed.
    cases += [
        pytest.param(raw, None, None, id=f"{label} (no defaultCountry)") for label, raw, _, _ in NATIONAL
    ]
    cases += [pytest.param(raw, country, e164, id=label) for label, raw, country, e164 in INTERNATIONAL]
    cases += [pytest.param(raw, country, None, id=label) for label, raw, country in REFUSED]
    return cases


@pytest.mark.parametrize(("raw", "country", "e164"), _phone_cases())
def test_a_phone_number_is_stored_in_e164_or_refused_with_its_row(
    user: ApiClient, raw: str, country: str | None, e164: str | None
) -> None:
    # The corpus number is row 1 of 3, between two good ones.
    contacts = [{"phoneNumber": "+15550730001"}, {"phoneNumber": raw}, {"phoneNumber": "+15550730002"}]
    body: dict[str, Any] = {"name": "Corpus", "contacts": contacts}
    if country:
        body["defaultCountry"] = country
    FIGURES.case(SUITE)
    if e164 is None:
        FIGURES.fault(SUITE)

    answer = user.request("POST", "/contact-lists", body)

    if e164 is not None:
        assert answer.status_code == 201, (raw, answer.status_code, answer.text[:300])
        listed = answer.json()
        stored = [c.phone_number for c in Contact.query(listed["id"], consistent_read=True)]
        assert stored == ["+15550730001", e164, "+15550730002"], stored
        assert listed["contactCount"] == 3
    else:
        assert answer.status_code == 422, (raw, answer.status_code, answer.text[:300])
        details = _json_error(answer).get("details") or []
        assert [d.get("position") for d in details] == [1], details
        assert details[0]["field"] == "contacts[1].phoneNumber", details
        assert details[0]["message"], details


def test_two_spellings_of_one_number_are_duplicates_with_both_positions(user: ApiClient) -> None:
    spellings = [GB_MOBILE] + [
        raw for _, raw, country, e164 in INTERNATIONAL if e164 == GB_MOBILE and not country
    ]
    for position, raw in enumerate(spellings[1:], start=1):
        FIGURES.case(SUITE)
        FIGURES.fault(SUITE)
        answer = user.request(
            "POST",
            "/contact-lists",
            {"name": "Twice", "contacts": [{"phoneNumber": GB_MOBILE}, {"phoneNumber": raw}]},
        )
        assert answer.status_code == 422, (raw, answer.status_code, answer.text[:200])
        details = _json_error(answer)["details"]
        assert [d["position"] for d in details] == [1] and "position 0" in details[0]["message"], (
            position,
            details,
        )


def test_an_unknown_default_country_is_refused(user: ApiClient) -> None:
    for country in ("XX", "UK", "gbr", "", "44", "G B"):
        FIGURES.case(SUITE)
        FIGURES.fault(SUITE)
        answer = user.request(
            "POST",
            "/contact-lists",
            {"name": "C", "defaultCountry": country, "contacts": [{"phoneNumber": "07911 123456"}]},
        )
        assert answer.status_code == 422, (country, answer.status_code, answer.text[:200])
        _json_error(answer)


# --------------------------------------------------------------------------- media URLs (SSRF)

SSRF = [
    # loopback, in every spelling a URL parser accepts
    "https://127.0.0.1/a.jpg",
    "https://127.0.0.2/a.jpg",
    "https://localhost/a.jpg",
    "https://LOCALHOST./a.jpg",
    "https://api.localhost/a.jpg",
    "https://2130706433/a.jpg",
    "https://0x7f000001/a.jpg",
    "https://0x7f.0.0.1/a.jpg",
    "https://017700000001/a.jpg",
    "https://0177.0.0.1/a.jpg",
    "https://127.1/a.jpg",
    "https://127.0.1/a.jpg",
    "https://[::1]/a.jpg",
    "https://[0:0:0:0:0:0:0:1]/a.jpg",
    "https://[::ffff:127.0.0.1]/a.jpg",
    "https://[::ffff:7f00:1]/a.jpg",
    "https://[::127.0.0.1]/a.jpg",
    "https://[64:ff9b::127.0.0.1]/a.jpg",
    "https://[2002:7f00:1::]/a.jpg",
    # unspecified, private, shared, link-local (cloud metadata), reserved, multicast, broadcast
    "https://0.0.0.0/a.jpg",
    "https://0/a.jpg",
    "https://[::]/a.jpg",
    "https://10.0.0.5/a.jpg",
    "https://172.16.0.1/a.jpg",
    "https://192.168.1.1/a.jpg",
    "https://100.64.0.1/a.jpg",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fe80::1]/a.jpg",
    "https://[fd00:ec2::254]/a.jpg",
    "https://[fc00::1]/a.jpg",
    "https://[::ffff:169.254.169.254]/a.jpg",
    "https://[::ffff:10.0.0.5]/a.jpg",
    "https://240.0.0.1/a.jpg",
    "https://255.255.255.255/a.jpg",
    "https://224.0.0.1/a.jpg",
    "https://[ff02::1]/a.jpg",
    "https://192.0.2.10/a.jpg",
    "https://198.18.0.1/a.jpg",
    # local-only names
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://printer.local/a.jpg",
    "https://router.home.arpa/a.jpg",
    "https://intranet/a.jpg",
    # credentials, other schemes, internal ports
    "https://user:pass@cdn.example.com/a.jpg",
    "https://user@cdn.example.com/a.jpg",
    "https://cdn.example.com@127.0.0.1/a.jpg",
    "http://cdn.example.com/a.jpg",
    "HTTP://cdn.example.com/a.jpg",
    "ftp://cdn.example.com/a.jpg",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "//cdn.example.com/a.jpg",
    "https://localhost:3000/api/sessions",
    "https://127.0.0.1:6379/",
    "https://10.0.0.5:8443/admin",
    "https://[::1]:9000/",
    "https://cdn.example.com:99999/a.jpg",
    # parser confusion
    "https://cdn.example.com\\@127.0.0.1/a.jpg",
    "https://127.0.0.1%2f@cdn.example.com/a.jpg",
    "https://cdn.example.com /a.jpg",
    "https://cdn.exa\tmple.com/a.jpg",
    "https://[::1/a.jpg",
    "https:///a.jpg",
    "",
]
# Names whose DNS answers point inside (the API resolves every name it is given).
RESOLVED = {
    "internal.example.com": ["10.0.0.5"],
    "metadata.example.net": ["169.254.169.254"],
    "loopback.example.org": ["127.0.0.1"],
    "v6-loopback.example.org": ["::1"],
    "mapped.example.org": ["::ffff:127.0.0.1"],
    "link-local-v6.example.org": ["fe80::1%eth0"],
    "one-bad-of-two.example.com": [PUBLIC_TEST_ADDRESS, "192.168.0.10"],
    "unresolvable.example.com": [],
}
# Public hosts are taken (the check refuses what it must, not everything).
PUBLIC = [
    "https://cdn.example.com/a.jpg",
    "https://93.184.215.14/a.jpg",
    "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/a.jpg",
    "https://cdn.example.com:8443/a.jpg",
    "https://b\u00fccher.example/a.jpg",
]


def _media(user: ApiClient, url: str) -> requests.Response:
    return user.request(
        "POST", "/media-items", {"name": "Flyer", "storagePath": url, "mimeType": "image/jpeg"}
    )


@pytest.fixture
def pinned_dns() -> Iterator[dict[str, list[str]]]:
    answers = dict(RESOLVED)
    previous = set_resolver(lambda name, port: answers.get(name, [PUBLIC_TEST_ADDRESS]))
    try:
        yield answers
    finally:
        set_resolver(previous)


def test_media_urls_that_point_inside_are_refused(user: ApiClient, pinned_dns: dict[str, list[str]]) -> None:
    urls = SSRF + [f"https://{name}/a.jpg" for name in RESOLVED]
    accepted = []
    for url in urls:
        FIGURES.case(SUITE)
        FIGURES.fault(SUITE)
        answer = _media(user, url)
        if answer.status_code != 422:
            accepted.append((url, answer.status_code, answer.text[:120]))
            continue
        body = _json_error(answer)
        assert "storagePath" in body["message"], (url, body)
        # A refusal names the kind of address, never what a name resolved to.
        host = url.split("://", 1)[-1].split("/", 1)[0]
        for address in pinned_dns.get(host, []):
            assert address not in answer.text, (url, answer.text)
    assert not accepted, accepted
    assert user.ok("GET", "/media-items")["items"] == []
    for url in PUBLIC:
        FIGURES.case(SUITE)
        assert _media(user, url).status_code == 201, url


# --------------------------------------------------------------------------- CSV injection


def _rows(response: requests.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text, newline="")))


def _unsafe(rows: list[list[str]]) -> list[str]:
    return [
        cell for row in rows for cell in row if cell.startswith(FORMULA_STARTS) and not E164.fullmatch(cell)
    ]


PAYLOADS = [
    '=HYPERLINK("https://evil.example","x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
]


def test_a_run_over_formula_looking_names_and_numbers_exports_nothing_a_spreadsheet_runs(
    stack: LocalStack, waha: FakeWaha, user: ApiClient
) -> None:
    session = user.register_session("Export number", fake_waha=waha)
    people = [
        {"phoneNumber": f"{prefix}+1 555 074 {index:04d}", "firstName": payload}
        for index, (prefix, payload) in enumerate(zip(FORMULA_STARTS, PAYLOADS, strict=True))
    ]
    FIGURES.case(SUITE)
    FIGURES.fault(SUITE, len(people))
    listed = user.request("POST", "/contact-lists", {"name": "=cmd|' /C calc'!A0", "contacts": people})
    assert listed.status_code in (201, 422), listed.text[:300]
    if listed.status_code == 422:  # refused outright is as good: nothing raw was stored
        _json_error(listed)
        listed = user.request(
            "POST",
            "/contact-lists",
            {
                "name": "=cmd",
                "contacts": [
                    {"phoneNumber": f"+1555074{i:04d}", "firstName": p} for i, p in enumerate(PAYLOADS)
                ],
            },
        )
    list_id = listed.json()["id"]
    stored = [c.phone_number for c in Contact.query(list_id, consistent_read=True)]
    assert all(E164.fullmatch(number) for number in stored), stored
    template = user.template("Hi {Name}", name="@SUM(1,1)")
    campaign = user.campaign(
        list_id, template["id"], whatsappSessionId=session["id"], name="=1+1", defaultNameValue="-2+3"
    )
    assert user.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
    assert user.wait_status(campaign["id"], {"Completed", "Paused", "Failed"})["status"] == "Completed"

    rows = _rows(user.request("GET", f"/campaigns/{campaign['id']}/deliveries.csv"))

    assert rows[0] == ["contactIndex", "phoneNumber", "status", "messageId", "ack", "error", "at"]
    assert [row[1] for row in rows[1:]] == stored
    assert not _unsafe(rows), _unsafe(rows)


def test_delivery_cells_that_start_like_formulas_are_exported_quoted(
    stack: LocalStack, user: ApiClient
) -> None:
    """Errors, message ids and acks come from WAHA and WhatsApp: whatever they start with,
    the export quotes it. Given deliveries holding such text, every cell is neutralised
    and otherwise unchanged; an E.164 number is left as stored."""
    listed = user.contact_list(
        [{"phoneNumber": f"+1555075{i:04d}"} for i in range(len(PAYLOADS))], name="Cells"
    )
    template = user.template("Cells")
    campaign = user.campaign(listed["id"], template["id"])
    now = utcnow()
    for index, payload in enumerate(PAYLOADS):
        Delivery(
            campaign_id=campaign["id"],
            contact_index=index,
            phone_number=f"+1555075{index:04d}",
            status="Failed",
            message_id=payload,
            error=payload,
            ack=payload,
            at=now,
        ).save()
    FIGURES.case(SUITE)
    FIGURES.fault(SUITE, 3 * len(PAYLOADS))

    rows = _rows(user.request("GET", f"/campaigns/{campaign['id']}/deliveries.csv"))

    assert not _unsafe(rows), _unsafe(rows)
    for index, payload in enumerate(PAYLOADS):
        row = rows[1 + index]
        assert row[1] == f"+1555075{index:04d}"
        assert row[3] == row[4] == row[5] == "'" + payload, row
