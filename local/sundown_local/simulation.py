"""A replayable lifecycle: a few accounts, their logins and billing events, and hourly sweeps.

Everything runs through the template's wiring on an embedded AWS (see ``wiring``), and "now" is always
the simulated time carried by the events, so the same scenario always prints the same timeline.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sundown_local.tenant_data import (
    Inventory,
    identity_inventory,
    seed_identity,
    seed_tenant,
    tenant_inventory,
)
from sundown_local.wiring import Wiring

START = datetime(2026, 1, 1, tzinfo=UTC)
STRIPE_SOURCE = "aws.partner/stripe.com/ed_test_61Sundown"


def envelope(detail_type: str, source: str, at: datetime, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{detail_type}/{at.isoformat()}/{sorted(detail.items())}")),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def account_created(at: datetime, account_id: str, owner: str, email: str) -> dict[str, Any]:
    detail = {"account_id": account_id, "owner_network_id": owner, "owner_email": email}
    return envelope("AccountCreated", "saas.accounts", at, detail)


def login(at: datetime, account_id: str, network_id: str) -> dict[str, Any]:
    return envelope("UserLoggedIn", "saas.auth", at, {"account_id": account_id, "network_id": network_id})


def subscription_event(
    kind: str,
    at: datetime,
    account_id: str,
    subscription_id: str,
    *,
    status: str = "active",
    cancel_at_period_end: bool = False,
    period_end: datetime,
    legacy_shape: bool = False,
) -> dict[str, Any]:
    """A Stripe event as Stripe's EventBridge integration delivers it (trimmed to the fields that matter)."""
    end = int(period_end.timestamp())
    subscription: dict[str, Any] = {
        "id": subscription_id,
        "object": "subscription",
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "ended_at": int(at.timestamp()) if kind.endswith("deleted") else None,
        "metadata": {"account_id": account_id},
        "cancellation_details": {"reason": "cancellation_requested" if cancel_at_period_end else None},
        "items": {"object": "list", "data": [{"id": f"si_{subscription_id}", "current_period_end": end}]},
    }
    if legacy_shape:  # older API versions put the period on the subscription itself
        subscription["current_period_end"] = end
        subscription["items"] = {"object": "list", "data": [{"id": f"si_{subscription_id}"}]}
    created = int(at.timestamp())
    stripe_event = {
        "id": f"evt_{uuid.uuid5(uuid.NAMESPACE_URL, f'{subscription_id}/{kind}/{created}').hex[:24]}",
        "object": "event",
        "type": kind,
        "created": created,
        "data": {"object": subscription},
    }
    return envelope(kind, STRIPE_SOURCE, at, stripe_event)


DEMO_ACCOUNTS = (
    ("idle-free", "ivy"),
    ("returning-free", "rita"),
    ("cancelling-paid", "carl"),
    ("renewing-paid", "rene"),
)


@dataclass(frozen=True)
class Happening:
    at: datetime
    account_id: str
    what: str
    event: dict[str, Any]


def demo_scenario(start: datetime = START) -> list[Happening]:
    """Four accounts, one story each (the README's timeline)."""

    def day(n: float) -> datetime:
        return start + timedelta(days=n)

    h: list[Happening] = []

    def add(at: datetime, account_id: str, what: str, event: dict[str, Any]) -> None:
        h.append(Happening(at, account_id, what, event))

    for account_id, owner in DEMO_ACCOUNTS:
        add(
            day(0) + timedelta(hours=9),
            account_id,
            "account created",
            account_created(
                day(0) + timedelta(hours=9), account_id, f"nid-{owner}", f"{owner}@{account_id}.example"
            ),
        )
    add(
        day(1) + timedelta(hours=10),
        "idle-free",
        "ivy logs in",
        login(day(1) + timedelta(hours=10), "idle-free", "nid-ivy"),
    )
    add(
        day(1) + timedelta(hours=11),
        "returning-free",
        "rita logs in",
        login(day(1) + timedelta(hours=11), "returning-free", "nid-rita"),
    )
    add(
        day(20) + timedelta(hours=8),
        "returning-free",
        "a teammate logs in on day 20",
        login(day(20) + timedelta(hours=8), "returning-free", "nid-rita-teammate"),
    )
    # A paid account whose owner turns auto-renewal off: it rolls back to Free when the period ends.
    add(
        day(0) + timedelta(hours=10),
        "cancelling-paid",
        "subscribes (monthly)",
        subscription_event(
            "customer.subscription.created",
            day(0) + timedelta(hours=10),
            "cancelling-paid",
            "sub_carl",
            period_end=day(10) + timedelta(hours=10),
        ),
    )
    add(
        day(5) + timedelta(hours=15),
        "cancelling-paid",
        "turns auto-renewal off",
        subscription_event(
            "customer.subscription.updated",
            day(5) + timedelta(hours=15),
            "cancelling-paid",
            "sub_carl",
            cancel_at_period_end=True,
            period_end=day(10) + timedelta(hours=10),
        ),
    )
    # A paid account that renews, is never used, and is never warned.
    add(
        day(0) + timedelta(hours=10),
        "renewing-paid",
        "subscribes (monthly)",
        subscription_event(
            "customer.subscription.created",
            day(0) + timedelta(hours=10),
            "renewing-paid",
            "sub_rene",
            period_end=day(15),
        ),
    )
    for n, (renewed_at, period_end) in enumerate(
        ((day(15), day(30)), (day(30), day(45)), (day(45), day(60)))
    ):
        add(
            renewed_at + timedelta(minutes=2),
            "renewing-paid",
            "subscription renews",
            subscription_event(
                "customer.subscription.updated",
                renewed_at + timedelta(minutes=2),
                "renewing-paid",
                "sub_rene",
                period_end=period_end,
                legacy_shape=n % 2 == 1,
            ),
        )
    return sorted(h, key=lambda x: x.at)


