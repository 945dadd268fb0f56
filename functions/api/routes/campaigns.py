"""Campaigns: create, list, show, the user's commands (run, resume, pause, cancel),
the per-contact delivery log and its CSV export, a test send, a retry, and delete."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.metrics import MetricUnit

from campaigns.api import campaigns as campaign_service
from campaigns.api import deletes, exports, retries, test_sends
from campaigns.api.models import (
    CampaignOut,
    CampaignPage,
    CreateCampaignIn,
    DeliveryPage,
    ExportLinkOut,
    RetryCampaignIn,
    SendTestIn,
    SendTestOut,
)
from campaigns.api.openapi import answers, deletion_answers, error_answers
from campaigns.data.pagination import DEFAULT_LIMIT
from campaigns.domain.statuses import DeliveryStatus
from campaigns.observability import metrics
from campaigns.timeutil import utcnow

from .deletions import deleted
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


@router.get(
    "/campaigns/<campaign_id>/deliveries.csv",
    operation_id="exportDeliveries",
    tags=["campaigns"],
    summary="The whole per-contact log as CSV (cells a spreadsheet could run are prefixed with ')",
    responses={
        200: {
            "description": "The CSV: contactIndex, phoneNumber, status, messageId, ack, error, at. "
            "When it is too large to answer inline and Accept names application/json (a page, "
            "which cannot follow a redirect to another host): {url, expiresAt}, the download link",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"model": ExportLinkOut},
            },
        },
        303: {
            "description": "Too large to answer inline: Location (and url) is a presigned download link",
            "content": {"application/json": {"model": ExportLinkOut}},
        },
        **error_answers(401, 404, 422, 500),
    },
)
def export_deliveries(campaign_id: str):
    export = exports.export_deliveries(caller(router), campaign_id, utcnow())
    disposition = {"Content-Disposition": f'attachment; filename="{export.filename}"'}
    if export.body is not None:
        return Response(200, "text/csv; charset=utf-8", export.body, headers=disposition)
    link = ExportLinkOut(url=export.url or "", expires_at=export.expires_at)
    body = link.model_dump_json(by_alias=True)
    if _accepts_json(router.current_event.headers):
        # A browser page: a redirect to the bucket's host would be blocked by its CSP and CORS;
        # it opens the link itself (the file is served as an attachment).
        return Response(200, content_types.APPLICATION_JSON, body, headers={"Cache-Control": "no-store"})
    headers = {"Location": link.url, "Cache-Control": "no-store"}
    return Response(303, content_types.APPLICATION_JSON, body, headers=headers)


def _accepts_json(headers: dict[str, str] | None) -> bool:
    accept = next((v for k, v in (headers or {}).items() if k.lower() == "accept"), "") or ""
    return any(part.split(";")[0].strip().lower() == "application/json" for part in accept.split(","))


@router.post(
    "/campaigns/<campaign_id>/test",
    operation_id="sendTestMessage",
    status_code=202,
    tags=["campaigns"],
    summary="Send the campaign's message (with defaultNameValue and its media) to one number now; "
    "10 a day per campaign, not counted in its progress",
    responses=answers(202, "Sent (or, in a dry run, logged)", 400, 404, 409, 422, 429),
)
def send_test(campaign_id: str, body: SendTestIn) -> SendTestOut:
    return test_sends.send_test(caller(router), campaign_id, body.phone_number, utcnow())


@router.post(
    "/campaigns/<campaign_id>/retry",
    operation_id="retryCampaign",
    status_code=201,
    tags=["campaigns"],
    summary="A new Scheduled campaign over the contacts of a final campaign whose deliveries have "
    "these statuses (Unknown only with confirmUnknown)",
    responses=answers(201, "The new campaign (it waits for POST /run)", 400, 404, 409, 422),
)
def retry_campaign(campaign_id: str, body: RetryCampaignIn) -> CampaignOut:
    campaign = retries.retry_campaign(caller(router), campaign_id, body, utcnow())
    _count("CampaignRetried")
    return campaign


@router.delete(
    "/campaigns/<campaign_id>",
    operation_id="deleteCampaign",
    tags=["campaigns"],
    summary="Delete a final or never-started campaign and its deliveries",
    responses=deletion_answers(404, 409, resumable=True),
)
def delete_campaign(campaign_id: str):
    return deleted(deletes.delete_campaign(caller(router), campaign_id, utcnow()))
