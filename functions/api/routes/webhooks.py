"""WAHA's webhooks, a public route: no JWT, the signature is the authentication
(`campaigns.api.webhooks` checks it before reading the body)."""

from __future__ import annotations

import base64
import binascii

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from campaigns.api import webhooks
from campaigns.api.models import ErrorOut
from campaigns.api.openapi import answers
from campaigns.timeutil import utcnow

router = Router()


def _raw_body() -> bytes | None:
    event = router.current_event
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


@router.post(
    "/webhooks/waha",
    operation_id="receiveWahaWebhook",
    tags=["webhooks"],
    security=[{}],
    summary="WAHA's webhook (message.ack, message, session.status), signed with the session's key",
    responses={
        **answers(200, "Taken: acted on, or a repeat of an event already taken", 400, 401, 409, authed=False),
        401: {
            "description": "Missing, bad or stale signature",
            "content": {"application/json": {"model": ErrorOut}},
        },
        409: {
            "description": "Not recorded now; WAHA retries it",
            "content": {"application/json": {"model": ErrorOut}},
        },
    },
)
def receive_waha_webhook() -> Response[ErrorOut]:
    raw = _raw_body()
    params = router.current_event.query_string_parameters or {}
    headers = router.current_event.headers or {}
    answer = webhooks.receive(params.get("session"), headers, raw, utcnow())
    return Response(answer.status, content_types.APPLICATION_JSON, {"message": answer.message})
