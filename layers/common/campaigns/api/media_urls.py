"""The resolving step of the media URL rules (`campaigns.domain.media_urls`): resolve
the host's name and refuse the URL unless every address it gives is public.

The API resolves it when it accepts a media item and when a campaign is created with
one; the runner resolves it again before the first media send of each invocation
(`campaigns.runner.media`), because a name can later resolve to another address
(DNS rebinding) and WAHA fetches the URL at send time.

The resolver is injectable (`set_resolver`) so tests can pin DNS answers; by default
it is the system's (`socket.getaddrinfo`). A name that cannot be resolved is refused
too: WAHA could not fetch it either, and a failure now beats a failed campaign.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence

from campaigns.domain.errors import Invalid
from campaigns.domain.media_urls import MediaUrlRefused, check_resolved, media_host

# (host name, port) -> the addresses it resolves to, as text
Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(name: str, port: int) -> list[str]:
    """Every address `getaddrinfo` gives for `name` (TCP); [] when it gives none."""
    try:
        answers = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [str(sockaddr[0]) for *_, sockaddr in answers]


_resolver: Resolver = system_resolver


def set_resolver(resolver: Resolver | None) -> Resolver:
    """Resolve with `resolver` from now on (None: the system's again); returns the
    resolver it replaces."""
    global _resolver
    previous, _resolver = _resolver, resolver or system_resolver
    return previous


def media_url_refusal(url: str) -> str | None:
    """Why WAHA must not fetch `url`, or None when it may."""
    try:
        host = media_host(url)
        if host.address is None:
            check_resolved(host, _resolver(host.name, host.port))
    except MediaUrlRefused as exc:
        return str(exc)
    return None


def require_public_media_url(url: str, field: str = "storagePath") -> str:
    """`url`, or Invalid (422) naming `field` and the reason."""
    reason = media_url_refusal(url)
    if reason is not None:
        detail = {"in": "body", "field": field, "message": reason}
        raise Invalid(f"{field}: {reason}", [detail])
    return url


__all__ = ["Resolver", "media_url_refusal", "require_public_media_url", "set_resolver", "system_resolver"]
