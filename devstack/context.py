"""A Lambda-like context whose remaining time counts down from a simulated timeout."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field


@dataclass
class SimulatedContext:
    function_name: str = "runner"
    timeout_ms: int = 900_000
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _started: float = field(default_factory=time.monotonic)
    _expired: bool = field(default=False, repr=False)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        if self._expired:
            return 0
        return max(0, int(self.timeout_ms - self.elapsed_ms()))

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self._started) * 1000)

    def expire(self) -> None:
        """From now on report no time left, as if the timeout had come: a runner
        saves its place and hands off at its next contact (the local stack's stop)."""
        self._expired = True
