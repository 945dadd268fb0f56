"""How the runner is started: an asynchronous invocation with a small JSON event.

In AWS this is Lambda's `Event` invocation, and for a continuation that must wait
(the gap before the next message, a batch pause, a WAHA outage) a message on the
runner's SQS queue with `DelaySeconds`: the run waits outside Lambda. The local
stack supplies background workers with the same contract; tests record the payloads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol


def runner_event(campaign_id: str, run_token: str | None = None, hop: int = 0) -> dict[str, Any]:
    event: dict[str, Any] = {"campaignId": campaign_id, "hop": hop}
    if run_token:
        event["runToken"] = run_token
    return event


# SQS's longest per-message delay; a longer wait is delayed again when it arrives.
MAX_DELAY_S = 900


class RunnerInvoker(Protocol):
    def invoke(self, event: dict[str, Any], function_name: str | None = None) -> None:
        """Start the runner asynchronously with `event`; never waits for the run."""
        ...

    def continue_later(self, event: dict[str, Any], delay_s: int) -> None:
        """Deliver `event` to the runner in `delay_s` whole seconds (at most MAX_DELAY_S)."""
        ...


def continuation_records(event: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The runner events inside an SQS event (`Records`), or None for a direct event."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        return None
    events = []
    for record in records:
        body = record.get("body") if isinstance(record, dict) else None
        try:
            events.append(json.loads(body) if isinstance(body, str) else None)
        except ValueError:
            events.append(None)
    return events


class LambdaInvoker:
    """Invokes the runner function with InvocationType=Event."""

    def __init__(
        self, function_name: str | None, client: Any = None, queue_url: str | None = None, sqs: Any = None
    ) -> None:
        self.function_name = function_name
        self._client = client
        self.queue_url = queue_url
        self._sqs = sqs

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            import boto3

            self._sqs = boto3.client("sqs")
        return self._sqs

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("lambda")
        return self._client

    def invoke(self, event: dict[str, Any], function_name: str | None = None) -> None:
        name = function_name or self.function_name
        if not name:
            raise RuntimeError("RUNNER_FUNCTION_NAME is not set: cannot invoke the runner")
        self.client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode())

    def continue_later(self, event: dict[str, Any], delay_s: int) -> None:
        if not self.queue_url:
            raise RuntimeError("CONTINUATIONS_QUEUE_URL is not set: cannot delay a continuation")
        self.sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(event),
            DelaySeconds=max(0, min(MAX_DELAY_S, int(delay_s))),
        )


@dataclass
class RecordingInvoker:
    """Keeps the events instead of starting anything (tests and dry runs)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    # Continuations, with the delay each asked for.
    later: list[tuple[dict[str, Any], int]] = field(default_factory=list)

    def invoke(self, event: dict[str, Any], function_name: str | None = None) -> None:
        self.events.append(dict(event))

    def continue_later(self, event: dict[str, Any], delay_s: int) -> None:
        self.later.append((dict(event), int(delay_s)))

    def pop_all(self) -> list[dict[str, Any]]:
        events, self.events = self.events, []
        return events

    def pop_later(self) -> list[tuple[dict[str, Any], int]]:
        later, self.later = self.later, []
        return later


_default: RunnerInvoker | None = None


def set_default_invoker(invoker: RunnerInvoker | None) -> None:
    """The local stack installs its background invoker here."""
    global _default
    _default = invoker


def default_invoker() -> RunnerInvoker:
    if _default is not None:
        return _default
    from campaigns.config import settings

    cfg = settings()
    return LambdaInvoker(cfg.runner_function_name, queue_url=cfg.continuations_queue_url)
