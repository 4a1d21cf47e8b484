"""Typed models of every event Sundown accepts (SPEC's event contract), for the Powertools parser.

Unknown fields are ignored (Stripe adds fields all the time); missing or mistyped ones are errors
that name the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from sundown.clock import from_epoch, parse_time

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
# Account and Network IDs become storage prefixes (tenants/<id>/): no slash, no "..", nothing empty.
SafeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,127}$")]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
UtcTime = Annotated[datetime, AfterValidator(parse_time)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Envelope(_Model):
    """The EventBridge envelope. ``time`` is "now" for every decision the event causes."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    version: str = "0"
    id: Id
    detail_type: str = Field(alias="detail-type")
    source: str
    time: UtcTime
    region: str | None = None
    account: str | None = None
    resources: list[str] = Field(default_factory=list)


# --- The product's own events -------------------------------------------------------------------


class AccountCreatedDetail(_Model):
    account_id: SafeId
    owner_network_id: SafeId
    owner_email: Email


class ActivityDetail(_Model):
    account_id: SafeId
    network_id: SafeId


class NetworkIdDetail(_Model):
    network_id: SafeId


class AccountCreated(Envelope):
    source: Literal["saas.accounts"]
    detail_type: Literal["AccountCreated"] = Field(alias="detail-type")
    detail: AccountCreatedDetail


class UserLoggedIn(Envelope):
    source: Literal["saas.auth"]
    detail_type: Literal["UserLoggedIn"] = Field(alias="detail-type")
    detail: ActivityDetail


class AccountActivity(Envelope):
    source: Literal["saas.auth"]
    detail_type: Literal["AccountActivity"] = Field(alias="detail-type")
    detail: ActivityDetail


class NetworkIdDeletionRequested(Envelope):
    source: Literal["saas.identity"]
    detail_type: Literal["NetworkIdDeletionRequested"] = Field(alias="detail-type")
    detail: NetworkIdDetail


ProductEvent = Annotated[
    AccountCreated | UserLoggedIn | AccountActivity | NetworkIdDeletionRequested,
    Field(discriminator="detail_type"),
]


# --- Stripe, through its EventBridge integration ------------------------------------------------


class StripeSubscriptionItem(_Model):
    current_period_end: int | None = None


class StripeList(_Model):
    data: list[StripeSubscriptionItem] = Field(default_factory=list)


class StripeCancellationDetails(_Model):
    reason: str | None = None


class StripeSubscription(_Model):
    id: Id
    status: str
    cancel_at_period_end: bool = False
    current_period_end: int | None = None  # older API versions
    items: StripeList | None = None  # newer API versions carry it per item
    ended_at: int | None = None
    metadata: dict[str, str | None] = Field(default_factory=dict)
    cancellation_details: StripeCancellationDetails | None = None

    @property
    def account_id(self) -> str | None:
        value = (self.metadata or {}).get("account_id")
        return value.strip() if value and value.strip() else None

    @property
    def period_end(self) -> datetime | None:
        """``current_period_end`` from the top level, or the latest one over ``items.data[]``."""
        if self.current_period_end is not None:
            return from_epoch(self.current_period_end)
        ends = [i.current_period_end for i in (self.items.data if self.items else []) if i.current_period_end]
        return from_epoch(max(ends)) if ends else None


class StripeEventData(_Model):
    object: StripeSubscription


StripeEventType = Literal[
    "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"
]


class StripeEvent(_Model):
    id: Id
    type: StripeEventType
    created: int
    data: StripeEventData

    @property
    def created_at(self) -> datetime:
        return from_epoch(self.created)


def _stripe_source(value: str) -> str:
    if not value.startswith("aws.partner/stripe.com"):
        raise ValueError("source must start with aws.partner/stripe.com")
    return value


class StripeSubscriptionEvent(Envelope):
    source: Annotated[str, AfterValidator(_stripe_source)]
    detail_type: StripeEventType = Field(alias="detail-type")
    detail: StripeEvent


class ScheduledSweep(_Model):
    """The sweep's schedule input: ScheduleV2 passes ``{"time": ...}``; a plain Scheduled Event has it too."""

    time: UtcTime
    id: str | None = None


class PurgeRequest(_Model):
    """A message on the purge queue: which tenant to purge, and the sweep time that asked for it."""

    account_id: SafeId
    requested_at: UtcTime


class HoldRequest(_Model):
    """``PUT /accounts/{id}/hold``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    until: UtcTime | None = None


class PreviewQuery(_Model):
    """``GET /lifecycle/preview?at=<ISO time>``."""

    at: UtcTime


class SweepContinuation(_Model):
    """A page of a sweep fanned out on the sweep queue."""

    time: UtcTime
    shard: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]
    cursor: dict[str, Any] | None = None
    purge_budget: Annotated[int, Field(ge=0)]
