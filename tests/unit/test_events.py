"""Event models (sundown.events): the SPEC's event contract, parsed the way the handlers parse it."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import parse
from pydantic import TypeAdapter, ValidationError

from sundown.clock import from_epoch
from sundown.events import (
    AccountActivity,
    AccountCreated,
    NetworkIdDeletionRequested,
    ProductEvent,
    ScheduledSweep,
    StripeSubscriptionEvent,
    UserLoggedIn,
)

REPO_ROOT = Path(__file__).parents[2]
EVENTS = REPO_ROOT / "events"
# A copy of shared/fixtures/stripe, kept in the repo so the shape test always runs.
STRIPE_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "stripe"

PRODUCT_EVENTS = TypeAdapter(ProductEvent)
ENVELOPE_KEYS = {"version", "id", "detail-type", "source", "time", "detail"}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def envelope_files() -> list[Path]:
    return sorted(p for p in EVENTS.glob("*.json") if load(p).keys() >= ENVELOPE_KEYS)


def event(name: str) -> dict[str, Any]:
    return load(EVENTS / name)


# --- Every sample envelope in events/ ---------------------------------------------------------------

EXPECTED_PRODUCT_MODELS = {
    "account_created.json": AccountCreated,
    "user_logged_in.json": UserLoggedIn,
    "account_activity.json": AccountActivity,
    "network_id_deletion_requested.json": NetworkIdDeletionRequested,
}


def test_the_sample_events_include_product_and_stripe_envelopes() -> None:
    names = {p.name for p in envelope_files()}
    assert set(EXPECTED_PRODUCT_MODELS) <= names
    assert {n for n in names if n.startswith("stripe_")} >= {
        "stripe_subscription_created.json",
        "stripe_subscription_updated.json",
        "stripe_subscription_deleted.json",
        "stripe_subscription_updated_legacy.json",
    }


@pytest.mark.parametrize("path", envelope_files(), ids=lambda p: p.name)
def test_every_sample_envelope_parses_into_its_model(path: Path) -> None:
    raw = load(path)
    if path.name.startswith("stripe_"):
        parsed = parse(event=raw, model=StripeSubscriptionEvent)
        assert isinstance(parsed, StripeSubscriptionEvent)
        assert parsed.detail_type == raw["detail"]["type"]
        assert (
            parsed.detail.data.object.account_id == raw["detail"]["data"]["object"]["metadata"]["account_id"]
        )
    elif raw["source"].startswith("saas."):
        parsed = parse(event=raw, model=ProductEvent)
        assert type(parsed) is EXPECTED_PRODUCT_MODELS[path.name]
        key = "network_id" if "network_id" in raw["detail"] and len(raw["detail"]) == 1 else "account_id"
        assert getattr(parsed.detail, key) == raw["detail"][key]
    else:
        # e.g. the plain EventBridge Scheduled Event that drives the sweep: only its time matters
        parsed = ScheduledSweep.model_validate(raw)
    assert parsed.time.tzinfo is not None
    assert parsed.time == datetime.fromisoformat(raw["time"].replace("Z", "+00:00"))


def test_product_event_fields_are_typed() -> None:
    created = PRODUCT_EVENTS.validate_python(event("account_created.json"))
    assert isinstance(created, AccountCreated)
    assert created.detail_type == "AccountCreated"
    assert created.source == "saas.accounts"
    assert created.detail.owner_network_id == "nid-alice"
    assert created.detail.owner_email == "alice@acme.example"
    assert created.time == datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def test_the_sweep_schedule_input_carries_its_time() -> None:
    sweep = ScheduledSweep.model_validate(event("sweep_schedule.json"))
    assert sweep.time == datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


def test_unknown_product_event_fields_are_ignored() -> None:
    raw = event("user_logged_in.json")
    raw["detail"]["device"] = "phone"
    raw["extra-envelope-field"] = 1
    parsed = PRODUCT_EVENTS.validate_python(raw)
    assert isinstance(parsed, UserLoggedIn)
    assert not hasattr(parsed.detail, "device")


# --- Stripe -----------------------------------------------------------------------------------------


def test_period_end_comes_from_the_items_with_the_newest_api() -> None:
    raw = event("stripe_subscription_created.json")
    assert "current_period_end" not in raw["detail"]["data"]["object"]
    sub = StripeSubscriptionEvent.model_validate(raw).detail.data.object
    assert sub.current_period_end is None
    assert sub.period_end == from_epoch(1770026400)


def test_period_end_is_the_latest_over_several_items() -> None:
    raw = event("stripe_subscription_created.json")
    items = raw["detail"]["data"]["object"]["items"]["data"]
    items.append({**copy.deepcopy(items[0]), "current_period_end": 1770026400 + 86400})
    items.append({**copy.deepcopy(items[0]), "current_period_end": None})
    sub = StripeSubscriptionEvent.model_validate(raw).detail.data.object
    assert sub.period_end == from_epoch(1770026400 + 86400)


def test_period_end_comes_from_the_top_level_with_a_legacy_api() -> None:
    raw = event("stripe_subscription_updated_legacy.json")
    obj = raw["detail"]["data"]["object"]
    assert obj["current_period_end"] == 1772445600
    # given only the top-level field (as older API versions send it), then period_end reads it
    del obj["items"]
    sub = StripeSubscriptionEvent.model_validate(raw).detail.data.object
    assert sub.period_end == from_epoch(1772445600)
    assert sub.period_end == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_the_legacy_sample_parses_with_its_period_end() -> None:
    parsed = StripeSubscriptionEvent.model_validate(event("stripe_subscription_updated_legacy.json"))
    assert parsed.detail.data.object.period_end == from_epoch(1772445600)
    assert parsed.detail.created_at == from_epoch(1770026405)


def test_a_subscription_without_any_period_end_has_none() -> None:
    raw = event("stripe_subscription_created.json")
    del raw["detail"]["data"]["object"]["items"]
    assert StripeSubscriptionEvent.model_validate(raw).detail.data.object.period_end is None


def test_stripe_event_fields_are_read() -> None:
    parsed = StripeSubscriptionEvent.model_validate(event("stripe_subscription_created.json"))
    assert parsed.detail.id == "evt_1SundownCreated0001"
    assert parsed.detail.type == "customer.subscription.created"
    assert parsed.detail.created_at == datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    sub = parsed.detail.data.object
    assert sub.id == "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"
    assert sub.status == "active"
    assert sub.cancel_at_period_end is False
    assert sub.account_id == "acme"


@pytest.mark.parametrize("account_id", [None, "", "   "])
def test_a_subscription_without_an_account_id_reports_none(account_id: str | None) -> None:
    raw = event("stripe_subscription_created.json")
    raw["detail"]["data"]["object"]["metadata"] = {} if account_id is None else {"account_id": account_id}
    assert StripeSubscriptionEvent.model_validate(raw).detail.data.object.account_id is None


@pytest.fixture
def stripe_fixture_envelope() -> dict[str, Any]:
    """Stripe's own fixtures, wrapped as the EventBridge integration delivers them."""
    if not STRIPE_FIXTURES.is_dir():
        pytest.skip(f"Stripe's fixtures are not checked out beside the repo: {STRIPE_FIXTURES} is missing")
    stripe_event = load(STRIPE_FIXTURES / "event.json")
    subscription = load(STRIPE_FIXTURES / "subscription.json")
    subscription["metadata"] = {**(subscription.get("metadata") or {}), "account_id": "acme"}
    stripe_event["type"] = "customer.subscription.updated"
    stripe_event["data"] = {**stripe_event["data"], "object": subscription}
    return {
        "version": "0",
        "id": "0d4c1f5e-7b3a-4c2d-9e1f-2a3b4c5d6e7f",
        "detail-type": stripe_event["type"],
        "source": "aws.partner/stripe.com/ed_test_fixture",
        "account": "123456789012",
        "time": "2026-02-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": stripe_event,
    }


