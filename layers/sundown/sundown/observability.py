"""Powertools Logger, Metrics and Tracer, shared by every function (configured from POWERTOOLS_* env vars)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

# The template sets POWERTOOLS_*; the defaults keep metrics valid wherever the module is imported first.
logger = Logger(service=os.getenv("POWERTOOLS_SERVICE_NAME", "sundown"))
metrics = Metrics(namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE", "Sundown"))
tracer = Tracer()


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def mask_email(address: str | None) -> str | None:
    """Logs carry no personal data: ``jane.doe@example.com`` becomes ``j***@example.com``."""
    if not address or "@" not in address:
        return None if address is None else "***"
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"
