"""The purge worker on the deployed wiring: physical, exact, isolated, resumable and verified.

Every tenant here goes the whole way: AccountCreated, four warnings, the suspension, then the sweep at
the end of the grace period marks it ``purging`` and enqueues the request that PurgeWorkerFunction
picks up from the PurgeQueue. Faults are injected at the boto3 client the storage layer uses.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

import sundown.audit
import sundown.aws
import sundown.notifications
import sundown.storage
from sundown.clock import parse_time
from sundown.lifecycle import SweepIncomplete
from sundown.models import load
from sundown_local.runner import FakeContext
from tests.conftest import load_event

CREATED = parse_time("2026-01-01T09:00:00Z")
SWEEP_DAYS = (16, 23, 27, 29, 30)  # the four warnings (14, 7, 3, 1 days before), then the suspension
PURGE_AT = CREATED + timedelta(days=37)  # the grace period is over: the sweep starts the purge
WORKER = "PurgeWorkerFunction"
# moto copies the whole bucket on each listing call: list it in one page (S3 itself pages by 1,000).
ONE_PAGE = {"PaginationConfig": {"PageSize": 100_000}}
COUNTERS = ("items_deleted", "object_versions_deleted", "delete_markers_deleted", "uploads_aborted")


# --- Given: accounts and their data ---------------------------------------------------------------


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def owner_of(account_id: str) -> tuple[str, str]:
    """(network id, email) of the account's owner."""
    return f"nid-{account_id}-owner", f"owner.{account_id}@example.com"


def create_account(wiring: Any, account_id: str, at: datetime = CREATED) -> None:
    event = load_event("account_created")
    network_id, email = owner_of(account_id)
    event.update(id=f"created-{account_id}", time=stamp(at))
    event["detail"] = {"account_id": account_id, "owner_network_id": network_id, "owner_email": email}
    assert wiring.runner.invoke("AccountEventsFunction", event) == {"outcome": "created"}


def activity(account_id: str, at: datetime, kind: str = "UserLoggedIn") -> dict[str, Any]:
    event = load_event("user_logged_in")
    event.update({"id": f"{kind}-{account_id}-{stamp(at)}", "time": stamp(at), "detail-type": kind})
    event["detail"] = {"account_id": account_id, "network_id": owner_of(account_id)[0]}
    return event


def sweep(wiring: Any, at: datetime) -> dict[str, Any]:
    wiring.clock = at  # SQS stamps what the sweep enqueues with this time: the worker's "now"
    return wiring.runner.invoke("SweepFunction", {"time": stamp(at)})


def run_sweeps_until_purge(wiring: Any, account_id: str = "acc-1") -> None:
    """Warn four times, suspend, then (grace over) mark the account purging; the request stays queued."""
    for day in SWEEP_DAYS:
        sweep(wiring, CREATED + timedelta(days=day))
    assert load(account_id).status == "suspended"
    response = sweep(wiring, PURGE_AT)
    assert response["totals"]["purge_started"] == 1
    assert load(account_id).status == "purging"


def names(wiring: Any) -> tuple[str, str, str]:
    p = wiring.stack.physical_names
    return p["DocumentsBucket"], p["TenantDataTable"], p["NetworkIdsTable"]


@dataclass(frozen=True)
class Seeded:
    items: int
    versions: int
    markers: int
    uploads: int


ITEM_KINDS: tuple[Callable[[str, int], str], ...] = (
    lambda a, n: f"crm#deal#{n}",
    lambda a, n: f"task#{n}",
    lambda a, n: f"stream#post#{n}",
    lambda a, n: f"im#chat#9#msg#{n}",
    lambda a, n: f"user#nid-{a}-{n}",
)


def put_items(table: str, items: list[dict[str, Any]]) -> None:
    ddb = boto3.client("dynamodb")
    for start in range(0, len(items), 25):
        chunk = items[start : start + 25]
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in chunk]})


