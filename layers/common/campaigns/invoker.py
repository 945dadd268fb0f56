"""How the runner is started: an asynchronous invocation with a small JSON event.

In AWS this is Lambda's `Event` invocation; the local stack supplies a background
worker with the same contract; tests record the payloads.
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


class RunnerInvoker(Protocol):
    def invoke(self, event: dict[str, Any], function_name: str | None = None) -> None:
        """Start the runner asynchronously with `event`; never waits for the run."""
        ...


class LambdaInvoker:
    """Invokes the runner function with InvocationType=Event."""

    def __init__(self, function_name: str | None, client: Any = None) -> None:
        self.function_name = function_name
        self._client = client

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


@dataclass
class RecordingInvoker:
    """Keeps the events instead of starting anything (tests and dry runs)."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, event: dict[str, Any], function_name: str | None = None) -> None:
        self.events.append(dict(event))

    def pop_all(self) -> list[dict[str, Any]]:
        events, self.events = self.events, []
        return events


_default: RunnerInvoker | None = None


def set_default_invoker(invoker: RunnerInvoker | None) -> None:
    """The local stack installs its background invoker here."""
    global _default
    _default = invoker


def default_invoker() -> RunnerInvoker:
    if _default is not None:
        return _default
    from campaigns.config import settings

    return LambdaInvoker(settings().runner_function_name)
