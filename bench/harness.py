"""Measurement tools for the benchmarks. The product code counts nothing itself: everything is observed here.

- ``RequestCounter`` wraps ``botocore.client.BaseClient._make_api_call``, the one method every client
  goes through (boto3's, and PynamoDB's own botocore client), for the duration of a measurement. It
  records service, operation, table/bucket, and from the parsed response ``Count``/``ScannedCount``,
  the items returned (Query/Scan ``Items``, GetItem ``Item``) and, for BatchWriteItem, the number of
  write requests in the call.
- ``speed_up_moto`` replaces moto's S3 ``list_object_versions`` (which deep-copies every version of
  the whole bucket on every call: ~0.5 ms per stored version per page) by an equivalent that only
  looks at keys under the requested prefix. The answer (versions, markers, order, IsLatest,
  truncation and markers) is the same; only the simulator's cost changes. No request is added or
  removed, so request counts are unaffected. Likewise moto's per-attribute item size check.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@dataclass
class Call:
    service: str
    operation: str
    resource: str | None = None  # table, bucket or queue
    index: str | None = None
    count: int = 0  # items returned (Query/Scan Count, GetItem 1 if found, BatchGetItem sum)
    scanned: int = 0  # ScannedCount (Query/Scan), else = count
    batch_requests: int = 0  # BatchWriteItem: put/delete requests in this call; DeleteObjects: keys
    account_id: str | None = None  # the AccountsTable key a write names, if any
    label: str | None = None  # what was running (set by the harness, e.g. an invocation id)
    failed: bool = False


@dataclass
class RequestCounter:
    calls: list[Call] = field(default_factory=list)
    label: str | None = None

    # --- recording ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def measuring(self) -> Iterator[RequestCounter]:
        import botocore.client

        original = botocore.client.BaseClient._make_api_call
        counter = self

        def counted(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            call = _describe(client, operation_name, api_params)
            call.label = counter.label
            counter.calls.append(call)
            try:
                response = original(client, operation_name, api_params)
            except Exception:
                call.failed = True
                raise
            _read_response(call, response)
            return response

        botocore.client.BaseClient._make_api_call = counted
        try:
            yield self
        finally:
            botocore.client.BaseClient._make_api_call = original

    # --- queries -----------------------------------------------------------------------------

    def select(
        self, service: str | None = None, operations: set[str] | None = None, resource: str | None = None
    ):
        return [
            c
            for c in self.calls
            if (service is None or c.service == service)
            and (operations is None or c.operation in operations)
            and (resource is None or c.resource == resource)
        ]

    def n(
        self, service: str | None = None, operations: set[str] | None = None, resource: str | None = None
    ) -> int:
        return len(self.select(service, operations, resource))

    def by_operation(self, service: str | None = None) -> dict[str, int]:
        return dict(Counter(f"{c.service}:{c.operation}" for c in self.calls if service in (None, c.service)))

    def items_read(self, resource: str | None = None) -> tuple[int, int]:
        """(items returned, items scanned) over every DynamoDB read."""
        reads = self.select("dynamodb", READS, resource)
        return sum(c.count for c in reads), sum(c.scanned for c in reads)


def _describe(client: Any, operation: str, params: dict[str, Any]) -> Call:
    service = client.meta.service_model.service_name
    call = Call(service=service, operation=operation)
    if service == "dynamodb":
        call.resource = params.get("TableName")
        call.index = params.get("IndexName")
        if operation == "BatchWriteItem":
            requests = params.get("RequestItems", {})
            call.resource = ",".join(sorted(requests))
            call.batch_requests = sum(len(v) for v in requests.values())
        key = params.get("Key") or params.get("Item") or {}
        account = key.get("account_id")
        if isinstance(account, dict):
            call.account_id = account.get("S")
    elif service == "s3":
        call.resource = params.get("Bucket")
        if operation == "DeleteObjects":
            call.batch_requests = len(params.get("Delete", {}).get("Objects", []))
    elif service == "sqs":
        call.resource = params.get("QueueUrl")
    return call


def _read_response(call: Call, response: dict[str, Any]) -> None:
    if call.service != "dynamodb":
        return
    if call.operation in ("Query", "Scan"):
        call.count = int(response.get("Count", len(response.get("Items", []))))
        call.scanned = int(response.get("ScannedCount", call.count))
    elif call.operation == "GetItem":
        call.count = call.scanned = 1 if response.get("Item") else 0
    elif call.operation == "BatchGetItem":
        call.count = call.scanned = sum(len(v) for v in response.get("Responses", {}).values())


# --- moto ------------------------------------------------------------------------------------------


def speed_up_moto() -> None:
    """Make moto's ListObjectVersions cost O(keys under the prefix) instead of a deep copy of the bucket.

    Same algorithm as moto 5.x's ``S3Backend.list_object_versions`` (same order, IsLatest, truncation
    and next markers), applied to the keys under ``prefix`` only, copying only the versions it returns.
    """
    from moto.s3.models import FakeKey, S3Backend

    if getattr(S3Backend.list_object_versions, "_bench_fast", False):
        return

    from moto.s3 import models as s3_models

    def list_object_versions(
        self: Any,
        bucket_name: str,
        delimiter: str | None = None,
        key_marker: str | None = None,
        max_keys: int | None = 1000,
        prefix: str = "",
        version_id_marker: str | None = None,
    ) -> Any:
        bucket = self.get_bucket(bucket_name)
        prefix = prefix or ""
        names = sorted(name for name in bucket.keys if name.startswith(prefix))
        if key_marker is not None:
            names = names[bisect.bisect_left(names, key_marker) :]  # everything before is skipped anyway
        common_prefixes: set[str] = set()
        requested_versions: list[Any] = []
        delete_markers: list[Any] = []
        next_key_marker = next_version_id_marker = None
        skip_versions = True
        last_item_added: Any = None
        done = False
        for key_name in names:
            versions = sorted(
                bucket.keys.getlist(key_name), key=lambda r: -s3_models.unix_time_millis(r.last_modified)
            )
            for position, stored in enumerate(versions):
                name = stored.name
                is_latest = position == 0
                if skip_versions:
                    if key_marker is None:
                        skip_versions = False
                    elif not version_id_marker:
                        skip_versions = name < key_marker
                        continue
                    elif name == key_marker and stored.version_id == version_id_marker:
                        skip_versions = False
                        continue
                    else:
                        continue
                is_common_prefix = False
                if delimiter and delimiter in name[len(prefix) :]:
                    end = len(prefix) + name[len(prefix) :].index(delimiter) + len(delimiter)
                    including = name[0:end]
                    if including == key_marker:
                        continue
                    common_prefixes.add(including)
                    name = including
                    is_common_prefix = True
                elif last_item_added:
                    name = last_item_added.name
                if (
                    max_keys is not None
                    and len(requested_versions) + len(delete_markers) + len(common_prefixes) >= max_keys
                ):
                    next_key_marker = name
                    if is_common_prefix:
                        next_version_id_marker = None
                    elif last_item_added is not None:
                        next_version_id_marker = last_item_added.version_id
                    else:
                        next_version_id_marker = None
                    done = True
                    break
                if not is_common_prefix:
                    version = copy.copy(stored)
                    version.is_latest = is_latest
                    last_item_added = version
                    if not isinstance(version, FakeKey):
                        delete_markers.append(version)
                    else:
                        requested_versions.append(version)
            if done:
                break
        return (
            requested_versions,
            sorted(common_prefixes),
            delete_markers,
            next_key_marker,
            next_version_id_marker,
        )

    list_object_versions._bench_fast = True  # type: ignore[attr-defined]
    S3Backend.list_object_versions = list_object_versions
    _speed_up_moto_items()


def _speed_up_moto_items() -> None:
    """moto checks an item's 400 KB limit on every attribute it sets, re-summing the whole item each
    time (O(attributes^2) per write). Check the finished item once instead: the same limit, the same
    error, at O(attributes)."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.utilities import bytesize

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        converted = {key: dynamo_type.DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in converted.items()) > 405000:
            raise ItemSizeTooLarge
        self.attrs = dynamo_type.LimitedSizeDict()
        dict.update(self.attrs, converted)

    dynamo_type.Item.__init__ = __init__


