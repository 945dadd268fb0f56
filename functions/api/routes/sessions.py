"""WhatsApp sessions (numbers): connect one (the server names and starts its WAHA
session), list and read them, pair with a QR code or a pairing code, change the
label and daily limit, delete. Another user's session is 404, whatever the route."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from campaigns.api import sessions as session_service
from campaigns.api.models import (
    ChangeSessionIn,
    CreateSessionIn,
    PairingCodeIn,
    PairingCodeOut,
    QrValueOut,
    SessionOut,
    SessionPage,
)
from campaigns.api.openapi import answers
from campaigns.data.pagination import DEFAULT_LIMIT
from campaigns.timeutil import utcnow

from .params import Limit, NextToken, caller

router = Router()
TAGS = ["sessions"]


@router.post(
    "/whatsapp-sessions",
    operation_id="createWhatsAppSession",
    status_code=201,
    tags=TAGS,
    summary="Connect a WhatsApp number: a new WAHA session, named by the server",
    responses=answers(201, "Created and starting; pair it with its QR code", 400, 409, 429),
)
def create_session(body: CreateSessionIn) -> SessionOut:
    return session_service.create_session(caller(router), body, utcnow())


@router.get(
    "/whatsapp-sessions",
    operation_id="listWhatsAppSessions",
    tags=TAGS,
    responses=answers(200, "The caller's sessions, with the status WAHA last reported", 400),
)
def list_sessions(limit: Limit = DEFAULT_LIMIT, next_token: NextToken = None) -> SessionPage:
    return session_service.list_sessions(caller(router), limit, next_token)


@router.get(
    "/whatsapp-sessions/<session_id>",
    operation_id="getWhatsAppSession",
    tags=TAGS,
    responses=answers(200, "The session with WAHA's live status", 404),
)
def get_session(session_id: str) -> SessionOut:
    return session_service.get_session(caller(router), session_id, utcnow())


@router.get(
    "/whatsapp-sessions/<session_id>/qr",
    operation_id="getWhatsAppSessionQr",
    tags=TAGS,
    summary="The pairing QR code: image/png, or {value} with Accept: application/json",
    responses={
        200: {
            "description": "The QR code to scan in WhatsApp (Linked devices)",
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"model": QrValueOut},
            },
        },
        **{k: v for k, v in answers(200, "", 404, 409).items() if k != 200},
    },
)
def get_qr(session_id: str):  # PNG or JSON: no one model to validate the answer against
    accept = next((v for k, v in (router.current_event.headers or {}).items() if k.lower() == "accept"), "")
    raw = "application/json" in (accept or "").lower()
    qr = session_service.session_qr(caller(router), session_id, raw)
    if raw:
        return Response(200, content_types.APPLICATION_JSON, QrValueOut(value=qr.value or ""))
    return Response(200, "image/png", qr.png or b"", headers={"Cache-Control": "no-store"})


@router.post(
    "/whatsapp-sessions/<session_id>/pairing-code",
    operation_id="requestWhatsAppPairingCode",
    tags=TAGS,
    summary="A code to type on the phone instead of scanning the QR code",
    responses=answers(200, "The code", 400, 404, 409),
)
def pairing_code(session_id: str, body: PairingCodeIn) -> PairingCodeOut:
    return session_service.pairing_code(caller(router), session_id, body.phone_number)


@router.patch(
    "/whatsapp-sessions/<session_id>",
    operation_id="changeWhatsAppSession",
    tags=TAGS,
    responses=answers(200, "Changed", 400, 404),
)
def change_session(session_id: str, body: ChangeSessionIn) -> SessionOut:
    return session_service.change_session(caller(router), session_id, body, utcnow())


@router.delete(
    "/whatsapp-sessions/<session_id>",
    operation_id="deleteWhatsAppSession",
    tags=TAGS,
    summary="Log the number out and delete its WAHA session",
    responses={
        204: {"description": "Deleted"},
        **{k: v for k, v in answers(204, "", 404, 409).items() if k != 204},
    },
)
def delete_session(session_id: str):
    session_service.delete_session(caller(router), session_id, utcnow())
    return Response(HTTPStatus.NO_CONTENT.value)
