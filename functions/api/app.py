"""API Lambda: the resolver, the auth check and the handler of the HTTP API
(payload format 2.0). The routes live in `routes/`, one Router per resource; errors
become HTTP answers in one place (`campaigns.api.errors`). The user is the JWT's
`sub` claim as API Gateway's authorizer hands it over; nothing else identifies a caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from campaigns.api import openapi
from campaigns.api.bodies import load_json_body
from campaigns.api.errors import register_error_handlers, unauthorized_answer
from campaigns.config import settings
from campaigns.observability import logger, metrics, tracer

if __package__:  # imported as functions.api.app (the local stack, the tests)
    from .routes import campaigns, contact_lists, media, meta, optouts, sessions, templates, webhooks
    from .routes.params import dig, user_id_from
else:  # Lambda: app.py is a top-level module next to routes/
    from routes import campaigns, contact_lists, media, meta, optouts, sessions, templates, webhooks
    from routes.params import dig, user_id_from

PUBLIC_ROUTES = {("GET", "/health"), ("GET", "/openapi.json"), ("GET", "/docs"), ("POST", "/webhooks/waha")}

cors = CORSConfig(
    allow_origin=settings().frontend_origin, allow_headers=["Authorization", "Content-Type"], max_age=600
)
app = APIGatewayHttpResolver(enable_validation=True, cors=cors, json_body_deserializer=load_json_body)
register_error_handlers(app)
for resource in (meta, contact_lists, templates, media, sessions, campaigns, optouts, webhooks):
    app.include_router(resource.router)
openapi.enable_docs(app)  # GET /docs: Swagger UI


@app.get("/openapi.json", tags=["meta"], security=[{}], include_in_schema=False)
def openapi_json():
    return Response(HTTPStatus.OK.value, content_types.APPLICATION_JSON, openapi_document())


@lru_cache(maxsize=1)
def openapi_document() -> str:
    """The OpenAPI 3.1 document of this API, as JSON text (deterministic)."""
    return openapi.openapi_document(app)


def _needs_caller(event: Mapping[str, Any]) -> bool:
    method = str(dig(event, "requestContext", "http", "method") or "").upper()
    path = str(dig(event, "requestContext", "http", "path") or dig(event, "rawPath") or "")
    stage = dig(event, "requestContext", "stage")
    if isinstance(stage, str) and stage != "$default" and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1 :]
    # Browsers send CORS preflights without credentials.
    return method != "OPTIONS" and (method, path) not in PUBLIC_ROUTES


def _unauthorized(event: Mapping[str, Any]) -> dict[str, Any]:
    headers = dig(event, "headers")
    headers = headers if isinstance(headers, Mapping) else {}
    origin = next((v for k, v in headers.items() if str(k).lower() == "origin"), None)
    return unauthorized_answer(cors.to_dict(origin))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Checked before routing so that an unauthenticated request learns nothing, not
    # even whether its body would have been valid.
    if not isinstance(event, Mapping) or (_needs_caller(event) and user_id_from(event) is None):
        return _unauthorized(event if isinstance(event, Mapping) else {})
    return app.resolve(event, context)
