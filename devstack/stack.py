"""The local stack: the API, the runner and the schedule of template.yaml, on this
machine, running the same handlers Lambda runs.

    with LocalStack(port=0) as stack:
        requests.get(f"{stack.base_url}/health")

What it starts, in order: DynamoDB (moto's server on a free loopback port, or the
endpoint given), the tables from template.yaml, the media bucket (on `S3_ENDPOINT`,
or on the embedded moto server, which serves S3 too), the runner's background
invoker, the HTTP server, the schedule. `stop()` undoes all of it, the environment included,
so a test process can start several stacks one after another.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
for _path in (REPO_ROOT / "layers" / "common", REPO_ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from devstack.auth import DEFAULT_SECRET, SECRET_ENV, make_token  # noqa: E402
from devstack.invoker import LAMBDA_DEFAULT_RETRIES, Handler, LocalInvoker  # noqa: E402
from devstack.schedule import LocalSchedule  # noqa: E402
from devstack.server import WEB_ROOT, LocalApiServer  # noqa: E402

log = logging.getLogger("devstack")

DEFAULT_PORT = 3000
DEFAULT_TIMEOUT_MS = 900_000
DEFAULT_SCHEDULE_SECONDS = 60.0
RUNNER_FUNCTION_NAME = "runner"
# The runner hands off when less than HANDOFF_MARGIN_MS is left (20 s by default);
# with a short simulated timeout that margin would leave no time to send at all.
HANDOFF_MARGIN_FRACTION = 5

# Dummy credentials and region for local endpoints, unless the environment has its own.
_AWS_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


DRY_RUN_PREFIX = "Would send to "


class StackError(RuntimeError):
    """The local stack could not start."""


# The dashboard uploads media straight to the bucket, from whatever port it is served on.
LOCAL_MEDIA_CORS = {
    "CORSRules": [
        {"AllowedOrigins": ["*"], "AllowedMethods": ["POST"], "AllowedHeaders": ["*"], "MaxAgeSeconds": 600}
    ]
}


def media_bucket_name(table_prefix: str) -> str:
    """The local media bucket, named after the tables (`wcr-` -> `wcr-media`) in the
    letters a bucket name allows."""
    name = re.sub(r"[^a-z0-9.-]+", "-", f"{table_prefix}media".lower()).strip("-.")
    return name[-63:].lstrip("-.") or "wcr-media"


def runner_retries_from_template() -> int:
    """How often AWS retries a failed asynchronous runner invocation: the runner's
    `EventInvokeConfig.MaximumRetryAttempts` in template.yaml, Lambda's default (2)
    when the template does not set it."""
    from devstack.tables import load_template

    resources = load_template().get("Resources", {})
    config = resources.get("RunnerFunction", {}).get("Properties", {}).get("EventInvokeConfig") or {}
    retries = config.get("MaximumRetryAttempts", LAMBDA_DEFAULT_RETRIES)
    return retries if isinstance(retries, int) else LAMBDA_DEFAULT_RETRIES


def _env_int(environ: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise StackError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise StackError(f"{name} must be >= {minimum}, got {value}")
    return value


def _env_float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise StackError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise StackError(f"{name} must be positive, got {value}")
    return value


class LocalStack:
    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        dynamodb_endpoint: str | None = None,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        schedule_seconds: float = DEFAULT_SCHEDULE_SECONDS,
        waha_base_url: str | None = None,
        waha_api_key: str | None = None,
        jwt_secret: str = DEFAULT_SECRET,
        table_prefix: str | None = None,
        env: Mapping[str, str] | None = None,
        workers: int = 4,
        max_retries: int | None = None,
        retry_delays_s: tuple[float, ...] = (1.0, 2.0),
        stop_timeout_s: float = 15.0,
        web_root: Path | None = WEB_ROOT,
        api_handler: Handler | None = None,
        runner_handler: Handler | None = None,
        scheduler_handler: Handler | None = None,
    ) -> None:
        """`port` 0 picks a free port; `dynamodb_endpoint` None starts an embedded
        moto server; `env` is extra environment for the domain (e.g.
        RUN_LEASE_SECONDS); `max_retries` None follows template.yaml."""
        self.host = host
        self.port_option = port
        self.dynamodb_endpoint_option = dynamodb_endpoint
        self.timeout_ms = timeout_ms
        # Why no message could be sent with this configuration, when that is so.
        self.budget_problem: str | None = None
        self.schedule_seconds = schedule_seconds
        self.waha_base_url = waha_base_url
        self.waha_api_key = waha_api_key
        self.jwt_secret = jwt_secret
        self.table_prefix = table_prefix
        self.extra_env = dict(env or {})
        self.workers = workers
        self.max_retries = max_retries
        self.retry_delays_s = retry_delays_s
        self.stop_timeout_s = stop_timeout_s
        self.web_root = web_root
        self._api_handler = api_handler
        self._runner_handler = runner_handler
        self._scheduler_handler = scheduler_handler

        self.dynamodb_endpoint: str | None = None
        self.s3_endpoint: str | None = None
        self.media_bucket: str | None = None
        self.invoker: LocalInvoker | None = None
        self.schedule: LocalSchedule | None = None
        self.server: LocalApiServer | None = None
        self._moto: Any = None
        self._s3_moto: Any = None  # only when DynamoDB is elsewhere and S3_ENDPOINT unset
        self._saved_env: dict[str, str | None] = {}
        self._previous_invoker: Any = None
        self._started = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> LocalStack:
        """The stack `make dev` starts: PORT, DYNAMODB_ENDPOINT, WAHA_BASE_URL,
        WAHA_API_KEY, LOCAL_JWT_SECRET, LOCAL_LAMBDA_TIMEOUT_MS, LOCAL_SCHEDULE_SECONDS."""
        environ = os.environ if environ is None else environ
        options: dict[str, Any] = {
            "port": _env_int(environ, "PORT", DEFAULT_PORT),
            "dynamodb_endpoint": environ.get("DYNAMODB_ENDPOINT") or None,
            "timeout_ms": _env_int(environ, "LOCAL_LAMBDA_TIMEOUT_MS", DEFAULT_TIMEOUT_MS, minimum=1),
            "schedule_seconds": _env_float(environ, "LOCAL_SCHEDULE_SECONDS", DEFAULT_SCHEDULE_SECONDS),
            "waha_base_url": environ.get("WAHA_BASE_URL") or None,
            "waha_api_key": environ.get("WAHA_API_KEY") or None,
            "jwt_secret": environ.get(SECRET_ENV) or DEFAULT_SECRET,
        }
        options.update(overrides)
        return cls(**options)

    # -------------------------------------------------------------- properties

    @property
    def base_url(self) -> str:
        assert self.server is not None, "the local stack is not started"
        return self.server.base_url

    @property
    def port(self) -> int:
        assert self.server is not None, "the local stack is not started"
        return self.server.port

    @property
    def embedded_dynamodb(self) -> bool:
        return self.dynamodb_endpoint_option is None

    def token(self, user: str, ttl: int = 3600) -> str:
        return make_token(user, self.jwt_secret, ttl)

    def auth_headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}

    # --------------------------------------------------------------- lifecycle

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        if self._started:
            return self
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from campaigns import config, invoker
        from campaigns.data import models

        started = time.monotonic()
        for name, value in _AWS_DEFAULTS.items():
            if not os.environ.get(name):
                self._set_env(name, value)
        if not os.environ.get("AWS_REGION"):
            self._set_env("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])

        self.dynamodb_endpoint = self.dynamodb_endpoint_option or self._start_moto()
        self._set_env("DYNAMODB_ENDPOINT", self.dynamodb_endpoint)
        self._set_env("RUNNER_FUNCTION_NAME", RUNNER_FUNCTION_NAME)
        self._set_env("WAHA_BASE_URL", self.waha_base_url)
        self._set_env("WAHA_API_KEY", self.waha_api_key if self.waha_base_url else None)
        if self.table_prefix is not None:
            self._set_env("TABLE_PREFIX", self.table_prefix)
        for name, value in self.extra_env.items():
            self._set_env(name, value)
        self.s3_endpoint = os.environ.get("S3_ENDPOINT") or self._embedded_s3()
        self._set_env("S3_ENDPOINT", self.s3_endpoint)
        self.media_bucket = os.environ.get("MEDIA_BUCKET") or media_bucket_name(
            os.environ.get("TABLE_PREFIX") or "wcr-"
        )
        self._set_env("MEDIA_BUCKET", self.media_bucket)
        if not os.environ.get("HANDOFF_MARGIN_MS") and self.timeout_ms < 100_000:
            margin = self.timeout_ms // HANDOFF_MARGIN_FRACTION
            self._set_env("HANDOFF_MARGIN_MS", str(margin))
            log.info("LOCAL_LAMBDA_TIMEOUT_MS is short: the runner hands off %d ms before its end", margin)

        self._set_env("RUNNER_TIMEOUT_MS", str(self.timeout_ms))
        cfg = config.reload_settings()
        models.configure_models(cfg)
        created = self._ensure_tables(cfg)
        self._ensure_media_bucket(cfg)
        self._cold_start()
        self.budget_problem = _budget_problem(cfg)
        if self.budget_problem:
            log.error("Configuration error: %s", self.budget_problem)

        retries = runner_retries_from_template() if self.max_retries is None else self.max_retries
        self.invoker = LocalInvoker(
            self._runner_handler,
            timeout_ms=self.timeout_ms,
            workers=self.workers,
            max_retries=retries,
            retry_delays_s=self.retry_delays_s,
            function_name=RUNNER_FUNCTION_NAME,
        ).start()
        self._previous_invoker = getattr(invoker, "_default", None)
        invoker.set_default_invoker(self.invoker)

        self.server = LocalApiServer(
            self.jwt_secret, self._api_handler, host=self.host, port=self.port_option, web_root=self.web_root
        ).start()
        if not os.environ.get("WAHA_WEBHOOK_URL"):  # new WhatsApp sessions report to this stack
            self._set_env("WAHA_WEBHOOK_URL", f"{self.base_url}/webhooks/waha")
            config.reload_settings()
        self.schedule = LocalSchedule(
            self.schedule_seconds, self._scheduler_handler, region=cfg.region
        ).start()

        log.info(
            "Local stack up in %.1f s: %s",
            time.monotonic() - started,
            json.dumps(
                {
                    "api": self.base_url,
                    "dynamodb": self.dynamodb_endpoint + (" (embedded)" if self.embedded_dynamodb else ""),
                    "tablesCreated": created,
                    "mediaBucket": f"{self.media_bucket} at {self.s3_endpoint}",
                    "sender": f"WAHA at {self.waha_base_url}" if self.waha_base_url else "dry run",
                    "lambdaTimeoutMs": self.timeout_ms,
                    "scheduleSeconds": self.schedule_seconds,
                    "runnerRetries": retries,
                }
            ),
        )

    def stop(self) -> None:
        """Stop the schedule and the HTTP server (requests in progress finish), then
        the runners: each saves its place at its next contact, or is left to the
        schedule's watchdog once its lease expires. Embedded DynamoDB goes last."""
        if not self._started:
            return
        self._started = False
        try:
            if self.schedule is not None:
                self.schedule.stop()
            if self.server is not None:
                self.server.stop()
            if self.invoker is not None:
                self.invoker.stop(self.stop_timeout_s)
                from campaigns import invoker

                invoker.set_default_invoker(self._previous_invoker)
            for moto in (self._moto, self._s3_moto):
                if moto is not None:
                    moto.stop()
        finally:
            self.schedule = None
            self.server = None
            self._moto = None
            self._s3_moto = None
            self._restore_env()
            log.info("Local stack stopped")

    # ----------------------------------------------------------------- helpers

    def _start_moto(self) -> str:
        from devstack.dynamodb import AtomicMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._moto = AtomicMotoServer()
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    def _embedded_s3(self) -> str:
        """The embedded moto server's S3; one of its own when DynamoDB is elsewhere."""
        if self._moto is not None:
            return self.dynamodb_endpoint or ""
        from devstack.dynamodb import AtomicMotoServer

        self._s3_moto = AtomicMotoServer()
        self._s3_moto.start()
        return str(self._s3_moto.endpoint)

    def _ensure_media_bucket(self, cfg: Any) -> None:
        """The media bucket, created if missing, open to uploads from any page (CORS):
        the dashboard POSTs files to it straight from the browser."""
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        client = boto3.client("s3", endpoint_url=self.s3_endpoint, region_name=cfg.region)
        bucket = self.media_bucket or ""
        try:
            try:
                client.head_bucket(Bucket=bucket)
            except ClientError:
                client.create_bucket(Bucket=bucket)
            client.put_bucket_cors(Bucket=bucket, CORSConfiguration=LOCAL_MEDIA_CORS)
        except (BotoCoreError, ClientError) as exc:
            raise StackError(f"S3 at {self.s3_endpoint} is not usable for the media bucket: {exc}") from exc

    def _ensure_tables(self, cfg: Any) -> list[str]:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        from devstack.tables import ensure_tables

        client = boto3.client("dynamodb", endpoint_url=self.dynamodb_endpoint, region_name=cfg.region)
        try:
            return ensure_tables(client, cfg)
        except (BotoCoreError, ClientError) as exc:
            raise StackError(f"DynamoDB at {self.dynamodb_endpoint} is not usable: {exc}") from exc

    @staticmethod
    def _cold_start() -> None:
        """A new stack is a cold start: the runner builds its sender again from the
        current settings (WAHA or dry run) on its first invocation."""
        try:
            import functions.runner.app as runner_app
        except ImportError:
            return
        if hasattr(runner_app, "_sender"):
            runner_app._sender = None

    def _set_env(self, name: str, value: str | None) -> None:
        if name not in self._saved_env:
            self._saved_env[name] = os.environ.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def _restore_env(self) -> None:
        if not self._saved_env:
            return
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
        from campaigns import config
        from campaigns.data import models

        models.configure_models(config.reload_settings())
        self._cold_start()


