"""Configuration from environment variables, read in one place.

Every setting has a default that works for the local stack; AWS deployments get
theirs from template.yaml. `settings()` parses the environment once per process
(cold start); tests call `reload_settings()` after changing it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache


class ConfigError(ValueError):
    """A setting is present but unusable."""


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _str(name: str, default: str | None = None) -> str | None:
    raw = os.environ.get(name)
    return raw if raw not in (None, "") else default


@dataclass(frozen=True)
class TableNames:
    campaigns: str
    contact_lists: str
    contacts: str
    templates: str
    media: str
    deliveries: str
    sessions: str


@dataclass(frozen=True)
class Settings:
    region: str
    dynamodb_endpoint: str | None
    tables: TableNames
    runner_function_name: str | None
    waha_base_url: str | None
    waha_api_key: str | None
    waha_api_key_parameter: str | None
    # Runner behaviour
    chunk_size: int
    handoff_margin_ms: int
    lease_seconds: int
    max_no_progress_invocations: int
    default_min_delay_ms: int
    default_max_delay_ms: int
    # Schedule
    dispatch_retry_seconds: int
    max_campaigns_per_tick: int

    @classmethod
    def from_env(cls) -> Settings:
        prefix = _str("TABLE_PREFIX", "wcr-")
        tables = TableNames(
            campaigns=_str("CAMPAIGNS_TABLE", f"{prefix}campaigns"),
            contact_lists=_str("CONTACT_LISTS_TABLE", f"{prefix}contact-lists"),
            contacts=_str("CONTACTS_TABLE", f"{prefix}contacts"),
            templates=_str("TEMPLATES_TABLE", f"{prefix}message-templates"),
            media=_str("MEDIA_TABLE", f"{prefix}media-items"),
            deliveries=_str("DELIVERIES_TABLE", f"{prefix}deliveries"),
            sessions=_str("SESSIONS_TABLE", f"{prefix}whatsapp-sessions"),
        )
        settings = cls(
            region=_str("AWS_REGION", _str("AWS_DEFAULT_REGION", "us-east-1")),
            dynamodb_endpoint=_str("DYNAMODB_ENDPOINT"),
            tables=tables,
            runner_function_name=_str("RUNNER_FUNCTION_NAME"),
            waha_base_url=_str("WAHA_BASE_URL"),
            waha_api_key=_str("WAHA_API_KEY"),
            waha_api_key_parameter=_str("WAHA_API_KEY_PARAMETER"),
            chunk_size=_int("CHUNK_SIZE", 25, minimum=1),
            handoff_margin_ms=_int("HANDOFF_MARGIN_MS", 20_000),
            lease_seconds=_int("RUN_LEASE_SECONDS", 120, minimum=1),
            max_no_progress_invocations=_int("MAX_NO_PROGRESS_INVOCATIONS", 5, minimum=1),
            default_min_delay_ms=_int("DEFAULT_MIN_DELAY_MS", 30_000),
            default_max_delay_ms=_int("DEFAULT_MAX_DELAY_MS", 60_000),
            dispatch_retry_seconds=_int("DISPATCH_RETRY_SECONDS", 120, minimum=1),
            max_campaigns_per_tick=_int("MAX_CAMPAIGNS_PER_TICK", 200, minimum=1),
        )
        if settings.default_max_delay_ms < settings.default_min_delay_ms:
            raise ConfigError("DEFAULT_MAX_DELAY_MS must be >= DEFAULT_MIN_DELAY_MS")
        return settings

    def describe(self) -> dict[str, object]:
        """Settings safe to log (no secrets)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "waha_api_key"}


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


def reload_settings() -> Settings:
    settings.cache_clear()
    return settings()
