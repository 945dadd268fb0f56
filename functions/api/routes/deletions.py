"""How a DELETE answers: 204 when the item is gone, 202 (with a message) when a large
item is gone for every read but another DELETE must finish removing its contents."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response, content_types

from campaigns.api.models import DeletionPendingOut

STILL_DELETING = (
    "Deletion under way: it no longer appears anywhere, but not all of its items are deleted yet. "
    "Send the same DELETE again to finish."
)


def deleted(done: bool = True) -> Response:
    if done:
        return Response(HTTPStatus.NO_CONTENT.value, None, None)
    body = DeletionPendingOut(message=STILL_DELETING).model_dump_json(by_alias=True)
    return Response(HTTPStatus.ACCEPTED.value, content_types.APPLICATION_JSON, body)
