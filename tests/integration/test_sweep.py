"""SweepFunction with its schedule inputs, and the races it must never lose."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from sundown.clock import parse_time
from sundown.models import load
from tests.conftest import load_event

FN = "SweepFunction"
CREATED = parse_time(load_event("account_created")["time"])


@pytest.fixture
def acme(wiring):
    wiring.runner.invoke("AccountEventsFunction", load_event("account_created"))
    return wiring


def sweep_at(wiring, at):
    return wiring.runner.invoke(FN, {"time": at.strftime("%Y-%m-%dT%H:%M:%SZ")})


@pytest.mark.parametrize("sample", ["sweep_schedule", "scheduled_event"])
def test_both_schedule_input_shapes_are_accepted_and_time_is_now(acme, emails, sample):
    # given the sample inputs (ScheduleV2's {"time"} and a plain Scheduled Event), both on Jan 31
    response = acme.runner.invoke(FN, load_event(sample))
    # then "now" is that time: an hour past the deadline (Jan 31 09:00) with no warning ever sent, so
    # only the latest stage goes out and the deadline moves a full day's notice later
    assert response["totals"] == {"warned": 1}
    assert [e["subject"] for e in emails()] == ["Your account acme will be suspended on 2026-02-01"]
    assert load("acme").suspend_at == parse_time("2026-02-01T10:00:00Z")


def test_a_late_sweep_sends_only_the_latest_due_stage_and_moves_the_deadline(acme, emails):
    suspend_at = CREATED + timedelta(days=30)
    # when the first sweep ever runs 12 hours before the deadline
    sweep_at(acme, suspend_at - timedelta(hours=12))
    # then only the 1-day warning went out, and the deadline moved so that it is a full day's notice
    account = load("acme")
    assert [int(w.days) for w in account.warnings] == [1]
    assert len(emails()) == 1
    assert account.suspend_at == suspend_at + timedelta(hours=12)
    assert emails()[0]["subject"].endswith("suspended on 2026-01-31")
    # and the deadline in the email is the moved one; nothing suspends before it
    sweep_at(acme, suspend_at + timedelta(hours=6))
    assert load("acme").status == "warned"
    sweep_at(acme, suspend_at + timedelta(hours=12))
    assert load("acme").status == "suspended"


def test_each_stage_is_sent_once_even_when_sweeps_repeat(acme, emails):
    at = CREATED + timedelta(days=16, hours=1)
    for _ in range(3):
        sweep_at(acme, at)
    assert len(emails()) == 1
    assert [int(w.days) for w in load("acme").warnings] == [14]


def test_suspension_notice_states_the_deletion_date(acme, emails):
    for day in (16, 23, 27, 29, 30):
        sweep_at(acme, CREATED + timedelta(days=day))
    account = load("acme")
    assert account.status == "suspended"
    assert account.delete_at == CREATED + timedelta(days=37)
    assert emails()[-1]["subject"] == "Your account acme is suspended and will be deleted on 2026-02-07"
    assert "2026-02-07" in emails()[-1]["body"]


def test_login_after_suspension_reactivates_before_the_purge(acme, emails):
    for day in (16, 23, 27, 29, 30):
        sweep_at(acme, CREATED + timedelta(days=day))
    login = load_event("user_logged_in")
    login["time"] = "2026-02-03T12:00:00Z"
    acme.runner.invoke("AccountEventsFunction", login)
    account = load("acme")
    assert account.status == "active"
    assert account.warnings == []
    assert account.suspend_at == parse_time(login["time"]) + timedelta(days=30)


def test_a_login_between_the_sweeps_read_and_write_is_never_lost(acme, emails):
    from sundown.accounts import record_activity
    from sundown.lifecycle import advance

    # given the sweep has read the account when its 14-day warning is due
    now = CREATED + timedelta(days=16, hours=1)
    stale = load("acme")
    # when a login lands before the sweep writes
    login_at = now - timedelta(minutes=5)
    record_activity("acme", login_at)
    step = advance(stale, now)
    # then the sweep's conditional write failed, it decided again, and the login stands
    account = load("acme")
    assert step.action == "not_due"
    assert account.last_activity_at == login_at
    assert account.suspend_at == login_at + timedelta(days=30)
    assert account.warnings == [] and account.warning_claim is None
    assert emails() == []


def test_ses_failure_leaves_the_stage_due_and_a_later_sweep_sends_it(acme, emails, monkeypatch):
    import sundown.notifications as notifications

    real_client = notifications.client

    class FailingSes:
        def send_email(self, **kwargs):
            raise ClientError(
                {"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}}, "SendEmail"
            )

    monkeypatch.setattr(notifications, "client", lambda name: FailingSes())
    response = sweep_at(acme, CREATED + timedelta(days=16, hours=1))
    assert response["totals"] == {"warning_failed": 1}
    assert load("acme").warnings == [] and load("acme").warning_claim is None
    monkeypatch.setattr(notifications, "client", real_client)
    sweep_at(acme, CREATED + timedelta(days=16, hours=2))
    assert [int(w.days) for w in load("acme").warnings] == [14]
    assert len(emails()) == 1


def test_sweep_reads_only_due_accounts_from_the_index(acme):
    from sundown.lifecycle import due_accounts

    assert list(due_accounts(CREATED + timedelta(days=15))) == []
    assert [a.account_id for a in due_accounts(CREATED + timedelta(days=16))] == ["acme"]


def test_a_bad_schedule_input_is_a_clear_validation_error(acme):
    from aws_lambda_powertools.utilities.parser import ValidationError

    with pytest.raises(ValidationError, match="time"):
        acme.runner.invoke(FN, {"when": "tomorrow"})
