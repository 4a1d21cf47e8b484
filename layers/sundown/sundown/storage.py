"""Data access for the purge: S3 object versions and uploads, DynamoDB partitions. All boto3 lives here.

Every call returns plain data (keys, version ids) so the purge can journal it before it deletes.
Deletion is exact: trailing-slash prefixes, every version and delete marker by VersionId, at most
1,000 keys per DeleteObjects with every ``Errors`` entry retried, 25 keys per BatchWriteItem with
every ``UnprocessedItems`` entry retried, exponential backoff with full jitter.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sundown.aws import client

S3_DELETE_LIMIT = 1000
DYNAMODB_BATCH_LIMIT = 25
MAX_ATTEMPTS = 6

# Swappable in tests so that a retried fault costs no real time.
sleep: Callable[[float], None] = time.sleep


def backoff(attempt: int, base: float = 0.05, cap: float = 5.0) -> float:
    """Full jitter: uniform between 0 and min(cap, base * 2**attempt)."""
    return random.uniform(0, min(cap, base * 2**attempt))


@dataclass(frozen=True)
class Page:
    """One listing page: what to delete, and where the next page starts (None: this was the last)."""

    entries: list[dict[str, Any]]
    next_cursor: dict[str, Any] | None


def _first_page(paginator: Any, **kwargs: Any) -> dict[str, Any]:
    return next(iter(paginator.paginate(**kwargs)))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- S3 ----------------------------------------------------------------------------------------------


def _require_folder(prefix: str) -> None:
    if not prefix.endswith("/"):
        raise ValueError(f"refusing to list {prefix!r}: a tenant prefix must end with '/'")


def list_versions_page(
    bucket: str, prefix: str, cursor: dict[str, Any] | None, page_size: int = 1000
) -> Page:
    """One page of object versions and delete markers under ``prefix``, each as {key, version_id, marker}."""
    _require_folder(prefix)
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "PaginationConfig": {"PageSize": page_size}}
    params.update(cursor or {})
    page = _first_page(client("s3").get_paginator("list_object_versions"), **params)
    entries = [
        {"key": v["Key"], "version_id": v["VersionId"], "marker": False} for v in page.get("Versions", [])
    ]
    entries += [
        {"key": m["Key"], "version_id": m["VersionId"], "marker": True} for m in page.get("DeleteMarkers", [])
    ]
    stray = [e["key"] for e in entries if not e["key"].startswith(prefix)]
    if stray:
        raise RuntimeError(f"S3 listed keys outside {prefix!r}: {stray[:3]}")
    more = page.get("IsTruncated")
    return Page(
        entries,
        {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
        if more
        else None,
    )


def delete_versions(bucket: str, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Delete each entry by its VersionId; returns the entries that still failed after every retry."""
    pending = list(entries)
    for attempt in range(MAX_ATTEMPTS):
        failed: list[dict[str, Any]] = []
        for chunk in _chunks(pending, S3_DELETE_LIMIT):
            response = client("s3").delete_objects(
                Bucket=bucket,
                Delete={
                    "Objects": [{"Key": e["key"], "VersionId": e["version_id"]} for e in chunk],
                    "Quiet": True,
                },
            )
            # Quiet mode reports only failures, so every entry not in Errors was deleted.
            errors = {(e["Key"], e.get("VersionId")) for e in response.get("Errors", [])}
            failed += [e for e in chunk if (e["key"], e["version_id"]) in errors]
        pending = failed
        if not pending:
            break
        sleep(backoff(attempt))
    return pending


def list_uploads_page(bucket: str, prefix: str, cursor: dict[str, Any] | None, page_size: int = 1000) -> Page:
    """One page of unfinished multipart uploads under ``prefix``, each as {key, upload_id}."""
    _require_folder(prefix)
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "PaginationConfig": {"PageSize": page_size}}
    params.update(cursor or {})
    page = _first_page(client("s3").get_paginator("list_multipart_uploads"), **params)
    entries = [{"key": u["Key"], "upload_id": u["UploadId"]} for u in page.get("Uploads", [])]
    more = page.get("IsTruncated")
    return Page(
        entries,
        {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]} if more else None,
    )


def abort_uploads(bucket: str, entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Abort each upload; one already gone counts as aborted. Returns the ones that still failed."""
    from botocore.exceptions import ClientError

    failed = []
    for entry in entries:
        for attempt in range(MAX_ATTEMPTS):
            try:
                client("s3").abort_multipart_upload(
                    Bucket=bucket, Key=entry["key"], UploadId=entry["upload_id"]
                )
                break
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "NoSuchUpload":
                    break
                if attempt == MAX_ATTEMPTS - 1:
                    failed.append(entry)
                else:
                    sleep(backoff(attempt))
    return failed


def leftovers_under_prefix(bucket: str, prefix: str) -> tuple[int, int]:
    """(versions or markers left, uploads left), each 0 or 1: a cheap existence check."""
    _require_folder(prefix)
    s3 = client("s3")
    listed = s3.list_object_versions(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix, MaxUploads=1)
    left = len(listed.get("Versions", [])) + len(listed.get("DeleteMarkers", []))
    return min(left, 1), min(len(uploads.get("Uploads", [])), 1)


# --- DynamoDB ----------------------------------------------------------------------------------------


@cache
def key_names(table: str) -> tuple[str, ...]:
    """The table's key attribute names (partition key first), read once."""
    schema = client("dynamodb").describe_table(TableName=table)["Table"]["KeySchema"]
    return tuple(k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"] != "HASH"))


def query_keys_page(
    table: str, partition_key: str, value: str, cursor: dict[str, Any] | None, page_size: int = 1000
) -> Page:
    """One page of the keys of every item in the tenant's partition."""
    names = key_names(table)
    params: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {f"#k{i}": n for i, n in enumerate(names)} | {"#pk": partition_key},
        "ExpressionAttributeValues": {":pk": {"S": value}},
        "ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(names))),
        "ConsistentRead": True,
        "PaginationConfig": {"PageSize": page_size},
    }
    if cursor:
        params["ExclusiveStartKey"] = cursor
    page = _first_page(client("dynamodb").get_paginator("query"), **params)
    return Page([{"key": item} for item in page.get("Items", [])], page.get("LastEvaluatedKey"))


def delete_items(table: str, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """BatchWriteItem deletes, 25 at a time; ``UnprocessedItems`` retried. Returns what still failed."""
    failed: list[dict[str, Any]] = []
    for chunk in _chunks(list(entries), DYNAMODB_BATCH_LIMIT):
        request = {table: [{"DeleteRequest": {"Key": e["key"]}} for e in chunk]}
        for attempt in range(MAX_ATTEMPTS):
            unprocessed = (
                client("dynamodb").batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            )
            if not unprocessed:
                break
            request = unprocessed
            sleep(backoff(attempt))
        else:
            failed += [{"key": r["DeleteRequest"]["Key"]} for r in request.get(table, [])]
    return failed


def items_left_in_partition(table: str, partition_key: str, value: str) -> int:
    """0 when the tenant's partition holds no item, else 1."""
    response = client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": partition_key},
        ExpressionAttributeValues={":pk": {"S": value}},
        ConsistentRead=True,
        Limit=1,
        Select="COUNT",
    )
    return min(int(response.get("Count", 0)), 1)


def delete_item(table: str, key: dict[str, Any]) -> None:
    client("dynamodb").delete_item(TableName=table, Key=key)


def get_item(table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    return client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def send_message(queue_url: str, body: str, delay_seconds: int = 0) -> None:
    client("sqs").send_message(QueueUrl=queue_url, MessageBody=body, DelaySeconds=delay_seconds)
