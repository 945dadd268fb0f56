"""Campaigns: create, list, show, the user's commands (run, resume, pause, cancel)
and the per-contact delivery log."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.metrics import MetricUnit

from campaigns.api import campaigns as campaign_service
from campaigns.api.models import CampaignOut, CampaignPage, CreateCampaignIn, DeliveryPage
from campaigns.api.openapi import answers
from campaigns.data.pagination import DEFAULT_LIMIT
from campaigns.domain.statuses import DeliveryStatus
from campaigns.observability import metrics
from campaigns.timeutil import utcnow

from .params import Limit, NextToken, caller

router = Router()


def _count(metric: str) -> None:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


@router.post(
    "/campaigns",
    operation_id="createCampaign",
    status_code=201,
    tags=["campaigns"],
    responses=answers(201, "Scheduled", 400, 422),
)
def create_campaign(body: CreateCampaignIn) -> CampaignOut:
    return campaign_service.create_campaign(caller(router), body, utcnow())


@router.get(
    "/campaigns",
    operation_id="listCampaigns",
    tags=["campaigns"],
    responses=answers(200, "The caller's campaigns, newest first", 400, 422),
)
def list_campaigns(limit: Limit = DEFAULT_LIMIT, next_token: NextToken = None) -> CampaignPage:
    return campaign_service.list_campaigns(caller(router), limit, next_token)


@router.get(
    "/campaigns/<campaign_id>",
    operation_id="getCampaign",
    tags=["campaigns"],
    responses=answers(200, "The campaign and progress", 404),
)
def get_campaign(campaign_id: str) -> CampaignOut:
    return campaign_service.get_campaign(caller(router), campaign_id)


@router.post(
    "/campaigns/<campaign_id>/run",
    operation_id="runCampaign",
    status_code=202,
    tags=["campaigns"],
    summary="Start now (Scheduled or Paused); the runner is invoked asynchronously",
    responses=answers(202, "Accepted: the runner is starting", 404, 409),
)
def run_campaign(campaign_id: str) -> CampaignOut:
    campaign = campaign_service.run_campaign(caller(router), campaign_id, utcnow())
    _count("CampaignRunRequested")
    return campaign


@router.post(
    "/campaigns/<campaign_id>/resume",
    operation_id="resumeCampaign",
    status_code=202,
    tags=["campaigns"],
    summary="Paused -> Scheduled, and the runner is invoked at once",
    responses=answers(202, "Accepted: the runner is starting", 404, 409),
)
def resume_campaign(campaign_id: str) -> CampaignOut:
    campaign = campaign_service.resume_campaign(caller(router), campaign_id, utcnow())
    _count("CampaignResumed")
    return campaign


@router.post(
    "/campaigns/<campaign_id>/pause",
    operation_id="pauseCampaign",
    tags=["campaigns"],
    summary="Scheduled or Running -> Paused",
    responses=answers(200, "Paused", 404, 409),
)
def pause_campaign(campaign_id: str) -> CampaignOut:
    campaign = campaign_service.pause_campaign(caller(router), campaign_id, utcnow())
    _count("CampaignPaused")
    return campaign


@router.post(
    "/campaigns/<campaign_id>/cancel",
    operation_id="cancelCampaign",
    tags=["campaigns"],
    summary="Scheduled, Running or Paused -> Cancelled",
    responses=answers(200, "Cancelled", 404, 409),
)
def cancel_campaign(campaign_id: str) -> CampaignOut:
    campaign = campaign_service.cancel_campaign(caller(router), campaign_id, utcnow())
    _count("CampaignCancelled")
    return campaign


@router.get(
    "/campaigns/<campaign_id>/deliveries",
    operation_id="listDeliveries",
    tags=["campaigns"],
    responses=answers(200, "Per-contact log in contact order", 400, 404, 422),
)
def list_deliveries(
    campaign_id: str,
    status: Annotated[DeliveryStatus | None, Query(description="Only this delivery status.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    next_token: NextToken = None,
) -> DeliveryPage:
    return campaign_service.list_deliveries(caller(router), campaign_id, status, limit, next_token)
