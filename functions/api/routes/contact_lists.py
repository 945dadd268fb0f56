"""Contact lists: create (JSON or CSV), append, read, list, delete."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from campaigns.api import deletes, library
from campaigns.api.bodies import parse_contacts_request
from campaigns.api.models import AppendContactsIn, ContactListOut, ContactListPage, CreateContactListIn
from campaigns.api.openapi import answers, deletion_answers
from campaigns.data.pagination import DEFAULT_LIMIT
from campaigns.timeutil import utcnow

from .deletions import deleted
from .params import Limit, NextToken, caller, content_type

router = Router()


@router.post(
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
    user_id = caller(router)
    request = parse_contacts_request(
        CreateContactListIn,
        router.current_event.decoded_body,
        content_type(router),
        name=name,
        defaultCountry=default_country,
    )
    return library.create_contact_list(
        user_id, request.name, request.contacts, utcnow(), request.default_country
    )


@router.post(
    "/contact-lists/<list_id>/contacts",
    operation_id="appendContacts",
    tags=["contact lists"],
    summary="Append contacts in order (JSON or CSV)",
    responses=answers(200, "The list after the append", 400, 404, 422),
)
def append_contacts(list_id: str) -> ContactListOut:
    user_id = caller(router)
    body = router.current_event.decoded_body
    request = parse_contacts_request(AppendContactsIn, body, content_type(router))
    return library.append_contacts(user_id, list_id, request.contacts, utcnow())


@router.get(
    "/contact-lists",
    operation_id="listContactLists",
    tags=["contact lists"],
    responses=answers(200, "The caller's lists", 400, 422),
)
def list_contact_lists(limit: Limit = DEFAULT_LIMIT, next_token: NextToken = None) -> ContactListPage:
    return library.list_contact_lists(caller(router), limit, next_token)


@router.get(
    "/contact-lists/<list_id>",
    operation_id="getContactList",
    tags=["contact lists"],
    responses=answers(200, "The list", 404),
)
def get_contact_list(list_id: str) -> ContactListOut:
    return library.get_contact_list(caller(router), list_id)


@router.delete(
    "/contact-lists/<list_id>",
    operation_id="deleteContactList",
    tags=["contact lists"],
    summary="Delete the list and every contact in it (refused while an unfinished campaign uses it)",
    responses=deletion_answers(404, 409, resumable=True),
)
def delete_contact_list(list_id: str):
    return deleted(deletes.delete_contact_list(caller(router), list_id, utcnow()))
