"""Powertools Logger, Metrics and Tracer, shared by every function (configured from POWERTOOLS_* env vars)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()
tracer = Tracer()


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def mask_email(address: str | None) -> str | None:
    """Logs carry no personal data: ``jane.doe@example.com`` becomes ``j***@example.com``."""
    if not address or "@" not in address:
        return None if address is None else "***"
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"
