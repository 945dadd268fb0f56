"""Media URL rules: https to a public host only. The pure rules on the URL and on
addresses, then the API's resolving step with pinned DNS answers and with the
system's own resolver (localhost and numeric hosts need no network)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.api import media_urls
from campaigns.api.media_urls import media_url_refusal, set_resolver, system_resolver
from campaigns.domain.media_urls import MediaUrlRefused, address_refusal, check_resolved, media_host

# ------------------------------------------------------------- URLs alone


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # The cases
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://localhost:3000/api/sessions", "local name"),
        ("https://10.0.0.5/admin", "private"),
        ("https://0x7f000001/", "127.0.0.1 written another way: a loopback"),
        ("https://user:secret@cdn.example.com/a.jpg", "credentials"),
        # Numeric forms of one address
        ("https://017700000001/", "127.0.0.1 written another way"),
        ("https://127.1/", "127.0.0.1 written another way"),
        ("https://2130706433/", "127.0.0.1 written another way"),
        ("https://0177.0.0.1/", "127.0.0.1 written another way"),
        ("https://127.0.0.01/", "127.0.0.1 written another way"),
        ("https://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254 written another way: a link-local"),
        ("https://127\u30020\u30020\u30021/", "loopback"),  # ideographic full stops
        ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "loopback"),  # full-width digits
        # Other private, reserved and special addresses
        ("https://127.0.0.1:8443/x", "loopback"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://192.168.1.1/", "private"),
        ("https://172.16.0.1/", "private"),
        ("https://100.64.0.1/", "non-public"),
        ("https://192.0.2.10/", "private"),
        ("https://198.18.0.1/", "private"),
        ("https://224.0.0.1/", "multicast"),
        ("https://240.0.0.1/", "private"),
        ("https://255.255.255.255/", "private"),
        ("https://[::1]/", "loopback"),
        ("https://[::]/", "unspecified"),
        ("https://[::ffff:127.0.0.1]/", "IPv4-mapped form of a loopback"),
        ("https://[::ffff:a9fe:a9fe]/", "IPv4-mapped form of a link-local"),
        ("https://[::127.0.0.1]/", "reserved"),
        ("https://[64:ff9b::a9fe:a9fe]/", "reserved"),
        ("https://[2002:7f00:1::]/", "6to4 form of a loopback"),
        ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "private"),
        ("https://[fe80::1]/", "link-local"),
        ("https://[fe80::1%25eth0]/", "link-local"),
        ("https://[fc00::1]/", "private"),
        ("https://[fec0::1]/", "site-local"),
        ("https://[ff02::1]/", "multicast"),
        ("https://[2001:db8::1]/", "private"),
        # Local names
        ("https://LOCALHOST./", "local name"),
        ("https://app.localhost/", "local name"),
        ("https://printer.local/", "local name"),
        ("https://metadata.google.internal/computeMetadata/v1/", "local name"),
        ("https://router.home.arpa/", "local name"),
        ("https://waha:3000/api/sessions", "no domain"),
        # Shapes other URL parsers read differently
        ("https://%6c%6f%63%61%6c%68%6f%73%74/", "invalid host name"),
        ("https://evil.example.com\\@127.0.0.1/", "backslash"),
        ("https://@cdn.example.com/a.jpg", "credentials"),
        ("https://cdn.example.com@127.0.0.1/", "credentials"),
        ("https://loc\talhost/", "control"),
        ("https://cdn.example.com/a b.jpg", "spaces"),
        ("https://cdn.example.com:99999/", "invalid port"),
        ("https://cdn.example.com:port/", "invalid port"),
        ("https://[::1/", "not a readable URL"),
        ("https://1.2.3.4.5/", "neither a host name nor an IPv4 address"),
        ("https://example.0x/", "neither a host name nor an IPv4 address"),
        ("https:///a.jpg", "must name a host"),
        ("http://cdn.example.com/a.jpg", "https"),
        ("ftp://cdn.example.com/a.jpg", "https"),
        ("file:///etc/passwd", "https"),
        ("//cdn.example.com/a.jpg", "https"),
        ("cdn.example.com/a.jpg", "https"),
    ],
)
def test_a_url_naming_no_public_host_is_refused_with_its_reason(url, reason):
    with pytest.raises(MediaUrlRefused) as refused:
        media_host(url)

    assert reason in str(refused.value)


@pytest.mark.parametrize(
    ("url", "name", "port", "address"),
    [
        ("https://cdn.example.com/promo/a.jpg?v=2#x", "cdn.example.com", 443, None),
        ("HTTPS://CDN.Example.COM./a.jpg", "cdn.example.com", 443, None),
        ("https://cdn.example.com:8443/a.jpg", "cdn.example.com", 8443, None),
        ("https://bücher.example/a.jpg", "xn--bcher-kva.example", 443, None),
        ("https://my_bucket.s3.amazonaws.com/a.jpg", "my_bucket.s3.amazonaws.com", 443, None),
        ("https://1e100.net/a.jpg", "1e100.net", 443, None),
        ("https://93.184.215.14/a.jpg", "93.184.215.14", 443, "93.184.215.14"),
        (
            "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/a.jpg",
            None,
            443,
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
        ),
    ],
)
def test_a_url_of_a_public_host_names_what_to_resolve(url, name, port, address):
    host = media_host(url)

    if name is not None:
        assert host.name == name
    assert host.port == port
    assert host.address == (ipaddress.ip_address(address) if address else None)


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:82a::200e"],
)
def test_public_addresses_pass(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_a_6to4_address_of_a_public_ipv4_passes():
    assert address_refusal(ipaddress.ip_address("2002:5db8:d70e::1")) is None


# ----------------------------------------------------------------- resolving


def test_a_name_resolving_to_any_non_public_address_is_refused():
    host = media_host("https://media.example.com/a.jpg")

    check_resolved(host, ["93.184.215.14", "2606:4700:4700::1111"])
    with pytest.raises(MediaUrlRefused, match="resolves to a private address"):
        check_resolved(host, ["93.184.215.14", "10.0.0.5"])
    with pytest.raises(MediaUrlRefused, match="resolves to an IPv4-mapped form of a loopback"):
        check_resolved(host, ["::ffff:127.0.0.1"])
    with pytest.raises(MediaUrlRefused, match="cannot be resolved"):
        check_resolved(host, [])
    with pytest.raises(MediaUrlRefused, match="cannot be resolved"):
        check_resolved(host, ["not an address"])


def test_a_refusal_never_names_the_address_a_name_resolved_to():
    host = media_host("https://media.example.com/a.jpg")

    with pytest.raises(MediaUrlRefused) as refused:
        check_resolved(host, ["10.1.2.3"])

    assert "10.1.2.3" not in str(refused.value)


@pytest.fixture
def dns() -> Iterator[dict[str, list[str]]]:
    """Pinned DNS answers for the API's step: name -> addresses (absent: no answer)."""
    answers: dict[str, list[str]] = {}
    asked: list[str] = []

    def resolve(name: str, port: int) -> list[str]:
        asked.append(name)
        return answers.get(name, [])

    previous = set_resolver(resolve)
    answers["__asked__"] = asked  # type: ignore[assignment]
    yield answers
    set_resolver(previous)


