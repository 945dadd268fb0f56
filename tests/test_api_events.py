"""The sample events in events/api-*.json (the ones `sam local invoke` uses), fed to
the API handler against a small world seeded with the ids they name."""

from __future__ import annotations

import json
import re

import pytest

from campaigns.data.models import (
    Campaign,
    Contact,
    ContactList,
    Delivery,
    MediaLibraryItem,
    MessageTemplate,
    OptOut,
)
from campaigns.domain.statuses import CampaignStatus
from campaigns.invoker import runner_event
from campaigns.timeutil import utcnow
from tests.api_events import EVENTS_DIR, invoke, load_event

SUB = "3f6c2b1e-8d4a-4c7e-9b21-5a0f7d3e6c48"
LIST_ID = "list_0193a1b2c3d4e5f6a7b8c9"
CAMPAIGN_ID = "cmp_0193a1b2c3d4aa01bb02cc"
TEMPLATE_ID = "tpl_0193a1b2c3d4e1f2a3b4c5"
MEDIA_ID = "media_0193a1b2c3d4d1e2f3a4b5"
SESSION_ID = "wa_0193a1b2c3d4f1e2d3c4b5"

EXPECTED_STATUS = {
    "api-health.json": 200,
    "api-openapi.json": 200,
    "api-create-contact-list.json": 201,
    "api-create-contact-list-csv.json": 201,
    "api-append-contacts.json": 200,
    "api-append-contacts-csv.json": 200,
    "api-get-contact-lists.json": 200,
    "api-get-contact-list.json": 200,
    "api-create-message-template.json": 201,
    "api-get-message-templates.json": 200,
    "api-create-media-item.json": 201,
    "api-get-media-items.json": 200,
    # No MEDIA_BUCKET here (as `sam local invoke` without one): uploads are off.
    "api-create-media-upload.json": 409,
    "api-create-whatsapp-session.json": 201,
    "api-get-whatsapp-sessions.json": 200,
    "api-get-whatsapp-session.json": 200,
    # Dry run: a session is WORKING at once, so there is no QR code and nothing to pair.
    "api-get-whatsapp-session-qr.json": 409,
    "api-request-whatsapp-pairing-code.json": 409,
    "api-change-whatsapp-session.json": 200,
    "api-delete-whatsapp-session.json": 204,
    # Its signature is not the session's: refused before the body is read.
    "api-waha-webhook.json": 401,
    "api-create-campaign.json": 201,
    "api-get-campaigns.json": 200,
    "api-get-campaign.json": 200,
    "api-run.json": 202,
    "api-resume.json": 202,
    "api-pause.json": 200,
    "api-cancel.json": 200,
    "api-get-deliveries.json": 200,
    "api-get-opt-outs.json": 200,
    "api-add-opt-outs.json": 200,
    "api-add-opt-outs-csv.json": 200,
    "api-remove-opt-out.json": 204,
    "api-export-deliveries.json": 200,
    "api-send-test-message.json": 202,
    # The sample campaign is Scheduled: not final, so it cannot be retried, and it
    # holds its list and template; never started, so it can be deleted.
    "api-retry-campaign.json": 409,
    "api-delete-contact-list.json": 409,
    "api-delete-message-template.json": 409,
    "api-delete-media-item.json": 204,
    "api-delete-campaign.json": 204,
    "api-docs.json": 200,
}
API_EVENTS = sorted(path.name for path in EVENTS_DIR.glob("api-*.json"))


def seed_world(campaign_status: CampaignStatus) -> None:
    """What the sample events refer to, owned by their `sub`."""
    from campaigns.data.models import WhatsAppSession

    now = utcnow()
    WhatsAppSession(
        name="default", user_id=SUB, id=SESSION_ID, status="WORKING", daily_limit=1000, created_at=now
    ).save()
    ContactList(user_id=SUB, id=LIST_ID, name="Customers", contact_count=2, created_at=now).save()
    for index, (phone, name) in enumerate([("+34600000001", "Ana"), ("+34600000002", None)]):
        Contact(list_id=LIST_ID, index=index, phone_number=phone, first_name=name).save()
    MessageTemplate(user_id=SUB, id=TEMPLATE_ID, name="Hi", text_content="Hi {Name}", created_at=now).save()
    OptOut(user_id=SUB, phone_number="+34600000002", opted_out_at=now, source="manual").save()
    MediaLibraryItem(
        user_id=SUB,
        id=MEDIA_ID,
        name="Banner",
        storage_path="https://cdn.example.com/b.jpg",
        mime_type="image/jpeg",
        created_at=now,
    ).save()
    Campaign(
        id=CAMPAIGN_ID,
        user_id=SUB,
        name="Spring",
        status=campaign_status.value,
        contact_list_id=LIST_ID,
        message_template_id=TEMPLATE_ID,
        default_name_value="friend",
        whatsapp_session_id=SESSION_ID,
        waha_session="default",
        min_delay_ms=0,
        max_delay_ms=0,
        created_at=now,
        total_contacts=2,
    ).save()
    Delivery(
        campaign_id=CAMPAIGN_ID,
        contact_index=0,
        phone_number="+34600000001",
        status="Sent",
        message_id="m1",
        at=now,
    ).save()


def test_every_api_sample_event_has_an_expected_answer():
    assert set(API_EVENTS) == set(EXPECTED_STATUS)


def test_every_route_of_the_openapi_document_has_a_sample_event():
    document = json.loads(invoke(load_event("api-openapi.json")).text)
    routes = {
        (method.upper(), re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$"))
        for path, operations in document["paths"].items()
        for method in operations
    }
    covered = set()
    for name in API_EVENTS:
        event = load_event(name)
        http = event["requestContext"]["http"]
        covered |= {(m, p.pattern) for m, p in routes if m == http["method"] and p.match(event["rawPath"])}

    assert covered == {(m, p.pattern) for m, p in routes}


@pytest.mark.parametrize("name", API_EVENTS)
def test_sample_event_gets_its_answer(tables, invoker, name):
    event = load_event(name)
    seed_world(CampaignStatus.PAUSED if name == "api-resume.json" else CampaignStatus.SCHEDULED)

    answer = invoke(event)

    assert answer.status == EXPECTED_STATUS[name], answer.text
    if answer.headers.get("Content-Type", "").startswith("text/"):  # the CSV export, Swagger UI
        assert answer.text
    else:
        assert answer.json is not None or answer.status == 204
    if name in ("api-run.json", "api-resume.json"):
        assert invoker.events == [runner_event(CAMPAIGN_ID)]
    else:
        assert invoker.events == []


def test_sample_events_are_payload_2_0_with_the_authorizers_claims():
    for name in API_EVENTS:
        event = load_event(name)
        assert event["version"] == "2.0"
        assert event["rawPath"] == event["requestContext"]["http"]["path"]
        public = event["rawPath"] in ("/health", "/openapi.json", "/docs", "/webhooks/waha")
        claims = event["requestContext"].get("authorizer", {}).get("jwt", {}).get("claims", {})
        assert (claims.get("sub") == SUB) != public, name