@dataclass
class TimelineEntry:
    at: datetime
    account_id: str
    what: str
    email: str = ""


@dataclass
class SimulationResult:
    start: datetime
    end: datetime
    timeline: list[TimelineEntry] = field(default_factory=list)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    emails: list[dict[str, str]] = field(default_factory=list)
    seeded: dict[str, Inventory] = field(default_factory=dict)  # tenant data before the run
    left: dict[str, Inventory] = field(default_factory=dict)  # and after it
    identities: dict[str, tuple[bool, int]] = field(default_factory=dict)  # Network IDs after it


def simulate(
    wiring: Wiring,
    days: int,
    *,
    scenario: list[Happening] | None = None,
    start: datetime = START,
    sweep_every: timedelta = timedelta(hours=1),
    sent_emails: Callable[[], list[dict[str, str]]],
    on_tick: Callable[[datetime], None] | None = None,
    seed: bool = True,
) -> SimulationResult:
    """Replay ``scenario`` and a sweep every ``sweep_every`` for ``days`` days."""
    happenings = list(scenario if scenario is not None else demo_scenario(start))
    end = start + timedelta(days=days)
    result = SimulationResult(start=start, end=end)
    if seed:
        for account_id, owner in DEMO_ACCOUNTS:
            seed_tenant(wiring.stack, account_id, f"nid-{owner}")
            seed_identity(wiring.stack, f"nid-{owner}", f"{owner}@people.example")
            result.seeded[account_id] = tenant_inventory(wiring.stack, account_id)
    known = sorted({h.account_id for h in happenings})
    states: dict[str, dict[str, Any]] = {}
    seen_emails = 0

    def record_changes(at: datetime, cause: str | None) -> None:
        nonlocal seen_emails
        emails = sent_emails()
        new_emails = emails[seen_emails:]
        seen_emails = len(emails)
        for account_id in known:
            status, view = wiring.http("GET", f"/accounts/{account_id}", at)
            if status != 200:
                continue
            before = states.get(account_id)
            states[account_id] = view
            mine = [e for e in new_emails if account_id in e["subject"]]
            changed = before is not None and (before["status"], before["plan"]) != (
                view["status"],
                view["plan"],
            )
            if changed or mine:
                transition = (
                    f"{before['plan']}/{before['status']} -> {view['plan']}/{view['status']}"
                    if changed
                    else ""
                )
                for email in mine or [{"subject": "", "body": ""}]:
                    what = ", ".join(x for x in (transition, _email_kind(email)) if x)
                    result.timeline.append(TimelineEntry(at, account_id, what, email["subject"]))
                    transition = ""

    queue = iter(happenings)
    pending = next(queue, None)
    for at in _ticks(start, end, sweep_every):
        while pending is not None and pending.at <= at:
            wiring.clock = pending.at
            wiring.publish(pending.event)
            result.timeline.append(TimelineEntry(pending.at, pending.account_id, pending.what))
            record_changes(pending.at, pending.what)
            pending = next(queue, None)
        responses = wiring.tick(at)
        totals = {k: v for r in responses.values() for k, v in (r or {}).get("totals", {}).items()}
        if any(k not in ("waiting", "not_due") for k in totals):
            record_changes(at, "sweep")
        if on_tick:
            on_tick(at)
    for account_id in known:
        status, view = wiring.http("GET", f"/accounts/{account_id}", end)
        if status == 200:
            result.accounts[account_id] = view
    if seed:
        for account_id, owner in DEMO_ACCOUNTS:
            result.left[account_id] = tenant_inventory(wiring.stack, account_id)
            result.identities[f"nid-{owner}"] = identity_inventory(wiring.stack, f"nid-{owner}")
    result.emails = sent_emails()
    return result


def _email_kind(email: dict[str, str]) -> str:
    found = re.search(r"This is your (\d+)-day (notice|reminder)", email.get("body", ""))
    if found:
        return (
            f"{found.group(1)}-day {'warning' if found.group(2) == 'notice' else 'reminder before deletion'}"
        )
    subject = email.get("subject", "")
    if "has been deleted" in subject:
        return "deletion confirmation"
    return "suspension notice" if "is suspended" in subject else ("email" if subject else "")


def _ticks(start: datetime, end: datetime, every: timedelta) -> Iterator[datetime]:
    at = start
    while at <= end:
        yield at
        at += every
