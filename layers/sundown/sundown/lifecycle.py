"""The sweep: for each account with something due, warn, suspend or roll back, exactly once.

Every step reads the account, decides with the pure policy, and writes conditioned on the version it
read. A login that lands in between bumps the version; the write fails and the step decides again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sundown import audit, notifications, purge
from sundown.billing import settle_plan
from sundown.models import (
    AccountModel,
    VersionConflict,
    WarningClaim,
    WarningSent,
    due_shards,
    load,
    save_versioned,
)
from sundown.observability import count, logger
from sundown.policy import NotifySuspension, Purge, Suspend, Wait, Warn, decide_free, next_action_at
from sundown.runtime import runtime

# A claim older than this belongs to a run that died (Lambda runs at most 15 minutes).
CLAIM_EXPIRY = timedelta(minutes=15)


@dataclass(frozen=True)
class Step:
    account_id: str
    action: str  # warned | suspended | suspension_notified | rolled_back | rescheduled | waiting | ...
    detail: str = ""
    stage_days: int | None = None
    suspend_at: datetime | None = None
    delete_at: datetime | None = None


@dataclass
class SweepReport:
    now: datetime
    steps: list[Step] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        return dict(Counter(s.action for s in self.steps))


class SweepIncomplete(Exception):
    """Some accounts failed; the others were processed. Raised so the schedule's retry/DLQ sees it."""


def run_sweep(now: datetime) -> SweepReport:
    report = SweepReport(now=now)
    failures: list[str] = []
    for account in due_accounts(now):
        try:
            report.steps.append(advance(account, now))
        except Exception as error:  # noqa: BLE001 - one account's fault must not starve the others; re-raised below
            failures.append(account.account_id)
            count("SweepAccountFailed")
            logger.exception("sweep step failed", extra={"account_id": account.account_id, "error": str(error)})
    logger.info("sweep finished", extra={"now": now.isoformat(), "totals": report.totals, "failed": len(failures)})
    if failures:
        # Every step is idempotent, so the scheduler's retry simply finishes these.
        raise SweepIncomplete(f"{len(failures)} accounts failed and will be retried: {failures[:10]}")
    return report


def due_accounts(now: datetime) -> Iterator[AccountModel]:
    """Only accounts whose next action is due, read from the sparse index, shard by shard."""
    for shard in due_shards(runtime().settings.due_index_shards):
        yield from AccountModel.due_index.query(shard, AccountModel.next_action_at <= now)


def advance(account: AccountModel, now: datetime) -> Step:
    """Take one account as far as ``now`` allows; re-read and re-decide when a write races."""
    for _ in range(5):
        try:
            return _advance(account, now)
        except VersionConflict:
            reloaded = load(account.account_id)
            if reloaded is None:
                return Step(account.account_id, "gone")
            account = reloaded
    raise RuntimeError(f"account {account.account_id!r} kept changing during the sweep; next sweep retries")


def _advance(account: AccountModel, now: datetime) -> Step:
    rt = runtime()
    aid = account.account_id
    if account.next_action_at is None or account.next_action_at > now:
        return Step(aid, "not_due")  # the index lags the table, or a login moved the deadline
    if account.status == "deleted":
        account.schedule(None, rt.settings.due_index_shards)
        _save(account)
        return Step(aid, "skipped", "deleted")
    if account.status == "purging":
        purge.redispatch(account, now)  # the watchdog: no progress for a while
        return Step(aid, "purge_redispatched", "no purge progress recently")
    if account.plan == "commercial":
        change = settle_plan(account, now)
        _save(account)
        return Step(aid, change or "rescheduled", "paid period over, auto-renewal off" if change else "")

    decision = decide_free(account.cycle(), now, rt.policy)
    match decision:
        case Warn():
            return _warn(account, decision, now)
        case Suspend():
            return _suspend(account, decision, now)
        case NotifySuspension():
            return _notify_suspension(account, decision, now)
        case Purge():
            # Still idle (any login made it active), still Free (checked above), grace over: no way back.
            purge.start_purge(account, now)
            return Step(aid, "purge_started", decision.reason, delete_at=account.delete_at)
        case Wait():
            account.schedule(decision.until, rt.settings.due_index_shards)
            _save(account)
            return Step(aid, "waiting", decision.reason)


