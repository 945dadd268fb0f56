"""API Lambda: every route of the HTTP API (payload format 2.0), one function.

Routes parse, call a use case from the `campaigns` package, and return the answer's
model. Bodies and answers are validated against the pydantic models in
`campaigns.api.models`, which also generate the OpenAPI document served at
GET /openapi.json. Errors are mapped
to HTTP in one place (`campaigns.api.errors`). The user is the JWT's `sub` claim as API
Gateway's authorizer hands it over; nothing else identifies a caller.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from campaigns.api import campaigns as campaign_service
from campaigns.api import library
from campaigns.api.bodies import load_json_body, parse_contacts_request
from campaigns.api.errors import UNAUTHORIZED, Unauthorized, error_body, register_error_handlers
from campaigns.api.models import (
    AppendContactsIn,
    CampaignOut,
    CampaignPage,
    ContactListOut,
    ContactListPage,
    CreateCampaignIn,
    CreateContactListIn,
    CreateMediaItemIn,
    CreateTemplateIn,
    DeliveryPage,
    HealthOut,
    MediaItemOut,
    MediaItemPage,
    RegisterSessionIn,
    SessionOut,
    SessionPage,
    TemplateOut,
    TemplatePage,
)
from campaigns.api.openapi import answers, error_answers
from campaigns.api.openapi import openapi_document as build_openapi_document
from campaigns.data.pagination import DEFAULT_LIMIT, MAX_LIMIT, MAX_TOKEN_CHARS
from campaigns.domain.statuses import DeliveryStatus
from campaigns.observability import logger, metrics, tracer
from campaigns.timeutil import utcnow

PUBLIC_ROUTES = frozenset({("GET", "/health"), ("GET", "/openapi.json")})
MAX_USER_ID_CHARS = 256

cors = CORSConfig(
    allow_origin=os.environ.get("FRONTEND_ORIGIN", "*"),
    allow_headers=["Authorization", "Content-Type"],
    max_age=600,
)
app = APIGatewayHttpResolver(
    enable_validation=True,
    cors=cors,
    json_body_deserializer=load_json_body,
)
register_error_handlers(app)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
NextToken = Annotated[
    str | None,
    Query(alias="nextToken", max_length=MAX_TOKEN_CHARS, description="From the previous page's answer."),
]


# ------------------------------------------------------------------ the caller


def _dig(node: Any, *keys: str) -> Any:
    """event["a"]["b"]... or None, whatever shape a directly invoked event has."""
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def user_id_from(event: Any) -> str | None:
    """The authorizer's `sub` claim, or None when there is no usable one."""
    sub = _dig(event, "requestContext", "authorizer", "jwt", "claims", "sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_USER_ID_CHARS:
        return None
    return sub


def caller() -> str:
    user_id = user_id_from(app.current_event.raw_event)
    if user_id is None:
        raise Unauthorized()
    logger.append_keys(user_id=user_id)
    return user_id


def _needs_caller(event: Mapping[str, Any]) -> bool:
    method = str(_dig(event, "requestContext", "http", "method") or "").upper()
    path = str(_dig(event, "requestContext", "http", "path") or _dig(event, "rawPath") or "")
    stage = _dig(event, "requestContext", "stage")
    if isinstance(stage, str) and stage != "$default" and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1 :]
    # Browsers send CORS preflights without credentials.
    return method != "OPTIONS" and (method, path) not in PUBLIC_ROUTES


def _unauthorized(event: Mapping[str, Any]) -> dict[str, Any]:
    headers = _dig(event, "headers")
    headers = headers if isinstance(headers, Mapping) else {}
    origin = next((v for k, v in headers.items() if str(k).lower() == "origin"), None)
    return {
        "statusCode": HTTPStatus.UNAUTHORIZED.value,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **cors.to_dict(origin)},
        "body": json.dumps(error_body(UNAUTHORIZED)),
        "isBase64Encoded": False,
    }


def _count(metric: str) -> None:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


def _content_type() -> str:
    headers = app.current_event.headers or {}
    return next((v for k, v in headers.items() if k.lower() == "content-type"), "") or ""


# ------------------------------------------------------------------------ meta


