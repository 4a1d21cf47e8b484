"""Timestamps: parsing event times and formatting answers. Nothing here reads the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: str | datetime) -> datetime:
    """Parse an ISO 8601 time (``Z`` or offset) into an aware UTC datetime; naive input is taken as UTC."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def from_epoch(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def iso(value: datetime | None) -> str | None:
    """The API's time format: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(value: datetime) -> str:
    """The date format emails use: ``YYYY-MM-DD``."""
    return value.astimezone(UTC).strftime("%Y-%m-%d")