def s3_backend() -> Any:
    """The in-process S3 itself. Thousands of versions written straight into it take milliseconds;
    as many PutObject calls through boto3 take 4-9 ms each here (each one is a whole request through
    moto's HTTP layer). What the purge and the checks see still comes through boto3."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


def seed_tenant(
    wiring: Any, account_id: str, *, objects: int, markers: int, items: int, uploads: int = 1
) -> Seeded:
    """Two versions of each document, delete markers on the first ``markers`` of them, unfinished
    multipart uploads and TenantDataTable items of every kind the product writes."""
    bucket, table, _ = names(wiring)
    s3, backend = boto3.client("s3"), s3_backend()
    for n in range(objects):
        key = f"tenants/{account_id}/docs/{n:05d}.txt"
        backend.put_object(bucket, key, f"{account_id} document {n}, first draft".encode())
        backend.put_object(bucket, key, f"{account_id} document {n}, final".encode())
    for n in range(markers):
        backend.delete_object(bucket, f"tenants/{account_id}/docs/{n:05d}.txt")  # no version id: a marker
    for n in range(uploads):
        key = f"tenants/{account_id}/uploads/video-{n}.mp4"
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key)
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"\0" * 1024)
    put_items(
        table,
        [
            {
                "tenant_id": {"S": account_id},
                "item_id": {"S": ITEM_KINDS[n % len(ITEM_KINDS)](account_id, n)},
                "payload": {"S": f"{account_id} row {n}"},
            }
            for n in range(items)
        ],
    )
    return Seeded(items=items, versions=2 * objects, markers=markers, uploads=uploads)


def seed_network_ids(wiring: Any, *account_ids: str) -> None:
    """The owners' global identities: a NetworkIdsTable item and an avatar each. No purge touches them."""
    bucket, _, network_table = names(wiring)
    s3 = boto3.client("s3")
    for account_id in account_ids:
        network_id, email = owner_of(account_id)
        s3.put_object(Bucket=bucket, Key=f"network/{network_id}/avatar.png", Body=b"\x89PNG" + email.encode())
        put_items(network_table, [{"network_id": {"S": network_id}, "email": {"S": email}}])


# --- Then: what is left ---------------------------------------------------------------------------


def everything_but(wiring: Any, account_id: str) -> dict[str, Any]:
    """Every byte outside the purged tenant: each version (id, body), each delete marker, each upload
    with its parts, every TenantDataTable item of another tenant and every NetworkIdsTable item."""
    bucket, table, network_table = names(wiring)
    s3, ddb = boto3.client("s3"), boto3.client("dynamodb")
    mine = f"tenants/{account_id}/"
    versions, markers = [], []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, **ONE_PAGE):
        versions += [v for v in page.get("Versions", []) if not v["Key"].startswith(mine)]
        markers += [m for m in page.get("DeleteMarkers", []) if not m["Key"].startswith(mine)]
    uploads = [
        u
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket)
        for u in page.get("Uploads", [])
        if not u["Key"].startswith(mine)
    ]
    return {
        "versions": sorted(
            (
                v["Key"],
                v["VersionId"],
                v["IsLatest"],
                s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read(),
            )
            for v in versions
        ),
        "markers": sorted((m["Key"], m["VersionId"], m["IsLatest"]) for m in markers),
        "uploads": sorted(
            (
                u["Key"],
                u["UploadId"],
                [
                    (p["PartNumber"], p["ETag"], p["Size"])
                    for p in s3.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get(
                        "Parts", []
                    )
                ],
            )
            for u in uploads
        ),
        "items": sorted(
            json.dumps(i, sort_keys=True) for i in scan(ddb, table) if i["tenant_id"]["S"] != account_id
        ),
        "network_ids": sorted(json.dumps(i, sort_keys=True) for i in scan(ddb, network_table)),
    }


def scan(ddb: Any, table: str) -> Iterator[dict[str, Any]]:
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        yield from page.get("Items", [])


def left_of(wiring: Any, account_id: str) -> dict[str, int]:
    """Everything of the tenant's still stored, listed in full (not the worker's own existence check)."""
    bucket, table, _ = names(wiring)
    s3, ddb = boto3.client("s3"), boto3.client("dynamodb")
    prefix = f"tenants/{account_id}/"
    left = Counter({"versions": 0, "markers": 0, "uploads": 0, "items": 0})
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix, **ONE_PAGE):
        left["versions"] += len(page.get("Versions", []))
        left["markers"] += len(page.get("DeleteMarkers", []))
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix, **ONE_PAGE):
        left["uploads"] += len(page.get("Uploads", []))
    for page in ddb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="tenant_id = :t",
        ExpressionAttributeValues={":t": {"S": account_id}},
        ConsistentRead=True,
    ):
        left["items"] += len(page.get("Items", []))
    return dict(left)


NOTHING_LEFT = {"versions": 0, "markers": 0, "uploads": 0, "items": 0}


def certificate_of(wiring: Any, account_id: str) -> dict[str, Any]:
    status, answer = wiring.http("GET", f"/accounts/{account_id}", PURGE_AT + timedelta(days=1))
    assert status == 200
    assert answer["status"] == "deleted"
    return answer["certificate"]


def assert_exact_certificate(wiring: Any, account_id: str, seeded: Seeded, passes: int = 1) -> None:
    bucket, table, _ = names(wiring)
    certificate = certificate_of(wiring, account_id)
    assert certificate["stores"] == {
        f"dynamodb:{table}": dict.fromkeys(COUNTERS, 0) | {"items_deleted": seeded.items},
        f"s3:{bucket}/tenants/{{account_id}}/": {
            "items_deleted": 0,
            "object_versions_deleted": seeded.versions,
            "delete_markers_deleted": seeded.markers,
            "uploads_aborted": seeded.uploads,
        },
    }
    assert certificate["totals"] == {
        "items_deleted": seeded.items,
        "object_versions_deleted": seeded.versions,
        "delete_markers_deleted": seeded.markers,
        "uploads_aborted": seeded.uploads,
    }
    assert certificate["verification"]["result"] == "verified"
    assert certificate["verification"]["passes"] == passes
    assert not any(certificate["verification"]["remaining"].values())


