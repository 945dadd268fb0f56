"""The local stack runs the same waiting path as AWS: a gap longer than the threshold
ends the invocation, and the local invoker delivers the continuation, as an SQS
batch, once its whole-second delay is over."""

from __future__ import annotations

import itertools
import logging

from tests import stack_fixtures
from tests.stack_fixtures import DRY_RUN_PREFIX, ApiClient, contacts, wait_for

start_stack = stack_fixtures.start_stack


class SendTimes(logging.Handler):
    """When the dry-run sender "sent" each message (its log line's time)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.times: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(DRY_RUN_PREFIX):
            self.times.append(record.created)


def test_a_paced_campaign_waits_outside_the_runner_and_completes(start_stack, caplog) -> None:
    from campaigns.observability import logger

    caplog.set_level(logging.INFO, logger="devstack.invoker")
    sends = SendTimes()
    logger.addHandler(sends)
    try:
        stack = start_stack()
        alice = ApiClient(stack, "alice")
        alice.register_session("alice-phone")
        listed = alice.contact_list(contacts(3))
        template = alice.template("Hello {Name}")
        campaign = alice.campaign(listed["id"], template["id"], minDelayMs=2_500, maxDelayMs=3_500)

        assert alice.request("POST", f"/campaigns/{campaign['id']}/run").status_code == 202
        waiting = wait_for(
            lambda: (c := alice.get_campaign(campaign["id"])).get("waitReason") and c, 10, "a wait"
        )
        assert waiting["status"] == "Running" and waiting["waitReason"] == "Waiting between messages"
        assert waiting["waitingUntil"] is not None
        done = alice.wait_status(campaign["id"], {"Completed", "Failed", "Paused"}, timeout=30)
    finally:
        logger.removeHandler(sends)

    assert done["status"] == "Completed" and done["sentCount"] == 3
    assert stack.invoker is not None and stack.invoker.continuations == 2
    queued = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Continuation queued for")]
    assert len(queued) == 2  # the waits show in the log
    assert len(sends.times) == 3
    assert all(b - a >= 2.5 for a, b in itertools.pairwise(sends.times)), sends.times
