"""GET /docs: Swagger UI, public like /openapi.json; the new routes' answers are documented."""

from __future__ import annotations

import json

import pytest

from tests.api_events import ApiClient


def test_docs_serve_swagger_ui_without_a_token(refused):
    answer = ApiClient(None).get("/docs")

    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/html"
    assert "SwaggerUIBundle" in answer.text
    assert "bearerAuth" in answer.text


def test_every_other_new_route_still_needs_a_token(refused):
    for method, path in [
        ("DELETE", "/contact-lists/x"),
        ("DELETE", "/message-templates/x"),
        ("DELETE", "/media-items/x"),
        ("DELETE", "/campaigns/x"),
        ("POST", "/campaigns/x/test"),
        ("POST", "/campaigns/x/retry"),
        ("GET", "/campaigns/x/deliveries.csv"),
    ]:
        assert ApiClient(None).call(method, path).status == 401, (method, path)


@pytest.fixture(scope="module")
def document():
    return json.loads(ApiClient(None).get("/openapi.json").text)


@pytest.mark.parametrize(
    ("method", "path", "codes"),
    [
        ("delete", "/contact-lists/{list_id}", {"202", "204", "401", "404", "409", "422", "500"}),
        ("delete", "/message-templates/{template_id}", {"204", "401", "404", "409", "422", "500"}),
        ("delete", "/media-items/{media_id}", {"204", "401", "404", "409", "422", "500"}),
        ("delete", "/campaigns/{campaign_id}", {"202", "204", "401", "404", "409", "422", "500"}),
        ("post", "/campaigns/{campaign_id}/test", {"202", "400", "401", "404", "409", "422", "429", "500"}),
        ("post", "/campaigns/{campaign_id}/retry", {"201", "400", "401", "404", "409", "422", "500"}),
        ("get", "/campaigns/{campaign_id}/deliveries.csv", {"200", "303", "401", "404", "422", "500"}),
        ("get", "/docs", {"200"}),
    ],
)
def test_the_document_lists_every_answer_of_the_new_routes(document, method, path, codes):
    assert set(document["paths"][path][method]["responses"]) == codes


def test_the_csv_answer_is_documented_as_text_csv_or_a_link_for_pages(document):
    ok = document["paths"]["/campaigns/{campaign_id}/deliveries.csv"]["get"]["responses"]["200"]

    assert set(ok["content"]) == {"text/csv", "application/json"}
    link = ok["content"]["application/json"]["schema"]
    assert link["$ref"].endswith("/ExportLinkOut")
    assert document["paths"]["/docs"]["get"]["security"] == [{}]
