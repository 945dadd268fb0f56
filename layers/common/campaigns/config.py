"""Configuration: one typed model of the environment, read once per process.

Every variable the functions read is a field here, with a default that works for
the local stack; AWS deployments get theirs from template.yaml. An empty value
counts as unset. A value that cannot be used fails at cold start with its
variable's name (`ConfigError`), not at the first request that needs it.
`settings()` parses the environment once (cold start); tests call
`reload_settings()` after changing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import AliasChoices, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(ValueError):
    """A setting is present but unusable."""


@dataclass(frozen=True)
class TableNames:
    campaigns: str
    contact_lists: str
    contacts: str
    templates: str
    media: str
    deliveries: str
    sessions: str
    webhook_events: str
    optouts: str


def _env(*names: str) -> Any:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", env_ignore_empty=True, validate_by_name=True, validate_by_alias=True
    )

    region: str = Field("us-east-1", validation_alias=_env("AWS_REGION", "AWS_DEFAULT_REGION"))
    dynamodb_endpoint: str | None = None
    table_prefix: str = "wcr-"
    campaigns_table: str | None = None
    contact_lists_table: str | None = None
    contacts_table: str | None = None
    templates_table: str | None = None
    media_table: str | None = None
    deliveries_table: str | None = None
    sessions_table: str | None = None
    webhook_events_table: str | None = None
    optouts_table: str | None = None
    runner_function_name: str | None = None
    # The dashboard's origin, for the API's CORS headers.
    frontend_origin: str = "*"
    # Exports (GET /campaigns/{id}/deliveries.csv): a CSV larger than the inline limit
    # goes to this bucket and the answer links to it; unset (the local stack), every
    # export is answered inline. S3_ENDPOINT: an S3-compatible endpoint for this
    # bucket and the media bucket (the local stack's and the tests' moto).
    exports_bucket: str | None = None
    s3_endpoint: str | None = None
    export_inline_limit_bytes: int = Field(4_000_000, ge=1)
    # Media files users upload (POST /media-items/upload-url), served to WAHA through
    # short-lived presigned links; unset, uploads are off and media items are URLs only.
    # The local stack creates one on its S3 endpoint.
    media_bucket: str | None = None
    # The line a campaign with `optOutFooter` ends its message with.
    opt_out_footer: str = Field("Reply STOP to stop receiving these messages", min_length=1, max_length=300)

    # WAHA; unset base URL = the dry-run sender.
    waha_base_url: str | None = None
    waha_api_key: str | None = Field(None, repr=False)
    waha_api_key_parameter: str | None = None
    waha_connect_timeout_s: float = Field(3.05, gt=0, allow_inf_nan=False)
    # Keep it well above WAHA's ~5 s wait before it answers 422 for a session that is not WORKING.
    waha_read_timeout_s: float = Field(30.0, gt=0, allow_inf_nan=False)
    waha_max_attempts: int = Field(3, ge=1)
    # How long a run rides out WAHA failing (5xx, unreachable) before it pauses.
    waha_outage_window_seconds: int = Field(600, ge=0)
    # What new WAHA sessions are told to call (this API's POST /webhooks/waha); the local
    # stack defaults it to its own address.
    waha_webhook_url: str | None = None
    # Where each session's webhook HMAC key is kept: an SSM path (SecureString parameters,
    # the template sets it); unset, keys are derived from LOCAL_WEBHOOK_SECRET instead.
    webhook_keys_path: str | None = None
    local_webhook_secret: str = Field("local-dev-only-webhook-secret-change-me", repr=False)
    # Sessions one user may have.
    max_sessions_per_user: int = Field(10, ge=1)

    # Runner behaviour
    chunk_size: int = Field(25, ge=1)
    handoff_margin_ms: int = Field(20_000, ge=0)
    lease_seconds: int = Field(120, ge=1, validation_alias=_env("RUN_LEASE_SECONDS", "lease_seconds"))
    max_no_progress_invocations: int = Field(5, ge=1)
    default_min_delay_ms: int = Field(30_000, ge=0)
    default_max_delay_ms: int = Field(60_000, ge=0)
    # Lambda's own limit: a run never plans for more than this per invocation.
    runner_timeout_ms: int = Field(900_000, ge=1)
    # A wait longer than this ends the invocation; a delayed continuation resumes the
    # run when it is over (Lambda bills waiting, the queue does not).
    continuation_threshold_ms: int = Field(2_000, ge=0)
    # The runner's continuation queue (SQS); the template sets it.
    continuations_queue_url: str | None = None

    # Schedule
    dispatch_retry_seconds: int = Field(120, ge=1)
    max_campaigns_per_tick: int = Field(200, ge=1)

    @model_validator(mode="after")
    def _delays_in_order(self) -> Settings:
        if self.default_max_delay_ms < self.default_min_delay_ms:
            raise ValueError("DEFAULT_MAX_DELAY_MS must be >= DEFAULT_MIN_DELAY_MS")
        return self

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None

    @property
    def tables(self) -> TableNames:
        prefix = self.table_prefix
        return TableNames(
            campaigns=self.campaigns_table or f"{prefix}campaigns",
            contact_lists=self.contact_lists_table or f"{prefix}contact-lists",
            contacts=self.contacts_table or f"{prefix}contacts",
            templates=self.templates_table or f"{prefix}message-templates",
            media=self.media_table or f"{prefix}media-items",
            deliveries=self.deliveries_table or f"{prefix}deliveries",
            sessions=self.sessions_table or f"{prefix}whatsapp-sessions",
            webhook_events=self.webhook_events_table or f"{prefix}webhook-events",
            optouts=self.optouts_table or f"{prefix}opt-outs",
        )

    def describe(self) -> dict[str, object]:
        """Settings safe to log (no secrets)."""
        return self.model_dump(exclude={"waha_api_key", "local_webhook_secret"})


def _describe(exc: ValidationError) -> str:
    """'CHUNK_SIZE must be ... (got 'x')' for each unusable variable."""
    problems = []
    for error in exc.errors():
        loc = error.get("loc") or ()
        name = str(loc[0]).upper() if loc else "settings"
        if name == "LEASE_SECONDS":
            name = "RUN_LEASE_SECONDS"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        got = error.get("input")
        shown = f" (got {got!r})" if loc and isinstance(got, str | int | float) else ""
        problems.append(f"{name}: {message}{shown}")
    return "Invalid configuration: " + "; ".join(problems)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


def reload_settings() -> Settings:
    settings.cache_clear()
    return settings()
