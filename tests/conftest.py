"""Shared fixtures: the stack deployed from template.yaml into an in-process moto, and its wiring."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI explores the same examples every run (no flaky red from a new random draw); `make property`
# and local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENTS = REPO_ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample from events/: the same files `sam local invoke -e` uses."""
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def wiring(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh stack per test: tables, bucket and queues created from template.yaml's own definitions.

    Parametrize indirectly with a dict to override template parameters.
    """
    from sundown_local.embedded import embedded_stack

    overrides = getattr(request, "param", None)
    with embedded_stack(parameter_overrides=overrides) as deployed:
        yield deployed


@pytest.fixture
def emails() -> Any:
    """Read the messages SES accepted so far."""
    from sundown_local.embedded import sent_emails

    return sent_emails