@app.get(
    "/health",
    operation_id="health",
    tags=["meta"],
    security=[{}],
    responses=answers(200, "Alive", authed=False),
)
def health() -> HealthOut:
    return HealthOut(status="ok")


@app.get("/openapi.json", tags=["meta"], security=[{}], include_in_schema=False)
def openapi_json():
    return Response(HTTPStatus.OK.value, content_types.APPLICATION_JSON, openapi_document())


# --------------------------------------------------------------- contact lists


@app.post(
    "/contact-lists",
    operation_id="createContactList",
    status_code=201,
    tags=["contact lists"],
    summary="Create a contact list (JSON, or CSV with ?name=&defaultCountry=)",
    responses=answers(201, "The new list", 400, 422),
)
def create_contact_list(
    name: Annotated[str | None, Query(max_length=200)] = None,
    default_country: Annotated[str | None, Query(alias="defaultCountry", max_length=8)] = None,
) -> ContactListOut:
    user_id = caller()
    body, content_type = app.current_event.decoded_body, _content_type()
    request = parse_contacts_request(
        CreateContactListIn, body, content_type, name=name, defaultCountry=default_country
    )
    return library.create_contact_list(
        user_id, request.name, request.contacts, utcnow(), request.default_country
    )


@app.post(
    "/contact-lists/<list_id>/contacts",
    operation_id="appendContacts",
    tags=["contact lists"],
    summary="Append contacts in order (JSON or CSV)",
    responses=answers(200, "The list after the append", 400, 404, 422),
)
def append_contacts(list_id: str) -> ContactListOut:
    user_id = caller()
    request = parse_contacts_request(AppendContactsIn, app.current_event.decoded_body, _content_type())
    return library.append_contacts(user_id, list_id, request.contacts, utcnow())


@app.get(
    "/contact-lists",
    operation_id="listContactLists",
    tags=["contact lists"],
    responses=answers(200, "The caller's lists", 400, 422),
)
def list_contact_lists(limit: Limit = DEFAULT_LIMIT, next_token: NextToken = None) -> ContactListPage:
    return library.list_contact_lists(caller(), limit, next_token)


@app.get(
    "/contact-lists/<list_id>",
    operation_id="getContactList",
    tags=["contact lists"],
    responses=answers(200, "The list", 404),
)
def get_contact_list(list_id: str) -> ContactListOut:
    return library.get_contact_list(caller(), list_id)


# ------------------------------------------------------------ templates, media


@app.post(
    "/message-templates",
    operation_id="createMessageTemplate",
    status_code=201,
    tags=["templates"],
    responses=answers(201, "The new template", 400, 422),
)
def create_template(body: CreateTemplateIn) -> TemplateOut:
    return library.create_template(caller(), body.name, body.text_content, utcnow())


@app.get(
    "/message-templates",
    operation_id="listMessageTemplates",
    tags=["templates"],
    responses=answers(200, "The caller's templates", 400, 422),
)
def list_templates(limit: Limit = DEFAULT_LIMIT, next_token: NextToken = None) -> TemplatePage:
    return library.list_templates(caller(), limit, next_token)


@app.post(
    "/media-items",
    operation_id="createMediaItem",
    status_code=201,
    tags=["media"],
    responses=answers(201, "The new media item", 400, 422),
)
def create_media_item(body: CreateMediaItemIn) -> MediaItemOut:
    return library.create_media_item(caller(), body.name, body.storage_path, body.mime_type, utcnow())


@app.get(
    "/media-items",
    operation_id="listMediaItems",
    tags=["media"],
    responses=answers(200, "The caller's media items", 400, 422),
)
def list_media_items(limit: Limit = DEFAULT_LIMIT, next_token: NextToken = None) -> MediaItemPage:
    return library.list_media_items(caller(), limit, next_token)


# ---------------------------------------------------------- WhatsApp sessions


@app.post(
    "/whatsapp-sessions",
    operation_id="registerWhatsAppSession",
    tags=["sessions"],
    summary="Hold a WAHA session name (a WhatsApp number)",
    responses={
        201: {"description": "Now held by the caller"},
        200: {"description": "Already held by the caller: nothing changed"},
        **error_answers(400, 401, 409, 422, 500),
    },
)
def register_session(body: RegisterSessionIn) -> Response[SessionOut]:
    session, created = library.register_session(caller(), body.name, utcnow())
    code = HTTPStatus.CREATED if created else HTTPStatus.OK
    return Response(code.value, content_types.APPLICATION_JSON, session)