def test_stripes_own_fixture_parses_and_unknown_fields_are_ignored(
    stripe_fixture_envelope: dict[str, Any],
) -> None:
    parsed = parse(event=stripe_fixture_envelope, model=StripeSubscriptionEvent)
    sub = parsed.detail.data.object
    assert parsed.detail.id == "evt_1Pgc76B7WZ01zgkWwyRHS12y"
    assert parsed.detail.created == 1234567890
    assert sub.id == "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"
    assert sub.status == "active"
    assert sub.cancel_at_period_end is True
    assert sub.ended_at == 1234567890
    assert sub.account_id == "acme"
    # the fixture is the newest API shape: current_period_end lives on the items only
    assert sub.current_period_end is None
    assert sub.period_end == from_epoch(976287773)
    assert sub.cancellation_details is not None
    assert sub.cancellation_details.reason is None
    assert not hasattr(sub, "billing_schedules")


# --- Malformed events -------------------------------------------------------------------------------


def product_error(raw: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        PRODUCT_EVENTS.validate_python(raw)
    return caught.value.errors()


def stripe_error(raw: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        StripeSubscriptionEvent.model_validate(raw)
    return caught.value.errors()


def test_missing_account_id_is_rejected_naming_it() -> None:
    raw = event("user_logged_in.json")
    del raw["detail"]["account_id"]
    errors = product_error(raw)
    assert errors[0]["type"] == "missing"
    assert errors[0]["loc"][-2:] == ("detail", "account_id")


def test_an_integer_account_id_is_rejected_naming_it() -> None:
    raw = event("account_activity.json")
    raw["detail"]["account_id"] = 42
    errors = product_error(raw)
    assert errors[0]["type"] == "string_type"
    assert errors[0]["loc"][-2:] == ("detail", "account_id")


def test_a_blank_account_id_is_rejected() -> None:
    raw = event("user_logged_in.json")
    raw["detail"]["account_id"] = "   "
    assert product_error(raw)[0]["loc"][-2:] == ("detail", "account_id")


def test_a_bad_owner_email_is_rejected_naming_it() -> None:
    raw = event("account_created.json")
    raw["detail"]["owner_email"] = "alice-at-acme"
    assert product_error(raw)[0]["loc"][-2:] == ("detail", "owner_email")


def test_an_unknown_product_detail_type_is_rejected_naming_the_discriminator() -> None:
    raw = event("user_logged_in.json")
    raw["detail-type"] = "UserLoggedOut"
    errors = product_error(raw)
    # a tagged union reports the bad tag at the top level, naming the discriminator field
    assert errors[0]["type"] == "union_tag_invalid"
    assert "detail-type" in errors[0]["ctx"]["discriminator"]
    assert errors[0]["ctx"]["tag"] == "UserLoggedOut"


def test_a_product_event_from_the_wrong_source_is_rejected_naming_it() -> None:
    raw = event("user_logged_in.json")
    raw["source"] = "saas.accounts"
    assert product_error(raw)[0]["loc"][-1] == "source"


def test_an_unknown_stripe_detail_type_is_rejected_naming_it() -> None:
    raw = event("stripe_subscription_updated.json")
    raw["detail-type"] = "invoice.paid"
    assert [e["loc"] for e in stripe_error(raw)] == [("detail-type",)]


def test_an_unknown_stripe_event_type_in_the_detail_is_rejected_naming_it() -> None:
    raw = event("stripe_subscription_updated.json")
    raw["detail"]["type"] = "plan.created"
    assert [e["loc"] for e in stripe_error(raw)] == [("detail", "type")]


@pytest.mark.parametrize(
    "source",
    ["saas.billing", "aws.partner/paypal.com/ed_1", "stripe.com", "x-aws.partner/stripe.com/ed_1"],
)
def test_a_stripe_event_from_another_source_is_rejected_naming_it(source: str) -> None:
    raw = event("stripe_subscription_updated.json")
    raw["source"] = source
    errors = stripe_error(raw)
    assert [e["loc"] for e in errors] == [("source",)]
    assert "aws.partner/stripe.com" in errors[0]["msg"]


def test_an_integer_stripe_account_id_is_rejected_naming_it() -> None:
    raw = event("stripe_subscription_updated.json")
    raw["detail"]["data"]["object"]["metadata"]["account_id"] = 42
    assert stripe_error(raw)[0]["loc"] == ("detail", "data", "object", "metadata", "account_id")


def test_a_stripe_event_without_a_subscription_id_is_rejected_naming_it() -> None:
    raw = event("stripe_subscription_deleted.json")
    del raw["detail"]["data"]["object"]["id"]
    assert stripe_error(raw)[0]["loc"] == ("detail", "data", "object", "id")


def test_an_envelope_with_a_bad_time_is_rejected_naming_it() -> None:
    raw = event("stripe_subscription_updated.json")
    raw["time"] = "yesterday"
    assert stripe_error(raw)[0]["loc"] == ("time",)


def test_envelope_times_with_offsets_are_normalised_to_utc() -> None:
    raw = event("user_logged_in.json")
    raw["time"] = "2026-01-10T10:30:00+02:00"
    parsed = PRODUCT_EVENTS.validate_python(raw)
    assert parsed.time == datetime(2026, 1, 10, 8, 30, tzinfo=UTC)
    assert parsed.time.utcoffset().total_seconds() == 0


def test_a_network_id_deletion_request_parses() -> None:
    raw = event("user_logged_in.json")
    raw.update({"detail-type": "NetworkIdDeletionRequested", "source": "saas.identity"})
    raw["detail"] = {"network_id": "nid-bob"}
    parsed = PRODUCT_EVENTS.validate_python(raw)
    assert isinstance(parsed, NetworkIdDeletionRequested)
    assert parsed.detail.network_id == "nid-bob"


def test_powertools_parse_also_raises_a_validation_error_naming_the_field() -> None:
    raw = event("user_logged_in.json")
    del raw["detail"]["account_id"]
    with pytest.raises(ValidationError) as caught:
        parse(event=raw, model=ProductEvent)
    assert caught.value.errors()[0]["loc"][-2:] == ("detail", "account_id")