# ------------------------------------------------------------------- logging

# Powertools keys that add nothing to a line read by a person on this machine.
_QUIET_KEYS = frozenset(
    {
        "level",
        "message",
        "timestamp",
        "service",
        "sampling_rate",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "xray_trace_id",
        "location",
        "exception",
        "exception_name",
        "exception_notes",
        "stack_trace",
        "campaign_id",
        "hop",
        "phone_number",
    }
)


def _color(enabled: bool, code: str, text: str) -> str:
    return f"\033[{code}m{text}\033[0m" if enabled else text


def render_line(
    created: float,
    thread: str,
    level: str,
    message: Any,
    keys: Mapping[str, Any],
    *,
    color: bool = False,
) -> str:
    """`12:00:01.250 runner-1 INFO  [campaign 1a2b3c4d hop 0] message key=value`"""
    stamp = time.strftime("%H:%M:%S", time.localtime(created)) + f".{int(created * 1000) % 1000:03d}"
    if not isinstance(message, str):
        message = json.dumps(message, default=str)
    context = ""
    if keys.get("campaign_id"):
        context = f"[campaign {str(keys['campaign_id'])[:12]}"
        context += f" hop {keys['hop']}] " if keys.get("hop") is not None else "] "
    extras = " ".join(
        f"{name}={json.dumps(value, default=str) if not isinstance(value, str) else value}"
        for name, value in keys.items()
        if name not in _QUIET_KEYS and value is not None
    )
    if message.startswith(DRY_RUN_PREFIX):
        line = (
            f"{stamp} {thread:<9} {_color(color, '1;32', 'DRY-RUN')} {context}{_color(color, '32', message)}"
        )
    else:
        shade = {"WARNING": "33", "ERROR": "31", "CRITICAL": "31"}.get(level)
        label = _color(color and shade is not None, shade or "0", f"{level:<7}")
        line = f"{stamp} {thread:<9} {label} {context}{message}"
    if extras:
        line += f"  {_color(color, '2', extras)}"
    if keys.get("exception"):
        line += "\n" + str(keys["exception"])
    return line


