"""Each WhatsApp session's webhook key: the secret WAHA signs its webhooks with
(HMAC-SHA512 of the raw body) and `POST /webhooks/waha` checks them against.

- In AWS (`WEBHOOK_KEYS_PATH` set by the template): one SSM SecureString parameter
  per session, `<path>/<WAHA name>`, written when the session is created, read
  through Powertools Parameters (decrypted, cached 5 minutes), deleted with the
  session. SecureString rather than Secrets Manager: a key per number would cost
  $0.40 a month each there, and nothing here needs rotation by Secrets Manager.
  The API's role may touch only parameters under that path.
- Locally and in tests (no path): each key is derived from `LOCAL_WEBHOOK_SECRET`
  (HMAC-SHA256 of the WAHA name), so nothing is stored, the keys survive a restart
  of the local stack with a persistent DynamoDB, and a test can sign as WAHA does.
  The default secret is for development only, like `LOCAL_JWT_SECRET`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Protocol

from campaigns.config import Settings, settings

KEY_CACHE_SECONDS = 300


class SessionKeys(Protocol):
    def create(self, waha_name: str) -> str:
        """A new key for the session, kept; returns it (to hand to WAHA)."""
        ...

    def get(self, waha_name: str) -> str | None:
        """The session's key, or None when it has none."""
        ...

    def delete(self, waha_name: str) -> None: ...


class DerivedSessionKeys:
    """Keys derived from one local secret: nothing to store."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode("utf-8")

    def create(self, waha_name: str) -> str:
        return self._derive(waha_name)

    def get(self, waha_name: str) -> str | None:
        return self._derive(waha_name)

    def delete(self, waha_name: str) -> None:
        return None

    def _derive(self, waha_name: str) -> str:
        return hmac.new(self._secret, waha_name.encode("utf-8"), hashlib.sha256).hexdigest()


class SsmSessionKeys:
    """One SecureString parameter per session under `path`."""

    def __init__(self, path: str, client=None) -> None:
        self.path = path.rstrip("/")
        self._client = client

    def _ssm(self):
        if self._client is None:
            import boto3

            self._client = boto3.client("ssm")
        return self._client

    def _name(self, waha_name: str) -> str:
        return f"{self.path}/{waha_name}"

    def create(self, waha_name: str) -> str:
        key = secrets.token_hex(32)
        self._ssm().put_parameter(
            Name=self._name(waha_name),
            Value=key,
            Type="SecureString",
            Overwrite=False,
            Description="HMAC key of a WhatsApp session's WAHA webhooks",
        )
        return key

    def get(self, waha_name: str) -> str | None:
        from aws_lambda_powertools.utilities import parameters

        provider = parameters.SSMProvider(boto3_client=self._ssm())
        try:
            return provider.get(self._name(waha_name), decrypt=True, max_age=KEY_CACHE_SECONDS)
        except parameters.exceptions.GetParameterError:
            return None

    def delete(self, waha_name: str) -> None:
        ssm = self._ssm()
        try:
            ssm.delete_parameter(Name=self._name(waha_name))
        except ssm.exceptions.ParameterNotFound:
            return None


def session_keys(cfg: Settings | None = None) -> SessionKeys:
    cfg = cfg or settings()
    if cfg.webhook_keys_path:
        return SsmSessionKeys(cfg.webhook_keys_path)
    return DerivedSessionKeys(cfg.local_webhook_secret)


__all__ = ["DerivedSessionKeys", "SessionKeys", "SsmSessionKeys", "session_keys"]
