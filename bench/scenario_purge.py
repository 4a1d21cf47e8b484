"""The purge worker: S3 and DynamoDB requests per unit of data (c, d) and its overhead over a bare loop (f).

Each tenant is seeded straight into the in-process stores, its account is marked ``purging`` by
``sundown.purge.start_purge`` (what the sweep calls), and the request the sweep enqueued is delivered
to PurgeWorkerFunction by the template's wiring (``drain_all``), as often as it re-enqueues itself.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import RequestCounter, seed_items, seed_versions, stamp, stopwatch

NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
WORKER = "PurgeWorkerFunction"


def configure(wiring: Any) -> None:
    wiring.runner.invoke("SweepFunction", {"time": stamp(NOW - timedelta(days=400))})


def start(wiring: Any, account_id: str, *, configure_first: bool = True) -> None:
    """An idle Free account whose grace period is over, marked ``purging`` and enqueued as the sweep does."""
    from sundown import purge
    from sundown.models import AccountModel

    if configure_first:
        configure(wiring)
    created = NOW - timedelta(days=60)
    account = AccountModel(
        account_id,
        owner_network_id=f"nid-{account_id}",
        owner_email=f"owner.{account_id}@example.com",
        plan="free",
        status="suspended",
        created_at=created,
        suspend_at=NOW - timedelta(days=8),
        suspended_at=NOW - timedelta(days=8),
        suspension_notice_at=NOW - timedelta(days=8),
        delete_at=NOW - timedelta(days=1),
    )
    purge.start_purge(account, NOW)


def purge_tenant(wiring: Any, account_id: str, counter: RequestCounter | None = None) -> dict[str, Any]:
    """Start the purge and deliver it to the worker until done. Only the worker's own invocations are
    timed and counted (not the harness's SQS polling between them)."""
    from sundown.models import AccountModel

    start(wiring, account_id)
    wiring.clock = NOW
    counter = counter or RequestCounter()
    real_invoke = wiring.runner.invoke
    spent: list[float] = []

    def observed(logical_id: str, event: Any, context: Any = None) -> Any:
        counter.label = logical_id
        began = time.perf_counter()
        try:
            return real_invoke(logical_id, event, context)
        finally:
            spent.append(time.perf_counter() - began)
            counter.label = None

    wiring.runner.invoke = observed
    try:
        with counter.measuring():
            wiring.drain_all()
    finally:
        wiring.runner.invoke = real_invoke
    counter.calls = [c for c in counter.calls if c.label == WORKER]
    final = AccountModel.get(account_id, consistent_read=True)
    return {
        "seconds": sum(spent),
        "invocations": len(spent),
        "status": final.status,
        "totals": (final.certificate or {}).get("totals"),
    }


def names(wiring: Any) -> tuple[str, str]:
    p = wiring.stack.physical_names
    return p["DocumentsBucket"], p["TenantDataTable"]


def run_s3(wiring: Any, versions: int = 20_000) -> dict[str, Any]:
    bucket, _ = names(wiring)
    with stopwatch() as seeding:
        seeded = seed_versions(bucket, "acc-s3", versions)
    counter = RequestCounter()
    result = purge_tenant(wiring, "acc-s3", counter)
    s3 = counter.select("s3")
    return {
        "versions": seeded,
        "s3_requests": len(s3),
        "per_1000": len(s3) / (seeded / 1000),
        "by_operation": counter.by_operation("s3"),
        "dynamodb_requests": counter.n("dynamodb"),
        "deleted": (result["totals"] or {}).get("object_versions_deleted"),
        "status": result["status"],
        "worker_invocations": result["invocations"],
        "seed_seconds": seeding["seconds"],
        "purge_seconds": result["seconds"],
    }


def run_dynamodb(wiring: Any, items: int = 10_000) -> dict[str, Any]:
    _, table = names(wiring)
    with stopwatch() as seeding:
        seed_items(table, "acc-ddb", items)
    counter = RequestCounter()
    result = purge_tenant(wiring, "acc-ddb", counter)
    ddb = counter.select("dynamodb")
    queries = [c for c in ddb if c.operation == "Query" and c.resource == table]
    others = [c for c in ddb if not (c.operation == "Query" and c.resource == table)]
    batches = [c for c in ddb if c.operation == "BatchWriteItem"]
    return {
        "items": items,
        "query_pages": len(queries),
        "requests_excluding_queries": len(others),
        "per_25": len(others) / (items / 25),
        "batch_writes": len(batches),
        "batch_writes_per_25": len(batches) / (items / 25),
        "mean_batch": sum(c.batch_requests for c in batches) / max(len(batches), 1),
        "by_operation": counter.by_operation("dynamodb"),
        "by_table": _by_table(others, wiring),
        "deleted": (result["totals"] or {}).get("items_deleted"),
        "status": result["status"],
        "seed_seconds": seeding["seconds"],
        "purge_seconds": result["seconds"],
    }


def _by_table(calls: list[Any], wiring: Any) -> dict[str, int]:
    logical = {v: k for k, v in wiring.stack.physical_names.items()}
    out: dict[str, int] = {}
    for c in calls:
        name = logical.get(c.resource or "", c.resource or "?")
        key = f"{name}:{c.operation}"
        out[key] = out.get(key, 0) + 1
    return out


# --- f: overhead against a bare boto3 loop -----------------------------------------------------------


def bare_purge(bucket: str, table: str, account_id: str, counter: RequestCounter) -> float:
    """The same data-plane calls, with nothing around them: DynamoDB pages of keys and 25-item batch
    deletes, S3 pages of versions and DeleteObjects, the upload listing, and the final emptiness checks."""
    import boto3

    s3, ddb = boto3.client("s3"), boto3.client("dynamodb")
    prefix = f"tenants/{account_id}/"
    with counter.measuring(), stopwatch() as took:
        while True:
            page = ddb.query(
                TableName=table,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": "tenant_id", "#k0": "tenant_id", "#k1": "item_id"},
                ExpressionAttributeValues={":pk": {"S": account_id}},
                ProjectionExpression="#k0, #k1",
                ConsistentRead=True,
                Limit=1000,
            )
            keys = page.get("Items", [])
            for start in range(0, len(keys), 25):
                request = {table: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]}
                while request:
                    request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if "LastEvaluatedKey" not in page:
                break
        while True:
            page = s3.list_object_versions(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
            objects = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if objects:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            if not page.get("IsTruncated"):
                break
        s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix, MaxUploads=1000)
        # The emptiness checks the worker makes before its certificate.
        ddb.query(
            TableName=table,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": "tenant_id"},
            ExpressionAttributeValues={":pk": {"S": account_id}},
            ConsistentRead=True,
            Limit=1,
            Select="COUNT",
        )
        s3.list_object_versions(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix, MaxUploads=1)
    return took["seconds"]


