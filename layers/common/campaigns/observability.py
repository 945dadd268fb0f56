"""Powertools singletons shared by every function: one Logger, Tracer and Metrics."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

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


def count(name: str, value: float = 1) -> None:
    """Add to the function's count `name` (flushed when its handler returns)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_by(name: str, dimension: str, value: str) -> None:
    """One more `name` in total (the series an alarm can watch) and one more in the
    series of `dimension=value` (emitted at once: Powertools' Metrics gives every
    metric of a flush the same dimensions)."""
    count(name)
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE, dimension: value},
    ):
        pass
