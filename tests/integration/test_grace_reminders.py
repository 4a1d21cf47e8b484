"""Grace-period reminders before deletion: none by default (SPEC), sent when GraceReminderDays asks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sundown.clock import parse_time
from sundown.lifecycle import CLAIM_EXPIRY
from sundown.models import REMINDER, WarningClaim, load
from tests.conftest import load_event

CREATED = parse_time(load_event("account_created")["time"])  # 2026-01-01T09:00Z
SUSPENDED = CREATED + timedelta(days=30)
DELETE_AT = SUSPENDED + timedelta(days=7)  # 2026-02-07T09:00Z
REMINDERS = {"GraceReminderDays": "3,1"}


def sweep_at(wiring, at) -> dict:
    return wiring.runner.invoke("SweepFunction", {"time": at.strftime("%Y-%m-%dT%H:%M:%SZ")})["totals"]


@pytest.fixture
def suspended(wiring):
    """Given acme created, warned at every stage on time and suspended (with its notice) on day 30."""
    wiring.runner.invoke("AccountEventsFunction", load_event("account_created"))
    for day in (16, 23, 27, 29, 30):
        sweep_at(wiring, CREATED + timedelta(days=day))
    account = load("acme")
    assert (account.status, account.delete_at) == ("suspended", DELETE_AT)
    return wiring


def test_by_default_nothing_is_sent_between_the_suspension_notice_and_the_purge(suspended, emails):
    # Given the template's default (no GraceReminderDays)
    before = len(emails())
    # When sweeps run through the grace period
    for at in (DELETE_AT - timedelta(days=3), DELETE_AT - timedelta(days=1), DELETE_AT - timedelta(hours=1)):
        assert sweep_at(suspended, at) == {}  # not even due: the index holds it until the deletion date
    # Then no email went out, and the purge starts at the deletion date
    assert len(emails()) == before
    assert sweep_at(suspended, DELETE_AT) == {"purge_started": 1}


@pytest.mark.parametrize("wiring", [REMINDERS], indirect=True)
def test_reminders_go_out_on_time_once_each_and_state_the_deletion_date(suspended, emails):
    # Given a stack deployed with GraceReminderDays "3,1"
    before = len(emails())
    # When the sweep runs 3 days and 1 day before the deletion, and again at the same moments
    totals = [sweep_at(suspended, DELETE_AT - timedelta(days=d)) for d in (3, 3, 1, 1)]
    # Then each reminder went out once (after each, the index holds the account until its next date)
    assert totals == [{"reminded": 1}, {}, {"reminded": 1}, {}]
    sent = emails()[before:]
    assert [e["subject"] for e in sent] == ["Your suspended account acme will be deleted on 2026-02-07"] * 2
    assert "3-day reminder" in sent[0]["body"] and "1-day reminder" in sent[1]["body"]
    # And they are recorded as reminders (not warnings), which the operator API shows
    account = load("acme")
    assert [(int(w.days), w.kind, w.confirmed) for w in account.warnings][-2:] == [
        (3, REMINDER, True),
        (1, REMINDER, True),
    ]
    api = load_event("api_get_account")
    body = suspended.runner.invoke("AccountApiFunction", api)["body"]
    assert '"kind":"reminder"' in body.replace(" ", "")
    # And the purge still starts at the deletion date, not later
    assert account.delete_at == DELETE_AT
    assert sweep_at(suspended, DELETE_AT) == {"purge_started": 1}


@pytest.mark.parametrize("wiring", [REMINDERS], indirect=True)
def test_a_late_sweep_sends_one_reminder_and_the_purge_waits_the_shortest_notice(suspended, emails):
    # Given no sweep ran during the grace period
    late = DELETE_AT + timedelta(hours=5)
    before = len(emails())
    # When the first sweep comes after the deletion date
    assert sweep_at(suspended, late) == {"reminded": 1}
    # Then only the 1-day reminder went out, with the moved deletion date, and nothing is purged yet
    assert [e["subject"] for e in emails()[before:]] == [
        "Your suspended account acme will be deleted on 2026-02-08"
    ]
    assert load("acme").delete_at == late + timedelta(days=1)
    assert sweep_at(suspended, late + timedelta(hours=23)) == {}
    assert sweep_at(suspended, late + timedelta(days=1)) == {"purge_started": 1}


@pytest.mark.parametrize("wiring", [REMINDERS], indirect=True)
def test_a_reminder_claimed_but_never_confirmed_is_not_sent_again_and_keeps_its_notice(suspended, emails):
    # Given a sweep that claimed the 1-day reminder 2 hours after the deletion date and then died
    claimed_at = DELETE_AT + timedelta(hours=2)
    account = load("acme")
    account.warning_claim = WarningClaim(days=1, claimed_at=claimed_at, kind=REMINDER)
    account.schedule(claimed_at, 4)
    account.save()
    before = len(emails())
    # When a sweep comes after the claim expired
    after_expiry = claimed_at + CLAIM_EXPIRY
    sweep_at(suspended, after_expiry)
    # Then the stage counts as attempted (unconfirmed), nothing is sent again
    account = load("acme")
    assert [(int(w.days), w.kind, w.confirmed) for w in account.warnings][-1] == (1, REMINDER, False)
    assert account.warning_claim is None
    # And the deletion keeps the shortest notice after the claim, since the email may have gone out
    assert account.delete_at == claimed_at + timedelta(days=1)
    assert sweep_at(suspended, claimed_at + timedelta(hours=23)) == {"waiting": 1}
    assert sweep_at(suspended, claimed_at + timedelta(days=1)) == {"purge_started": 1}
    assert len(emails()) == before


@pytest.mark.parametrize("wiring", [REMINDERS], indirect=True)
def test_a_login_after_a_reminder_reactivates_and_starts_a_clean_cycle(suspended, emails):
    # Given the 3-day reminder went out
    assert sweep_at(suspended, DELETE_AT - timedelta(days=3)) == {"reminded": 1}
    # When a user logs in before the purge
    login = load_event("user_logged_in")
    login["time"] = "2026-02-05T12:00:00Z"
    suspended.runner.invoke("AccountEventsFunction", login)
    # Then the account is active again with no warning or reminder on record
    account = load("acme")
    assert (account.status, account.warnings, account.warning_claim) == ("active", [], None)
    assert account.delete_at == parse_time(login["time"]) + timedelta(days=37)


@pytest.mark.parametrize("wiring", [REMINDERS], indirect=True)
def test_explain_shows_the_reminders_ahead_and_what_the_sweep_would_send(suspended):
    from sundown_local.explain import explain

    # Given the suspended account, 3 days before its deletion
    at = DELETE_AT - timedelta(days=3)
    # When an operator asks `sundown explain acme`
    out = explain("acme", at)
    # Then both reminders are among its next dates, and the sweep's next step is the 3-day reminder
    assert out is not None
    dates = dict(out.next_dates)
    assert dates["3-day reminder"] == "2026-02-04T09:00:00Z"
    assert dates["1-day reminder"] == "2026-02-06T09:00:00Z"
    assert out.sweep == "send the 3-day reminder: deletion on 2026-02-07T09:00:00Z"
    # And once it went out, explain lists it
    sweep_at(suspended, at)
    assert any("reminders before deletion sent this cycle: 3-day" in line for line in explain("acme", at).why)
