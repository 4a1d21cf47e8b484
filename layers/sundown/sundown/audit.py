"""The audit trail: one append-only entry per transition, keyed by subject and time. No personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import MapAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from sundown.clock import iso
from sundown.models import is_conditional_failure


class AuditEntry(Model):
    class Meta:
        table_name = "unbound"  # replaced by bind()

    subject = UnicodeAttribute(hash_key=True)  # an account id, or network#<id>
    entry = UnicodeAttribute(range_key=True)  # <time>#<event>[#<stage>]: sorts by time
    event = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    detail = MapAttribute(default=dict)


def bind(table: str | None, region: str) -> None:
    AuditEntry.Meta.table_name = table or "unbound"
    AuditEntry.Meta.region = region
    AuditEntry._connection = None


# Transitions that share a timestamp (a purge can start and finish within one sweep's "now") sort in
# lifecycle order, not alphabetically.
ORDER = {
    "hold_placed": 1,
    "hold_lifted": 2,
    "hold_expired": 3,
    "warning_sent": 10,
    "suspended": 20,
    "purge_started": 30,
    "purge_verified": 40,
    "deleted": 50,
}


def record(subject: str, event: str, at: datetime, **detail: Any) -> None:
    """Append an entry; writing the same one twice (a retry) leaves one."""
    if AuditEntry.Meta.table_name == "unbound":
        return  # no audit table configured (unit tests of the domain alone)
    suffix = f"#{detail['stage_days']}" if "stage_days" in detail else ""
    key = f"{iso(at)}#{ORDER.get(event, 90):02d}#{event}{suffix}"
    entry = AuditEntry(subject, key, event=event, at=at, detail=detail)
    try:
        entry.save(condition=AuditEntry.entry.does_not_exist())
    except PutError as error:
        if not is_conditional_failure(error):
            raise


def trail(subject: str) -> list[AuditEntry]:
    return list(AuditEntry.query(subject, consistent_read=True))
