"""boto3 clients for the local tooling, made once per embedded stack (client creation costs ~50 ms)."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.client(service)


def reset() -> None:
    """Forget the clients: the next stack may live behind another endpoint or region."""
    client.cache_clear()
