"""Powertools Logger, Metrics and Tracer, shared by every function (configured from POWERTOOLS_* env vars)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer


class UntracedTracer:
    """Stands in for Powertools' Tracer when tracing is off (the template's ``Tracing: Disabled``).

    Powertools' Tracer imports the X-Ray SDK even when disabled, a large part of a cold start; this
    one keeps the same decorators and imports nothing.
    """

    def capture_lambda_handler(self, function: Callable[..., Any] | None = None, **_: Any) -> Any:
        return function if function is not None else _unchanged

    def capture_method(self, function: Callable[..., Any] | None = None, **_: Any) -> Any:
        return function if function is not None else _unchanged


def _unchanged(function: Callable[..., Any]) -> Callable[..., Any]:
    return function


def make_tracer(disabled: bool) -> Tracer | UntracedTracer:
    if disabled:
        return UntracedTracer()
    from aws_lambda_powertools import Tracer

    return Tracer()


# The template sets POWERTOOLS_*; the defaults keep metrics valid wherever the module is imported first.
logger = Logger(service=os.getenv("POWERTOOLS_SERVICE_NAME", "sundown"))
metrics = Metrics(namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE", "Sundown"))
# Read as Powertools' Tracer reads it; at import, since the decorators are applied at import.
tracer = make_tracer(
    disabled=resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_TRACE_DISABLED", "false"))
)


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def mask_email(address: str | None) -> str | None:
    """Logs carry no personal data: ``jane.doe@example.com`` becomes ``j***@example.com``."""
    if not address or "@" not in address:
        return None if address is None else "***"
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"
