"""The sweep: items read per account due (a), and how much one sweep invocation does (b)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import RequestCounter, stamp, stopwatch

NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
SWEEP = "SweepFunction"


def configure(wiring: Any) -> Any:
    """One sweep invocation at a time when nothing exists yet: settings read, models bound, as on Lambda."""
    wiring.runner.invoke(SWEEP, {"time": stamp(NOW - timedelta(days=400))})
    from sundown.runtime import runtime

    return runtime()


def seed_accounts(
    wiring: Any, total: int, due: int, *, commercial_share: float = 0.3, seed: int = 7
) -> list[str]:
    """``total`` accounts written straight into the in-process table, as AccountCreated leaves them.

    ``due`` of them are Free accounts created 17 days ago (their 14-day warning, due on day 16, is
    due now); of the rest, ``commercial_share`` are paid (nothing scheduled: not in the due index)
    and the others are Free accounts created 0-15 days ago (their next action is in the future).
    Returns the ids of the due accounts.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    rt = configure(wiring)
    shards = rt.settings.due_index_shards
    table = wiring.stack.physical_names["AccountsTable"]
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][wiring.stack.region]
    rng = random.Random(seed)
    due_ids = []
    due_every = list(range(0, total, total // due))
    for n in range(total):
        account_id = f"acc-{n:06d}"
        if n % (total // due) == 0 and len(due_ids) < due:
            created = NOW - timedelta(days=17, minutes=rng.randint(0, 600))
            due_ids.append(account_id)
            plan = "free"
        elif rng.random() < commercial_share:
            created, plan = NOW - timedelta(days=rng.randint(1, 900)), "commercial"
        else:
            created, plan = NOW - timedelta(days=rng.uniform(0, 15.5)), "free"
        item = account_item(account_id, n, plan, created, rt.policy, shards)
        if n < 3 or n in due_every[:2]:  # the fast serializer writes what PynamoDB would
            assert item == model_item(account_id, n, plan, created, rt.policy, shards), account_id
        backend.put_item(table, item)
    return due_ids


def _t(at: datetime) -> dict[str, str]:
    return {"S": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")}


def account_item(
    account_id: str, n: int, plan: str, created: datetime, policy: Any, shards: int
) -> dict[str, Any]:
    """What ``AccountModel(...).serialize()`` gives for a new account (see ``model_item``), built directly:
    PynamoDB's serializer costs ~0.8 ms per item, too slow for seeding 50,000 of them."""
    from sundown.models import due_shard_of
    from sundown.policy import new_cycle, next_action_at

    item: dict[str, Any] = {
        "account_id": {"S": account_id},
        "created_at": _t(created),
        "owner_email": {"S": f"owner{n}@example.com"},
        "owner_network_id": {"S": f"nid-{n}"},
        "plan": {"S": plan},
        "status": {"S": "active"},
        "subscriptions": {"L": []},
        "version": {"N": "1"},
        "warnings": {"L": []},
    }
    if plan == "free":
        cycle = new_cycle(created, policy)
        item |= {
            "suspend_at": _t(cycle.suspend_at),
            "delete_at": _t(cycle.delete_at),
            "due_shard": {"S": due_shard_of(account_id, shards)},
            "next_action_at": _t(next_action_at(cycle, policy)),
        }
    return item


def model_item(
    account_id: str, n: int, plan: str, created: datetime, policy: Any, shards: int
) -> dict[str, Any]:
    """The same account as AccountCreated would write it, through PynamoDB."""
    from sundown.models import AccountModel
    from sundown.policy import new_cycle, next_action_at

    account = AccountModel(
        account_id,
        owner_network_id=f"nid-{n}",
        owner_email=f"owner{n}@example.com",
        plan=plan,
        created_at=created,
        version=1,
    )
    if plan == "free":
        cycle = new_cycle(created, policy)
        account.apply_cycle(cycle, warnings=[])
        account.schedule(next_action_at(cycle, policy), shards)
    return account.serialize()


def run_sweep_reads(wiring: Any, total: int = 50_000, due_share: float = 0.01) -> dict[str, Any]:
    due = int(total * due_share)
    with stopwatch() as seeding:
        due_ids = seed_accounts(wiring, total, due)
    counter = RequestCounter()
    with stopwatch() as sweeping, counter.measuring():
        response = wiring.runner.invoke(SWEEP, {"time": stamp(NOW)})
    table = wiring.stack.physical_names["AccountsTable"]
    returned, scanned = counter.items_read()
    acted = sum(response["totals"].values())
    return {
        "accounts": total,
        "due": len(due_ids),
        "acted_on": acted,
        "totals": response["totals"],
        "items_returned": returned,
        "items_scanned": scanned,
        "ratio_returned": returned / len(due_ids),
        "ratio_scanned": scanned / len(due_ids),
        "queries": counter.n("dynamodb", {"Query"}, table),
        "scans": counter.n("dynamodb", {"Scan"}),
        "get_items": counter.n("dynamodb", {"GetItem"}),
        "requests": counter.by_operation(),
        "seed_seconds": seeding["seconds"],
        "sweep_seconds": sweeping["seconds"],
    }


def run_fan_out(wiring: Any, due: int = 5_000) -> dict[str, Any]:
    """``due`` accounts due at once. Every function invocation is observed (the first sweep, and anything
    it fans out through SQS, delivered by the template's wiring); the work of each is the number of
    distinct accounts whose item it writes."""
    with stopwatch() as seeding:
        due_ids = seed_accounts(wiring, due, due, commercial_share=0.0)
    counter = RequestCounter()
    invocations: list[dict[str, Any]] = []
    real_invoke = wiring.runner.invoke

    def observed(logical_id: str, event: Any, context: Any = None) -> Any:
        counter.label = f"{logical_id}#{len(invocations)}"
        with stopwatch() as took:
            try:
                result = real_invoke(logical_id, event, context)
            finally:
                invocations.append({"function": logical_id, "label": counter.label})
        invocations[-1]["seconds"] = took["seconds"]
        return result

    wiring.runner.invoke = observed
    accounts_table = wiring.stack.physical_names["AccountsTable"]
    try:
        with counter.measuring():
            first = wiring.runner.invoke(SWEEP, {"time": stamp(NOW)})
            wiring.clock = NOW
            wiring.drain_all()
    finally:
        wiring.runner.invoke = real_invoke
    for inv in invocations:
        writes = [
            c
            for c in counter.calls
            if c.label == inv["label"] and c.resource == accounts_table and c.account_id and not c.failed
        ]
        inv["accounts"] = len({c.account_id for c in writes})
    sweep_like = [i for i in invocations if i["accounts"]]

    # Exactly once: every due account got its 14-day warning (one email, one recorded stage), none twice.
    import boto3

    from sundown_local.embedded import sent_emails

    emails = Counter(e["to"] for e in sent_emails())
    stages: dict[str, list[str]] = {}
    for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=accounts_table):
        for item in page["Items"]:
            stages[item["account_id"]["S"]] = [
                w["M"]["days"]["N"] for w in item.get("warnings", {}).get("L", [])
            ]
    warned_once = skipped = twice = 0
    for account_id in due_ids:
        sent = emails.get(f"owner{int(account_id.split('-')[1])}@example.com", 0)
        if sent == 1 and stages.get(account_id) == ["14"]:
            warned_once += 1
        elif sent == 0:
            skipped += 1
        else:
            twice += 1
    first_total = sum((first or {}).get("totals", {}).values())
    return {
        "due": due,
        "invocations": len(invocations),
        "working_invocations": len(sweep_like),
        "max_accounts_per_invocation": max((i["accounts"] for i in sweep_like), default=0),
        "first_invocation_accounts": next((i["accounts"] for i in invocations), 0),
        "first_invocation_steps": first_total,
        "first_invocation_seconds": invocations[0]["seconds"] if invocations else 0.0,
        "sqs_sends_by_sweep": sum(
            1
            for c in counter.calls
            if c.operation in ("SendMessage", "SendMessageBatch") and c.label and c.label.startswith(SWEEP)
        ),
        "warned_once": warned_once,
        "skipped": skipped,
        "more_than_once": twice,
        "seed_seconds": seeding["seconds"],
        "functions": sorted({i["function"] for i in invocations}),
    }
