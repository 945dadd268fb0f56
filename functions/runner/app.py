"""Runner Lambda: takes a campaign and sends to its contacts, chunk by chunk.

Event: {"campaignId": str, "runToken"?: str, "hop": int}. Invoked asynchronously by
the API, the scheduler, and itself (to continue past Lambda's time limit).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaigns.config import settings
from campaigns.data.store import CampaignStore
from campaigns.invoker import continuation_records, default_invoker
from campaigns.observability import logger, metrics, tracer
from campaigns.runner.budget import startup_budget_problem
from campaigns.runner.service import CampaignRunner, RunEvent
from campaigns.sending.factory import build_sender
from campaigns.sending.sender import Sender

_sender: Sender | None = None


def _runner() -> CampaignRunner:
    global _sender
    cfg = settings()
    if _sender is None:  # reused across warm invocations (one HTTP connection pool)
        _sender = build_sender()
        problem = startup_budget_problem(_sender, cfg)
        if problem:
            logger.error("Configuration error: no message can be sent", extra={"reason": problem})
    return CampaignRunner(CampaignStore(cfg.lease_seconds), _sender, default_invoker(), cfg)


@logger.inject_lambda_context(log_event=True, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """A direct event (the API, the schedule, a hand-off), or an SQS batch of delayed
    continuations. Never raises: a failed continuation is the schedule's to recover,
    and retrying it could only repeat what the run's own guards refuse."""
    records = continuation_records(event)
    if records is None:
        return _run_one(event, context)
    results = [_run_one(record, context) for record in records]
    return {"batchItemFailures": [], "results": results}


def _run_one(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        run_event = RunEvent.parse(event)
    except ValueError as exc:
        # Returning (not raising) keeps Lambda from retrying an event that can never work.
        logger.error("Invalid runner event", extra={"reason": str(exc)})
        return {"result": "invalid_event", "message": str(exc)}
    result = _runner().run(run_event, context.get_remaining_time_in_millis, context.function_name)
    return {"campaignId": run_event.campaign_id, "hop": run_event.hop, "result": result.value}
