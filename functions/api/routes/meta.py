"""GET /health. (GET /openapi.json is served by the resolver itself, which
generates the document.)"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from campaigns.api.models import HealthOut
from campaigns.api.openapi import answers

router = Router()


@router.get(
    "/health",
    operation_id="health",
    tags=["meta"],
    security=[{}],
    responses=answers(200, "Alive", authed=False),
)
def health() -> HealthOut:
    return HealthOut(status="ok")
