"""The OpenAPI document: served at GET /openapi.json, a valid OpenAPI 3 document,
listing every contract route with its answers, and the copy in docs/ is current."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from scripts import export_openapi
from tests.api_events import ApiClient

CONTRACT_ROUTES = [
    ("get", "/health", "200"),
    ("get", "/openapi.json", "200"),
    ("get", "/docs", "200"),
    ("post", "/contact-lists", "201"),
    ("post", "/contact-lists/{list_id}/contacts", "200"),
    ("get", "/contact-lists", "200"),
    ("get", "/contact-lists/{list_id}", "200"),
    ("post", "/message-templates", "201"),
    ("get", "/message-templates", "200"),
    ("post", "/media-items", "201"),
    ("post", "/whatsapp-sessions", "201"),
    ("get", "/whatsapp-sessions", "200"),
    ("get", "/whatsapp-sessions/{session_id}", "200"),
    ("get", "/whatsapp-sessions/{session_id}/qr", "200"),
    ("post", "/whatsapp-sessions/{session_id}/pairing-code", "200"),
    ("patch", "/whatsapp-sessions/{session_id}", "200"),
    ("delete", "/whatsapp-sessions/{session_id}", "204"),
    ("post", "/webhooks/waha", "200"),
    ("post", "/campaigns", "201"),
    ("get", "/campaigns", "200"),
    ("get", "/campaigns/{campaign_id}", "200"),
    ("post", "/campaigns/{campaign_id}/run", "202"),
    ("post", "/campaigns/{campaign_id}/resume", "202"),
    ("post", "/campaigns/{campaign_id}/pause", "200"),
    ("post", "/campaigns/{campaign_id}/cancel", "200"),
    ("get", "/campaigns/{campaign_id}/deliveries", "200"),
    ("get", "/campaigns/{campaign_id}/deliveries.csv", "200"),
    ("post", "/campaigns/{campaign_id}/test", "202"),
    ("post", "/campaigns/{campaign_id}/retry", "201"),
    ("delete", "/campaigns/{campaign_id}", "204"),
    ("delete", "/contact-lists/{list_id}", "204"),
    ("delete", "/message-templates/{template_id}", "204"),
    ("delete", "/media-items/{media_id}", "204"),
]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    answer = ApiClient(None).get("/openapi.json")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    return answer.json


def operations(document: dict[str, Any]):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_the_served_document_is_a_valid_openapi_3_document(document):
    validate(document)

    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "WhatsApp Campaign Runner API"
    assert document["info"]["version"]


def test_every_contract_route_is_documented_with_its_success_answer(document):
    for method, path, status in CONTRACT_ROUTES:
        assert status in document["paths"][path][method]["responses"], (method, path, status)


def test_the_api_needs_a_bearer_jwt_except_for_health_and_the_document(document):
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The JWT's sub is the user",
    }
    assert document["security"] == [{"bearerAuth": []}]
    for _, path, operation in operations(document):
        public = path in ("/health", "/openapi.json", "/docs", "/webhooks/waha")
        assert (operation.get("security") == [{}]) == public, path
        # The webhook's 401 is a bad signature, not a missing user.
        assert ("401" in operation["responses"]) != public or path == "/webhooks/waha", path


def test_errors_are_documented_with_the_error_shape(document):
    for _, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (path, status)


def test_contact_uploads_document_json_and_csv(document):
    for path in ("/contact-lists", "/contact-lists/{list_id}/contacts"):
        content = document["paths"][path]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", "text/csv"}
        assert (
            content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            in document["components"]["schemas"]
        )


def test_request_models_refuse_unknown_fields(document):
    schemas = document["components"]["schemas"]
    for name in ("CreateCampaignIn", "CreateContactListIn", "AppendContactsIn", "CreateTemplateIn"):
        assert schemas[name]["additionalProperties"] is False


def test_operation_ids_are_unique_and_readable(document):
    ids = [operation["operationId"] for _, _, operation in operations(document)]

    assert len(ids) == len(set(ids))
    assert "runCampaign" in ids and "resumeCampaign" in ids


def test_docs_openapi_json_is_up_to_date():
    assert export_openapi.main(["--check"]) == 0, "run `make openapi`"


def test_the_export_is_deterministic(tmp_path):
    from functions.api.app import openapi_document

    first = tmp_path / "a.json"
    export_openapi.main(["--output", str(first)])
    openapi_document.cache_clear()
    second = tmp_path / "b.json"
    export_openapi.main(["--output", str(second)])

    assert first.read_text() == second.read_text()
    assert json.loads(first.read_text())["openapi"].startswith("3.")


def test_answers_match_their_documented_schemas(document, build):
    """What a frontend generated from the document reads is what the API sends."""
    campaign = build.campaign(2)
    alice = ApiClient("user-a")

    def validator(name: str) -> Draft202012Validator:
        return Draft202012Validator(
            {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        )

    validator("CampaignOut").validate(alice.get(f"/campaigns/{campaign.id}").json)
    validator("CampaignPage").validate(alice.get("/campaigns").json)
    validator("ContactListPage").validate(alice.get("/contact-lists").json)
    validator("SessionPage").validate(alice.get("/whatsapp-sessions").json)
    validator("DeliveryPage").validate(alice.get(f"/campaigns/{campaign.id}/deliveries").json)
    validator("ErrorOut").validate(alice.get("/campaigns/cmp_missing").json)
    validator("ErrorOut").validate(alice.post("/campaigns", {"bad": 1}).json)