def s3_backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


def seed_versions(bucket: str, account_id: str, versions: int, per_key: int = 2) -> int:
    """``versions`` object versions under ``tenants/<account_id>/`` (``per_key`` versions of each key),
    written straight into the in-process S3 (a PutObject through boto3 costs 4-9 ms in moto)."""
    backend = s3_backend()
    keys = versions // per_key
    for n in range(keys):
        key = f"tenants/{account_id}/docs/{n:06d}.txt"
        for v in range(per_key):
            backend.put_object(bucket, key, f"doc {n} v{v}".encode())
    return keys * per_key


def seed_items(table: str, account_id: str, items: int) -> None:
    import boto3

    ddb = boto3.client("dynamodb")
    for start in range(0, items, 25):
        chunk = range(start, min(start + 25, items))
        ddb.batch_write_item(
            RequestItems={
                table: [
                    {
                        "PutRequest": {
                            "Item": {
                                "tenant_id": {"S": account_id},
                                "item_id": {"S": f"task#{n:06d}"},
                                "payload": {"S": f"row {n}"},
                            }
                        }
                    }
                    for n in chunk
                ]
            }
        )


# --- small helpers ---------------------------------------------------------------------------------


@contextlib.contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - start


def machine() -> dict[str, str]:
    import boto3
    import botocore
    import moto
    import pynamodb

    cpu = platform.processor() or ""
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "os": platform.platform(),
        "cpu": cpu or "unknown",
        "cpu_count": str(os.cpu_count()),
        "moto": moto.__version__,
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "pynamodb": pynamodb.__version__,
    }


def stamp(at: Any) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
