"""PynamoDB models: the accounts table and its sparse due-work index.

Table names come from the settings at first use (see ``bind``), not from import-time globals.
"""

from __future__ import annotations

import zlib
from datetime import datetime

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from sundown.policy import IdleCycle, SubscriptionTerms

DUE_INDEX_NAME = "due-index"


class DueIndex(GlobalSecondaryIndex["AccountModel"]):
    """Sparse: only accounts with something scheduled carry ``due_shard``/``next_action_at``.

    A sweep queries each shard for ``next_action_at <= now`` and never scans the table.
    """

    class Meta:
        index_name = DUE_INDEX_NAME
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    next_action_at = UTCDateTimeAttribute(range_key=True)


class OwnerIndex(GlobalSecondaryIndex["AccountModel"]):
    """Sparse: the accounts a Network ID owns. Tombstones drop ``owner_network_id``, so they leave it."""

    class Meta:
        index_name = "owner-index"
        projection = IncludeProjection(["status"])

    owner_network_id = UnicodeAttribute(hash_key=True)


WARNING = "warning"  # before suspension
REMINDER = "reminder"  # during the grace period, before deletion


class WarningSent(MapAttribute):
    days = NumberAttribute()
    sent_at = UTCDateTimeAttribute()
    # False when a sweep died between claiming and confirming the stage: it may or may not have gone out,
    # and it is never sent again (at most once per cycle); it doesn't count as notice either.
    confirmed = BooleanAttribute(default=True)
    kind = UnicodeAttribute(default=WARNING)  # WARNING | REMINDER


class WarningClaim(MapAttribute):
    """A warning or reminder stage claimed by a sweep, before its email is sent."""

    days = NumberAttribute()
    claimed_at = UTCDateTimeAttribute()
    kind = UnicodeAttribute(default=WARNING)


class HoldState(MapAttribute):
    """A legal hold: the account is never suspended or purged while it stands."""

    reason = UnicodeAttribute()
    placed_at = UTCDateTimeAttribute()
    until = UTCDateTimeAttribute(null=True)

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until


class SubscriptionState(MapAttribute):
    subscription_id = UnicodeAttribute()
    status = UnicodeAttribute()
    cancel_at_period_end = BooleanAttribute(default=False)
    current_period_end = UTCDateTimeAttribute(null=True)
    ended_at = UTCDateTimeAttribute(null=True)
    # Stripe delivers out of order: the newest event applied, by the event's own `created`.
    last_event_created = UTCDateTimeAttribute()
    last_event_ids = ListAttribute(of=UnicodeAttribute, default=list)

    def terms(self) -> SubscriptionTerms:
        return SubscriptionTerms(
            status=self.status,
            cancel_at_period_end=bool(self.cancel_at_period_end),
            current_period_end=self.current_period_end,
        )


