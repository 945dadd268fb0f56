"""Media URLs through the API: a URL WAHA must not fetch is refused with 422 and its
reason, is never stored, and a campaign cannot send an older media item that breaks
the rules; DNS answers are pinned, so no test needs the network."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from campaigns.api.media_urls import set_resolver
from campaigns.data.models import MediaLibraryItem
from tests.builders import Builder

PUBLIC = "93.184.215.14"
ANSWERS = {
    "cdn.example.com": [PUBLIC],
    "dual.example.com": [PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "metadata.attacker.example": ["169.254.169.254"],
    "intranet.attacker.example": ["10.0.0.5"],
    "mixed.attacker.example": [PUBLIC, "192.168.0.10"],
    "v6loop.attacker.example": ["::1"],
    "mapped.attacker.example": ["::ffff:10.0.0.5"],
}


@pytest.fixture(autouse=True)
def dns() -> Iterator[list[str]]:
    """Pinned answers; a name not in ANSWERS resolves to nothing. Yields the names asked."""
    asked: list[str] = []

    def resolve(name: str, port: int) -> list[str]:
        asked.append(name)
        return ANSWERS.get(name, [])

    previous = set_resolver(resolve)
    yield asked
    set_resolver(previous)


def media(url: str) -> dict:
    return {"name": "Flyer", "storagePath": url, "mimeType": "image/jpeg"}


REFUSED = [
    # The cases
    ("https://169.254.169.254/latest/meta-data/iam/security-credentials/", "link-local"),
    ("https://localhost:3000/api/sessions", "local name"),
    ("https://10.0.0.5/admin", "private"),
    ("https://0x7f000001/api/sessions", "loopback"),
    ("https://user:pass@cdn.example.com/a.jpg", "credentials"),
    # Ten (and more) of our own
    ("https://017700000001/", "loopback"),
    ("https://127.1/", "loopback"),
    ("https://2130706433/", "loopback"),
    ("https://[::1]:3000/api/sessions", "loopback"),
    ("https://[::ffff:169.254.169.254]/latest/meta-data/", "IPv4-mapped form of a link-local"),
    ("https://[fd00:ec2::254]/latest/meta-data/", "private"),
    ("https://0.0.0.0:3000/", "unspecified"),
    ("https://100.100.100.200/latest/meta-data/", "non-public"),
    ("https://224.0.0.251/", "multicast"),
    ("https://metadata.google.internal/computeMetadata/v1/", "local name"),
    ("https://waha:3000/api/sessions", "no domain"),
    ("https://127.0.0.1.nip.io/api/sessions", "resolves to a loopback"),
    ("https://metadata.attacker.example/latest/", "resolves to a link-local"),
    ("https://intranet.attacker.example/admin", "resolves to a private"),
    ("https://mixed.attacker.example/a.jpg", "resolves to a private"),
    ("https://v6loop.attacker.example/a.jpg", "resolves to a loopback"),
    ("https://mapped.attacker.example/a.jpg", "resolves to an IPv4-mapped"),
    ("https://unknown.attacker.example/a.jpg", "cannot be resolved"),
    ("https://%6c%6f%63%61%6c%68%6f%73%74/", "invalid host name"),
    ("https://cdn.example.com\\@127.0.0.1/", "backslash"),
    ("http://cdn.example.com/a.jpg", "https"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_a_media_url_waha_must_not_fetch_is_422_with_its_reason_and_not_stored(alice, url, reason):
    answer = alice.post("/media-items", media(url))

    assert answer.status == 422
    assert reason in answer.message
    assert answer.json["details"][0]["field"] == "storagePath"
    assert list(MediaLibraryItem.query("user-a")) == []


def test_a_refusal_does_not_say_what_a_name_resolved_to(alice):
    answer = alice.post("/media-items", media("https://intranet.attacker.example/admin"))

    assert "10.0.0.5" not in answer.text


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/promo/a.jpg?v=2",
        "https://CDN.example.com.:443/a.jpg",
        "https://dual.example.com/a.jpg",
        f"https://{PUBLIC}/a.jpg",
    ],
)
def test_a_url_of_a_public_host_is_accepted_as_written(alice, url):
    answer = alice.post("/media-items", media(url))

    assert answer.status == 201
    assert answer.json["storagePath"] == url


def test_a_literal_address_is_not_resolved_and_a_refused_shape_never_is(alice, dns):
    alice.post("/media-items", media(f"https://{PUBLIC}/a.jpg"))
    alice.post("/media-items", media("https://0x7f000001/a.jpg"))
    alice.post("/media-items", media("https://user:pass@cdn.example.com/a.jpg"))

    assert dns == []


def _campaign_body(build: Builder, media_id: str) -> dict:
    build.session()
    return {
        "name": "Spring sale",
        "contactListId": build.contact_list(2).id,
        "messageTemplateId": build.template().id,
        "mediaLibraryItemId": media_id,
        "defaultNameValue": "friend",
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://localhost:3000/api/sessions",
        "https://10.0.0.5/admin",
        "https://intranet.attacker.example/admin",
    ],
)
def test_a_campaign_cannot_use_a_media_item_stored_before_the_rules(build, alice, url):
    # Given a media item stored before media URLs were checked
    old = build.media(url=url)

    answer = alice.post("/campaigns", _campaign_body(build, old.id))

    assert answer.status == 422
    assert answer.json["details"][0]["field"] == "mediaLibraryItemId"
    assert alice.get("/campaigns").json["items"] == []


def test_a_campaign_with_a_public_media_item_is_created(build, alice):
    item = alice.post("/media-items", media("https://cdn.example.com/a.jpg")).json

    answer = alice.post("/campaigns", _campaign_body(build, item["id"]))

    assert answer.status == 201
    assert answer.json["mediaLibraryItemId"] == item["id"]
