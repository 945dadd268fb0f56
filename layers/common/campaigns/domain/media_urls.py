"""Media URLs WAHA may fetch: `https` to a public host, nothing else.

WAHA downloads a campaign's media and sends it to every contact, so a URL naming an
internal address (`https://169.254.169.254/...`, `https://localhost:3000/api/...`,
`https://10.0.0.5/admin`) would make WAHA fetch it and deliver the answer. The rules
(pure; resolving a name is the caller's step, `campaigns.api.media_urls`):

- `https` only, no credentials (`user:pass@`), no backslash, whitespace or control
  character anywhere, and a host of letters, digits, `-`, `_` and dots once
  IDNA-encoded (no `%`: other URL parsers decode it in a host).
- Names: `localhost` and the local-only suffixes (`.localhost`, `.local`,
  `.internal`, `.localdomain`, `.home.arpa`) and names without a dot are refused;
  any other name is resolved and every address it gives must be public.
- Addresses: loopback, private, shared (100.64/10), link-local, documentation,
  reserved, multicast, unspecified and broadcast ones are refused. IPv6 must be
  global unicast (2000::/3), so IPv4-mapped, IPv4-compatible, NAT64, Teredo and
  site-local forms are refused; a 6to4 address is judged by the IPv4 inside it.
- A host that ends in a number is an IPv4 address to browsers and to WAHA's URL
  parser (`0x7f000001`, `017700000001`, `127.1`, `2130706433` are all 127.0.0.1):
  only the dotted-decimal form is accepted, and only for a public address.

Reasons say what kind of address was refused, never which address a name resolved
to (that would map the network for whoever asks).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_LOCAL_NAMES = ("localhost", "local", "internal", "localdomain", "home.arpa")
# Not public, beyond what the ipaddress module flags on every Python version.
_NOT_PUBLIC_V4 = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
    )
)
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_NOT_PUBLIC_V6 = tuple(
    ipaddress.ip_network(net) for net in ("2001::/23", "2001:db8::/32", "3fff::/20", "5f00::/16")
)
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


class MediaUrlRefused(ValueError):
    """Not a URL WAHA may fetch; the message says why."""


@dataclass(frozen=True)
class MediaHost:
    """The host of an acceptable-looking URL: its ASCII name and port, and its
    address when the URL names one (then nothing needs resolving)."""

    name: str
    port: int
    address: IPAddress | None


def media_host(url: str) -> MediaHost:
    """The host `url` points at, or MediaUrlRefused for any rule a URL alone breaks."""
    if not isinstance(url, str) or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise MediaUrlRefused("must be an https URL without spaces or control characters")
    if "\\" in url:
        raise MediaUrlRefused("must not contain a backslash")
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket, for one
        raise MediaUrlRefused("is not a readable URL") from None
    if parts.scheme.lower() != "https":
        raise MediaUrlRefused("must be an https URL")
    if "@" in parts.netloc:
        raise MediaUrlRefused("must not carry credentials (user:password@)")
    try:
        port = parts.port or 443
    except ValueError:
        raise MediaUrlRefused("has an invalid port") from None
    host = parts.hostname or ""
    if not host:
        raise MediaUrlRefused("must name a host")
    if ":" in host:  # only an IPv6 literal in brackets has one
        return MediaHost(host, port, _public_literal(_ipv6(host), host))
    name = _ascii_name(host)
    address = _numeric_host(name)
    if address is not None:
        return MediaHost(name, port, _public_literal(address, name))
    _refuse_local_name(name)
    return MediaHost(name, port, None)


def check_resolved(host: MediaHost, addresses: Iterable[str]) -> None:
    """MediaUrlRefused unless `host`'s name resolved, and only to public addresses."""
    try:
        found = [ipaddress.ip_address(str(a).split("%", 1)[0]) for a in addresses]
    except ValueError:
        found = []
    if not found:
        raise MediaUrlRefused(f"its host {host.name} cannot be resolved")
    for address in found:
        kind = address_refusal(address)
        if kind is not None:
            raise MediaUrlRefused(f"its host {host.name} resolves to {kind}, not a public host")


