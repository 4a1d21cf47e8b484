"""The lifecycle policy: pure date arithmetic and stage selection. No AWS, no wall clock.

Every function takes "now" as an argument, so a replay of the same events gives the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sundown.settings import Settings

# A Stripe subscription counts as paid in these states (SPEC).
PAID_SUBSCRIPTION_STATUSES = frozenset({"active", "trialing", "past_due"})


@dataclass(frozen=True)
class Policy:
    idle_period: timedelta
    warning_days: tuple[int, ...]  # largest first: 14, 7, 3, 1
    shortest_notice: timedelta
    grace_period: timedelta
    # Reminders during the grace period, in days before deletion, largest first; none by default.
    reminder_days: tuple[int, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            idle_period=settings.idle_period,
            warning_days=tuple(sorted(settings.warning_days, reverse=True)),
            shortest_notice=settings.shortest_notice,
            grace_period=settings.grace_period,
            reminder_days=tuple(sorted(settings.grace_reminder_days, reverse=True)),
        )

    def stage_due_at(self, deadline: datetime, stage_days: int) -> datetime:
        return deadline - timedelta(days=stage_days)


def idle_since(
    last_activity_at: datetime | None, created_at: datetime, downgraded_at: datetime | None
) -> datetime:
    """The idle clock starts at the latest of: any user's activity, creation, downgrade to Free."""
    return max(t for t in (last_activity_at, created_at, downgraded_at) if t is not None)


@dataclass(frozen=True)
class IdleCycle:
    """Where a Free account stands in its current idle cycle."""

    status: str  # active | warned | suspended
    suspend_at: datetime
    delete_at: datetime
    warned_stages: tuple[int, ...] = ()  # stages whose email was confirmed sent this cycle
    last_warning_at: datetime | None = None
    suspended_at: datetime | None = None
    suspension_notice_at: datetime | None = None  # when the suspension notice was confirmed sent
    reminded_stages: tuple[int, ...] = ()  # grace-period reminders claimed this cycle


def new_cycle(idle_start: datetime, policy: Policy) -> IdleCycle:
    suspend_at = idle_start + policy.idle_period
    return IdleCycle(status="active", suspend_at=suspend_at, delete_at=suspend_at + policy.grace_period)


def next_action_at(cycle: IdleCycle, policy: Policy) -> datetime:
    """When a sweep next has something to do for this cycle: a warning stage, the suspension or the purge."""
    if cycle.status == "suspended":
        if cycle.suspension_notice_at is None:
            return cycle.suspended_at or cycle.delete_at
        ahead = stages_ahead(policy.reminder_days, cycle.reminded_stages)
        return min([policy.stage_due_at(cycle.delete_at, d) for d in ahead] + [cycle.delete_at])
    ahead = stages_ahead(policy.warning_days, cycle.warned_stages)
    return min([policy.stage_due_at(cycle.suspend_at, d) for d in ahead] + [cycle.suspend_at])


# --- What a sweep decides for one Free account ------------------------------------------------------


@dataclass(frozen=True)
class _StageEmail:
    stage_days: int
    cycle: IdleCycle  # the cycle after this email is confirmed (its deadline possibly moved)
    deadline_moved: bool
    reason: str


class Warn(_StageEmail):
    """A warning before suspension."""


class Remind(_StageEmail):
    """A grace-period reminder before deletion (only when the GraceReminderDays parameter asks for them)."""


@dataclass(frozen=True)
class Suspend:
    cycle: IdleCycle
    reason: str


@dataclass(frozen=True)
class NotifySuspension:
    """The account is suspended but its notice has not gone out yet: send it, then start the grace period."""

    cycle: IdleCycle
    reason: str


@dataclass(frozen=True)
class Purge:
    reason: str


@dataclass(frozen=True)
class Wait:
    until: datetime
    reason: str


FreeDecision = Warn | Remind | Suspend | NotifySuspension | Purge | Wait


