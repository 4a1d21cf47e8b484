"""The lifecycle policy (sundown.policy): pure date arithmetic, no AWS, no wall clock.

Times are built from a fixed T0; every "now" is passed in explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from sundown.policy import (
    IdleCycle,
    NotifySuspension,
    Policy,
    Purge,
    Remind,
    SubscriptionTerms,
    Suspend,
    Wait,
    Warn,
    any_paid,
    commercial_next_action_at,
    decide_free,
    idle_since,
    new_cycle,
    next_action_at,
    subscription_paid,
)
from sundown.settings import Settings

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)  # the idle clock starts here
SUSPEND_AT = T0 + 30 * DAY  # 2026-01-31T09:00Z with the default policy
DELETE_AT = SUSPEND_AT + 7 * DAY

DEFAULT_POLICY = Policy(
    idle_period=timedelta(days=30),
    warning_days=(14, 7, 3, 1),
    shortest_notice=timedelta(days=1),
    grace_period=timedelta(days=7),
)


@pytest.fixture
def policy() -> Policy:
    return DEFAULT_POLICY


def warned_on_time(policy: Policy, *stages: int) -> IdleCycle:
    """Given a fresh cycle from T0, apply the warnings for ``stages``, each swept exactly when due."""
    cycle = new_cycle(T0, policy)
    for stage in stages:
        decision = decide_free(cycle, policy.stage_due_at(cycle.suspend_at, stage), policy)
        assert isinstance(decision, Warn)
        assert decision.stage_days == stage
        cycle = decision.cycle
    return cycle


# --- Policy construction ----------------------------------------------------------------------------


def test_policy_from_settings_matches_the_defaults_and_sorts_warnings_largest_first() -> None:
    # given settings whose warning days come unordered
    settings = Settings(
        accounts_table="accounts",
        idempotency_table="idempotency",
        sender_email="noreply@example.com",
        idle_days=30,
        warning_days="1,7,14,3",
        shortest_notice_days=1,
        grace_days=7,
    )
    # when the policy is built from them
    built = Policy.from_settings(settings)
    # then it equals the directly built default policy
    assert built == DEFAULT_POLICY
    assert built.warning_days == (14, 7, 3, 1)


def test_policy_from_settings_carries_custom_values() -> None:
    settings = Settings(
        accounts_table="accounts",
        idempotency_table="idempotency",
        sender_email="noreply@example.com",
        idle_days=21,
        warning_days="2,10",
        shortest_notice_days=0.5,
        grace_days=3,
    )
    assert Policy.from_settings(settings) == Policy(
        idle_period=timedelta(days=21),
        warning_days=(10, 2),
        shortest_notice=timedelta(hours=12),
        grace_period=timedelta(days=3),
    )


def test_stage_due_at_counts_back_from_the_deadline(policy: Policy) -> None:
    assert policy.stage_due_at(SUSPEND_AT, 14) == SUSPEND_AT - 14 * DAY
    assert policy.stage_due_at(SUSPEND_AT, 1) == SUSPEND_AT - DAY


# --- Idle clock -------------------------------------------------------------------------------------


def test_idle_since_is_the_latest_of_activity_creation_and_downgrade() -> None:
    created = T0
    activity = T0 + 3 * DAY
    downgrade = T0 + 5 * DAY
    assert idle_since(activity, created, downgrade) == downgrade
    assert idle_since(downgrade, created, activity) == downgrade
    assert idle_since(activity, created, None) == activity


def test_idle_since_ignores_missing_times_and_falls_back_to_creation() -> None:
    assert idle_since(None, T0, None) == T0
    assert idle_since(None, T0 + DAY, T0) == T0 + DAY
    assert idle_since(None, T0, T0 + 2 * DAY) == T0 + 2 * DAY


def test_new_cycle_sets_suspension_after_idle_period_and_deletion_after_grace(policy: Policy) -> None:
    cycle = new_cycle(T0, policy)
    assert cycle.status == "active"
    assert cycle.suspend_at == T0 + timedelta(days=30)
    assert cycle.delete_at == T0 + timedelta(days=37)
    assert cycle.warned_stages == ()
    assert cycle.last_warning_at is None


# --- next_action_at ---------------------------------------------------------------------------------


def test_next_action_of_a_fresh_cycle_is_the_first_warning(policy: Policy) -> None:
    assert next_action_at(new_cycle(T0, policy), policy) == SUSPEND_AT - 14 * DAY


def test_next_action_after_the_14_and_7_day_warnings_is_the_3_day_warning(policy: Policy) -> None:
    cycle = warned_on_time(policy, 14, 7)
    assert next_action_at(cycle, policy) == SUSPEND_AT - 3 * DAY


def test_next_action_after_the_last_warning_is_the_suspension(policy: Policy) -> None:
    cycle = warned_on_time(policy, 14, 7, 3, 1)
    assert next_action_at(cycle, policy) == SUSPEND_AT


def test_next_action_of_a_suspended_and_notified_account_is_the_purge(policy: Policy) -> None:
    cycle = IdleCycle(
        status="suspended",
        suspend_at=SUSPEND_AT,
        delete_at=DELETE_AT + 2 * HOUR,
        warned_stages=(14, 7, 3, 1),
        last_warning_at=SUSPEND_AT - DAY,
        suspended_at=SUSPEND_AT + 2 * HOUR,
        suspension_notice_at=SUSPEND_AT + 2 * HOUR,
    )
    assert next_action_at(cycle, policy) == DELETE_AT + 2 * HOUR


# --- decide_free: sweeps on time --------------------------------------------------------------------


def test_nothing_is_due_before_the_first_warning(policy: Policy) -> None:
    # given a fresh cycle, when a sweep runs an hour before the 14-day warning
    cycle = new_cycle(T0, policy)
    decision = decide_free(cycle, SUSPEND_AT - 14 * DAY - HOUR, policy)
    # then it waits until exactly the next action
    assert isinstance(decision, Wait)
    assert decision.until == next_action_at(cycle, policy) == SUSPEND_AT - 14 * DAY


def test_between_warnings_the_sweep_waits_for_the_next_stage(policy: Policy) -> None:
    cycle = warned_on_time(policy, 14)
    decision = decide_free(cycle, SUSPEND_AT - 10 * DAY, policy)
    assert isinstance(decision, Wait)
    assert decision.until == next_action_at(cycle, policy) == SUSPEND_AT - 7 * DAY


def test_on_time_sweeps_walk_14_7_3_1_then_suspend_then_purge(policy: Policy) -> None:
    cycle = new_cycle(T0, policy)

    # when each warning's sweep runs exactly when the stage is due
    for stage in (14, 7, 3, 1):
        now = SUSPEND_AT - stage * DAY
        decision = decide_free(cycle, now, policy)
        # then that stage (and only it) is sent, and the deadline stays put
        assert isinstance(decision, Warn)
        assert decision.stage_days == stage
        assert decision.deadline_moved is False
        assert decision.cycle.status == "warned"
        assert decision.cycle.suspend_at == SUSPEND_AT
        assert decision.cycle.delete_at == DELETE_AT
        assert decision.cycle.last_warning_at == now
        assert decision.cycle.warned_stages[-1] == stage
        cycle = decision.cycle
    assert cycle.warned_stages == (14, 7, 3, 1)

    # when the sweep runs at the deadline
    decision = decide_free(cycle, SUSPEND_AT, policy)
    # then the account is suspended, and the Suspend carries its notice (no separate NotifySuspension)
    assert isinstance(decision, Suspend)
    suspended = decision.cycle
    assert suspended.status == "suspended"
    assert suspended.suspended_at == SUSPEND_AT
    assert suspended.suspension_notice_at == SUSPEND_AT
    assert suspended.delete_at == DELETE_AT
    assert suspended.warned_stages == (14, 7, 3, 1)

    # when sweeps run during the grace period, then they wait for the purge
    for now in (SUSPEND_AT + HOUR, DELETE_AT - HOUR):
        waiting = decide_free(suspended, now, policy)
        assert isinstance(waiting, Wait)
        assert waiting.until == DELETE_AT
        assert not isinstance(waiting, NotifySuspension)

    # when the grace period has ended, then the account is purged
    assert isinstance(decide_free(suspended, DELETE_AT, policy), Purge)
    assert isinstance(decide_free(suspended, DELETE_AT + 3 * DAY, policy), Purge)


def test_suspension_does_not_happen_before_the_deadline(policy: Policy) -> None:
    cycle = warned_on_time(policy, 14, 7, 3, 1)
    decision = decide_free(cycle, SUSPEND_AT - HOUR, policy)
    assert isinstance(decision, Wait)
    assert decision.until == SUSPEND_AT


# --- decide_free: late sweeps -----------------------------------------------------------------------


def test_a_late_first_sweep_sends_only_the_latest_due_stage(policy: Policy) -> None:
    # given no warning yet, when the first sweep runs 2 days before the deadline (14, 7 and 3 are all due)
    cycle = new_cycle(T0, policy)
    decision = decide_free(cycle, SUSPEND_AT - 2 * DAY, policy)
    # then only the 3-day stage is sent, and the deadline holds (more than the shortest notice remains)
    assert isinstance(decision, Warn)
    assert decision.stage_days == 3
    assert decision.deadline_moved is False
    assert decision.cycle.warned_stages == (3,)
    assert decision.cycle.suspend_at == SUSPEND_AT


def test_after_a_late_stage_the_skipped_earlier_stages_are_never_sent(policy: Policy) -> None:
    # given the 3-day warning sent late at S-2d
    cycle = new_cycle(T0, policy)
    first = decide_free(cycle, SUSPEND_AT - 2 * DAY, policy)
    assert isinstance(first, Warn)
    cycle = first.cycle
    sent: list[int] = [first.stage_days]

    # when hourly sweeps follow until the suspension
    now = SUSPEND_AT - 2 * DAY
    suspended_at = None
    while suspended_at is None and now < SUSPEND_AT + 3 * DAY:
        now += HOUR
        decision = decide_free(cycle, now, policy)
        if isinstance(decision, Warn):
            sent.append(decision.stage_days)
            cycle = decision.cycle
        elif isinstance(decision, Suspend):
            suspended_at = now

    # then only 3 and 1 went out, 1 exactly when due, and the suspension came on time
    assert sent == [3, 1]
    assert cycle.last_warning_at == SUSPEND_AT - DAY
    assert suspended_at == SUSPEND_AT


def test_a_sweep_after_the_deadline_with_no_warning_sends_the_last_stage_and_moves_the_deadline(
    policy: Policy,
) -> None:
    # given an account that was never warned, when the first sweep runs 5 hours after its deadline
    cycle = new_cycle(T0, policy)
    now = SUSPEND_AT + 5 * HOUR
    decision = decide_free(cycle, now, policy)

    # then the 1-day warning is sent and the deadline moves to now + shortest notice (not suspended!)
    assert isinstance(decision, Warn)
    assert decision.stage_days == 1
    assert decision.deadline_moved is True
    assert decision.cycle.warned_stages == (1,)
    assert decision.cycle.suspend_at == now + policy.shortest_notice
    assert decision.cycle.delete_at == now + policy.shortest_notice + policy.grace_period
    warned = decision.cycle

    # when a sweep runs just before the shortest notice has passed, then it still waits
    early = decide_free(warned, now + policy.shortest_notice - HOUR, policy)
    assert isinstance(early, Wait)
    assert early.until == now + policy.shortest_notice

    # when the shortest notice has passed, then the account is suspended, and deletion is a full grace later
    later = now + policy.shortest_notice
    suspension = decide_free(warned, later, policy)
    assert isinstance(suspension, Suspend)
    assert suspension.cycle.suspended_at == later
    assert suspension.cycle.suspended_at - warned.last_warning_at >= policy.shortest_notice
    assert suspension.cycle.delete_at == later + policy.grace_period


def test_a_one_day_warning_sent_23_hours_before_the_deadline_moves_it_by_an_hour(policy: Policy) -> None:
    # given 14, 7 and 3 sent on time, when the hourly sweep sends the 1-day warning an hour late
    cycle = warned_on_time(policy, 14, 7, 3)
    now = SUSPEND_AT - 23 * HOUR
    decision = decide_free(cycle, now, policy)

    # then the deadline moves by exactly one hour (and deletion with it)
    assert isinstance(decision, Warn)
    assert decision.stage_days == 1
    assert decision.deadline_moved is True
    assert decision.cycle.suspend_at == SUSPEND_AT + HOUR
    assert decision.cycle.delete_at == DELETE_AT + HOUR

    # and the sweep at the original deadline does not suspend
    at_old_deadline = decide_free(decision.cycle, SUSPEND_AT, policy)
    assert isinstance(at_old_deadline, Wait)
    assert at_old_deadline.until == SUSPEND_AT + HOUR
    assert isinstance(decide_free(decision.cycle, SUSPEND_AT + HOUR, policy), Suspend)


def test_a_late_suspension_counts_the_grace_period_from_the_actual_suspension(policy: Policy) -> None:
    # given all warnings sent on time, when the suspending sweep runs 3 days late
    cycle = warned_on_time(policy, 14, 7, 3, 1)
    now = SUSPEND_AT + 3 * DAY
    decision = decide_free(cycle, now, policy)
    # then deletion is a full grace period after the suspension, not after the original deadline
    assert isinstance(decision, Suspend)
    assert decision.cycle.suspended_at == now
    assert decision.cycle.suspension_notice_at == now
    assert decision.cycle.delete_at == now + policy.grace_period
    assert decision.cycle.delete_at > DELETE_AT


def test_a_hand_edited_record_with_a_recent_warning_past_its_deadline_is_not_suspended(
    policy: Policy,
) -> None:
    # given a record whose deadline has passed but whose last warning is only 2 hours old
    now = SUSPEND_AT + DAY
    cycle = IdleCycle(
        status="warned",
        suspend_at=SUSPEND_AT,
        delete_at=DELETE_AT,
        warned_stages=(14, 7, 3, 1),
        last_warning_at=now - 2 * HOUR,
    )
    # when swept, then it waits for the shortest notice to elapse
    decision = decide_free(cycle, now, policy)
    assert isinstance(decision, Wait)
    assert decision.until == now - 2 * HOUR + policy.shortest_notice


# --- decide_free: suspended accounts ----------------------------------------------------------------


def test_a_suspended_account_without_its_notice_gets_it_and_a_full_grace_period(policy: Policy) -> None:
    # given an account suspended at its deadline whose notice was never confirmed sent
    cycle = IdleCycle(
        status="suspended",
        suspend_at=SUSPEND_AT,
        delete_at=DELETE_AT,
        warned_stages=(14, 7, 3, 1),
        last_warning_at=SUSPEND_AT - DAY,
        suspended_at=SUSPEND_AT,
        suspension_notice_at=None,
    )
    # when a sweep runs two days later
    now = SUSPEND_AT + 2 * DAY
    decision = decide_free(cycle, now, policy)
    # then the notice goes out and the grace period counts from now
    assert isinstance(decision, NotifySuspension)
    assert decision.cycle.status == "suspended"
    assert decision.cycle.suspension_notice_at == now
    assert decision.cycle.delete_at == now + policy.grace_period
    assert decision.cycle.suspended_at == SUSPEND_AT


def test_a_suspended_account_without_its_notice_is_not_purged_even_after_delete_at(policy: Policy) -> None:
    # given the notice failed for longer than the whole grace period
    cycle = IdleCycle(
        status="suspended",
        suspend_at=SUSPEND_AT,
        delete_at=DELETE_AT,
        suspended_at=SUSPEND_AT,
        last_warning_at=SUSPEND_AT - DAY,
        warned_stages=(1,),
    )
    now = DELETE_AT + DAY
    # when swept, then the notice is sent instead of purging
    decision = decide_free(cycle, now, policy)
    assert isinstance(decision, NotifySuspension)
    assert decision.cycle.delete_at == now + policy.grace_period


# --- Custom policies under any sweep timing ---------------------------------------------------------


@dataclass
class Timeline:
    warnings: list[tuple[datetime, int, IdleCycle]] = field(default_factory=list)
    suspended: IdleCycle | None = None
    purged_at: datetime | None = None


def simulate(policy: Policy, sweeps: list[datetime]) -> Timeline:
    """Run decide_free at each sweep time from a cycle started at T0, applying each decision."""
    cycle = new_cycle(T0, policy)
    timeline = Timeline()
    for now in sweeps:
        decision = decide_free(cycle, now, policy)
        match decision:
            case Warn():
                timeline.warnings.append((now, decision.stage_days, decision.cycle))
                cycle = decision.cycle
            case Suspend():
                assert timeline.suspended is None, "suspended twice"
                timeline.suspended = decision.cycle
                cycle = decision.cycle
            case NotifySuspension():
                pytest.fail("Suspend carries its notice: NotifySuspension should never be needed here")
            case Purge():
                timeline.purged_at = now
                break
            case Wait():
                assert decision.until > now, "a Wait must point to the future"
    return timeline


def every(step: timedelta, *, start: timedelta = timedelta(0), horizon: timedelta = timedelta(days=45)):
    times, offset = [], start
    while offset <= horizon:
        times.append(T0 + offset)
        offset += step
    return times


POLICIES = {
    "default": DEFAULT_POLICY,
    "10-2-notice-3d": Policy(
        idle_period=timedelta(days=30),
        warning_days=(10, 2),
        shortest_notice=timedelta(days=3),
        grace_period=timedelta(days=7),
    ),
    "21d-idle-one-warning-half-day-notice": Policy(
        idle_period=timedelta(days=21),
        warning_days=(5,),
        shortest_notice=timedelta(hours=12),
        grace_period=timedelta(days=2),
    ),
    "notice-longer-than-gaps": Policy(
        idle_period=timedelta(days=20),
        warning_days=(6, 4, 2),
        shortest_notice=timedelta(days=5),
        grace_period=timedelta(days=3),
    ),
}

CADENCES = {
    "hourly-45d": every(HOUR),
    "every-5-days": every(5 * DAY),
    "every-5-days-offset": every(5 * DAY, start=timedelta(days=2, hours=7)),
    "every-26-hours": every(timedelta(hours=26)),
    "first-sweep-after-deadline-then-hourly": every(
        HOUR, start=timedelta(days=31), horizon=timedelta(days=50)
    ),
}


@pytest.mark.parametrize("cadence", CADENCES.values(), ids=CADENCES.keys())
@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
def test_any_sweep_timing_respects_notice_once_per_stage_and_order(
    policy: Policy, cadence: list[datetime]
) -> None:
    # given a custom policy and a sweep cadence, when the sweeps run over the timeline
    timeline = simulate(policy, cadence)

    # then something was sent and the account ended up suspended (the run is not vacuous)
    assert timeline.warnings, "no warning was ever sent"
    assert timeline.suspended is not None, "the account was never suspended"

    stages = [stage for _, stage, _ in timeline.warnings]
    # each stage at most once, in decreasing order, and only configured stages
    assert len(stages) == len(set(stages))
    assert stages == sorted(stages, reverse=True)
    assert set(stages) <= set(policy.warning_days)
    # the last stage configured is always among those sent (the shortest-notice warning)
    assert stages[-1] == min(policy.warning_days)

    suspended = timeline.suspended
    last_warning_at, _, last_warned_cycle = timeline.warnings[-1]
    assert suspended.suspended_at is not None
    # never suspended less than the shortest notice after the last warning
    assert suspended.suspended_at - last_warning_at >= policy.shortest_notice
    assert suspended.last_warning_at == last_warning_at
    # never before the date the last warning announced, nor before the idle period ends
    assert suspended.suspended_at >= last_warned_cycle.suspend_at
    assert suspended.suspended_at >= T0 + policy.idle_period
    # the grace period is complete from the suspension
    assert suspended.delete_at == suspended.suspended_at + policy.grace_period
    # every warning's stated deadline is at least the shortest notice away from when it was sent
    for sent_at, _, warned_cycle in timeline.warnings:
        assert warned_cycle.suspend_at - sent_at >= policy.shortest_notice
    if timeline.purged_at is not None:
        assert timeline.purged_at >= suspended.delete_at


# --- Commercial plans -------------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def sub(
    status: str = "active", *, cancel: bool = False, period_end: datetime | None = None
) -> SubscriptionTerms:
    return SubscriptionTerms(status=status, cancel_at_period_end=cancel, current_period_end=period_end)


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
def test_subscription_in_a_paid_status_is_paid(status: str) -> None:
    assert subscription_paid(sub(status, period_end=NOW + DAY), NOW) is True


@pytest.mark.parametrize("status", ["canceled", "unpaid", "incomplete_expired", "incomplete", "paused"])
def test_subscription_in_another_status_is_not_paid(status: str) -> None:
    assert subscription_paid(sub(status, period_end=NOW + DAY), NOW) is False


def test_cancel_at_period_end_is_paid_until_the_period_ends() -> None:
    ending = sub(cancel=True, period_end=NOW + HOUR)
    assert subscription_paid(ending, NOW) is True
    assert subscription_paid(ending, NOW + HOUR) is False
    assert subscription_paid(ending, NOW + DAY) is False


def test_a_renewing_subscription_stays_paid_past_its_period_end() -> None:
    # auto-renewal on: Stripe tells us if the renewal fails; the period end alone ends nothing
    assert subscription_paid(sub(period_end=NOW - DAY), NOW) is True


def test_any_paid_needs_one_paid_subscription() -> None:
    assert any_paid([sub("canceled"), sub("active", period_end=NOW + DAY)], NOW) is True
    assert any_paid([sub("canceled"), sub("active", cancel=True, period_end=NOW - DAY)], NOW) is False
    assert any_paid([], NOW) is False


def test_commercial_next_action_is_none_when_something_renews() -> None:
    subs = [sub(cancel=True, period_end=NOW + DAY), sub(period_end=NOW + 10 * DAY)]
    assert commercial_next_action_at(subs, NOW) is None


def test_commercial_next_action_is_none_when_nothing_is_paid() -> None:
    subs = [sub("canceled", period_end=NOW + DAY), sub(cancel=True, period_end=NOW - DAY)]
    assert commercial_next_action_at(subs, NOW) is None
    assert commercial_next_action_at([], NOW) is None


def test_commercial_next_action_is_the_last_period_end_when_every_paid_sub_cancels() -> None:
    subs = [
        sub(cancel=True, period_end=NOW + DAY),
        sub("trialing", cancel=True, period_end=NOW + 5 * DAY),
        sub("canceled", period_end=NOW + 30 * DAY),  # not paid: does not count
    ]
    assert commercial_next_action_at(subs, NOW) == NOW + 5 * DAY


def test_commercial_next_action_ignores_subscriptions_whose_paid_period_has_ended() -> None:
    subs = [sub(cancel=True, period_end=NOW - DAY), sub(cancel=True, period_end=NOW + 2 * DAY)]
    assert commercial_next_action_at(subs, NOW) == NOW + 2 * DAY


def test_decisions_do_not_mutate_the_given_cycle(policy: Policy) -> None:
    cycle = new_cycle(T0, policy)
    snapshot = replace(cycle)
    decide_free(cycle, SUSPEND_AT + DAY, policy)
    assert cycle == snapshot


# --- Grace-period reminders (only when GraceReminderDays asks for them) ------------------------------

REMINDING = replace(DEFAULT_POLICY, reminder_days=(3, 1))


def suspended_on_time(policy: Policy) -> IdleCycle:
    """Given every warning on time, the account suspended (and notified) exactly at SUSPEND_AT."""
    decision = decide_free(warned_on_time(policy, 14, 7, 3, 1), SUSPEND_AT, policy)
    assert isinstance(decision, Suspend)
    return decision.cycle


def test_by_default_no_reminder_comes_between_the_suspension_and_the_purge(policy: Policy) -> None:
    # Given a suspended account under the default policy (no reminder days)
    suspended = suspended_on_time(policy)
    # Then every sweep of the grace period waits for the purge, and the purge comes at DELETE_AT
    for now in (SUSPEND_AT + HOUR, DELETE_AT - 3 * DAY, DELETE_AT - DAY, DELETE_AT - HOUR):
        assert decide_free(suspended, now, policy) == Wait(
            until=DELETE_AT, reason="suspended, in its grace period"
        )
    assert isinstance(decide_free(suspended, DELETE_AT, policy), Purge)


def test_reminders_are_sent_on_time_each_once_then_the_purge() -> None:
    # Given a suspended account under a policy with 3- and 1-day reminders before deletion
    policy = REMINDING
    cycle = suspended_on_time(policy)
    # Then the next action is the 3-day reminder, not the purge
    assert next_action_at(cycle, policy) == DELETE_AT - 3 * DAY
    assert isinstance(decide_free(cycle, DELETE_AT - 3 * DAY - HOUR, policy), Wait)
    # When the sweep runs at each reminder's time
    sent = []
    for stage in (3, 1):
        decision = decide_free(cycle, DELETE_AT - stage * DAY, policy)
        assert isinstance(decision, Remind)
        assert (decision.stage_days, decision.deadline_moved) == (stage, False)
        cycle = decision.cycle
        sent.append(decision.stage_days)
        # And a second sweep at the same moment sends nothing again
        assert not isinstance(decide_free(cycle, DELETE_AT - stage * DAY, policy), Remind)
    # Then both went out, in order, the deletion date never moved, and the purge comes at DELETE_AT
    assert sent == [3, 1]
    assert cycle.reminded_stages == (3, 1) and cycle.delete_at == DELETE_AT
    assert next_action_at(cycle, policy) == DELETE_AT
    assert isinstance(decide_free(cycle, DELETE_AT, policy), Purge)


def test_a_late_sweep_sends_only_the_latest_reminder_and_moves_the_deletion() -> None:
    # Given a suspended account whose sweeps stopped before any reminder went out
    policy = REMINDING
    cycle = suspended_on_time(policy)
    late = DELETE_AT + 2 * HOUR
    # When the first sweep runs after the deletion date
    decision = decide_free(cycle, late, policy)
    # Then only the 1-day reminder goes, and the deletion moves to the shortest notice after it
    assert isinstance(decision, Remind)
    assert (decision.stage_days, decision.deadline_moved) == (1, True)
    assert decision.cycle.delete_at == late + policy.shortest_notice
    assert decision.cycle.reminded_stages == (1,)
    # And nothing is purged before that
    assert isinstance(decide_free(decision.cycle, late + 23 * HOUR, policy), Wait)
    assert isinstance(decide_free(decision.cycle, late + DAY, policy), Purge)


def test_reminders_wait_for_the_suspension_notice() -> None:
    # Given a suspended account whose notice has not gone out yet
    policy = REMINDING
    unnotified = replace(suspended_on_time(policy), suspension_notice_at=None)
    # When a sweep runs inside the reminder window
    decision = decide_free(unnotified, DELETE_AT - DAY, policy)
    # Then the notice goes first (and restarts the grace period), never a reminder
    assert isinstance(decision, NotifySuspension)
    assert decision.cycle.delete_at == DELETE_AT - DAY + policy.grace_period
