"""The sweep: for each account with something due, warn, suspend or roll back, exactly once.

Every step reads the account, decides with the pure policy, and writes conditioned on the version it
read. A login that lands in between bumps the version; the write fails and the step decides again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sundown import audit, holds, notifications, purge, storage
from sundown.billing import settle_plan
from sundown.clock import iso
from sundown.events import SweepContinuation
from sundown.models import (
    REMINDER,
    WARNING,
    AccountModel,
    VersionConflict,
    WarningClaim,
    WarningSent,
    due_shards,
    load,
    save_versioned,
)
from sundown.observability import count, logger
from sundown.policy import (
    NotifySuspension,
    Purge,
    Remind,
    Suspend,
    Wait,
    Warn,
    any_paid,
    decide_free,
    next_action_at,
)
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


@dataclass(frozen=True)
class Plan:
    """What a sweep at ``now`` does to one account, and why. Decided without side effects."""

    account_id: str
    action: str  # warn | suspend | notify_suspension | purge | roll_back | release_hold | held | paused | deferred | ...
    reason: str
    decision: object = None
    stage_days: int | None = None
    suspend_at: datetime | None = None
    delete_at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "account_id": self.account_id,
            "action": self.action,
            "reason": self.reason,
            "stage_days": self.stage_days,
            "suspend_at": iso(self.suspend_at),
            "delete_at": iso(self.delete_at),
        }


@dataclass
class Breaker:
    """The blast-radius breaker: at most ``limit`` purges start in one sweep."""

    limit: int
    started: int = 0
    deferred: int = 0

    def count(self, action: str) -> None:
        """Tally a plan that was carried out (or, in a dry run or a preview, would be)."""
        if action == "purge":
            self.started += 1
        elif action == "deferred":
            self.deferred += 1


def run_sweep(now: datetime, *, dry_run: bool | None = None) -> SweepReport:
    """The scheduled sweep: the first page of every shard of the due index.

    No invocation does more than ``SWEEP_PAGE_SIZE`` accounts per shard: when a shard has more due, the
    rest is fanned out as a continuation message on the sweep queue, one page per invocation, each
    page starting where the last one stopped, so no account is skipped or done twice. Each shard chain
    carries its share of the purge budget, so the breaker caps the whole sweep, not each page.
    """
    settings = runtime().settings
    report = SweepReport(now=now)
    shards = due_shards(settings.due_index_shards)
    base, extra = divmod(settings.max_purges_per_sweep, len(shards))
    # The shards that get the remainder rotate with the sweep's hour, so no shard waits forever.
    offset = int(now.timestamp() // 3600) % len(shards)
    for index, shard in enumerate(shards):
        budget = base + ((index - offset) % len(shards) < extra)
        task = SweepTask(time=now, shard=shard, cursor=None, purge_budget=budget)
        report.steps += sweep_page(task, dry_run=dry_run).steps
    return report


@dataclass(frozen=True)
class SweepTask:
    """One page of one shard of one sweep: what a continuation message carries."""

    time: datetime
    shard: str
    cursor: dict[str, Any] | None
    purge_budget: int


def sweep_page(task: SweepTask, *, dry_run: bool | None = None) -> SweepReport:
    settings = runtime().settings
    dry_run = settings.dry_run if dry_run is None else dry_run
    now = task.time
    report = SweepReport(now=now)
    breaker = Breaker(task.purge_budget)
    failures: list[str] = []
    page = AccountModel.due_index.query(
        task.shard,
        AccountModel.next_action_at <= now,
        limit=settings.sweep_page_size,
        last_evaluated_key=task.cursor,
    )
    for account in page:
        if dry_run:
            planned = plan(account, now, breaker)
            breaker.count(planned.action)
            logger.info("dry run: would act", extra=planned.as_dict())
            report.steps.append(
                Step(planned.account_id, planned.action, planned.reason, stage_days=planned.stage_days)
            )
            continue
        try:
            report.steps.append(advance(account, now, breaker))
        except Exception as error:  # noqa: BLE001 - one account's fault must not starve the others; re-raised below
            failures.append(account.account_id)
            count("SweepAccountFailed")
            logger.exception(
                "sweep step failed", extra={"account_id": account.account_id, "error": str(error)}
            )
    if page.last_evaluated_key is not None and len(report.steps) + len(failures) >= settings.sweep_page_size:
        _continue(SweepTask(now, task.shard, page.last_evaluated_key, task.purge_budget - breaker.started))
    if breaker.deferred:
        count("PurgesDeferred", breaker.deferred)
        logger.warning(
            "blast-radius breaker: purges deferred to the next sweep",
            extra={"limit": breaker.limit, "deferred": breaker.deferred, "shard": task.shard},
        )
    logger.info(
        "sweep page finished",
        extra={
            "now": now.isoformat(),
            "shard": task.shard,
            "totals": report.totals,
            "failed": len(failures),
            "dry_run": dry_run,
        },
    )
    if failures:
        # Every step is idempotent, so a retry of this page simply finishes these.
        raise SweepIncomplete(f"{len(failures)} accounts failed and will be retried: {failures[:10]}")
    return report


def continue_sweep(message: SweepContinuation) -> dict[str, int]:
    """A continuation message from the sweep queue: one more page of one shard."""
    task = SweepTask(message.time, message.shard, message.cursor, message.purge_budget)
    return sweep_page(task).totals


def _continue(task: SweepTask) -> None:
    queue = runtime().settings.sweep_queue_url
    if not queue:
        # No queue (a local run): carry on in this process, one page at a time.
        sweep_page(task)
        return
    body = {
        "time": iso(task.time),
        "shard": task.shard,
        "cursor": task.cursor,
        "purge_budget": task.purge_budget,
    }
    storage.send_message(queue, json.dumps(body))
    count("SweepPagesFannedOut")


def preview(at: datetime) -> list[dict[str, object]]:
    """What a sweep at ``at`` would do (warn, suspend, roll back, purge) and why. Reads only."""
    breaker = Breaker(runtime().settings.max_purges_per_sweep)
    plans = []
    for account in due_accounts(at):
        plans.append(plan(account, at, breaker))
        breaker.count(plans[-1].action)
    return [p.as_dict() for p in plans]


def due_accounts(now: datetime) -> Iterator[AccountModel]:
    """Only accounts whose next action is due, read from the sparse index, shard by shard."""
    for shard in due_shards(runtime().settings.due_index_shards):
        yield from AccountModel.due_index.query(shard, AccountModel.next_action_at <= now)


def advance(account: AccountModel, now: datetime, breaker: Breaker | None = None) -> Step:
    """Take one account as far as ``now`` allows; re-read and re-decide when a write races.

    Every irreversible write (suspension, purge start) is conditioned on the version read, so a hold
    or a login that lands after the read makes it fail, and the step is decided again from scratch.
    """
    breaker = breaker or Breaker(runtime().settings.max_purges_per_sweep)
    for _ in range(5):
        planned = plan(account, now, breaker)
        try:
            step = _execute(account, planned, now, breaker)
        except VersionConflict:
            reloaded = load(account.account_id)
            if reloaded is None:
                return Step(account.account_id, "gone")
            account = reloaded
            continue
        breaker.count(planned.action)  # only what was carried out: a re-decided plan is not counted twice
        return step
    raise RuntimeError(f"account {account.account_id!r} kept changing during the sweep; next sweep retries")


def plan(account: AccountModel, now: datetime, breaker: Breaker) -> Plan:
    rt = runtime()
    aid = account.account_id
    if account.next_action_at is None or account.next_action_at > now:
        return Plan(aid, "not_due", "the index lags the table, or a login moved the deadline")
    if account.status == "deleted":
        return Plan(aid, "unschedule", "deleted")
    if account.status == "purging":
        return Plan(aid, "redispatch_purge", "purging, and no progress recorded recently")
    if account.hold is not None and not account.hold.active(now):
        return Plan(aid, "release_hold", f"legal hold expired at {iso(account.hold.until)}")
    if account.plan == "commercial":
        if any_paid(account.subscription_terms(), now):
            return Plan(aid, "reschedule", "a subscription is paid")
        return Plan(aid, "roll_back", "paid period over with auto-renewal off")
    if account.hold is not None:
        until = f" until {iso(account.hold.until)}" if account.hold.until else ""
        return Plan(aid, "held", f"legal hold{until}: {account.hold.reason}")

    claim = account.warning_claim
    if claim is not None and now - claim.claimed_at >= CLAIM_EXPIRY:
        return Plan(aid, "settle_claim", f"the {claim.days}-day {claim.kind} was claimed and never confirmed")

    decision = decide_free(account.cycle(), now, rt.policy)
    paused = rt.settings.destruction_paused
    match decision:
        case Warn() | Remind():
            cycle = decision.cycle
            action = "warn" if isinstance(decision, Warn) else "remind"
            return Plan(
                aid, action, decision.reason, decision, decision.stage_days, cycle.suspend_at, cycle.delete_at
            )
        case Suspend():
            if paused:
                return Plan(
                    aid, "paused", "suspension due, but destructive steps are paused (kill switch)", decision
                )
            return Plan(aid, "suspend", decision.reason, decision, delete_at=decision.cycle.delete_at)
        case NotifySuspension():
            return Plan(
                aid, "notify_suspension", decision.reason, decision, delete_at=decision.cycle.delete_at
            )
        case Purge():
            if paused:
                return Plan(
                    aid, "paused", "purge due, but destructive steps are paused (kill switch)", decision
                )
            if breaker.started >= breaker.limit:
                return Plan(
                    aid, "deferred", f"blast-radius breaker: {breaker.limit} purges already start this sweep"
                )
            # Still idle (a login makes it active), still Free, not on hold (both checked above): no way back.
            return Plan(aid, "purge", decision.reason, decision, delete_at=account.delete_at)
        case Wait():
            return Plan(aid, "wait", decision.reason, decision)
    raise AssertionError(f"unhandled decision {decision!r}")


def _execute(account: AccountModel, planned: Plan, now: datetime, breaker: Breaker) -> Step:
    rt = runtime()
    shards = rt.settings.due_index_shards
    aid = account.account_id
    match planned.action:
        case "not_due" | "deferred":
            return Step(aid, planned.action, planned.reason)
        case "unschedule":
            account.schedule(None, shards)
            save_versioned(account)
        case "redispatch_purge":
            purge.redispatch(account, now)  # the watchdog
        case "release_hold":
            holds.release(account, account.hold.until or now)  # deadlines count from the moment it expired
            save_versioned(account)
            audit.record(aid, "hold_expired", now)
        case "reschedule" | "roll_back":
            settle_plan(account, now)
            save_versioned(account)
        case "held":
            # Nothing destructive while held; look again when the hold ends (or when it is lifted).
            account.schedule(account.hold.until if account.hold else None, shards)
            save_versioned(account)
        case "paused":
            _move_deadline(account, planned.decision, now)
        case "settle_claim":
            # Whether SES took it is unknown: the stage counts as attempted, never as notice.
            claim = account.warning_claim
            account.warnings = [
                *account.warnings,
                WarningSent(days=claim.days, sent_at=claim.claimed_at, confirmed=False, kind=claim.kind),
            ]
            account.warning_claim = None
            if claim.kind == REMINDER and account.delete_at is not None:
                # It may have gone out: the deletion keeps the shortest notice after it, as if confirmed.
                account.delete_at = max(
                    account.delete_at, claim.claimed_at + runtime().policy.shortest_notice
                )
            account.schedule(now, shards)  # decide the rest at once, next sweep at the latest
            save_versioned(account)
        case "warn" | "remind":
            return _warn(account, planned.decision, now)
        case "suspend":
            return _suspend(account, planned.decision, now)
        case "notify_suspension":
            return _notify_suspension(account, planned.decision, now)
        case "purge":
            purge.start_purge(account, now)
            return Step(aid, "purge_started", planned.reason, delete_at=account.delete_at)
        case "wait":
            account.schedule(planned.decision.until, shards)
            save_versioned(account)
    return Step(aid, _DONE.get(planned.action, planned.action), planned.reason)


_DONE = {
    "roll_back": "rolled_back",
    "wait": "waiting",
    "redispatch_purge": "purge_redispatched",
    "unschedule": "skipped",
}


def _move_deadline(account: AccountModel, decision: object, now: datetime) -> None:
    """Kill switch on: the due step waits for the next check, and its deadline moves with it (never skipped)."""
    rt = runtime()
    later = now + timedelta(minutes=rt.settings.pause_recheck_minutes)
    cycle = account.cycle()
    if isinstance(decision, Suspend):
        moved = replace(cycle, suspend_at=later, delete_at=later + rt.policy.grace_period)
    else:
        moved = replace(cycle, delete_at=later)
    account.apply_cycle(moved)
    account.schedule(later, rt.settings.due_index_shards)
    save_versioned(account)
    count("DestructionPaused")
    logger.warning("destructive step paused by the kill switch", extra={"account_id": account.account_id})


def _warn(account: AccountModel, decision: Warn | Remind, now: datetime) -> Step:
    """A warning before suspension or a reminder before deletion: claimed, sent, confirmed (at most once)."""
    kind = WARNING if isinstance(decision, Warn) else REMINDER
    claim = account.warning_claim
    if claim is not None:
        return Step(account.account_id, "claimed_elsewhere", f"{claim.kind} stage {claim.days} is being sent")
    # Claim the stage first: of two racing sweeps only one sends it.
    account.warning_claim = WarningClaim(days=decision.stage_days, claimed_at=now, kind=kind)
    save_versioned(account)

    cycle = decision.cycle
    to, aid, days = account.owner_email or "", account.account_id, decision.stage_days
    if kind == WARNING:
        email = notifications.warning(to, aid, days, cycle.suspend_at, cycle.delete_at)
    else:
        email = notifications.deletion_reminder(to, aid, days, cycle.delete_at)
    failure = _send(email, account, f"{kind.capitalize()}Failed")
    if failure is not None:
        account.warning_claim = None
        _save_quietly(account)
        return Step(aid, f"{kind}_failed", failure, stage_days=days)

    _confirm(account, lambda a: _confirm_stage(a, decision, kind, now))
    count(f"{kind.capitalize()}Sent{days}d")
    audit.record(aid, f"{kind}_sent", now, stage_days=days)
    return Step(
        aid,
        "warned" if kind == WARNING else "reminded",
        decision.reason + (" (deadline moved for the shortest notice)" if decision.deadline_moved else ""),
        stage_days=days,
        suspend_at=cycle.suspend_at,
        delete_at=cycle.delete_at,
    )


def _confirm_stage(account: AccountModel, decision: Warn | Remind, kind: str, now: datetime) -> bool:
    claim = account.warning_claim
    if claim is None or claim.days != decision.stage_days or claim.claimed_at != now or claim.kind != kind:
        return False  # a login reset the cycle meanwhile: the email is moot
    account.apply_cycle(
        decision.cycle,
        warnings=[*account.warnings, WarningSent(days=decision.stage_days, sent_at=now, kind=kind)],
    )
    account.warning_claim = None
    account.schedule(next_action_at(decision.cycle, runtime().policy), runtime().settings.due_index_shards)
    return True


def _suspend(account: AccountModel, decision: Suspend, now: datetime) -> Step:
    # Suspended first, notice second: a failed notice leaves it due, and the grace period waits for it.
    unnotified = replace(decision.cycle, suspension_notice_at=None)
    account.apply_cycle(unnotified)
    account.schedule(next_action_at(unnotified, runtime().policy), runtime().settings.due_index_shards)
    save_versioned(account)
    count("Suspended")
    audit.record(account.account_id, "suspended", now)
    step = _notify_suspension(account, NotifySuspension(cycle=decision.cycle, reason=decision.reason), now)
    return replace(step, action="suspended" if step.action == "suspension_notified" else step.action)


def _notify_suspension(account: AccountModel, decision: NotifySuspension, now: datetime) -> Step:
    rt = runtime()
    cycle = decision.cycle
    email = notifications.suspension_notice(account.owner_email or "", account.account_id, cycle.delete_at)
    failure = _send(email, account, "SuspensionNoticeFailed")
    if failure is not None:
        return Step(account.account_id, "suspension_notice_failed", failure)

    def confirm(a: AccountModel) -> bool:
        if a.status != "suspended" or a.suspension_notice_at is not None:
            return False  # reactivated meanwhile
        a.apply_cycle(cycle)
        a.schedule(next_action_at(cycle, rt.policy), rt.settings.due_index_shards)  # a reminder, or the purge
        return True

    _confirm(account, confirm)
    return Step(
        account.account_id,
        "suspension_notified",
        decision.reason,
        suspend_at=cycle.suspended_at,
        delete_at=cycle.delete_at,
    )


def _send(email: notifications.Email, account: AccountModel, failure_metric: str) -> str | None:
    """Send through SES; on failure, count and log it and return why (the step stays due for a later sweep)."""
    try:
        notifications.send(email, runtime().settings.sender_email)
    except notifications.EmailNotSent as error:
        count(failure_metric)
        logger.error(
            f"{email.kind} email not sent; a later sweep retries it",
            extra={"account_id": account.account_id, "error": str(error)},
        )
        return str(error)
    return None


def _confirm(account: AccountModel, apply: Callable[[AccountModel], bool]) -> None:
    """Record that an email went out, re-reading on a race; ``apply`` returns False when it's moot."""
    for _ in range(5):
        if not apply(account):
            return
        try:
            save_versioned(account)
            return
        except VersionConflict:
            reloaded = load(account.account_id)
            if reloaded is None:
                return
            account = reloaded
    raise RuntimeError(f"could not record the email sent to account {account.account_id!r}")


def _save_quietly(account: AccountModel) -> None:
    """Release a claim; losing that race is fine (whoever won wrote a newer state)."""
    try:
        save_versioned(account)
    except VersionConflict:
        logger.info("claim release raced with another write", extra={"account_id": account.account_id})