def address_refusal(address: IPAddress) -> str | None:
    """What kind of non-public address `address` is ("a loopback address", ...), or
    None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        return _ipv6_refusal(address)
    for kind, flagged in (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
    ):
        if flagged:
            return f"{kind} address"
    if any(address in net for net in _NOT_PUBLIC_V4) or not address.is_global:
        return "a non-public (shared, documentation or reserved) address"
    return None


def _ipv6_refusal(address: ipaddress.IPv6Address) -> str | None:
    embedded = address.ipv4_mapped
    if embedded is not None:
        inner = address_refusal(embedded)
        return f"an IPv4-mapped form of {inner}" if inner else "an IPv4-mapped address"
    for kind, flagged in (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a site-local", address.is_site_local),
        ("a private", address.is_private),
    ):
        if flagged:
            return f"{kind} address"
    if address in _SIX_TO_FOUR:
        inner = address_refusal(address.sixtofour) if address.sixtofour else None
        return f"a 6to4 form of {inner}" if inner else None
    if address not in _GLOBAL_UNICAST_V6 or any(address in net for net in _NOT_PUBLIC_V6):
        return "a reserved address (IPv4-compatible, NAT64, Teredo or another special range)"
    return None


def _public_literal(address: IPAddress, written: str) -> IPAddress:
    kind = address_refusal(address)
    if kind is not None:
        raise MediaUrlRefused(f"its host {written} is {kind}, not a public host")
    return address


def _ipv6(host: str) -> ipaddress.IPv6Address:
    try:
        return ipaddress.IPv6Address(host)
    except ValueError:
        raise MediaUrlRefused("has an invalid IPv6 address") from None


def _ascii_name(host: str) -> str:
    try:
        name = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise MediaUrlRefused("has an invalid host name") from None
    name = name[:-1] if name.endswith(".") else name
    if not _HOST.fullmatch(name) or len(name) > 253:
        raise MediaUrlRefused("has an invalid host name")
    return name


def _numeric_host(name: str) -> IPAddress | None:
    """The IPv4 address a host ending in a number stands for; MediaUrlRefused unless
    it is written in dotted decimal."""
    if not _NUMERIC_LABEL.fullmatch(name.rsplit(".", 1)[-1]):
        return None
    try:
        return ipaddress.IPv4Address(name)
    except ValueError:
        pass
    meant = _legacy_ipv4(name)
    if meant is None:
        raise MediaUrlRefused(f"its host {name} is neither a host name nor an IPv4 address")
    kind = address_refusal(meant)
    what = f"{kind}, not a public host" if kind else "write an IPv4 address as four decimal numbers"
    raise MediaUrlRefused(f"its host {name} is {meant} written another way: {what}")


def _legacy_ipv4(name: str) -> ipaddress.IPv4Address | None:
    """What inet_aton (and URL parsers after it) read: 1 to 4 parts, each decimal,
    octal (leading 0) or hex (0x), the last filling the remaining bytes."""
    labels = name.split(".")
    if not 1 <= len(labels) <= 4:
        return None
    values: list[int] = []
    for label in labels:
        if not label:
            return None
        if label.startswith("0x"):
            digits, base = label[2:] or "0", 16
        elif len(label) > 1 and label.startswith("0"):
            digits, base = label[1:], 8
        else:
            digits, base = label, 10
        try:
            values.append(int(digits, base))
        except ValueError:
            return None
    *leading, last = values
    if any(v > 255 for v in leading) or last >= 256 ** (5 - len(values)):
        return None
    number = last
    for position, value in enumerate(leading):
        number += value << (8 * (3 - position))
    return ipaddress.IPv4Address(number)


def _refuse_local_name(name: str) -> None:
    if any(name == local or name.endswith("." + local) for local in _LOCAL_NAMES):
        raise MediaUrlRefused(f"its host {name} is a local name, not a public host")
    if "." not in name:
        raise MediaUrlRefused(f"its host {name} is not a public host name (no domain)")


__all__ = ["MediaHost", "MediaUrlRefused", "address_refusal", "check_resolved", "media_host"]
