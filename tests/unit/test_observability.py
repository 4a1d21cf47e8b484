"""sundown.observability: the tracer follows the template's Tracing parameter, and off means no X-Ray SDK."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_lambda_powertools import Tracer

from sundown.observability import UntracedTracer, make_tracer, mask_email

LAYER = Path(__file__).resolve().parents[2] / "layers" / "sundown"


def test_disabled_tracing_gives_decorators_that_change_nothing() -> None:
    # Given the tracer with tracing off
    tracer = make_tracer(disabled=True)
    assert isinstance(tracer, UntracedTracer)

    # When it decorates a handler and methods, bare and with Powertools' options
    def handler(event: dict, context: object) -> dict:
        return {"echo": event}

    def method(value: int) -> int:
        return value + 1

    # Then the very same functions come back, and they behave as before
    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_method(method) is method
    assert tracer.capture_method(capture_response=False)(method) is method
    assert tracer.capture_lambda_handler(capture_error=False)(handler)({"a": 1}, None) == {"echo": {"a": 1}}


def test_enabled_tracing_is_powertools_tracer() -> None:
    assert isinstance(make_tracer(disabled=False), Tracer)


@pytest.mark.parametrize(("disabled", "loads_xray"), [("true", False), ("false", True), ("1", False)])
def test_the_xray_sdk_is_imported_only_when_tracing_is_on(disabled: str, loads_xray: bool) -> None:
    # Given a fresh interpreter with the layer on its path and POWERTOOLS_TRACE_DISABLED set as the template sets it
    env = {**os.environ, "PYTHONPATH": str(LAYER), "POWERTOOLS_TRACE_DISABLED": disabled}
    # When it imports the observability module, as every handler does
    probe = "import sys, sundown.observability; print('aws_xray_sdk' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    # Then the X-Ray SDK (a large part of a cold start) is loaded only when tracing is on
    assert out.stdout.strip() == str(loads_xray)


def test_emails_are_masked_in_logs() -> None:
    assert mask_email("jane.doe@example.com") == "j***@example.com"
    assert mask_email("no-at-sign") == "***"
    assert mask_email(None) is None