def audit_events(account_id: str) -> list[str]:
    return [e.event for e in sundown.audit.trail(account_id)]


# --- Faults at the client the storage layer uses ----------------------------------------------------


class Fault:
    """Wraps one method of one service's real client; ``behaviour(real_method, kwargs, call_number)``."""

    def __init__(self, service: str, method: str, behaviour: Callable[[Callable[..., Any], dict, int], Any]):
        self.service, self.method, self.behaviour = service, method, behaviour
        self.calls = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Fault:
        real_factory = sundown.aws.client
        fault = self

        class Wrapped:
            def __init__(self, real: Any) -> None:
                self._real = real

            def __getattr__(self, name: str) -> Any:
                attribute = getattr(self._real, name)
                if name != fault.method:
                    return attribute

                def call(**kwargs: Any) -> Any:
                    fault.calls += 1
                    return fault.behaviour(attribute, kwargs, fault.calls)

                return call

        def client(service: str) -> Any:
            real = real_factory(service)
            return Wrapped(real) if service == self.service else real

        monkeypatch.setattr(sundown.storage, "client", client)
        return self


def service_unavailable(operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ServiceUnavailable", "Message": "Please reduce your request rate."}}, operation
    )


def delete_all_but(delete_objects: Callable[..., Any], kwargs: dict, spared: list[dict]) -> None:
    """The real DeleteObjects for every requested version except ``spared`` (S3 refuses an empty list)."""
    objects = [o for o in kwargs["Delete"]["Objects"] if o not in spared]
    if objects:
        delete_objects(**{**kwargs, "Delete": {**kwargs["Delete"], "Objects": objects}})


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries cost no real time; returns the delays the storage layer asked for."""
    delays: list[float] = []
    monkeypatch.setattr(sundown.storage, "sleep", delays.append)
    return delays


def start_purge_directly(wiring: Any, account_id: str = "acc-1") -> None:
    """What the sweep does on its Purge decision, without the six sweeps that lead there (the tests of
    the whole way are above and below; these ones are about the worker)."""
    from sundown.purge import start_purge

    sweep(wiring, CREATED)  # sets up the sweep's runtime; nothing is due yet
    wiring.clock = PURGE_AT
    start_purge(load(account_id), PURGE_AT)
    assert load(account_id).status == "purging"


@pytest.fixture
def small_tenant(wiring: Any) -> Seeded:
    """acc-1, purging (its request is queued, not yet delivered), next to acc-10's data."""
    create_account(wiring, "acc-1")
    seeded = seed_tenant(wiring, "acc-1", objects=30, markers=8, items=80)
    seed_tenant(wiring, "acc-10", objects=5, markers=2, items=12)
    seed_network_ids(wiring, "acc-1", "acc-10")
    start_purge_directly(wiring)
    return seeded


# --- 1. The whole purge ---------------------------------------------------------------------------


