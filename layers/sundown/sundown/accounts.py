"""The product's account events: creation, and the logins and activity that keep an account alive."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pynamodb.exceptions import PutError, UpdateError

from sundown import events
from sundown.errors import LoginRefused, UnknownAccount
from sundown.models import AccountModel, due_shard_of, is_conditional_failure, load
from sundown.observability import count, logger
from sundown.policy import new_cycle, next_action_at
from sundown.runtime import runtime

ActivityOutcome = Literal["reactivated", "recorded", "already_recorded", "coalesced"]
CreateOutcome = Literal["created", "already_exists"]

LIVE_STATUSES = ("active", "warned", "suspended")


def apply_product_event(event: events.ProductEvent) -> str:
    match event:
        case events.AccountCreated():
            return create_account(event)
        case events.UserLoggedIn() | events.AccountActivity():
            return record_activity(event.detail.account_id, event.time, event_id=event.id)
        case events.NetworkIdDeletionRequested():
            from sundown.identity import delete_network_id  # only this event needs it

            return delete_network_id(event)


def create_account(event: events.AccountCreated) -> CreateOutcome:
    rt = runtime()
    cycle = new_cycle(event.time, rt.policy)
    account = AccountModel(
        event.detail.account_id,
        owner_network_id=event.detail.owner_network_id,
        owner_email=event.detail.owner_email,
        plan="free",
        created_at=event.time,
    )
    account.apply_cycle(cycle, warnings=[])
    account.schedule(next_action_at(cycle, rt.policy), rt.settings.due_index_shards)
    try:
        # A redelivered AccountCreated must not reset an account that has lived since.
        account.save(condition=AccountModel.account_id.does_not_exist())
    except PutError as error:
        if not is_conditional_failure(error):
            raise
        logger.info("account already exists", extra={"account_id": account.account_id, "event_id": event.id})
        return "already_exists"
    count("AccountCreated")
    return "created"


class RecentActivity:
    """Activity this execution environment recorded lately, so that a burst of logins costs one write.

    Safe because nothing can be due within the window (settings check that it is shorter than the
    quiet time before the first warning); the recorded time is at most one window older than the
    latest login. Keyed by event time, never the wall clock, so replays behave the same.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self.recorded: dict[str, datetime] = {}

    def covers(self, account_id: str, at: datetime, window: timedelta) -> bool:
        last = self.recorded.get(account_id)
        return last is not None and last <= at < last + window

    def remember(self, account_id: str, at: datetime) -> None:
        if len(self.recorded) >= self.limit:
            self.recorded.clear()  # bounded memory; the next logins simply write again
        self.recorded[account_id] = max(at, self.recorded.get(account_id, at))

    def clear(self) -> None:
        self.recorded.clear()


recent_activity = RecentActivity()


def record_activity(account_id: str, at: datetime, *, event_id: str | None = None) -> ActivityOutcome:
    """Any user's login or activity at ``at`` restarts the Free idle cycle from ``at``.

    The common case, a Free account, is a single conditional UpdateItem with no read before it.
    It bumps the version, so a sweep that read the account earlier fails its own conditional write
    and decides again: a login racing a sweep is never lost. Repeated logins inside the coalescing
    window after a recorded one cost nothing.
    """
    rt = runtime()
    window = timedelta(minutes=rt.settings.activity_coalesce_minutes)
    if recent_activity.covers(account_id, at, window):
        return "coalesced"
    outcome = _record_activity(account_id, at, event_id)
    recent_activity.remember(account_id, at)
    return outcome


def _record_activity(account_id: str, at: datetime, event_id: str | None) -> ActivityOutcome:
    rt = runtime()
    cycle = new_cycle(at, rt.policy)
    fresh = AccountModel(account_id, version=0)  # version=0: increment it, don't reset it
    try:
        fresh.update(
            actions=[
                AccountModel.last_activity_at.set(at),
                AccountModel.status.set("active"),
                AccountModel.suspend_at.set(cycle.suspend_at),
                AccountModel.delete_at.set(cycle.delete_at),
                AccountModel.warnings.set([]),
                AccountModel.suspended_at.remove(),
                AccountModel.suspension_notice_at.remove(),
                AccountModel.last_warning_at.remove(),
                AccountModel.warning_claim.remove(),
                AccountModel.next_action_at.set(next_action_at(cycle, rt.policy)),
                AccountModel.due_shard.set(due_shard_of(account_id, rt.settings.due_index_shards)),
            ],
            condition=(
                AccountModel.account_id.exists()
                & (AccountModel.plan == "free")
                & AccountModel.status.is_in(*LIVE_STATUSES)
                & (AccountModel.last_activity_at.does_not_exist() | (AccountModel.last_activity_at < at))
                & (AccountModel.created_at <= at)
                & (AccountModel.downgraded_at.does_not_exist() | (AccountModel.downgraded_at <= at))
            ),
            add_version_condition=False,
        )
    except UpdateError as error:
        if not is_conditional_failure(error):
            raise
        return _record_activity_otherwise(account_id, at, event_id)
    count("AccountReactivated")
    return "reactivated"


def _record_activity_otherwise(account_id: str, at: datetime, event_id: str | None) -> ActivityOutcome:
    """The rare paths, each decided on a consistent read."""
    for _ in range(3):
        account = load(account_id)
        if account is None:
            raise UnknownAccount(f"no account {account_id!r}", event_id=event_id, account_id=account_id)
        if account.status not in LIVE_STATUSES:
            count("LoginRefused")
            raise LoginRefused(
                f"account {account_id!r} is {account.status}: its purge has started and cannot be undone",
                event_id=event_id,
                account_id=account_id,
            )
        if account.last_activity_at is not None and at <= account.last_activity_at:
            return "already_recorded"  # a duplicate or an older event: the newer one already counts
        if account.plan == "free" and at >= max(t for t in (account.created_at, account.downgraded_at) if t):
            return record_activity(
                account_id, at, event_id=event_id
            )  # raced with a change: try the fast path
        # Commercial (no idle clock while paid), or activity older than a downgrade: remember it, no new cycle.
        try:
            account.update(actions=[AccountModel.last_activity_at.set(at)])
        except UpdateError as error:
            if not is_conditional_failure(error):
                raise
            continue
        return "recorded"
    raise RuntimeError(f"account {account_id!r} kept changing while recording activity; will retry")
