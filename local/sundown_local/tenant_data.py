"""The product's own data, as the demo seeds it: what a tenant owns, and what must survive its purge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sundown_local.aws import client
from sundown_local.stack import LocalStack


def seed_tenant(stack: LocalStack, account_id: str, owner_network_id: str) -> None:
    """CRM, tasks, stream posts, users and chat in the tenant table; documents (with history) in S3."""
    table = stack.physical_names["TenantDataTable"]
    bucket = stack.physical_names["DocumentsBucket"]
    ddb, s3 = client("dynamodb"), client("s3")
    items = [f"crm#deal#{n}" for n in range(1, 6)] + [f"task#{n}" for n in range(1, 4)]
    items += [
        "stream#post#1",
        "stream#post#2",
        f"user#{owner_network_id}",
        "im#chat#9#msg#1",
        "im#chat#9#msg#2",
    ]
    requests = [
        {"PutRequest": {"Item": {"tenant_id": {"S": account_id}, "item_id": {"S": i}}}} for i in items
    ]
    for start in range(0, len(requests), 25):
        ddb.batch_write_item(RequestItems={table: requests[start : start + 25]})
    prefix = f"tenants/{account_id}/"
    for name in ("contract.pdf", "logo.png"):
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=b"first draft")
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=b"final")
    s3.delete_object(Bucket=bucket, Key=prefix + "logo.png")  # leaves a delete marker over two versions
    s3.create_multipart_upload(Bucket=bucket, Key=prefix + "backup.zip")  # never finished


def seed_identity(stack: LocalStack, network_id: str, email: str) -> None:
    client("dynamodb").put_item(
        TableName=stack.physical_names["NetworkIdsTable"],
        Item={"network_id": {"S": network_id}, "email": {"S": email}},
    )
    client("s3").put_object(
        Bucket=stack.physical_names["DocumentsBucket"], Key=f"network/{network_id}/avatar.png", Body=b"avatar"
    )


@dataclass(frozen=True)
class Inventory:
    items: int
    object_versions: int
    delete_markers: int
    uploads: int

    def as_row(self) -> list[str]:
        return [str(self.items), str(self.object_versions), str(self.delete_markers), str(self.uploads)]


def tenant_inventory(stack: LocalStack, account_id: str) -> Inventory:
    """What is left of a tenant, counted straight from the stores."""
    ddb, s3 = client("dynamodb"), client("s3")
    table = stack.physical_names["TenantDataTable"]
    bucket = stack.physical_names["DocumentsBucket"]
    items = ddb.query(
        TableName=table,
        KeyConditionExpression="tenant_id = :t",
        ExpressionAttributeValues={":t": {"S": account_id}},
        Select="COUNT",
    )["Count"]
    return Inventory(items, *_prefix_counts(s3, bucket, f"tenants/{account_id}/"))


def identity_inventory(stack: LocalStack, network_id: str) -> tuple[bool, int]:
    """(identity record present, files under network/<id>/)."""
    ddb, s3 = client("dynamodb"), client("s3")
    item: dict[str, Any] = ddb.get_item(
        TableName=stack.physical_names["NetworkIdsTable"], Key={"network_id": {"S": network_id}}
    )
    versions, _, _ = _prefix_counts(s3, stack.physical_names["DocumentsBucket"], f"network/{network_id}/")
    return "Item" in item, versions


def _prefix_counts(s3: Any, bucket: str, prefix: str) -> tuple[int, int, int]:
    versions = markers = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        versions += len(page.get("Versions", []))
        markers += len(page.get("DeleteMarkers", []))
    uploads = sum(
        len(p.get("Uploads", []))
        for p in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    )
    return versions, markers, uploads
