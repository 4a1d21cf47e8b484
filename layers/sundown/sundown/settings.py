"""One validated settings object, read from the environment the template gives each function."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sundown.data_map import DataMap


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    accounts_table: str = Field(min_length=1)
    idempotency_table: str = Field(min_length=1)
    sender_email: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")

    idle_days: int = Field(default=30, ge=1)
    warning_days: Annotated[tuple[int, ...], NoDecode] = (14, 7, 3, 1)
    shortest_notice_days: float = Field(default=1, ge=0)
    grace_days: int = Field(default=7, ge=0)
    # Reminders during the grace period, in days before deletion. SPEC: none unless a parameter asks.
    grace_reminder_days: Annotated[tuple[int, ...], NoDecode] = ()
    # Issue 3: the purge and the audit trail.
    data_map: DataMap = Field(default_factory=DataMap)
    extra_data_map: DataMap = Field(default_factory=DataMap)
    purge_queue_url: str | None = None
    audit_table: str | None = None
    network_ids_table: str | None = None
    documents_bucket: str | None = None

    # Logins inside this window after a recorded one cost no write (per execution environment).
    activity_coalesce_minutes: int = Field(default=60, ge=0)

    # Operator safety (issue 5).
    dry_run: bool = False  # the scheduled sweep logs its plan and changes nothing
    destruction_paused: bool = False  # kill switch: no suspension, no purge; warnings go on
    max_purges_per_sweep: int = Field(default=100, ge=0)  # blast-radius breaker
    pause_recheck_minutes: int = Field(default=60, ge=1)  # how far a paused deadline moves

    # The sweep's bound: accounts per shard per invocation; more is fanned out on the sweep queue.
    sweep_page_size: int = Field(default=250, ge=1, le=10_000)
    sweep_queue_url: str | None = None

    # The due index is sharded so that no single partition takes every sweep read.
    due_index_shards: int = Field(default=4, ge=1, le=64)

    @field_validator("warning_days", "grace_reminder_days", mode="before")
    @classmethod
    def _parse_days(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return tuple(int(p) for p in parts)
            except ValueError as exc:
                name = str(info.field_name).upper()
                raise ValueError(f"{name} must be comma-separated whole days, got {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _check_warning_days(self) -> Settings:
        days = self.warning_days
        if not days:
            raise ValueError("WARNING_DAYS needs at least one warning stage")
        _stages_inside("WARNING_DAYS", days, "the idle period", "IDLE_DAYS", self.idle_days)
        quiet = (self.idle_days - max(days)) * 24 * 60
        if self.activity_coalesce_minutes >= quiet:
            raise ValueError(
                f"ACTIVITY_COALESCE_MINUTES ({self.activity_coalesce_minutes}) must be shorter than the time from "
                f"the last activity to the first warning ({quiet} minutes), or a skipped login could miss a warning"
            )
        # Stored largest first: stage order is the order the owner receives them.
        object.__setattr__(self, "warning_days", tuple(sorted(days, reverse=True)))
        return self

    @model_validator(mode="after")
    def _check_grace_reminder_days(self) -> Settings:
        days = self.grace_reminder_days
        _stages_inside("GRACE_REMINDER_DAYS", days, "the grace period", "GRACE_DAYS", self.grace_days)
        object.__setattr__(self, "grace_reminder_days", tuple(sorted(days, reverse=True)))
        return self

    @model_validator(mode="after")
    def _check_data_map_is_safe(self) -> Settings:
        # A misregistered store could make one tenant's purge delete another's data or the identities:
        # refuse the configuration before any purge runs.
        own = {self.accounts_table, self.idempotency_table, self.audit_table, self.network_ids_table}
        network = {self.documents_bucket: "network/"} if self.documents_bucket else {}
        problems = self.all_stores.conflicts({t for t in own if t}, network)
        if problems:
            raise ValueError("DATA_MAP / EXTRA_DATA_MAP is unsafe: " + "; ".join(problems))
        return self

    @property
    def all_stores(self) -> DataMap:
        """The template's data map plus the operator's extra stores."""
        return self.data_map.merged(self.extra_data_map)

    @property
    def idle_period(self) -> timedelta:
        return timedelta(days=self.idle_days)

    @property
    def shortest_notice(self) -> timedelta:
        return timedelta(days=self.shortest_notice_days)

    @property
    def grace_period(self) -> timedelta:
        return timedelta(days=self.grace_days)


def _stages_inside(name: str, days: tuple[int, ...], period: str, period_name: str, period_days: int) -> None:
    """Email stages (days before a deadline) must be distinct, positive, and fall inside their period."""
    if len(set(days)) != len(days) or any(d <= 0 for d in days):
        raise ValueError(f"{name} must be distinct positive days, got {days}")
    if days and max(days) >= period_days:
        raise ValueError(f"{name} must fall inside {period}: {max(days)} >= {period_name} {period_days}")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read once per execution environment, on first use (not at import: import time is cold-start time)."""
    return Settings()  # type: ignore[call-arg]