def test_purge_deletes_every_trace_of_the_tenant_and_nothing_else(wiring, emails):
    # given acc-1 with thousands of object versions, delete markers, an unfinished upload and items
    # of every kind, next to acc-10 (same prefix start) with its own data, and both owners' Network IDs
    create_account(wiring, "acc-1")
    create_account(wiring, "acc-10")
    wiring.runner.invoke("AccountEventsFunction", activity("acc-10", CREATED + timedelta(days=20)))
    seed_tenant(wiring, "acc-10", objects=40, markers=10, items=50)
    seed_network_ids(wiring, "acc-1", "acc-10")
    others_before = everything_but(wiring, "acc-1")  # (taken first: moto lists a big bucket slowly)
    seeded = seed_tenant(wiring, "acc-1", objects=1200, markers=300, items=700)

    # when the sweeps run it to the end of its grace period and the worker takes the request
    run_sweeps_until_purge(wiring)
    deliveries = wiring.drain_all()

    # then one delivery purged it all, with nothing of acc-1 left in any store
    assert [(d.function, d.records, d.failed) for d in deliveries] == [(WORKER, 1, 0)]
    assert left_of(wiring, "acc-1") == NOTHING_LEFT
    # and acc-10, the other tenants' rows, network/ and NetworkIdsTable are byte-for-byte untouched
    assert everything_but(wiring, "acc-1") == others_before
    assert load("acc-10").status in ("active", "warned")
    # and the certificate counts exactly what was there, verified in one pass
    assert_exact_certificate(wiring, "acc-1", seeded)

    # and the tombstone carries no personal data
    status, answer = wiring.http("GET", "/accounts/acc-1", PURGE_AT + timedelta(days=1))
    assert status == 200
    assert answer["deleted_at"] == stamp(PURGE_AT)
    assert answer["reason"]
    assert answer["certificate"]["started_at"] == stamp(PURGE_AT)
    assert answer["certificate"]["finished_at"] == stamp(PURGE_AT)
    network_id, email = owner_of("acc-1")
    dumped = json.dumps(answer)
    assert "owner_email" not in dumped and "@" not in dumped and network_id not in dumped
    # nor does the stored item keep the address or the owner (it left the owner index too)
    raw = json.dumps(raw_account(wiring, "acc-1"))
    assert "@" not in raw and network_id not in raw

    # and the owner got the final confirmation: deleted, and the Network ID still works
    to_owner = [e for e in emails() if e["to"] == email]
    assert to_owner[-1]["subject"] == "Your account acc-1 has been deleted"
    assert "permanently deleted" in to_owner[-1]["body"]
    assert "Network ID) still works" in to_owner[-1]["body"]
    assert sum("has been deleted" in e["subject"] for e in emails()) == 1

    # and the audit trail tells the whole story, without an address anywhere
    trail = sundown.audit.trail("acc-1")
    assert Counter(e.event for e in trail) == {
        "warning_sent": 4,
        "suspended": 1,
        "purge_started": 1,
        "purge_verified": 1,
        "deleted": 1,
    }
    at = {e.event: e.at for e in trail}
    assert at["purge_started"] == at["purge_verified"] == at["deleted"] == PURGE_AT
    stored = boto3.client("dynamodb").query(
        TableName=wiring.stack.physical_names["AuditTable"],
        KeyConditionExpression="subject = :s",
        ExpressionAttributeValues={":s": {"S": "acc-1"}},
    )["Items"]
    assert len(stored) == len(trail) and "@" not in json.dumps(stored)

    # and a late duplicate of the request (a watchdog redispatch) changes nothing and sends nothing
    sent = len(emails())
    tombstone = wiring.http("GET", "/accounts/acc-1", PURGE_AT + timedelta(days=1))
    wiring.clock = PURGE_AT + timedelta(hours=2)
    boto3.client("sqs").send_message(
        QueueUrl=wiring.stack.queue_urls["PurgeQueue"],
        MessageBody=json.dumps({"account_id": "acc-1", "requested_at": stamp(PURGE_AT)}),
    )
    assert [(d.function, d.failed) for d in wiring.drain_all()] == [(WORKER, 0)]
    assert len(emails()) == sent
    assert wiring.http("GET", "/accounts/acc-1", PURGE_AT + timedelta(days=1)) == tombstone


# --- 2. Faults: the purge still ends complete, with exact counts ----------------------------------


