"""Operator safety: legal hold, preview and dry run, the blast-radius breaker and the kill switch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sundown.clock import parse_time
from sundown.models import load
from tests.conftest import load_event

CREATED = parse_time(load_event("account_created")["time"])  # acme, 2026-01-01T09:00Z
WARNINGS_AND_SUSPENSION = (16, 23, 27, 29, 30)  # days after creation


def create(wiring, account_id: str = "acme") -> None:
    event = load_event("account_created")
    event["id"] = f"create-{account_id}"
    event["detail"]["account_id"] = account_id
    wiring.runner.invoke("AccountEventsFunction", event)


def sweep(wiring, at) -> dict:
    return wiring.runner.invoke("SweepFunction", {"time": at.strftime("%Y-%m-%dT%H:%M:%SZ")})


def sweep_days(wiring, *days) -> None:
    for day in days:
        sweep(wiring, CREATED + timedelta(days=day))


# --- legal hold -------------------------------------------------------------------------------------


def test_an_account_on_hold_is_never_suspended_or_purged(wiring, emails):
    create(wiring)
    status, view = wiring.http(
        "PUT", "/accounts/acme/hold", CREATED + timedelta(days=1), {"reason": "litigation #42"}
    )
    assert status == 200
    assert view["hold"]["reason"] == "litigation #42" and view["hold"]["until"] is None
    sweep_days(wiring, *WARNINGS_AND_SUSPENSION, 37, 60, 90)
    account = load("acme")
    assert account.status == "active"
    assert emails() == []  # nothing is announced that will not happen
    _, view = wiring.http("GET", "/accounts/acme", CREATED + timedelta(days=90))
    assert view["hold"]["active"] is True


def test_lifting_a_hold_recomputes_the_deadlines_from_that_moment(wiring):
    create(wiring)
    wiring.http("PUT", "/accounts/acme/hold", CREATED + timedelta(days=1), {"reason": "audit"})
    sweep_days(wiring, 40)
    lifted_at = CREATED + timedelta(days=45)
    status, view = wiring.http("DELETE", "/accounts/acme/hold", lifted_at)
    assert status == 200 and view["hold"] is None
    account = load("acme")
    assert account.suspend_at == lifted_at + timedelta(days=30)
    assert account.status == "active"


def test_an_expiring_hold_recomputes_the_deadlines_from_its_expiry(wiring):
    create(wiring)
    until = CREATED + timedelta(days=40)
    wiring.http(
        "PUT",
        "/accounts/acme/hold",
        CREATED + timedelta(days=1),
        {"reason": "audit", "until": until.isoformat()},
    )
    sweep_days(wiring, 30, 39)
    assert load("acme").hold is not None
    sweep(wiring, until + timedelta(hours=1))
    account = load("acme")
    assert account.hold is None
    assert account.suspend_at == until + timedelta(days=30)


def test_a_hold_placed_after_the_sweep_read_blocks_the_suspension(wiring, emails):
    from sundown.lifecycle import advance

    create(wiring)
    sweep_days(wiring, 16, 23, 27, 29)
    stale = load("acme")  # the sweep has read the account, about to suspend it
    wiring.http("PUT", "/accounts/acme/hold", CREATED + timedelta(days=30), {"reason": "regulator request"})
    step = advance(stale, CREATED + timedelta(days=30, hours=1))
    # the conditional write failed, the step was decided again, and the hold won: the account left
    # the due index (a hold with no end), so the re-read finds nothing due
    assert step.action in ("held", "not_due")
    assert load("acme").status == "warned"
    assert not any("is suspended" in e["subject"] for e in emails())


def test_hold_on_a_purging_account_is_refused_with_409(wiring):
    create(wiring)
    account = load("acme")
    account.status = "purging"
    account.save()
    status, body = wiring.http("PUT", "/accounts/acme/hold", CREATED, {"reason": "too late"})
    assert status == 409 and "purge has started" in body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "x", "until": "soon"}, "until"),
        ({"reason": "x", "why": 1}, "why"),
    ],
)
def test_a_bad_hold_request_is_a_400_naming_the_field(wiring, body, field):
    create(wiring)
    status, answer = wiring.http("PUT", "/accounts/acme/hold", CREATED, body)
    assert status == 400
    assert any(e["field"] == field for e in answer["errors"])
    assert load("acme").hold is None


def test_hold_on_unknown_account_is_404(wiring):
    status, _ = wiring.http("PUT", "/accounts/nobody/hold", CREATED, {"reason": "x"})
    assert status == 404


# --- preview and dry run ----------------------------------------------------------------------------


def test_preview_lists_what_a_sweep_would_do_and_changes_nothing(wiring, emails):
    create(wiring, "acme")
    create(wiring, "beta")
    wiring.http("PUT", "/accounts/beta/hold", CREATED, {"reason": "audit"})
    before = load("acme").version
    status, body = wiring.http("GET", "/lifecycle/preview?at=2026-01-17T10:00:00Z", CREATED)
    assert status == 200
    actions = {a["account_id"]: a for a in body["actions"]}
    assert actions["acme"]["action"] == "warn" and actions["acme"]["stage_days"] == 14
    assert "2026-01-31" in actions["acme"]["reason"]
    assert "beta" not in actions  # a hold with no end takes the account out of the due index
    assert load("acme").version == before and emails() == []


def test_preview_needs_a_valid_time(wiring):
    status, body = wiring.http("GET", "/lifecycle/preview?at=tomorrow", CREATED)
    assert status == 400 and body["errors"][0]["field"] == "at"


@pytest.mark.parametrize("wiring", [{"DryRun": "true"}], indirect=True)
def test_dry_run_sweep_logs_its_plan_and_acts_on_nothing(wiring, emails):
    create(wiring)
    response = sweep(wiring, CREATED + timedelta(days=17))
    assert response["totals"] == {"warn": 1}
    assert emails() == [] and load("acme").warnings == []


# --- blast-radius breaker and kill switch -----------------------------------------------------------


def _suspended(wiring, *ids):
    for account_id in ids:
        create(wiring, account_id)
    sweep_days(wiring, *WARNINGS_AND_SUSPENSION)


@pytest.mark.parametrize("wiring", [{"MaxPurgesPerSweep": "2"}], indirect=True)
def test_breaker_caps_purges_per_sweep_and_the_rest_wait(wiring):
    _suspended(wiring, "a1", "a2", "a3", "a4", "a5")
    ids = ("a1", "a2", "a3", "a4", "a5")
    # when the grace period of all five ends at once, hourly sweeps (and the purge queue behind them) run
    deleted = []
    for hour in range(1, 9):
        response = wiring.tick(CREATED + timedelta(days=37, hours=hour))["SweepFunction"]
        # then no sweep starts more than two purges; the others wait, and none waits forever
        assert response["totals"].get("purge_started", 0) <= 2
        deleted.append(sum(load(a).status == "deleted" for a in ids))
    assert deleted[0] <= 2
    assert deleted[-1] == 5


@pytest.mark.parametrize("wiring", [{"DestructionPaused": "true"}], indirect=True)
def test_kill_switch_pauses_suspension_but_not_warnings_and_moves_the_deadline(wiring, emails):
    create(wiring)
    sweep_days(wiring, 16, 23, 27, 29)
    assert len(emails()) == 4  # warnings go on
    at = CREATED + timedelta(days=30, hours=1)
    response = sweep(wiring, at)
    assert response["totals"] == {"paused": 1}
    account = load("acme")
    assert account.status == "warned"
    assert account.suspend_at == at + timedelta(hours=1)  # moved, not skipped
    _, body = wiring.http(
        "GET", f"/lifecycle/preview?at={(at + timedelta(hours=2)).strftime('%Y-%m-%dT%H:%M:%SZ')}", at
    )
    assert body["actions"][0]["action"] == "paused" and "kill switch" in body["actions"][0]["reason"]


def test_kill_switch_also_pauses_a_purge_already_under_way(wiring, monkeypatch):
    # given a purge has started
    create(wiring)
    sweep_days(wiring, *WARNINGS_AND_SUSPENSION)
    account = load("acme")
    from sundown import purge

    purge.start_purge(account, CREATED + timedelta(days=37, hours=1))
    # when the operator flips the kill switch before the worker gets the request
    monkeypatch.setenv("DESTRUCTION_PAUSED", "true")
    wiring.runner.extra_env["DESTRUCTION_PAUSED"] = "true"
    deliveries = wiring.drain()
    # then the worker deleted nothing and put the request back, delayed
    assert [d.function for d in deliveries] == ["PurgeWorkerFunction"]
    assert load("acme").status == "purging"
    assert load("acme").purge_progress["pending"] is None
    from sundown_local.aws import client

    attributes = client("sqs").get_queue_attributes(
        QueueUrl=wiring.stack.queue_urls["PurgeQueue"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


@pytest.mark.parametrize("wiring", [{"MaxPurgesPerSweep": "1"}], indirect=True)
def test_a_purge_re_decided_after_a_race_uses_the_breaker_budget_once(wiring):
    from sundown.lifecycle import Breaker, advance, plan

    _suspended(wiring, "r1")
    at = CREATED + timedelta(days=37, hours=1)
    breaker = Breaker(limit=1)
    # planning is free of side effects: deciding twice spends no budget
    assert plan(load("r1"), at, breaker).action == "purge"
    assert plan(load("r1"), at, breaker).action == "purge"
    assert breaker.started == 0
    # given a stale read, when a write lands first (the purge start then fails its condition)
    stale = load("r1")
    fresh = load("r1")
    fresh.save()  # bumps the version
    step = advance(stale, at, breaker)
    # then the re-decided purge started, and counted once against the budget of one
    assert step.action == "purge_started"
    assert breaker.started == 1 and breaker.deferred == 0
