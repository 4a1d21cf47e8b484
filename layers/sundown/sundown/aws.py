"""boto3 clients, created once per execution environment and only when first needed."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3  # deferred: importing boto3 is most of a cold start

    return boto3.client(service)


def reset_clients() -> None:
    """Forget cached clients (tests and local stacks switch endpoints)."""
    client.cache_clear()