def test_delete_objects_errors_for_some_keys_are_retried_until_gone(
    wiring, small_tenant, no_backoff, monkeypatch
):
    # given DeleteObjects deletes only half of what it is asked on its first two calls and reports the
    # other half as per-key InternalError entries
    def half_fails(real: Callable[..., Any], kwargs: dict, call: int) -> Any:
        if call > 2:
            return real(**kwargs)
        objects = kwargs["Delete"]["Objects"]
        fail = objects[len(objects) // 2 :]
        delete_all_but(real, kwargs, fail)
        return {
            "Errors": [
                {"Key": o["Key"], "VersionId": o["VersionId"], "Code": "InternalError", "Message": "retry"}
                for o in fail
            ]
        }

    fault = Fault("s3", "delete_objects", half_fails).install(monkeypatch)
    others_before = everything_but(wiring, "acc-1")
    # when the worker runs
    deliveries = wiring.drain_all()
    # then the failed keys were retried (with backoff) in the same invocation, and all is gone
    assert fault.calls == 3 and len(no_backoff) >= 2
    assert [(d.function, d.failed) for d in deliveries] == [(WORKER, 0)]
    assert left_of(wiring, "acc-1") == NOTHING_LEFT
    assert everything_but(wiring, "acc-1") == others_before
    # and each version and marker is counted once, as deleted, with no second pass needed
    assert_exact_certificate(wiring, "acc-1", small_tenant, passes=1)


def test_unprocessed_batch_write_items_are_retried_until_gone(wiring, small_tenant, no_backoff, monkeypatch):
    # given BatchWriteItem processes only 10 requests of each of its first 4 calls and hands the rest
    # back as UnprocessedItems
    def partial(real: Callable[..., Any], kwargs: dict, call: int) -> Any:
        ((table, requests),) = kwargs["RequestItems"].items()
        if call > 4 or len(requests) <= 10:
            return real(**kwargs)
        real(RequestItems={table: requests[:10]})
        return {"UnprocessedItems": {table: requests[10:]}}

    fault = Fault("dynamodb", "batch_write_item", partial).install(monkeypatch)
    others_before = everything_but(wiring, "acc-1")
    deliveries = wiring.drain_all()
    # then 80 items took more calls than the 4 chunks of 25 (backing off), and every item is gone,
    # counted once
    assert fault.calls > 4 and len(no_backoff) >= 3
    assert [(d.function, d.failed) for d in deliveries] == [(WORKER, 0)]
    assert left_of(wiring, "acc-1") == NOTHING_LEFT
    assert everything_but(wiring, "acc-1") == others_before
    assert_exact_certificate(wiring, "acc-1", small_tenant, passes=1)


@pytest.mark.parametrize(
    ("service", "method", "on_call", "after_the_real_call", "error"),
    [
        # halfway through the items (the 3rd of 4 batches), before DynamoDB sees the batch
        ("dynamodb", "batch_write_item", 3, False, lambda: service_unavailable("BatchWriteItem")),
        # the same batch, but DynamoDB deleted it and only the answer was lost
        ("dynamodb", "batch_write_item", 3, True, lambda: service_unavailable("BatchWriteItem")),
        # S3 deleted the whole page of versions and markers, then the call failed
        ("s3", "delete_objects", 1, True, lambda: service_unavailable("DeleteObjects")),
        # the upload was aborted, then the connection dropped (retrying it would find NoSuchUpload)
        ("s3", "abort_multipart_upload", 1, True, lambda: ReadTimeoutError(endpoint_url="https://s3")),
    ],
    ids=["items-before", "items-after", "versions-after", "upload-after"],
)
def test_a_crash_mid_purge_is_redelivered_and_counts_stay_exact(
    wiring, small_tenant, no_backoff, monkeypatch, service, method, on_call, after_the_real_call, error
):
    # given one call of the purge raises, either before it reaches the store or after the store
    # already deleted (the harder case: only the journal knows that page is not committed yet)
    def crash(real: Callable[..., Any], kwargs: dict, call: int) -> Any:
        if call != on_call:
            return real(**kwargs)
        if after_the_real_call:
            real(**kwargs)
        raise error()

    fault = Fault(service, method, crash).install(monkeypatch)
    others_before = everything_but(wiring, "acc-1")

    # when the worker gets the request: its invocation fails that record back to SQS
    first = wiring.drain(max_rounds=1)
    assert [(d.function, d.records, d.failed) for d in first] == [(WORKER, 1, 1)]
    account = load("acc-1")
    assert account.status == "purging"
    # and the page it was deleting is still journalled, not yet counted
    pending = account.purge_progress["pending"]
    assert pending is not None and pending["entries"]
    bucket, table, _ = names(wiring)
    label = [f"dynamodb:{table}", f"s3:{bucket}/tenants/{{account_id}}/"][pending["store"]]
    uncommitted = {
        "items": ("items_deleted",),
        "objects": ("object_versions_deleted", "delete_markers_deleted"),
        "uploads": ("uploads_aborted",),
    }[pending["phase"]]
    assert [account.purge_progress["counts"][label][c] for c in uncommitted] == [0] * len(uncommitted)

    # when SQS redelivers it
    redelivered = wiring.drain_all()
    # then the purge completes, and each entry is counted exactly once
    assert fault.calls > on_call
    assert [(d.function, d.failed) for d in redelivered] == [(WORKER, 0)]
    assert left_of(wiring, "acc-1") == NOTHING_LEFT
    assert everything_but(wiring, "acc-1") == others_before
    assert_exact_certificate(wiring, "acc-1", small_tenant, passes=1)
    assert audit_events("acc-1").count("deleted") == 1


def test_deletions_that_keep_failing_are_picked_up_by_another_verified_pass(
    wiring, small_tenant, no_backoff, monkeypatch
):
    # given five versions refuse to go through every retry of the first DeleteObjects round
    stubborn: set[tuple[str, str]] = set()

    def refuses(real: Callable[..., Any], kwargs: dict, call: int) -> Any:
        objects = kwargs["Delete"]["Objects"]
        if call == 1:
            stubborn.update((o["Key"], o["VersionId"]) for o in objects[:5])
        if call > 6:  # storage.MAX_ATTEMPTS: the whole first round
            return real(**kwargs)
        fail = [o for o in objects if (o["Key"], o["VersionId"]) in stubborn]
        delete_all_but(real, kwargs, fail)
        return {
            "Errors": [
                {"Key": o["Key"], "VersionId": o["VersionId"], "Code": "SlowDown", "Message": "x"}
                for o in fail
            ]
        }

    Fault("s3", "delete_objects", refuses).install(monkeypatch)
    deliveries = wiring.drain_all()
    # then verification found them, a second pass deleted them, and each is counted once
    assert [(d.function, d.failed) for d in deliveries] == [(WORKER, 0)]
    assert left_of(wiring, "acc-1") == NOTHING_LEFT
    assert_exact_certificate(wiring, "acc-1", small_tenant, passes=2)


def test_data_that_cannot_be_deleted_never_becomes_a_tombstone(
    wiring, small_tenant, no_backoff, emails, monkeypatch
):
    # given one document (both its versions) that S3 refuses to delete, however often it is asked
    last = small_tenant.versions // 2 - 1

    def never(real: Callable[..., Any], kwargs: dict, call: int) -> Any:
        objects = kwargs["Delete"]["Objects"]
        fail = [o for o in objects if o["Key"].endswith(f"/{last:05d}.txt")]
        delete_all_but(real, kwargs, fail)
        return {"Errors": [{**o, "Code": "AccessDenied", "Message": "x"} for o in fail]}

    Fault("s3", "delete_objects", never).install(monkeypatch)
    sent = len(emails())
    deliveries = wiring.drain_all()
    # then the worker keeps failing the request until SQS parks it in the dead-letter queue
    assert deliveries and all(d.failed == 1 for d in deliveries)
    sqs = boto3.client("sqs")
    dlq = sqs.get_queue_attributes(
        QueueUrl=wiring.stack.queue_urls["PurgeDLQ"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert dlq["Attributes"]["ApproximateNumberOfMessages"] == "1"
    # and the account is still purging: no tombstone, no certificate, no "deleted" email
    account = load("acc-1")
    assert account.status == "purging" and account.certificate is None
    assert account.purge_progress["verification_failures"] >= 3
    assert len(emails()) == sent
    assert "deleted" not in audit_events("acc-1")
    assert left_of(wiring, "acc-1") == {"versions": 2, "markers": 0, "uploads": 0, "items": 0}


def test_a_failed_confirmation_email_is_sent_on_redelivery_and_only_then_forgotten(
    wiring, small_tenant, emails, monkeypatch
):
    # given SES fails once, when the deletion confirmation is sent
    real_client = sundown.notifications.client
    failures = []

    def flaky(service: str) -> Any:
        if service == "ses" and not failures:
            failures.append(service)

            class Down:
                def send_email(self, **kwargs: Any) -> Any:
                    raise ClientError({"Error": {"Code": "Throttling", "Message": "rate"}}, "SendEmail")

            return Down()
        return real_client(service)

    monkeypatch.setattr(sundown.notifications, "client", flaky)
    first = wiring.drain(max_rounds=1)
    # then the data is gone and the tombstone is written, but the address is kept for the retry
    assert [(d.function, d.failed) for d in first] == [(WORKER, 1)]
    assert load("acc-1").status == "deleted" and load("acc-1").owner_email == owner_of("acc-1")[1]
    # when SQS redelivers
    wiring.drain_all()
    # then the owner got exactly one confirmation, and only now is the address forgotten
    deleted = [e for e in emails() if e["subject"] == "Your account acc-1 has been deleted"]
    assert [e["to"] for e in deleted] == [owner_of("acc-1")[1]]
    assert load("acc-1").owner_email is None
    assert_exact_certificate(wiring, "acc-1", small_tenant)


def test_a_crash_right_after_the_tombstone_still_leaves_a_complete_audit_trail(
    wiring, small_tenant, monkeypatch
):
    # given the audit table fails once, right when the purge records its verification
    real_record = sundown.audit.record
    failed = []

    def flaky_record(subject: str, event: str, at: datetime, **detail: Any) -> None:
        if event == "purge_verified" and not failed:
            failed.append(event)
            raise service_unavailable("PutItem")
        real_record(subject, event, at, **detail)

    monkeypatch.setattr(sundown.audit, "record", flaky_record)
    first = wiring.drain(max_rounds=1)
    assert [(d.function, d.failed) for d in first] == [(WORKER, 1)]
    # when SQS redelivers
    wiring.drain_all()
    # then the account is deleted and its trail records the verification and the deletion
    assert load("acc-1").status == "deleted"
    events = audit_events("acc-1")
    assert events.count("purge_verified") == 1
    assert events.count("deleted") == 1


def test_two_workers_racing_on_one_tenant_count_each_page_once(wiring, small_tenant, monkeypatch):
    # given a duplicate request (a watchdog redispatch) is delivered while the first worker is in the
    # middle of deleting a page: the second worker runs the whole purge to the end right then
    queue = wiring.stack.queue_urls["PurgeQueue"]
    raced: list[Any] = []

    def race(real: Callable[..., Any], kwargs: dict, call: int) -> Any:
        response = real(**kwargs)
        if call == 1:  # the first worker's page (the second worker's calls come after it)
            boto3.client("sqs").send_message(
                QueueUrl=queue,
                MessageBody=json.dumps({"account_id": "acc-1", "requested_at": stamp(PURGE_AT)}),
            )
            second = wiring.drain(max_rounds=1)  # the first request is in flight: only the duplicate
            raced.append(([(d.function, d.failed) for d in second], load("acc-1").status))
        return response

    Fault("s3", "delete_objects", race).install(monkeypatch)
    # when the first worker resumes after the second one finished
    deliveries = wiring.drain_all()
    # then the second worker had finished the purge, the first one's commit lost the race, it saw
    # the tombstone and stopped: nothing counted twice
    assert raced == [([(WORKER, 0)], "deleted")]
    assert [(d.function, d.failed) for d in deliveries] == [(WORKER, 0)]
    assert left_of(wiring, "acc-1") == NOTHING_LEFT
    assert_exact_certificate(wiring, "acc-1", small_tenant)
    assert audit_events("acc-1").count("deleted") == 1


def test_data_written_during_the_purge_is_found_by_verification_and_deleted(
    wiring, small_tenant, monkeypatch
):
    # given the product still writes a document and a row for acc-1 while its purge runs (after the
    # worker has passed the table and the documents, while it aborts the upload)
    bucket, table, _ = names(wiring)

    def late_write(real: Callable[..., Any], kwargs: dict, call: int) -> Any:
        if call == 1:
            boto3.client("s3").put_object(Bucket=bucket, Key="tenants/acc-1/late.txt", Body=b"late")
            put_items(table, [{"tenant_id": {"S": "acc-1"}, "item_id": {"S": "task#late"}}])
        return real(**kwargs)

    Fault("s3", "abort_multipart_upload", late_write).install(monkeypatch)
    wiring.drain_all()
    # then verification saw them, a second pass deleted them, and the certificate counts them too
    assert left_of(wiring, "acc-1") == NOTHING_LEFT
    late = Seeded(
        items=small_tenant.items + 1,
        versions=small_tenant.versions + 1,
        markers=small_tenant.markers,
        uploads=small_tenant.uploads,
    )
    assert_exact_certificate(wiring, "acc-1", late, passes=2)


def test_a_lost_purge_request_is_dispatched_again_by_the_sweep_watchdog(wiring, monkeypatch):
    # given acc-1 is due for purge, and SQS refuses the sweep's purge request once
    create_account(wiring, "acc-1")
    seeded = seed_tenant(wiring, "acc-1", objects=10, markers=2, items=30)
    for day in SWEEP_DAYS:
        sweep(wiring, CREATED + timedelta(days=day))
    real_send = sundown.storage.send_message
    refused = []

    def send_once_refused(queue_url: str, body: str, delay_seconds: int = 0) -> None:
        if not refused:
            refused.append(body)
            raise service_unavailable("SendMessage")
        real_send(queue_url, body, delay_seconds=delay_seconds)

    monkeypatch.setattr(sundown.storage, "send_message", send_once_refused)
    # when the sweep at the end of the grace period starts the purge (and reports its failure)
    with pytest.raises(SweepIncomplete):
        sweep(wiring, PURGE_AT)
    # then the account is past the point of no return, with no request anywhere
    assert load("acc-1").status == "purging" and refused
    assert wiring.drain_all() == []
    # and a sweep within the hour leaves it alone, while the one an hour on dispatches it again
    sweep(wiring, PURGE_AT + timedelta(minutes=59))
    assert wiring.drain_all() == []
    assert sweep(wiring, PURGE_AT + timedelta(hours=1))["totals"] == {"purge_redispatched": 1}
    assert [(d.function, d.failed) for d in wiring.drain_all()] == [(WORKER, 0)]
    assert left_of(wiring, "acc-1") == NOTHING_LEFT
    assert_exact_certificate(wiring, "acc-1", seeded)
    assert certificate_of(wiring, "acc-1")["started_at"] == stamp(PURGE_AT)


# --- 3. A tiny time budget ------------------------------------------------------------------------


def test_a_worker_short_of_time_continues_in_new_invocations_until_done(wiring):
    # given acc-1 with more object versions and delete markers than one S3 listing page of 1,000
    create_account(wiring, "acc-1")
    seeded = seed_tenant(wiring, "acc-1", objects=500, markers=50, items=30)
    run_sweeps_until_purge(wiring)
    sqs = boto3.client("sqs")
    url = wiring.stack.queue_urls["PurgeQueue"]

    # when every invocation of the worker has only 3 s left (less than its checkpoint reserve)
    bodies, counted = [], []
    for _ in range(50):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"])
        if not messages.get("Messages"):
            break
        message = messages["Messages"][0]
        bodies.append(json.loads(message["Body"]))
        response = wiring.runner.invoke(
            WORKER,
            {"Records": [wiring._record(message, "PurgeQueue")]},
            FakeContext(function_name=WORKER, remaining_ms=3000),
        )
        assert response["batchItemFailures"] == []
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        account = load("acc-1")
        progress = account.purge_progress if account.status == "purging" else None
        counted.append(sum(sum(c.values()) for c in progress["counts"].values()) if progress else None)

    # then it took several invocations, chained by continuation messages on the purge queue
    # (the items page, two pages of versions and markers, the upload, then the verification)
    assert len(bodies) >= 5
    assert bodies == [{"account_id": "acc-1", "requested_at": stamp(PURGE_AT)}] * len(bodies)
    # and each one but the last committed at least one more page before handing over
    assert counted[-1] is None and load("acc-1").status == "deleted"
    assert all(n is not None for n in counted[:-1])
    in_progress = [0, *counted[:-1]]
    assert all(b >= a for a, b in itertools.pairwise(in_progress))
    assert sum(b > a for a, b in itertools.pairwise(in_progress)) >= 4
    # and it ended complete, with exact counts
    assert left_of(wiring, "acc-1") == NOTHING_LEFT
    assert_exact_certificate(wiring, "acc-1", seeded)


# --- 4. No way back -------------------------------------------------------------------------------


def raw_account(wiring: Any, account_id: str) -> dict[str, Any]:
    return boto3.client("dynamodb").get_item(
        TableName=wiring.stack.physical_names["AccountsTable"],
        Key={"account_id": {"S": account_id}},
        ConsistentRead=True,
    )["Item"]


def test_a_login_after_the_purge_started_is_refused_and_changes_nothing(wiring, caplog):
    # given the sweeps took acc-1 to purging (the request is queued, not yet delivered)
    create_account(wiring, "acc-1")
    seeded = seed_tenant(wiring, "acc-1", objects=10, markers=2, items=30)
    run_sweeps_until_purge(wiring)
    before = raw_account(wiring, "acc-1")
    caplog.clear()
    # when its owner logs in, and some other activity arrives
    for kind in ("UserLoggedIn", "AccountActivity"):
        response = wiring.runner.invoke(
            "AccountEventsFunction", activity("acc-1", PURGE_AT + timedelta(minutes=5), kind)
        )
        # then it is refused with a clear reason
        assert response == {"outcome": "login_refused"}
    # and the reason is logged, naming the account (and no address)
    refusals = [r for r in caplog.records if getattr(r, "reason", None) == "login_refused"]
    assert len(refusals) == 2
    assert all(r.account_id == "acc-1" and "purge has started" in r.getMessage() for r in refusals)
    assert not any("@" in json.dumps(vars(r), default=str) for r in refusals)
    # and the account item is exactly as it was: still purging, no new activity, same version
    assert raw_account(wiring, "acc-1") == before
    assert load("acc-1").status == "purging"

    # when the purge runs and a login comes afterwards, through the queue
    wiring.drain_all()
    tombstone = raw_account(wiring, "acc-1")
    deliveries = wiring.publish(activity("acc-1", PURGE_AT + timedelta(days=2)))
    # then it is refused without a retry, and the tombstone stays as it was
    assert [(d.function, d.failed) for d in deliveries] == [("AccountEventsFunction", 0)]
    assert raw_account(wiring, "acc-1") == tombstone
    assert_exact_certificate(wiring, "acc-1", seeded)


# --- 5. Prefix isolation --------------------------------------------------------------------------


def test_purging_acc_1_never_touches_neighbours_whose_names_start_the_same(wiring):
    # given acc-1's data, including a folder object and deep keys, and neighbours that share its
    # name's start in every store: tenants/acc-10/, tenants/acc-1x/, tenants/acc-1.old/, the bare key
    # "tenants/acc-1" (no slash), and table partitions acc-10, acc-1x and ACC-1
    create_account(wiring, "acc-1")
    create_account(wiring, "acc-10")
    wiring.runner.invoke("AccountEventsFunction", activity("acc-10", CREATED + timedelta(days=20)))
    bucket, table, _ = names(wiring)
    s3 = boto3.client("s3")
    mine = ["tenants/acc-1/", "tenants/acc-1/x", "tenants/acc-1/a/b/c/deep.txt", "tenants/acc-1//double"]
    neighbours = [
        "tenants/acc-10/x",
        "tenants/acc-10/",
        "tenants/acc-1x/y",
        "tenants/acc-1.old/z",
        "tenants/acc-1",
        "tenants/acc-1-archive/x",
        "tenants/ACC-1/x",
        "tenants-acc-1/x",
        "acc-1/x",
    ]
    for key in mine + neighbours:
        s3.put_object(Bucket=bucket, Key=key, Body=f"body of {key}".encode())
    s3.delete_object(Bucket=bucket, Key="tenants/acc-10/x")  # a marker next door
    s3.delete_object(Bucket=bucket, Key="tenants/acc-1/x")
    for key in ("tenants/acc-10/up.bin", "tenants/acc-1x/up.bin", "tenants/acc-1/up.bin"):
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key)
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"p")
    put_items(
        table,
        [
            {"tenant_id": {"S": tenant}, "item_id": {"S": item}}
            for tenant in ("acc-1", "acc-10", "acc-1x", "ACC-1", "acc-1 ")
            for item in ("task#1", "user#nid-acc-1-owner", "crm#deal#acc-1")
        ],
    )
    seed_network_ids(wiring, "acc-1", "acc-10")
    others_before = everything_but(wiring, "acc-1")
    assert len(others_before["versions"]) == len(neighbours) + 2  # + the two owners' avatars

    # when acc-1 is purged
    run_sweeps_until_purge(wiring)
    wiring.drain_all()

    # then acc-1 has nothing left, counted exactly, and every neighbour is exactly as it was
    assert left_of(wiring, "acc-1") == NOTHING_LEFT
    assert everything_but(wiring, "acc-1") == others_before
    assert_exact_certificate(wiring, "acc-1", Seeded(items=3, versions=4, markers=1, uploads=1))
