"""The caller's opt-out list: read, add (JSON or CSV), remove.

Importing this router also installs the opt-out keyword rules as the hook for
inbound WhatsApp messages (`campaigns.inbound`), which `POST /webhooks/waha` hands
every `message` event from a contact to."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from campaigns.api import optouts
from campaigns.api.models import OptOutPage, OptOutsAddedOut
from campaigns.api.openapi import answers
from campaigns.data.pagination import DEFAULT_LIMIT
from campaigns.inbound import set_opt_out_hook
from campaigns.timeutil import utcnow

from .params import Limit, NextToken, caller, content_type

router = Router()
set_opt_out_hook(optouts.OptOutKeywords())


@router.get(
    "/opt-outs",
    operation_id="listOptOuts",
    tags=["opt-outs"],
    summary="The caller's opt-out list, in number order",
    responses=answers(200, "A page of the list", 400, 422),
)
def list_opt_outs(limit: Limit = DEFAULT_LIMIT, next_token: NextToken = None) -> OptOutPage:
    return optouts.list_opt_outs(caller(router), limit, next_token)


@router.post(
    "/opt-outs",
    operation_id="addOptOuts",
    tags=["opt-outs"],
    summary="Add numbers to the list: {phoneNumbers: [...]} or CSV (?defaultCountry= for national formats)",
    responses=answers(200, "What was added, and what was on the list already", 400, 422),
)
def add_opt_outs(
    default_country: Annotated[str | None, Query(alias="defaultCountry", max_length=8)] = None,
) -> OptOutsAddedOut:
    user_id = caller(router)
    request = optouts.parse_opt_outs_body(router.current_event.decoded_body, content_type(router))
    return optouts.add_opt_outs(user_id, request, default_country, utcnow())


@router.delete(
    "/opt-outs/<phone_number>",
    operation_id="removeOptOut",
    tags=["opt-outs"],
    summary="Take a number (E.164, URL-encoded: %2B14155550100) off the list",
    responses=answers(204, "Taken off the list", 404),
)
def remove_opt_out(phone_number: str):
    optouts.remove_opt_out(caller(router), phone_number)
    return Response(HTTPStatus.NO_CONTENT.value, None, None)