def run_overhead(wiring: Any, versions: int = 5_000, items: int = 2_500, rounds: int = 2) -> dict[str, Any]:
    """Worker and bare loop alternately (worker, bare, bare, worker, ...), each on a freshly seeded
    tenant of the same size; the figure is the ratio of the medians."""
    bucket, table = names(wiring)
    worker_times: list[float] = []
    bare_times: list[float] = []
    worker_calls: dict[str, int] = {}
    bare_calls: dict[str, int] = {}
    order = []
    for r in range(rounds):
        order += ["worker", "bare"] if r % 2 == 0 else ["bare", "worker"]
    for n, kind in enumerate(order):
        account_id = f"ovh-{n:02d}"
        seed_versions(bucket, account_id, versions)
        seed_items(table, account_id, items)
        counter = RequestCounter()
        if kind == "worker":
            result = purge_tenant(wiring, account_id, counter)
            assert result["status"] == "deleted", result
            worker_times.append(result["seconds"])
            worker_calls = counter.by_operation()
        else:
            bare_times.append(bare_purge(bucket, table, account_id, counter))
            bare_calls = counter.by_operation()
        time.sleep(0)
    worker, bare = statistics.median(worker_times), statistics.median(bare_times)
    return {
        "versions": versions,
        "items": items,
        "rounds": rounds,
        "worker_seconds": worker_times,
        "bare_seconds": bare_times,
        "ratio": worker / bare,
        "worker_calls": worker_calls,
        "bare_calls": bare_calls,
    }
