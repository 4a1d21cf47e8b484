"""Invariants over random histories, run through the real handlers and the template's wiring on moto.

Each example is a fresh stack and a random history of account creations, logins and activity (some
for unknown accounts), Stripe subscription events (duplicates, reordering, both period-end shapes),
sweeps at random times (each drains the purge queue), and legal holds placed and lifted. After every
step the invariants of issue 5 are checked. Half the histories run with grace-period reminders on
(GraceReminderDays "3,1"), the other half with the template's default (none).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sundown_local.simulation import account_created, login, subscription_event
from sundown_local.tenant_data import seed_tenant, tenant_inventory

EXAMPLES = int(os.environ.get("SUNDOWN_PROPERTY_EXAMPLES", "8"))
ACCOUNTS = ("t1", "t2", "t3")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
IDLE, NOTICE, GRACE = timedelta(days=30), timedelta(days=1), timedelta(days=7)
COALESCE = timedelta(minutes=60)  # the template's ActivityCoalesceMinutes
REMINDERS = {"GraceReminderDays": "3,1"}


@dataclass(frozen=True)
class Step:
    kind: str  # create | login | stripe | duplicate | sweep | hold | lift
    advance_hours: int
    account: str = "t1"
    args: tuple[Any, ...] = ()


accounts = st.sampled_from(ACCOUNTS)
hours = st.integers(min_value=0, max_value=120)
steps = st.one_of(
    st.builds(Step, st.just("create"), hours, accounts),
    st.builds(Step, st.just("login"), hours, st.sampled_from((*ACCOUNTS, "ghost"))),
    st.builds(
        Step,
        st.just("stripe"),
        hours,
        accounts,
        st.tuples(
            st.sampled_from(("created", "updated", "deleted")),
            st.sampled_from(("1", "2")),  # subscription
            st.sampled_from(("active", "trialing", "past_due", "canceled", "unpaid")),
            st.booleans(),  # cancel_at_period_end
            st.integers(min_value=1, max_value=40),  # period end, days ahead
            st.integers(min_value=0, max_value=48),  # created this many hours ago: reordering
            st.booleans(),  # legacy period-end shape
        ),
    ),
    st.builds(Step, st.just("duplicate"), hours, accounts, st.tuples(st.integers(min_value=0, max_value=50))),
    st.builds(Step, st.just("sweep"), hours, accounts),
    st.builds(
        Step, st.just("hold"), hours, accounts, st.tuples(st.one_of(st.none(), *[st.integers(1, 400)] * 3))
    ),
    st.builds(Step, st.just("lift"), hours, accounts),
)
long_sweep = st.builds(Step, st.just("sweep"), st.integers(min_value=24, max_value=240), accounts)
# Every history opens the three accounts, then mixes events with sweeps that move time on far enough
# to reach warnings, suspension and purges (the statistics printed by --hypothesis-show-statistics
# show which end states the examples reached).
histories = st.lists(st.one_of(steps, long_sweep, long_sweep, long_sweep), min_size=8, max_size=26).map(
    lambda tail: [Step("create", 0, a) for a in ACCOUNTS] + tail
)


@dataclass
class World:
    wiring: Any
    clock: datetime = T0
    created: set[str] = field(default_factory=set)
    stripe_sent: list[dict[str, Any]] = field(default_factory=list)
    seeded: dict[str, Any] = field(default_factory=dict)
    stages_this_cycle: dict[str, set[int]] = field(default_factory=dict)
    reminders_this_cycle: dict[str, set[int]] = field(default_factory=dict)
    emails_seen: int = 0


def run(world: World, step: Step) -> None:
    w = world.wiring
    world.clock += timedelta(hours=step.advance_hours)
    now = world.clock
    match step.kind:
        case "create":
            w.publish(
                account_created(now, step.account, f"nid-{step.account}", f"{step.account}@owner.example")
            )
            if step.account not in world.created:
                world.created.add(step.account)
                seed_tenant(w.stack, step.account, f"nid-{step.account}")
                world.seeded[step.account] = tenant_inventory(w.stack, step.account)
        case "login":
            w.clock = now
            assert_no_failures(w.publish(login(now, step.account, f"nid-{step.account}")))
        case "stripe":
            kind, sub, status, cancel, days_ahead, ago, legacy = step.args
            at = max(T0, now - timedelta(hours=ago))
            event = subscription_event(
                f"customer.subscription.{kind}",
                at,
                step.account,
                f"sub_{step.account}_{sub}",
                status="canceled" if kind == "deleted" else status,
                cancel_at_period_end=cancel,
                period_end=now + timedelta(days=days_ahead),
                legacy_shape=legacy,
            )
            world.stripe_sent.append(event)
            assert_no_failures(w.publish(event))
        case "duplicate":
            if world.stripe_sent:
                assert_no_failures(w.publish(world.stripe_sent[step.args[0] % len(world.stripe_sent)]))
        case "sweep":
            w.tick(now)  # the sweep, then every queue drained (the purge worker included)
            assert_no_failures(w.deliveries)
        case "hold":
            until = None if step.args[0] is None else (now + timedelta(hours=step.args[0])).isoformat()
            w.http("PUT", f"/accounts/{step.account}/hold", now, {"reason": "property test", "until": until})
        case "lift":
            w.http("DELETE", f"/accounts/{step.account}/hold", now)


def assert_no_failures(deliveries: list[Any]) -> None:
    assert all(d.failed == 0 for d in deliveries), "a record failed: an unhandled exception in the domain"


def snapshot(world: World) -> dict[str, Any]:
    from sundown.models import load

    return {a: load(a) for a in world.created}


def check(
    world: World, step: Step, before: dict[str, Any], after: dict[str, Any], emails: list[dict[str, str]]
) -> None:
    from sundown.policy import any_paid

    now = world.clock
    new_emails, world.emails_seen = emails[world.emails_seen :], len(emails)
    for account_id, now_state in after.items():
        was = before.get(account_id)
        if was is None or now_state is None:
            continue
        entered = now_state.status if now_state.status != was.status else None

        # 1. Never suspended or purged while paid or on hold.
        if entered in ("suspended", "purging", "deleted"):
            assert step.kind == "sweep", f"{account_id} became {entered} outside a sweep"
            assert not (was.hold and was.hold.active(now)), f"{account_id} became {entered} while on hold"
            assert not any_paid(was.subscription_terms(), now), f"{account_id} became {entered} while paid"
        # 2. Suspended only after a warning at least the shortest notice before; purged only after the
        #    suspension notice at least the grace period before.
        if entered == "suspended":
            assert now_state.last_warning_at is not None and now_state.last_warning_at + NOTICE <= now
        if entered in ("purging", "deleted"):
            assert was.suspension_notice_at is not None and was.suspension_notice_at + GRACE <= now
            #    ... and never sooner than the shortest notice after a reminder that may have gone out.
            reminded = [w.sent_at for w in was.warnings or [] if w.kind == "reminder"]
            assert all(at + NOTICE <= now for at in reminded), (
                f"{account_id} purged too soon after a reminder"
            )
        # 3. Each warning stage at most once per idle cycle.
        #    Each reminder stage too, and only while the account is suspended with its notice sent.
        sent = world.stages_this_cycle.setdefault(account_id, set())
        reminders = world.reminders_this_cycle.setdefault(account_id, set())
        if not now_state.warnings:
            sent.clear()
            reminders.clear()
        for email in new_emails:
            stage_of = (
                int(email["body"].split("This is your ")[1].split("-day")[0])
                if "This is your" in email["body"]
                else 0
            )
            if f"account {account_id} will be suspended" in email["subject"]:
                assert stage_of not in sent, (
                    f"{account_id}: the {stage_of}-day warning went out twice in one cycle"
                )
                sent.add(stage_of)
            if f"suspended account {account_id} will be deleted" in email["subject"]:
                assert stage_of not in reminders, f"{account_id}: the {stage_of}-day reminder went out twice"
                assert was.status == "suspended" and was.suspension_notice_at is not None
                reminders.add(stage_of)
        # 4. Activity before purging leaves the account active, its deadline counted from that moment.
        if (
            step.kind == "login"
            and step.account == account_id
            and was.status in ("active", "warned", "suspended")
        ):
            fresh = was.last_activity_at is None or now > was.last_activity_at
            after_downgrade = was.downgraded_at is None or now >= was.downgraded_at
            if was.plan == "free" and fresh and after_downgrade:
                assert now_state.status == "active"
                # exact, or up to one coalescing window early when a login inside it cost no write
                assert now + IDLE - COALESCE <= now_state.suspend_at <= now + IDLE
        if step.kind == "login" and was.status in ("purging", "deleted"):
            assert now_state.status == was.status
    # 5. Once purging, a drained stack ends deleted with nothing left; no other tenant loses anything.
    #    (The stores are re-counted whenever a purge ran, and once at the end of every history.)
    purged = any(
        s.status == "deleted" and before.get(a) is not None and before[a].status != "deleted"
        for a, s in after.items()
    )
    if step.kind == "sweep":
        assert all(s.status != "purging" for s in after.values()), "still purging after the queues drained"
    if purged or step.kind == "final":
        for account_id, state in after.items():
            left = tenant_inventory(world.wiring.stack, account_id)
            if state.status == "deleted":
                assert left.as_row() == ["0", "0", "0", "0"]
                assert state.certificate["verification"]["result"] == "verified"
            else:
                assert left == world.seeded[account_id], f"{account_id} lost data without being purged"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(history=histories, reminders=st.booleans())
def test_invariants_hold_after_every_step(history: list[Step], reminders: bool) -> None:
    from sundown_local.embedded import embedded_stack, sent_emails

    with embedded_stack(parameter_overrides=REMINDERS if reminders else None, function_env=QUIET) as wiring:
        world = World(wiring)
        for step in history:
            before = snapshot(world)
            run(world, step)
            check(world, step, before, snapshot(world), sent_emails())
        final = snapshot(world)
        check(world, Step("final", 0), final, final, sent_emails())
        for state in final.values():
            event(f"an account ended {state.plan}/{state.status}")  # shows the histories reach every state
        if any("will be deleted on" in e["subject"] for e in sent_emails()):
            event("a grace-period reminder went out")


@settings(max_examples=max(2, EXAMPLES // 4), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories)
def test_replaying_a_history_gives_the_same_states_and_emails(history: list[Step]) -> None:
    from sundown.account_view import account_view
    from sundown_local.embedded import embedded_stack, sent_emails

    outcomes = []
    for _ in range(2):
        with embedded_stack(function_env=QUIET) as wiring:
            world = World(wiring)
            for step in history:
                run(world, step)
            states = {a: account_view(s, world.clock) for a, s in snapshot(world).items() if s is not None}
            outcomes.append((states, [(e["to"], e["subject"], e["body"]) for e in sent_emails()]))
    assert outcomes[0] == outcomes[1]


QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
