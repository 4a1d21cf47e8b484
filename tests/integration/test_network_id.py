"""NetworkIdDeletionRequested: refused while the identity owns a live account, complete once it doesn't."""

from __future__ import annotations

import boto3
import pytest

from sundown.audit import trail
from sundown.models import AccountModel, load
from tests.conftest import load_event

FN = "AccountEventsFunction"


@pytest.fixture
def alice(wiring):
    """acme, owned by nid-alice; her identity, and files of hers and of a look-alike neighbour."""
    wiring.runner.invoke(FN, load_event("account_created"))
    table = wiring.stack.physical_names["NetworkIdsTable"]
    bucket = wiring.stack.physical_names["DocumentsBucket"]
    ddb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    for nid in ("nid-alice", "nid-alicex"):
        ddb.put_item(
            TableName=table, Item={"network_id": {"S": nid}, "email": {"S": f"{nid}@people.example"}}
        )
        s3.put_object(Bucket=bucket, Key=f"network/{nid}/avatar.png", Body=b"v1")
        s3.put_object(Bucket=bucket, Key=f"network/{nid}/avatar.png", Body=b"v2")
    s3.delete_object(Bucket=bucket, Key="network/nid-alice/avatar.png")  # a delete marker
    s3.create_multipart_upload(Bucket=bucket, Key="network/nid-alice/cover.jpg")
    s3.put_object(Bucket=bucket, Key="tenants/acme/doc.txt", Body=b"tenant data")
    wiring.table, wiring.bucket = table, bucket
    return wiring


def under(bucket: str, prefix: str) -> tuple[int, int]:
    s3 = boto3.client("s3")
    listed = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    return len(listed.get("Versions", [])) + len(listed.get("DeleteMarkers", [])), len(uploads)


def test_refused_while_it_owns_a_live_account_recorded_and_emailed(alice, emails):
    # when nid-alice asks to be deleted while she still owns acme
    alice.runner.invoke(FN, load_event("network_id_deletion_requested"))
    # then nothing of hers is gone
    item = boto3.client("dynamodb").get_item(TableName=alice.table, Key={"network_id": {"S": "nid-alice"}})
    assert "Item" in item
    assert under(alice.bucket, "network/nid-alice/") == (3, 1)
    # and the refusal is recorded (no personal data) and explained to her by email
    entries = trail("network#nid-alice")
    assert [e.event for e in entries] == ["network_id_deletion_refused"]
    assert entries[0].detail.as_dict()["accounts"] == ["acme"]
    sent = emails()
    assert [e["to"] for e in sent] == ["nid-alice@people.example"]
    assert "acme" in sent[0]["body"] and "transfer" in sent[0]["body"]


def test_deleted_once_its_accounts_are_gone_and_nothing_else_is_touched(alice):
    # given acme is a tombstone (no owner any more)
    account = load("acme")
    AccountModel(
        "acme", status="deleted", plan="free", created_at=account.created_at, version=account.version
    ).save()
    # when nid-alice asks to be deleted
    response = alice.runner.invoke(FN, load_event("network_id_deletion_requested"))
    assert response["outcome"] == "deleted"
    # then her identity and every version, marker and upload under network/nid-alice/ are gone
    ddb = boto3.client("dynamodb")
    assert "Item" not in ddb.get_item(TableName=alice.table, Key={"network_id": {"S": "nid-alice"}})
    assert under(alice.bucket, "network/nid-alice/") == (0, 0)
    # and the look-alike neighbour and the tenant data are untouched
    assert "Item" in ddb.get_item(TableName=alice.table, Key={"network_id": {"S": "nid-alicex"}})
    assert under(alice.bucket, "network/nid-alicex/") == (2, 0)
    assert under(alice.bucket, "tenants/acme/") == (1, 0)
    entry = trail("network#nid-alice")[-1]
    assert entry.event == "network_id_deleted"
    assert entry.detail.as_dict()["object_versions_deleted"] == 2
    assert entry.detail.as_dict()["delete_markers_deleted"] == 1
    assert entry.detail.as_dict()["uploads_aborted"] == 1
    # and a second request is a no-op
    assert (
        alice.runner.invoke(FN, load_event("network_id_deletion_requested"))["outcome"] == "already_deleted"
    )