def _warn(account: AccountModel, decision: Warn, now: datetime) -> Step:
    rt = runtime()
    claim = account.warning_claim
    if claim is not None and now - claim.claimed_at < CLAIM_EXPIRY:
        return Step(account.account_id, "claimed_elsewhere", f"stage {claim.days} is being sent")
    # Claim the stage first: of two racing sweeps only one sends it.
    account.warning_claim = WarningClaim(days=decision.stage_days, claimed_at=now)
    _save(account)

    cycle = decision.cycle
    email = notifications.warning(
        account.owner_email or "", account.account_id, decision.stage_days, cycle.suspend_at, cycle.delete_at
    )
    try:
        notifications.send(email, rt.settings.sender_email)
    except notifications.EmailNotSent as error:
        count("WarningFailed")
        logger.error(
            "warning not sent; a later sweep retries it",
            extra={"account_id": account.account_id, "error": str(error)},
        )
        account.warning_claim = None
        _save_quietly(account)
        return Step(account.account_id, "warning_failed", str(error), stage_days=decision.stage_days)

    _confirm(account, lambda a: _confirm_warning(a, decision, now))
    count(f"WarningSent{decision.stage_days}d")
    audit.record(account.account_id, "warning_sent", now, stage_days=decision.stage_days)
    return Step(
        account.account_id,
        "warned",
        decision.reason + (" (deadline moved for the shortest notice)" if decision.deadline_moved else ""),
        stage_days=decision.stage_days,
        suspend_at=cycle.suspend_at,
        delete_at=cycle.delete_at,
    )


def _confirm_warning(account: AccountModel, decision: Warn, now: datetime) -> bool:
    claim = account.warning_claim
    if claim is None or claim.days != decision.stage_days or claim.claimed_at != now:
        return False  # a login reset the cycle meanwhile: the warning is moot
    account.apply_cycle(
        decision.cycle, warnings=[*account.warnings, WarningSent(days=decision.stage_days, sent_at=now)]
    )
    account.warning_claim = None
    account.schedule(next_action_at(decision.cycle, runtime().policy), runtime().settings.due_index_shards)
    return True


def _suspend(account: AccountModel, decision: Suspend, now: datetime) -> Step:
    # Suspended first, notice second: a failed notice leaves it due, and the grace period waits for it.
    unnotified = replace(decision.cycle, suspension_notice_at=None)
    account.apply_cycle(unnotified)
    account.schedule(next_action_at(unnotified, runtime().policy), runtime().settings.due_index_shards)
    _save(account)
    count("Suspended")
    audit.record(account.account_id, "suspended", now)
    step = _notify_suspension(account, NotifySuspension(cycle=decision.cycle, reason=decision.reason), now)
    return replace(step, action="suspended" if step.action == "suspension_notified" else step.action)


def _notify_suspension(account: AccountModel, decision: NotifySuspension, now: datetime) -> Step:
    rt = runtime()
    cycle = decision.cycle
    email = notifications.suspension_notice(account.owner_email or "", account.account_id, cycle.delete_at)
    try:
        notifications.send(email, rt.settings.sender_email)
    except notifications.EmailNotSent as error:
        count("SuspensionNoticeFailed")
        logger.error(
            "suspension notice not sent; a later sweep retries it",
            extra={"account_id": account.account_id, "error": str(error)},
        )
        return Step(account.account_id, "suspension_notice_failed", str(error))

    def confirm(a: AccountModel) -> bool:
        if a.status != "suspended" or a.suspension_notice_at is not None:
            return False  # reactivated meanwhile
        a.apply_cycle(cycle)
        a.schedule(cycle.delete_at, rt.settings.due_index_shards)
        return True

    _confirm(account, confirm)
    return Step(
        account.account_id,
        "suspension_notified",
        decision.reason,
        suspend_at=cycle.suspended_at,
        delete_at=cycle.delete_at,
    )


def _confirm(account: AccountModel, apply: Callable[[AccountModel], bool]) -> None:
    """Record that an email went out, re-reading on a race; ``apply`` returns False when it's moot."""
    for _ in range(5):
        if not apply(account):
            return
        try:
            _save(account)
            return
        except VersionConflict:
            reloaded = load(account.account_id)
            if reloaded is None:
                return
            account = reloaded
    raise RuntimeError(f"could not record the email sent to account {account.account_id!r}")


_save = save_versioned


def _save_quietly(account: AccountModel) -> None:
    """Release a claim; losing that race is fine (whoever won wrote a newer state)."""
    try:
        _save(account)
    except VersionConflict:
        logger.info("claim release raced with another write", extra={"account_id": account.account_id})