def _readable_powertools_formatter(color: bool) -> logging.Formatter:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class ReadablePowertoolsFormatter(LambdaPowertoolsFormatter):
        """Powertools' structured record (appended keys included), as one line of text.

        Appended keys are kept per thread: in Lambda one process runs one invocation
        at a time, here the API, the runners and the schedule share a process, and
        one function's `clear_state` must not wipe another's campaign id."""

        def __init__(self) -> None:
            self._local = threading.local()
            self._initial_keys: dict[str, Any] = {}
            super().__init__()
            self._initial_keys = dict(self.log_format)

        @property  # type: ignore[override]
        def log_format(self) -> dict[str, Any]:
            keys = getattr(self._local, "keys", None)
            if keys is None:
                keys = self._local.keys = dict(self._initial_keys)
            return keys

        @log_format.setter
        def log_format(self, value: dict[str, Any]) -> None:
            self._local.keys = value

        def format(self, record: logging.LogRecord) -> str:
            data = json.loads(super().format(record))
            return render_line(
                record.created,
                record.threadName or "",
                record.levelname,
                data.get("message"),
                data,
                color=color,
            )

    return ReadablePowertoolsFormatter()


class _ReadableFormatter(logging.Formatter):
    def __init__(self, color: bool) -> None:
        super().__init__()
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        keys: dict[str, Any] = {}
        if record.exc_info:
            keys["exception"] = self.formatException(record.exc_info)
        return render_line(
            record.created,
            record.threadName or "",
            record.levelname,
            record.getMessage(),
            keys,
            color=self.color,
        )


def configure_logging(level: str | int = "INFO", stream: Any = None) -> None:
    """Readable one-line logs for the stack and for the functions' Powertools logger
    (which otherwise writes JSON for CloudWatch); dry-run sends stand out."""
    stream = stream or sys.stdout
    color = hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")
    from campaigns.observability import logger as powertools_logger

    handler = powertools_logger.registered_handler
    handler.setFormatter(_readable_powertools_formatter(color))
    powertools_logger.setLevel(level)

    stack_logger = logging.getLogger("devstack")
    stack_logger.handlers.clear()
    stack_handler = logging.StreamHandler(stream)
    stack_handler.setFormatter(_ReadableFormatter(color))
    stack_logger.addHandler(stack_handler)
    stack_logger.setLevel(level)
    stack_logger.propagate = False
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _budget_problem(cfg: Any) -> str | None:
    """A configuration in which the runner could never send (the banner shows it)."""
    from campaigns.runner.budget import startup_budget_problem
    from campaigns.sending.factory import build_sender

    return startup_budget_problem(build_sender(), cfg)
