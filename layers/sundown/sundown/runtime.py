"""What every domain entry point needs at first invocation: validated settings, the policy, bound models."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sundown import audit, models
from sundown.policy import Policy
from sundown.settings import Settings, get_settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    policy: Policy


@cache
def runtime() -> Runtime:
    settings = get_settings()
    models.bind(settings.accounts_table, settings.aws_region)
    audit.bind(settings.audit_table, settings.aws_region)
    return Runtime(settings=settings, policy=Policy.from_settings(settings))


def reset() -> None:
    """Re-read the environment on next use (tests, and local runs that switch stacks)."""
    from sundown.accounts import recent_activity
    from sundown.aws import reset_clients
    from sundown.billing import _idempotent_apply
    from sundown.storage import key_names

    models.unbind()
    recent_activity.clear()
    audit.bind(None, "us-east-1")
    get_settings.cache_clear()
    _idempotent_apply.cache_clear()
    key_names.cache_clear()
    runtime.cache_clear()
    reset_clients()
