"""Legal holds: an account on hold is never suspended or purged. Lifting one restarts the idle clock."""

from __future__ import annotations

from datetime import datetime

from sundown import audit
from sundown.models import AccountModel, HoldState, VersionConflict, load, save_versioned
from sundown.observability import count
from sundown.policy import idle_since, new_cycle, next_action_at
from sundown.runtime import runtime


class HoldError(Exception):
    status = 400


class AccountNotFound(HoldError):
    status = 404


class HoldConflict(HoldError):
    status = 409


def place(account_id: str, reason: str, until: datetime | None, now: datetime) -> AccountModel:
    if until is not None and until <= now:
        raise HoldError(f"until must be in the future: {until.isoformat()} <= {now.isoformat()}")
    for _ in range(5):
        account = _live(account_id)
        account.hold = HoldState(reason=reason, placed_at=now, until=until)
        if account.plan == "free":
            # Nothing destructive is due while held; the sweep looks again when the hold ends.
            account.schedule(until, runtime().settings.due_index_shards)
        try:
            save_versioned(account)  # fails if a sweep wrote in between: then we read and place it again
        except VersionConflict:
            continue
        audit.record(account_id, "hold_placed", now, until=until.isoformat() if until else None)
        count("HoldPlaced")
        return account
    raise RuntimeError(f"account {account_id!r} kept changing while placing the hold")


def lift(account_id: str, now: datetime) -> AccountModel:
    for _ in range(5):
        account = _live(account_id)
        if account.hold is None:
            return account
        release(account, now)
        try:
            save_versioned(account)
        except VersionConflict:
            continue
        audit.record(account_id, "hold_lifted", now)
        return account
    raise RuntimeError(f"account {account_id!r} kept changing while lifting the hold")


def release(account: AccountModel, at: datetime) -> None:
    """Drop the hold; a Free account's deadlines are recomputed from ``at``, as if it had been active then."""
    rt = runtime()
    account.hold = None
    if account.plan != "free" or account.status not in ("active", "warned", "suspended"):
        return
    start = max(at, idle_since(account.last_activity_at, account.created_at, account.downgraded_at))
    cycle = new_cycle(start, rt.policy)
    account.clear_cycle()
    account.apply_cycle(cycle, warnings=[])
    account.schedule(next_action_at(cycle, rt.policy), rt.settings.due_index_shards)


def _live(account_id: str) -> AccountModel:
    runtime()  # settings and table bindings on first use
    account = load(account_id)
    if account is None:
        raise AccountNotFound(f"no account {account_id!r}")
    if account.status in ("purging", "deleted"):
        raise HoldConflict(
            f"account {account_id!r} is {account.status}: its purge has started and cannot be held"
        )
    return account
