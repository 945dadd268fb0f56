"""Powertools singletons shared by every function: one Logger, Tracer and Metrics."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "whatsapp-campaigns")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "WhatsAppCampaigns")

# The libraries X-Ray patches: only those the function calls (the template sets
# TRACER_PATCH_MODULES per function). Patching everything installed, the default,
# is most of a cold start.
PATCH_MODULES = tuple(
    name.strip()
    for name in os.environ.get("TRACER_PATCH_MODULES", "botocore,requests").split(",")
    if name.strip()
)

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE, patch_modules=PATCH_MODULES)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)
