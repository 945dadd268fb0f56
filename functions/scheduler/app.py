"""Scheduler Lambda: an EventBridge tick that starts due campaigns and takes over
runs whose runner died (their lease expired)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from campaigns.config import settings
from campaigns.data.store import CampaignStore
from campaigns.invoker import default_invoker
from campaigns.observability import logger, metrics, tracer
from campaigns.schedule.tick import ScheduleTick
from campaigns.timeutil import utcnow


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    cfg = settings()
    tick = ScheduleTick(CampaignStore(cfg.lease_seconds), default_invoker(), cfg)
    report = tick.run(utcnow())
    return report.as_dict()
