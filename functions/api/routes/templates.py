"""Message templates: create, list, delete."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from campaigns.api import deletes, library
from campaigns.api.models import CreateTemplateIn, TemplateOut, TemplatePage
from campaigns.api.openapi import answers, deletion_answers
from campaigns.data.pagination import DEFAULT_LIMIT
from campaigns.timeutil import utcnow

from .deletions import deleted
from .params import Limit, NextToken, caller

router = Router()


@router.post(
    "/message-templates",
    operation_id="createMessageTemplate",
    status_code=201,
    tags=["templates"],
    responses=answers(201, "The new template", 400, 422),
)
def create_template(body: CreateTemplateIn) -> TemplateOut:
    return library.create_template(caller(router), body.name, body.text_content, utcnow())


@router.get(
    "/message-templates",
    operation_id="listMessageTemplates",
    tags=["templates"],
    responses=answers(200, "The caller's templates", 400, 422),
)
def list_templates(limit: Limit = DEFAULT_LIMIT, next_token: NextToken = None) -> TemplatePage:
    return library.list_templates(caller(router), limit, next_token)


@router.delete(
    "/message-templates/<template_id>",
    operation_id="deleteMessageTemplate",
    tags=["templates"],
    summary="Delete it (refused while an unfinished campaign uses it)",
    responses=deletion_answers(404, 409),
)
def delete_template(template_id: str):
    deletes.delete_template(caller(router), template_id)
    return deleted()
