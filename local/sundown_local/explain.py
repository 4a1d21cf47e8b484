"""Why an account is where it is, and what comes next: the stored record read through the layer's own
code, and the policy asked what a sweep would do at a given time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sundown import policy as rules
from sundown.account_view import describe_account
from sundown.clock import iso
from sundown.models import AccountModel, load
from sundown.runtime import runtime


@dataclass
class Explanation:
    account_id: str
    at: datetime
    view: dict[str, Any]  # what the operator API answers
    why: list[str] = field(default_factory=list)
    next_dates: list[tuple[str, str]] = field(default_factory=list)  # (what, when)
    sweep: str = ""  # what a sweep at `at` would do
    certificate: dict[str, Any] | None = None


def explain(account_id: str, at: datetime) -> Explanation | None:
    """None when the account is unknown. Needs the environment of a function bound to the accounts table."""
    runtime()  # binds the models to the environment's accounts table
    view = describe_account(account_id, at)
    account = load(account_id)
    if view is None or account is None:
        return None
    result = Explanation(account_id=account_id, at=at, view=view)
    hold = getattr(account, "hold", None)  # legal holds, where the layer has them
    if hold is not None and hold.active(at):
        until = f" until {_when(hold.until)}" if hold.until else " (no end date)"
        result.why.append(
            f"legal hold since {_when(hold.placed_at)}{until}: {hold.reason}; "
            "never suspended or purged while it stands"
        )
    if account.status == "deleted":
        _deleted(account, result)
    elif account.status == "purging":
        _purging(account, result)
    elif account.plan == "commercial":
        _commercial(account, result)
    else:
        _free(account, result)
    if account.next_action_at is not None:
        result.next_dates.append(("next_action_at (due-index)", _when(account.next_action_at)))
    elif account.status not in ("deleted",):
        result.next_dates.append(("next_action_at (due-index)", "none: no sweep will pick it up"))
    return result


def _when(value: datetime | None) -> str:
    return iso(value) or "-"


def _deleted(account: AccountModel, out: Explanation) -> None:
    out.why.append(
        f"deleted on {_when(account.deleted_at)} ({account.deletion_reason or 'no reason recorded'})"
    )
    out.why.append("only the tombstone is left: no personal data; the certificate records what was purged")
    out.certificate = account.certificate
    out.sweep = "nothing: a deleted account is never scheduled again"


def _purging(account: AccountModel, out: Explanation) -> None:
    out.why.append(
        f"suspended on {_when(account.suspended_at)}, grace period ended {_when(account.delete_at)}: "
        "the sweep handed it to the purge queue"
    )
    progress = account.purge_progress or {}
    if progress:
        out.why.append(
            f"purge started {progress.get('started_at', '-')}, pass {progress.get('pass', '-')}, "
            f"store #{progress.get('store', '-')}, verification failures {progress.get('verification_failures', 0)}"
        )
    out.sweep = (
        "re-dispatch the purge request if it is still unfinished at next_action_at; "
        "the worker resumes from its checkpoint and leaves a tombstone"
    )


def _commercial(account: AccountModel, out: Explanation) -> None:
    terms = account.subscription_terms()
    for sub in account.subscriptions or []:
        renewal = (
            f"auto-renewal off, paid until {_when(sub.current_period_end)}"
            if sub.cancel_at_period_end
            else f"renews (current period ends {_when(sub.current_period_end)})"
        )
        out.why.append(f"commercial: subscription {sub.subscription_id} {sub.status}, {renewal}")
    if not account.subscriptions:
        out.why.append("commercial, but no subscription is recorded")
    if rules.any_paid(terms, out.at):
        out.why.append("paid at this time: no idle clock, warnings or suspension while paid")
        ends = rules.commercial_next_action_at(terms, out.at)
        if ends is None:
            out.next_dates.append(("paid period", "renews; Stripe says when it stops"))
            out.sweep = "nothing: the account is paid and renews"
        else:
            out.next_dates.append(("rollback to Free", _when(ends)))
            out.sweep = (
                f"nothing yet; the sweep at {_when(ends)} rolls it back to Free and starts the idle clock"
            )
    else:
        out.why.append("no subscription is paid at this time")
        out.sweep = "roll it back to Free (idle clock starts at the rollback)"


def _free(account: AccountModel, out: Explanation) -> None:
    policy = runtime().policy
    started = rules.idle_since(account.last_activity_at, account.created_at, account.downgraded_at)
    source = {
        account.last_activity_at: "last activity",
        account.downgraded_at: "downgrade to Free",
        account.created_at: "creation",
    }.get(started, "?")
    out.why.append(f"free, idle clock started {_when(started)} ({source})")
    if account.last_activity_at is None:
        out.why.append("no user has logged in since creation")
    for kind, label in (("warning", "warnings"), ("reminder", "reminders before deletion")):
        sent = [f"{int(w.days)}-day on {_when(w.sent_at)}" for w in account.warnings or [] if w.kind == kind]
        if sent:
            out.why.append(f"{label} sent this cycle: {', '.join(sent)}")
    if account.warning_claim is not None:
        claim = account.warning_claim
        out.why.append(
            f"the {int(claim.days)}-day warning was claimed at {_when(claim.claimed_at)} but not confirmed "
            "(send in flight, or failed and released)"
        )
    if account.suspend_at is None or account.delete_at is None:
        out.why.append("no idle cycle recorded")
        out.sweep = "nothing: no idle cycle"
        return
    cycle = account.cycle()
    scheduled = started + policy.idle_period
    if cycle.suspend_at != scheduled:
        out.why.append(
            f"the suspension moved from {_when(scheduled)} to {_when(cycle.suspend_at)} "
            "(a late warning keeps the shortest notice; a pause moves it too)"
        )
    if cycle.status == "suspended":
        notice = (
            f"notice sent {_when(cycle.suspension_notice_at)}"
            if cycle.suspension_notice_at
            else "notice NOT sent yet (the grace period waits for it)"
        )
        out.why.append(
            f"suspended on {_when(cycle.suspended_at)}, {notice}, grace until {_when(cycle.delete_at)}"
        )
    if cycle.status != "suspended":
        for days in rules.stages_ahead(policy.warning_days, cycle.warned_stages):
            out.next_dates.append((f"{days}-day warning", _when(policy.stage_due_at(cycle.suspend_at, days))))
        out.next_dates.append(("suspend_at", _when(cycle.suspend_at)))
    elif cycle.suspension_notice_at is not None:
        for days in rules.stages_ahead(policy.reminder_days, cycle.reminded_stages):
            out.next_dates.append((f"{days}-day reminder", _when(policy.stage_due_at(cycle.delete_at, days))))
    out.next_dates.append(("delete_at", _when(cycle.delete_at)))
    out.next_dates.append(("next action (policy)", _when(rules.next_action_at(cycle, policy))))
    out.sweep = _decision(rules.decide_free(cycle, out.at, policy), cycle)
    if account.hold is not None and account.hold.active(out.at):
        out.sweep = f"nothing: the account is on legal hold (otherwise it would {out.sweep})"
    settings = runtime().settings
    if getattr(settings, "dry_run", False) or getattr(settings, "destruction_paused", False):
        out.sweep += " (but DRY_RUN / DESTRUCTION_PAUSED is set: the sweep holds back)"


def _decision(decision: rules.FreeDecision, before: rules.IdleCycle) -> str:
    match decision:
        case rules.Warn(stage_days=days, cycle=cycle, deadline_moved=moved):
            moved_text = (
                f" (too late for the full notice: the suspension moves from {_when(before.suspend_at)})"
                if moved
                else ""
            )
            return (
                f"send the {days}-day warning: suspension on {_when(cycle.suspend_at)}, "
                f"deletion on {_when(cycle.delete_at)}{moved_text}"
            )
        case rules.Remind(stage_days=days, cycle=cycle, deadline_moved=moved):
            moved_text = (
                f" (too late for the full notice: it moves from {_when(before.delete_at)})" if moved else ""
            )
            return f"send the {days}-day reminder: deletion on {_when(cycle.delete_at)}{moved_text}"
        case rules.Suspend(cycle=cycle):
            return f"suspend it and send the notice: deletion on {_when(cycle.delete_at)}"
        case rules.NotifySuspension(cycle=cycle):
            return (
                f"send the overdue suspension notice: the grace period then runs to {_when(cycle.delete_at)}"
            )
        case rules.Purge(reason=reason):
            return f"mark it purging and hand it to the purge queue ({reason})"
        case rules.Wait(until=until, reason=reason):
            return f"wait ({reason}); it looks again at {_when(until)}"
    return str(decision)
