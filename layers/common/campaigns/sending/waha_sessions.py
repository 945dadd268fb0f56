"""WAHA's session calls: what connecting, pairing and removing a WhatsApp number
takes. The requests follow WAHA's OpenAPI document (2026.7.1); failures are the same
outcomes as `waha_client`'s (a `SendError` with a reason safe to show).

None of these sends a message, so the retry policy may repeat any of them, except
creating a session: a repeated create whose first attempt went through answers
"already exists", so it is made once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from campaigns.config import Settings, settings
from campaigns.sending.sender import SendNotAttempted
from campaigns.sending.waha_client import ApiKeySource, RetryPolicy, WahaHttp, _path
from campaigns.sending.waha_sender import ParameterApiKey

# What a session's webhook reports to this product.
WEBHOOK_EVENTS = ("session.status", "message", "message.ack")
# WAHA retries a webhook the receiver did not take: 2, 4, 8 ... s, 8 attempts (~8.5 min).
WEBHOOK_RETRIES = {"policy": "exponential", "delaySeconds": 2, "attempts": 8}


@dataclass(frozen=True)
class WahaSessionInfo:
    status: str
    phone_number: str | None = None  # E.164, once paired
    push_name: str | None = None


@dataclass(frozen=True)
class QrCode:
    png: bytes | None = None
    value: str | None = None


def phone_from_me_id(me_id: object) -> str | None:
    """`15550001111@c.us` (or `...:2@s.whatsapp.net`) -> `+15550001111`."""
    if not isinstance(me_id, str) or "@" not in me_id:
        return None
    digits = me_id.split("@", 1)[0].split(":", 1)[0]
    return f"+{digits}" if digits.isdigit() else None


def session_info_from(body: Any) -> WahaSessionInfo:
    """WAHA's SessionInfo/SessionDTO, read defensively (an unknown status is "not ready")."""
    if not isinstance(body, Mapping):
        return WahaSessionInfo(status="STARTING")
    status = body.get("status")
    me = body.get("me") if isinstance(body.get("me"), Mapping) else {}
    push = me.get("pushName") if isinstance(me.get("pushName"), str) else None
    return WahaSessionInfo(
        status=status if isinstance(status, str) and status else "STARTING",
        phone_number=phone_from_me_id(me.get("id")),
        push_name=push or None,
    )


# The API answers within API Gateway's 29 s: WAHA's calls from it wait less than the
# runner's, though still longer than WAHA's ~5 s wait before a "not ready" answer.
API_READ_TIMEOUT_S = 10.0
API_MAX_ATTEMPTS = 2


def _config(webhook_url: str, hmac_key: str, metadata: Mapping[str, str]) -> dict[str, Any]:
    webhook = {
        "url": webhook_url,
        "events": list(WEBHOOK_EVENTS),
        "hmac": {"key": hmac_key},
        "retries": dict(WEBHOOK_RETRIES),
    }
    return {"metadata": dict(metadata), "webhooks": [webhook]}


class WahaSessions(WahaHttp):
    """Create, read, pair, log out and delete WAHA sessions."""

    @classmethod
    def from_settings(cls, cfg: Settings | None = None) -> WahaSessions | None:
        """WAHA's sessions as the API reaches them; None in a dry run (no WAHA_BASE_URL)."""
        cfg = cfg or settings()
        if not cfg.waha_base_url:
            return None
        api_key: ApiKeySource = cfg.waha_api_key
        if not api_key and cfg.waha_api_key_parameter:
            api_key = ParameterApiKey(cfg.waha_api_key_parameter)
        return cls(
            cfg.waha_base_url,
            api_key,
            connect_timeout_s=cfg.waha_connect_timeout_s,
            read_timeout_s=min(cfg.waha_read_timeout_s, API_READ_TIMEOUT_S),
            retry=RetryPolicy(max_attempts=min(cfg.waha_max_attempts, API_MAX_ATTEMPTS)),
        )

    def create(
        self, name: str, webhook_url: str, hmac_key: str, metadata: Mapping[str, str]
    ) -> WahaSessionInfo:
        """Create and start `name`, its webhook signed with `hmac_key`."""
        body = {"name": name, "start": True, "config": _config(webhook_url, hmac_key, metadata)}
        answer = self._call(
            "POST", "/api/sessions", endpoint="create-session", session=name, json_body=body, attempts=1
        )
        return session_info_from(answer)

    def set_webhook(self, name: str, webhook_url: str, hmac_key: str, metadata: Mapping[str, str]) -> None:
        """Point an existing session's webhook at this product (an operator adopting it).
        WAHA restarts the session with the new config; a paired number stays paired."""
        body = {"config": _config(webhook_url, hmac_key, metadata)}
        self._call(
            "PUT", f"/api/sessions/{_path(name)}", endpoint="update-session", session=name, json_body=body
        )

    def info(self, name: str) -> WahaSessionInfo:
        return session_info_from(
            self._call("GET", f"/api/sessions/{_path(name)}", endpoint="session", session=name)
        )

    def me(self, name: str) -> Any:
        return self._call("GET", f"/api/sessions/{_path(name)}/me", endpoint="me", session=name)

    def qr(self, name: str, raw: bool) -> QrCode:
        """The pairing QR: its text (`raw`) or a PNG image."""
        body = self._call(
            "GET",
            f"/api/{_path(name)}/auth/qr",
            endpoint="qr",
            session=name,
            params={"format": "raw" if raw else "image"},
            attempts=1,
        )
        if raw and isinstance(body, Mapping) and isinstance(body.get("value"), str):
            return QrCode(value=body["value"])
        if not raw and isinstance(body, Mapping) and isinstance(body.get("data"), str):
            try:
                return QrCode(png=base64.b64decode(body["data"], validate=True))
            except (binascii.Error, ValueError):
                pass
        raise SendNotAttempted("WAHA answered the QR code request with something that is not a QR code")

    def request_code(self, name: str, phone_digits: str) -> str:
        """A code to type on the phone (Linked devices > Link with phone number)."""
        body = self._call(
            "POST",
            f"/api/{_path(name)}/auth/request-code",
            endpoint="request-code",
            session=name,
            json_body={"phoneNumber": phone_digits},
            attempts=1,
        )
        code = body.get("code") if isinstance(body, Mapping) else None
        if not isinstance(code, str) or not code.strip():
            raise SendNotAttempted("WAHA gave no pairing code for this session")
        return code.strip()

    def logout(self, name: str) -> None:
        self._call("POST", f"/api/sessions/{_path(name)}/logout", endpoint="logout", session=name)

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/api/sessions/{_path(name)}", endpoint="delete-session", session=name)


__all__ = [
    "WEBHOOK_EVENTS",
    "QrCode",
    "WahaSessionInfo",
    "WahaSessions",
    "phone_from_me_id",
    "session_info_from",
]
