"""WhatsApp sessions: hold a WAHA session name, list the caller's with live status."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from campaigns.api import library
from campaigns.api.models import RegisterSessionIn, SessionOut, SessionPage
from campaigns.api.openapi import answers, error_answers
from campaigns.data.pagination import DEFAULT_LIMIT
from campaigns.timeutil import utcnow

from .params import Limit, NextToken, caller

router = Router()


@router.post(
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
    session, created = library.register_session(caller(router), body.name, utcnow())
    code = HTTPStatus.CREATED if created else HTTPStatus.OK
    return Response(code.value, content_types.APPLICATION_JSON, session)


@router.get(
    "/whatsapp-sessions",
    operation_id="listWhatsAppSessions",
    tags=["sessions"],
    responses=answers(200, "The caller's sessions, live status", 400, 422),
)
def list_sessions(limit: Limit = DEFAULT_LIMIT, next_token: NextToken = None) -> SessionPage:
    return library.list_sessions(caller(router), limit, next_token)