def decide_free(cycle: IdleCycle, now: datetime, policy: Policy) -> FreeDecision:
    if cycle.status == "suspended":
        if cycle.suspension_notice_at is None:
            # The grace period counts from a notice that really went out, so a failed send delays the purge.
            notified = replace(cycle, suspension_notice_at=now, delete_at=now + policy.grace_period)
            return NotifySuspension(cycle=notified, reason="suspended; its notice has not been sent yet")
        due = _due_stage(policy.reminder_days, cycle.reminded_stages, cycle.delete_at, now, policy)
        if due is not None:
            stage, delete_at = due
            reminded = replace(cycle, delete_at=delete_at, reminded_stages=(*cycle.reminded_stages, stage))
            return Remind(
                stage_days=stage,
                cycle=reminded,
                deadline_moved=delete_at != cycle.delete_at,
                reason=f"suspended; the {stage}-day reminder before deletion on {delete_at.date()} is due",
            )
        if now >= cycle.delete_at:
            return Purge(reason=f"suspended and the grace period ended at {cycle.delete_at.isoformat()}")
        return Wait(until=next_action_at(cycle, policy), reason="suspended, in its grace period")

    due = _due_stage(policy.warning_days, cycle.warned_stages, cycle.suspend_at, now, policy)
    if due is not None:
        stage, suspend_at = due
        warned = IdleCycle(
            status="warned",
            suspend_at=suspend_at,
            delete_at=suspend_at + policy.grace_period,
            warned_stages=(*cycle.warned_stages, stage),
            last_warning_at=now,
        )
        return Warn(
            stage_days=stage,
            cycle=warned,
            deadline_moved=suspend_at != cycle.suspend_at,
            reason=f"idle; the {stage}-day warning before suspension on {suspend_at.date()} is due",
        )

    if now >= cycle.suspend_at:
        earliest = None if cycle.last_warning_at is None else cycle.last_warning_at + policy.shortest_notice
        if earliest is not None and now >= earliest:
            suspended = IdleCycle(
                status="suspended",
                suspend_at=cycle.suspend_at,
                # Counted from the notice actually sent, so the grace period is never shortened by a late sweep.
                delete_at=now + policy.grace_period,
                warned_stages=cycle.warned_stages,
                last_warning_at=cycle.last_warning_at,
                suspended_at=now,
                suspension_notice_at=now,
            )
            return Suspend(cycle=suspended, reason=f"idle since before {cycle.suspend_at.date()} and warned")
        if earliest is None:
            # Every stage was attempted but none confirmed (a crash hid the outcome): suspension needs a
            # warning known to have gone out, so the last stage goes again, and the deadline moves.
            stage = min(policy.warning_days)
            suspend_at = now + policy.shortest_notice
            resent = IdleCycle(
                status="warned",
                suspend_at=suspend_at,
                delete_at=suspend_at + policy.grace_period,
                warned_stages=cycle.warned_stages,
                last_warning_at=now,
            )
            return Warn(stage, resent, True, f"no warning confirmed sent; the {stage}-day warning goes again")
        return Wait(until=earliest, reason="the last warning went out less than the shortest notice ago")

    return Wait(until=next_action_at(cycle, policy), reason="nothing due yet")


def _due_stage(
    stages: tuple[int, ...], sent: tuple[int, ...], deadline: datetime, now: datetime, policy: Policy
) -> tuple[int, datetime] | None:
    """The stage (warning or reminder) to send now, and its deadline, or None when none is due.

    A late sweep sends only the latest stage that is due, never a pile of them, and the deadline moves
    so that it comes at least the shortest notice after that email.
    """
    due = [d for d in stages_ahead(stages, sent) if now >= policy.stage_due_at(deadline, d)]
    if not due:
        return None
    return min(due), max(deadline, now + policy.shortest_notice)


def stages_ahead(stages: tuple[int, ...], sent: tuple[int, ...]) -> list[int]:
    """Stages (largest first) still to come this cycle: those after the latest one already sent."""
    floor = min(sent, default=None)
    return [d for d in stages if floor is None or d < floor]


# --- Commercial plans --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionTerms:
    """What the policy needs of one Stripe subscription."""

    status: str
    cancel_at_period_end: bool
    current_period_end: datetime | None


def subscription_paid(sub: SubscriptionTerms, now: datetime) -> bool:
    if sub.status not in PAID_SUBSCRIPTION_STATUSES:
        return False
    # With auto-renewal off, the paid period is all there is.
    return not (
        sub.cancel_at_period_end and sub.current_period_end is not None and sub.current_period_end <= now
    )


def any_paid(subs: Iterable[SubscriptionTerms], now: datetime) -> bool:
    return any(subscription_paid(s, now) for s in subs)


def commercial_next_action_at(subs: Sequence[SubscriptionTerms], now: datetime) -> datetime | None:
    """When a sweep must look again at a paid account: the end of the paid period, once nothing renews.

    A subscription that renews has no end the sweep could act on; Stripe tells us when it stops.
    """
    paid = [s for s in subs if subscription_paid(s, now)]
    if not paid or any(not s.cancel_at_period_end or s.current_period_end is None for s in paid):
        return None
    return max(s.current_period_end for s in paid if s.current_period_end is not None)