@app.get(
    "/whatsapp-sessions",
    operation_id="listWhatsAppSessions",
    tags=["sessions"],
    responses=answers(200, "The caller's sessions, live status", 400, 422),
)
def list_sessions(limit: Limit = DEFAULT_LIMIT, next_token: NextToken = None) -> SessionPage:
    return library.list_sessions(caller(), limit, next_token)


# ------------------------------------------------------------------- campaigns


@app.post(
    "/campaigns",
    operation_id="createCampaign",
    status_code=201,
    tags=["campaigns"],
    responses=answers(201, "Scheduled", 400, 422),
)
def create_campaign(body: CreateCampaignIn) -> CampaignOut:
    return campaign_service.create_campaign(caller(), body, utcnow())


@app.get(
    "/campaigns",
    operation_id="listCampaigns",
    tags=["campaigns"],
    responses=answers(200, "The caller's campaigns, newest first", 400, 422),
)
def list_campaigns(limit: Limit = DEFAULT_LIMIT, next_token: NextToken = None) -> CampaignPage:
    return campaign_service.list_campaigns(caller(), limit, next_token)


@app.get(
    "/campaigns/<campaign_id>",
    operation_id="getCampaign",
    tags=["campaigns"],
    responses=answers(200, "The campaign and progress", 404),
)
def get_campaign(campaign_id: str) -> CampaignOut:
    return campaign_service.get_campaign(caller(), campaign_id)


@app.post(
    "/campaigns/<campaign_id>/run",
    operation_id="runCampaign",
    status_code=202,
    tags=["campaigns"],
    summary="Start now (Scheduled or Paused); the runner is invoked asynchronously",
    responses=answers(202, "Accepted: the runner is starting", 404, 409),
)
def run_campaign(campaign_id: str) -> CampaignOut:
    campaign = campaign_service.run_campaign(caller(), campaign_id, utcnow())
    _count("CampaignRunRequested")
    return campaign


@app.post(
    "/campaigns/<campaign_id>/resume",
    operation_id="resumeCampaign",
    status_code=202,
    tags=["campaigns"],
    summary="Paused -> Scheduled, and the runner is invoked at once",
    responses=answers(202, "Accepted: the runner is starting", 404, 409),
)
def resume_campaign(campaign_id: str) -> CampaignOut:
    campaign = campaign_service.resume_campaign(caller(), campaign_id, utcnow())
    _count("CampaignResumed")
    return campaign


@app.post(
    "/campaigns/<campaign_id>/pause",
    operation_id="pauseCampaign",
    tags=["campaigns"],
    summary="Scheduled or Running -> Paused",
    responses=answers(200, "Paused", 404, 409),
)
def pause_campaign(campaign_id: str) -> CampaignOut:
    campaign = campaign_service.pause_campaign(caller(), campaign_id, utcnow())
    _count("CampaignPaused")
    return campaign


@app.post(
    "/campaigns/<campaign_id>/cancel",
    operation_id="cancelCampaign",
    tags=["campaigns"],
    summary="Scheduled, Running or Paused -> Cancelled",
    responses=answers(200, "Cancelled", 404, 409),
)
def cancel_campaign(campaign_id: str) -> CampaignOut:
    campaign = campaign_service.cancel_campaign(caller(), campaign_id, utcnow())
    _count("CampaignCancelled")
    return campaign


@app.get(
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
    return campaign_service.list_deliveries(caller(), campaign_id, status, limit, next_token)


# ------------------------------------------------------------ OpenAPI document


@lru_cache(maxsize=1)
def openapi_document() -> str:
    """The OpenAPI 3.1 document of this API, as JSON text (deterministic)."""
    return build_openapi_document(app)


# ---------------------------------------------------------------------- handler


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Checked before routing so that an unauthenticated request learns nothing, not
    # even whether its body would have been valid.
    if not isinstance(event, Mapping) or (_needs_caller(event) and user_id_from(event) is None):
        return _unauthorized(event if isinstance(event, Mapping) else {})
    return app.resolve(event, context)
