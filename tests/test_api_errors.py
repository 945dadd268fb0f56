"""The one mapping of errors to HTTP: each family of the domain's errors, and the
edge's own refusals, answer their status with `{"message", "details"?}`."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from campaigns.api.errors import BadRequest, register_error_handlers
from campaigns.data.pagination import InvalidPageToken
from campaigns.domain.errors import (
    CampaignNotFound,
    DomainError,
    Invalid,
    NotFound,
    QuotaExceeded,
    RunLost,
    StoreConflict,
    WrongState,
    WrongStatus,
)
from tests.api_events import http_event

DETAILS = [{"in": "body", "field": "name", "message": "required"}]

CASES = {
    "not found": (NotFound("Contact list not found"), 404, {"message": "Contact list not found"}),
    "campaign not found": (CampaignNotFound("cmp_1"), 404, {"message": "Campaign not found"}),
    "invalid": (Invalid("Invalid request: name: required", DETAILS), 422, None),
    "wrong state": (WrongState("The WhatsApp session 'a' is held by another user"), 409, None),
    "wrong status": (
        WrongStatus("cmp_1", "Completed", "pause"),
        409,
        {
            "message": "Cannot pause the campaign: it is Completed; only a Scheduled or Running "
            "campaign can be paused",
            "details": [{"status": "Completed", "action": "pause"}],
        },
    ),
    "store conflict": (
        StoreConflict(),
        409,
        {"message": "The campaign changed meanwhile; reload it and try again"},
    ),
    "run lost": (RunLost(), 409, {"message": "The campaign changed meanwhile; reload it and try again"}),
    "quota": (QuotaExceeded("At most 10 test sends a day per campaign"), 429, None),
    "page token": (InvalidPageToken(), 400, None),
    "unreadable body": (BadRequest("The request body is not valid JSON"), 400, None),
    "unmapped family": (DomainError("nobody mapped this"), 500, {"message": "Internal server error"}),
}


def resolver_raising(error: Exception) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    register_error_handlers(app)

    @app.get("/boom")
    def boom():
        raise error

    return app


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_error_family_answers_its_status_and_body(case):
    error, status, body = CASES[case]

    answer = resolver_raising(error).resolve(http_event("GET", "/boom"), None)

    assert answer["statusCode"] == status
    expected = body or {"message": error.message, **({"details": error.details} if error.details else {})}
    assert json.loads(answer["body"]) == expected
