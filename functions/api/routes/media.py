"""Media library items: create, list, delete."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from campaigns.api import deletes, library
from campaigns.api.models import CreateMediaItemIn, MediaItemOut, MediaItemPage
from campaigns.api.openapi import answers, deletion_answers
from campaigns.data.pagination import DEFAULT_LIMIT
from campaigns.timeutil import utcnow

from .deletions import deleted
from .params import Limit, NextToken, caller

router = Router()


@router.post(
    "/media-items",
    operation_id="createMediaItem",
    status_code=201,
    tags=["media"],
    responses=answers(201, "The new media item", 400, 422),
)
def create_media_item(body: CreateMediaItemIn) -> MediaItemOut:
    return library.create_media_item(caller(router), body.name, body.storage_path, body.mime_type, utcnow())


@router.get(
    "/media-items",
    operation_id="listMediaItems",
    tags=["media"],
    responses=answers(200, "The caller's media items", 400, 422),
)
def list_media_items(limit: Limit = DEFAULT_LIMIT, next_token: NextToken = None) -> MediaItemPage:
    return library.list_media_items(caller(router), limit, next_token)


@router.delete(
    "/media-items/<media_id>",
    operation_id="deleteMediaItem",
    tags=["media"],
    summary="Delete it (refused while an unfinished campaign uses it)",
    responses=deletion_answers(404, 409),
)
def delete_media_item(media_id: str):
    deletes.delete_media_item(caller(router), media_id)
    return deleted()
