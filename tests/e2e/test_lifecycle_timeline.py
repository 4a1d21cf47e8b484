"""The whole template's wiring on moto: 45 days of accounts, logins, Stripe events and hourly sweeps.

Events travel as deployed: EventBridge rule patterns -> SQS -> batched functions; the schedule's Input
with the scheduled time; the HTTP API route for the states. The emails are the ones SES accepted.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest

from sundown_local.simulation import START, demo_scenario, simulate


@pytest.fixture(scope="module")
def run():
    from sundown_local.embedded import embedded_stack, sent_emails

    with embedded_stack() as wiring:
        result = simulate(wiring, 45, sent_emails=sent_emails)
        deliveries = list(wiring.deliveries)
    return result, deliveries


def warnings_to(result, account_id):
    return [e for e in result.emails if e["to"].endswith(f"@{account_id}.example")]


def stage_of(email):
    found = re.search(r"This is your (\d+)-day notice", email["body"])
    if found:
        return int(found.group(1))
    return "deleted" if "has been deleted" in email["subject"] else "suspended"


def test_every_event_was_delivered_through_the_template_wiring(run):
    _, deliveries = run
    delivered = Counter(d.function for d in deliveries)
    assert delivered["AccountEventsFunction"] == 7  # 4 creations + 3 logins
    # 2 subscriptions, 1 cancellation, and the renewals on days 15 and 30 (day 45's falls after the end)
    assert delivered["BillingEventsFunction"] == 5
    assert all(d.failed == 0 for d in deliveries)


def test_idle_free_account_is_warned_four_times_suspended_then_deleted(run):
    result, _ = run
    emails = warnings_to(result, "idle-free")
    # login on day 1 at 10:00 -> suspension on day 31, deletion on day 38
    assert [stage_of(e) for e in emails] == [14, 7, 3, 1, "suspended", "deleted"]
    assert all(e["subject"].endswith("suspended on 2026-02-01") for e in emails[:4])
    assert all("deleted on 2026-02-08" in e["body"] for e in emails[:5])
    assert emails[4]["subject"] == "Your account idle-free is suspended and will be deleted on 2026-02-08"
    assert "deleted\non 2026-02-08" in emails[5]["body"] or "on 2026-02-08" in emails[5]["body"]
    tombstone = result.accounts["idle-free"]
    assert tombstone["status"] == "deleted"
    assert tombstone["deleted_at"] == "2026-02-08T10:00:00Z"
    assert tombstone["certificate"]["verification"]["result"] == "verified"


def test_account_with_a_login_on_day_20_starts_over_and_is_not_suspended(run):
    result, _ = run
    emails = warnings_to(result, "returning-free")
    # the first cycle (login on day 1) warned on day 17; the day-20 login started a new cycle, whose
    # suspension is on day 50 (Feb 20): by day 45 only its 14- and 7-day warnings are due
    assert [stage_of(e) for e in emails] == [14, 14, 7]
    assert emails[0]["subject"].endswith("suspended on 2026-02-01")
    assert all(e["subject"].endswith("suspended on 2026-02-20") for e in emails[1:])
    view = result.accounts["returning-free"]
    assert (view["status"], view["last_activity_at"]) == ("warned", "2026-01-21T08:00:00Z")


def test_commercial_account_with_auto_renew_off_rolls_back_then_idles_out(run):
    result, _ = run
    emails = warnings_to(result, "cancelling-paid")
    # the paid period ends on day 10 at 10:00: the sweep rolls it back, the idle clock starts there
    assert [stage_of(e) for e in emails] == [14, 7, 3, 1, "suspended"]
    assert all(e["subject"].endswith("suspended on 2026-02-10") for e in emails[:4])
    view = result.accounts["cancelling-paid"]
    assert (view["plan"], view["status"], view["support"]) == ("free", "suspended", False)
    rollback = [
        t
        for t in result.timeline
        if t.account_id == "cancelling-paid" and "commercial/active -> free" in t.what
    ]
    assert rollback and rollback[0].at == START + timedelta(days=10, hours=10)


def test_renewing_commercial_account_is_never_warned(run):
    result, _ = run
    assert warnings_to(result, "renewing-paid") == []
    view = result.accounts["renewing-paid"]
    assert (view["plan"], view["status"], view["support"]) == ("commercial", "active", True)
    assert view["suspend_at"] is None


def test_the_same_history_replays_to_the_same_timeline():
    from sundown_local.embedded import embedded_stack, sent_emails

    assert demo_scenario() == demo_scenario()
    with embedded_stack() as wiring:
        first = simulate(wiring, 12, sent_emails=sent_emails, sweep_every=timedelta(hours=6))
    with embedded_stack() as wiring:
        second = simulate(wiring, 12, sent_emails=sent_emails, sweep_every=timedelta(hours=6))
    assert first.timeline == second.timeline
    assert first.accounts == second.accounts


def test_the_purge_removed_every_byte_of_the_idle_tenant_and_nothing_else(run):
    result, _ = run
    # the deleted tenant has nothing left in any store; every other tenant has exactly what it had
    assert result.left["idle-free"].as_row() == ["0", "0", "0", "0"]
    for account_id in ("returning-free", "cancelling-paid", "renewing-paid"):
        assert result.left[account_id] == result.seeded[account_id]
    # and the certificate counts exactly what was seeded
    totals = result.accounts["idle-free"]["certificate"]["totals"]
    seeded = result.seeded["idle-free"]
    assert totals == {
        "items_deleted": seeded.items,
        "object_versions_deleted": seeded.object_versions,
        "delete_markers_deleted": seeded.delete_markers,
        "uploads_aborted": seeded.uploads,
    }
    # the owners' Network IDs survive the purge, record and files
    assert result.identities["nid-ivy"] == (True, 1)
    assert all(present for present, _ in result.identities.values())