class AccountModel(Model):
    class Meta:
        table_name = "unbound"  # replaced by bind()

    account_id = UnicodeAttribute(hash_key=True)
    owner_network_id = UnicodeAttribute(null=True)
    owner_email = UnicodeAttribute(null=True)
    plan = UnicodeAttribute(default="free")  # free | commercial
    status = UnicodeAttribute(default="active")  # active | warned | suspended | purging | deleted
    created_at = UTCDateTimeAttribute()
    last_activity_at = UTCDateTimeAttribute(null=True)
    downgraded_at = UTCDateTimeAttribute(null=True)

    # The current idle cycle (Free plan only).
    suspend_at = UTCDateTimeAttribute(null=True)
    delete_at = UTCDateTimeAttribute(null=True)
    suspended_at = UTCDateTimeAttribute(null=True)
    last_warning_at = UTCDateTimeAttribute(null=True)
    suspension_notice_at = UTCDateTimeAttribute(null=True)
    warnings = ListAttribute(of=WarningSent, default=list)
    warning_claim = WarningClaim(null=True)

    subscriptions = ListAttribute(of=SubscriptionState, default=list)
    hold = HoldState(null=True)

    # The purge: progress while `purging` (with its write-ahead journal), then the tombstone's record.
    purge_progress = JSONAttribute(null=True)
    deleted_at = UTCDateTimeAttribute(null=True)
    deletion_reason = UnicodeAttribute(null=True)
    certificate = JSONAttribute(null=True)

    # The sparse due-work index.
    due_shard = UnicodeAttribute(null=True)
    next_action_at = UTCDateTimeAttribute(null=True)
    due_index = DueIndex()
    owner_index = OwnerIndex()

    # Optimistic locking: every writer bumps it, and read-decide-write paths condition on it.
    version = VersionAttribute()

    # --- views used by the lifecycle ---

    def cycle(self) -> IdleCycle:
        if self.suspend_at is None or self.delete_at is None:
            raise ValueError(f"account {self.account_id} has no idle cycle")
        return IdleCycle(
            status=self.status,
            suspend_at=self.suspend_at,
            delete_at=self.delete_at,
            warned_stages=self.stages_sent(WARNING),
            last_warning_at=self.last_warning_at,
            suspended_at=self.suspended_at,
            suspension_notice_at=self.suspension_notice_at,
            reminded_stages=self.stages_sent(REMINDER),
        )

    def stages_sent(self, kind: str) -> tuple[int, ...]:
        """Stages of ``kind`` attempted this cycle (confirmed or not: none is ever sent twice)."""
        return tuple(int(w.days) for w in self.warnings or [] if w.kind == kind)

    def apply_cycle(self, cycle: IdleCycle, *, warnings: list[WarningSent] | None = None) -> None:
        self.status = cycle.status
        self.suspend_at = cycle.suspend_at
        self.delete_at = cycle.delete_at
        self.suspended_at = cycle.suspended_at
        self.last_warning_at = cycle.last_warning_at
        self.suspension_notice_at = cycle.suspension_notice_at
        if warnings is not None:
            self.warnings = warnings

    def clear_cycle(self) -> None:
        self.status = "active"
        self.suspend_at = self.delete_at = self.suspended_at = self.last_warning_at = None
        self.suspension_notice_at = None
        self.warnings = []
        self.warning_claim = None

    def schedule(self, at: datetime | None, shards: int) -> None:
        """Put the account in the due index at ``at``, or take it out with ``None``."""
        self.next_action_at = at
        self.due_shard = None if at is None else due_shard_of(self.account_id, shards)

    def subscription_terms(self) -> list[SubscriptionTerms]:
        return [s.terms() for s in self.subscriptions or []]


def due_shard_of(account_id: str, shards: int) -> str:
    """A stable shard for an account (crc32, not hash(): that one is salted per process)."""
    return f"{zlib.crc32(account_id.encode()) % shards:02d}"


def due_shards(shards: int) -> list[str]:
    return [f"{n:02d}" for n in range(shards)]


_bound_table: str | None = None


def ensure_bound() -> None:
    """Bind on first use in a fresh execution environment, whichever entry point comes first."""
    if _bound_table is None:
        from sundown.runtime import runtime  # deferred: runtime imports this module

        runtime()


def unbind() -> None:
    """Forget the binding, as a fresh execution environment would (tests, local stacks)."""
    global _bound_table
    _bound_table = None
    AccountModel.Meta.table_name = "unbound"
    AccountModel._connection = None


def bind(accounts_table: str, region: str) -> None:
    """Point the models at the deployed table. Cheap and idempotent; the connection is made lazily."""
    global _bound_table
    if _bound_table == accounts_table and AccountModel.Meta.region == region:
        return
    AccountModel.Meta.table_name = accounts_table
    AccountModel.Meta.region = region
    AccountModel._connection = None  # forget a connection made for another table (tests, local stacks)
    _bound_table = accounts_table


class VersionConflict(Exception):
    """Someone else wrote the account since we read it: re-read and decide again."""


def save_versioned(account: AccountModel) -> None:
    """Save conditioned on the version read (optimistic locking)."""
    try:
        account.save()
    except PutError as error:
        if is_conditional_failure(error):
            raise VersionConflict(account.account_id) from error
        raise


def is_conditional_failure(error: Exception) -> bool:
    """True when a PynamoDB write failed its condition (a race or a stale read), not an AWS fault."""
    cause = getattr(error, "cause_response_code", None)
    return cause in {"ConditionalCheckFailedException", "TransactionCanceledException"}


def load(account_id: str) -> AccountModel | None:
    """A strongly consistent read: decisions that follow it must see the latest login."""
    ensure_bound()
    try:
        return AccountModel.get(account_id, consistent_read=True)
    except AccountModel.DoesNotExist:
        return None
