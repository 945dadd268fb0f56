"""Media library items: create (a URL, or a file to upload to the media bucket), list, delete."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from campaigns.api import deletes, library
from campaigns.api.models import CreateMediaItemIn, MediaItemOut, MediaItemPage, MediaUploadIn, MediaUploadOut
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


@router.post(
    "/media-items/upload-url",
    operation_id="createMediaUpload",
    status_code=201,
    tags=["media"],
    summary="A media item for a file to upload, and the presigned form that uploads it",
    description="POST the file to `uploadUrl` as multipart/form-data: every entry of `fields` "
    "first, then the file in a field named `file`. The storage refuses another type, a file "
    "larger than `sizeBytes` and a form past `expiresAt`; a campaign can use the item once "
    "its file has arrived.",
    responses=answers(201, "The upload form and the new media item", 400, 409, 422),
)
def create_media_upload(body: MediaUploadIn) -> MediaUploadOut:
    return library.create_media_upload(caller(router), body, utcnow())


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