def test_the_api_step_resolves_names_and_only_names(dns):
    dns["cdn.example.com"] = ["93.184.215.14"]
    dns["rebind.example.com"] = ["93.184.215.14", "127.0.0.1"]

    assert media_url_refusal("https://cdn.example.com/a.jpg") is None
    assert "resolves to a loopback" in media_url_refusal("https://rebind.example.com/a.jpg")
    assert "cannot be resolved" in media_url_refusal("https://nowhere.example.com/a.jpg")
    assert media_url_refusal("https://93.184.215.14/a.jpg") is None
    assert "loopback" in media_url_refusal("https://0x7f000001/a.jpg")
    assert dns["__asked__"] == ["cdn.example.com", "rebind.example.com", "nowhere.example.com"]


def test_the_system_resolver_reads_localhost_as_loopback():
    addresses = system_resolver("localhost", 443)

    assert addresses
    host = media_host("https://media.example.com/")
    with pytest.raises(MediaUrlRefused, match="loopback"):
        check_resolved(host, addresses)


@pytest.mark.parametrize("numeric", ["0x7f000001", "2130706433", "127.1", "017700000001"])
def test_the_system_resolver_reads_numeric_hosts_as_loopback_too(numeric):
    """What a resolver (and so WAHA) makes of the forms refused above: loopback."""
    addresses = system_resolver(numeric, 443)

    assert addresses == ["127.0.0.1"]


def test_the_system_resolver_answers_nothing_for_an_unresolvable_name():
    assert system_resolver("no-such-host.invalid", 443) == []


def test_with_the_system_resolver_localhost_and_numeric_forms_are_refused():
    previous = set_resolver(None)
    try:
        assert media_urls._resolver is system_resolver
        for url in ("https://localhost/", "https://0x7f000001/", "https://127.1/", "https://[::1]/"):
            assert media_url_refusal(url) is not None
        assert "cannot be resolved" in media_url_refusal("https://no-such-host.invalid/a.jpg")
    finally:
        set_resolver(previous)


# ------------------------------------------------------------------ any text


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=80),
        st.builds(lambda host, path: f"https://{host}/{path}", st.text(max_size=40), st.text(max_size=10)),
        st.builds(
            lambda parts: "https://" + ".".join(parts) + "/",
            st.lists(
                st.from_regex(r"(0x[0-9a-fA-F]{0,9}|0?[0-7]{1,12}|[0-9]{1,11})", fullmatch=True), max_size=5
            ),
        ),
    )
)
def test_any_text_is_a_public_host_or_refused_with_a_reason(text):
    try:
        host = media_host(text)
    except MediaUrlRefused as refused:
        assert str(refused)
        return
    assert host.address is None or address_refusal(host.address) is None
    assert host.address is not None or "." in host.name
