"""Powertools singletons shared by every function: one Logger, Tracer and Metrics."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "whatsapp-campaigns")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "WhatsAppCampaigns")

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)
