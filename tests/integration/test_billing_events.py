"""BillingEventsFunction with Stripe's event shapes (events/stripe_*.json and Stripe's own fixture)."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest

from sundown.clock import from_epoch, parse_time
from sundown.models import load
from tests.conftest import REPO_ROOT, load_event

FN = "BillingEventsFunction"
SHARED_STRIPE = REPO_ROOT / "tests" / "fixtures" / "stripe"  # copied from shared/fixtures/stripe


@pytest.fixture
def acme(wiring):
    wiring.runner.invoke("AccountEventsFunction", load_event("account_created"))
    return wiring


def stripe(name: str, **subscription_changes) -> dict:
    event = load_event(name)
    event["detail"]["data"]["object"].update(subscription_changes)
    return event


def test_subscription_created_makes_the_account_commercial_with_support(acme):
    acme.runner.invoke(FN, load_event("stripe_subscription_created"))
    account = load("acme")
    assert account.plan == "commercial"
    assert account.suspend_at is None and account.next_action_at is None  # renews: nothing to sweep
    status, view = acme.http("GET", "/accounts/acme", parse_time("2026-01-05T00:00:00Z"))
    assert status == 200 and view["support"] is True and view["plan"] == "commercial"


def test_auto_renewal_off_schedules_the_end_of_the_paid_period(acme):
    acme.runner.invoke(FN, load_event("stripe_subscription_created"))
    updated = load_event("stripe_subscription_updated")
    acme.runner.invoke(FN, updated)
    account = load("acme")
    period_end = from_epoch(updated["detail"]["data"]["object"]["items"]["data"][0]["current_period_end"])
    assert account.plan == "commercial"
    assert account.subscriptions[0].cancel_at_period_end is True
    assert account.next_action_at == period_end  # the sweep rolls it back then


def test_subscription_deleted_rolls_back_to_free_and_starts_the_idle_clock_at_the_downgrade(acme):
    for name in ("stripe_subscription_created", "stripe_subscription_updated", "stripe_subscription_deleted"):
        acme.runner.invoke(FN, load_event(name))
    account = load("acme")
    ended = from_epoch(load_event("stripe_subscription_deleted")["detail"]["data"]["object"]["ended_at"])
    assert (account.plan, account.status) == ("free", "active")
    assert account.downgraded_at == ended
    assert account.suspend_at == ended + timedelta(days=30)
    status, view = acme.http("GET", "/accounts/acme", ended + timedelta(hours=1))
    assert status == 200 and view["support"] is False


def test_a_duplicate_stripe_event_changes_nothing(acme):
    acme.runner.invoke(FN, load_event("stripe_subscription_created"))
    acme.runner.invoke(FN, load_event("stripe_subscription_updated"))
    before = load("acme")
    acme.runner.invoke(FN, load_event("stripe_subscription_updated"))
    after = load("acme")
    assert after.version == before.version
    # and Powertools idempotency recorded each Stripe event once, in the template's idempotency table
    import boto3

    table = acme.stack.physical_names["IdempotencyTable"]
    assert boto3.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"] == 2


def test_an_event_older_than_one_already_applied_changes_nothing(acme):
    # given the cancellation (Jan 20) was applied first
    acme.runner.invoke(FN, load_event("stripe_subscription_updated"))
    before = load("acme")
    # when the creation (Jan 2) arrives late
    acme.runner.invoke(FN, load_event("stripe_subscription_created"))
    # then auto-renewal stays off
    after = load("acme")
    assert after.version == before.version
    assert after.subscriptions[0].cancel_at_period_end is True


def test_renewal_in_the_legacy_shape_reads_the_top_level_period_end(acme):
    acme.runner.invoke(FN, load_event("stripe_subscription_created"))
    renewal = load_event("stripe_subscription_updated_legacy")
    acme.runner.invoke(FN, renewal)
    account = load("acme")
    assert account.subscriptions[0].current_period_end == from_epoch(
        renewal["detail"]["data"]["object"]["current_period_end"]
    )
    assert account.plan == "commercial"


def test_unpaid_status_rolls_back_to_free(acme):
    acme.runner.invoke(FN, load_event("stripe_subscription_created"))
    unpaid = stripe("stripe_subscription_updated", status="unpaid", cancel_at_period_end=False)
    acme.runner.invoke(FN, unpaid)
    assert load("acme").plan == "free"


def test_subscription_without_account_id_is_rejected_and_logged(acme, caplog):
    event = stripe("stripe_subscription_created", metadata={})
    with caplog.at_level("ERROR"):
        response = acme.runner.invoke(FN, {"Records": [_record(event)]})
    assert response == {"batchItemFailures": []}
    assert load("acme").plan == "free"
    assert any(
        "metadata.account_id" in r.getMessage() and getattr(r, "event_id", None) == event["detail"]["id"]
        for r in caplog.records
    )


def test_stripe_fixture_shape_parses_with_unknown_fields_ignored(acme):
    if not SHARED_STRIPE.is_dir():
        pytest.skip(f"Stripe fixtures not found at {SHARED_STRIPE}")
    subscription = json.loads((SHARED_STRIPE / "subscription.json").read_text())
    stripe_event = json.loads((SHARED_STRIPE / "event.json").read_text())
    subscription["metadata"] = {"account_id": "acme"}
    subscription["status"] = "active"  # the fixture's values are placeholders: shape, not story
    subscription["cancel_at_period_end"] = False
    stripe_event.update(
        type="customer.subscription.created", created=1767600000, data={"object": subscription}
    )
    envelope = copy.deepcopy(load_event("stripe_subscription_created"))
    envelope["detail"] = stripe_event
    acme.runner.invoke(FN, envelope)
    account = load("acme")
    assert account.plan == "commercial"
    assert account.subscriptions[0].subscription_id == subscription["id"]
    assert account.subscriptions[0].current_period_end == from_epoch(
        subscription["items"]["data"][0]["current_period_end"]
    )


def test_routed_through_the_stripe_partner_bus_rule(acme):
    deliveries = acme.publish(load_event("stripe_subscription_created"))
    assert [(d.function, d.failed) for d in deliveries] == [(FN, 0)]
    assert load("acme").plan == "commercial"


def _record(body: dict) -> dict:
    return {
        "messageId": "m-1",
        "receiptHandle": "r",
        "body": json.dumps(body),
        "attributes": {},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }
