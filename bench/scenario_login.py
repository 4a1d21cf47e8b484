"""Logins: DynamoDB writes per account per coalescing window (g), and how they are delivered (h)."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import READS, WRITES, RequestCounter, stamp, stopwatch

FN = "AccountEventsFunction"
QUEUE = "AccountEventsQueue"
RULE = "AccountEventsRule"
EVENTS = Path(__file__).resolve().parents[1] / "events"
CREATED = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
WINDOW_START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def account_created(account_id: str) -> dict[str, Any]:
    event = sample("account_created")
    event.update(id=f"created-{account_id}", time=stamp(CREATED))
    event["detail"] = {
        "account_id": account_id,
        "owner_network_id": f"nid-{account_id}",
        "owner_email": f"owner.{account_id}@example.com",
    }
    return event


def login(account_id: str, n: int, at: datetime) -> dict[str, Any]:
    event = sample("user_logged_in")
    event.update(id=f"login-{n:06d}", time=stamp(at))
    event["detail"] = {"account_id": account_id, "network_id": f"nid-{account_id}-user{n % 7}"}
    return event


def sqs_batch(bodies: list[dict[str, Any]], first: int, queue_arn: str, sent: datetime) -> dict[str, Any]:
    """The event Lambda's SQS poller hands the function (as tests/integration/test_account_events.py builds it)."""
    return {
        "Records": [
            {
                "messageId": f"msg-{first + n}",
                "receiptHandle": f"rh-{first + n}",
                "body": json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(int(sent.timestamp() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for n, body in enumerate(bodies)
        ]
    }


def delivery_config(wiring: Any) -> dict[str, Any]:
    """h: where the template sends UserLoggedIn, and how the queue feeds the function."""
    from sundown_local.event_pattern import event_pattern_matches

    stack = wiring.stack
    event = sample("user_logged_in")
    routes = [
        {"rule": r["logical_id"], "targets": [t["resource"] for t in r["targets"]]}
        for r in stack.rules()
        if r["state"] == "ENABLED" and event_pattern_matches(r["event_pattern"], event)
    ]
    consumers = {}
    for route in routes:
        for target in route["targets"]:
            function_id = stack.sqs_subscriptions().get(target)
            if function_id is None:
                continue
            for source in stack.functions()[function_id]["events"].values():
                if source.get("Type") == "SQS":
                    props = source.get("Properties", {})
                    consumers[target] = {
                        "function": function_id,
                        "batch_size": int(stack.resolve(props.get("BatchSize", 10))),
                        "batching_window_s": int(
                            stack.resolve(props.get("MaximumBatchingWindowInSeconds", 0))
                        ),
                        "partial_batch_failures": "ReportBatchItemFailures"
                        in (props.get("FunctionResponseTypes") or []),
                    }
    direct_lambda_targets = [t for r in routes for t in r["targets"] if t in stack.functions()]
    return {"routes": routes, "consumers": consumers, "direct_lambda_targets": direct_lambda_targets}


def through_the_wiring(wiring: Any, accounts: list[str], logins: int = 40) -> dict[str, Any]:
    """A few logins put on the bus and delivered by the template's own routing (rule -> queue -> function)."""
    counter = RequestCounter()
    invocations: list[int] = []
    real_invoke = wiring.runner.invoke

    def observed(logical_id: str, event: Any, context: Any = None) -> Any:
        if logical_id == FN:
            invocations.append(len(event.get("Records", [])))
        return real_invoke(logical_id, event, context)

    wiring.runner.invoke = observed
    try:
        with counter.measuring():
            for n in range(logins):
                wiring.put_event(
                    login(
                        accounts[n % len(accounts)],
                        900_000 + n,
                        WINDOW_START - timedelta(hours=2, seconds=-n),
                    )
                )
            wiring.drain_all()
    finally:
        wiring.runner.invoke = real_invoke
    return {"logins": logins, "invocations": len(invocations), "records_per_invocation": invocations}


def run_logins(
    wiring: Any,
    accounts: int = 100,
    logins: int = 10_000,
    window: timedelta = timedelta(hours=1),
    budget_s: float | None = None,
) -> dict[str, Any]:
    """Deliver the logins in time order; with ``budget_s``, stop at the first batch boundary past it (the
    logins delivered so far are a prefix of the hour, round-robin over every account, all inside one
    coalescing window, so writes per account per window measured on them is a lower bound)."""
    ids = [f"team-{n:03d}" for n in range(accounts)]
    config = delivery_config(wiring)
    consumer = config["consumers"].get(QUEUE) or {"batch_size": 10}
    batch_size = min(int(consumer["batch_size"]), 10_000)
    queue_arn = wiring.stack.queue_arns[QUEUE]

    # The accounts exist (AccountCreated, delivered in SQS batches too).
    created = [account_created(a) for a in ids]
    for start in range(0, len(created), 10):
        response = wiring.runner.invoke(FN, sqs_batch(created[start : start + 10], start, queue_arn, CREATED))
        assert response == {"batchItemFailures": []}, response

    wired = through_the_wiring(wiring, ids)

    # 10,000 logins within one hour, round-robin over the accounts, in time order, as SQS batches.
    step = window / logins
    events = [login(ids[n % accounts], n, WINDOW_START + step * n) for n in range(logins)]
    counter = RequestCounter()
    failures = 0
    invocations = 0
    delivered = 0
    began = time.perf_counter()
    with counter.measuring(), stopwatch() as took:
        for start in range(0, logins, batch_size):
            chunk = events[start : start + batch_size]
            sent = WINDOW_START + step * start
            counter.label = f"batch-{start}"
            response = wiring.runner.invoke(FN, sqs_batch(chunk, start, queue_arn, sent))
            failures += len(response.get("batchItemFailures", []))
            invocations += 1
            delivered = start + len(chunk)
            if budget_s is not None and time.perf_counter() - began > budget_s:
                break
    ddb = counter.select("dynamodb")
    writes = [c for c in ddb if c.operation in WRITES]
    reads = [c for c in ddb if c.operation in READS]
    write_items = sum(c.batch_requests or 1 for c in writes)
    per_account = Counter(c.account_id for c in writes if c.account_id)

    # What the accounts say afterwards: the activity is not lost.
    from sundown.models import AccountModel

    last_login = {ids[n % accounts]: WINDOW_START + step * n for n in range(delivered)}
    lag = []
    for account_id in ids:
        account = AccountModel.get(account_id, consistent_read=True)
        lag.append((last_login[account_id] - account.last_activity_at).total_seconds())
    return {
        "accounts": accounts,
        "logins": logins,
        "delivered": delivered,
        "window_hours": window.total_seconds() / 3600,
        "invocations": invocations,
        "batch_size": batch_size,
        "failures": failures,
        "write_requests": len(writes),
        "write_items": write_items,
        "writes_per_account": len(writes) / accounts,
        "max_writes_one_account": max(per_account.values(), default=0),
        "reads": len(reads),
        "reads_by_operation": dict(Counter(c.operation for c in reads)),
        "by_operation": counter.by_operation(),
        "max_activity_lag_s": max(lag),
        "seconds": took["seconds"],
        "wired": wired,
        "delivery": config,
    }
