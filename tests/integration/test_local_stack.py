"""Deploy the real template.yaml's stateful resources on moto and check what the functions would see."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from sundown_local.stack import LocalStack
from sundown_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def stack(aws: None) -> LocalStack:
    deployed = LocalStack(load_template(ROOT / "template.yaml"), stack_name="it")
    deployed.deploy()
    return deployed


def test_accounts_table_has_the_sparse_due_index(stack: LocalStack) -> None:
    # Given the deployed stack
    table = boto3.client("dynamodb").describe_table(TableName=stack.physical_names["AccountsTable"])["Table"]
    # Then the accounts table is keyed by account_id and carries the due-index GSI
    assert table["KeySchema"] == [{"AttributeName": "account_id", "KeyType": "HASH"}]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "due-index"
    assert index["KeySchema"] == [
        {"AttributeName": "due_shard", "KeyType": "HASH"},
        {"AttributeName": "next_action_at", "KeyType": "RANGE"},
    ]
    assert index["Projection"]["ProjectionType"] == "ALL"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_due_index_is_sparse(stack: LocalStack) -> None:
    # Given one account with a next action and one without
    table = boto3.resource("dynamodb").Table(stack.physical_names["AccountsTable"])
    table.put_item(Item={"account_id": "due", "due_shard": "0", "next_action_at": "2025-01-01T00:00:00Z"})
    table.put_item(Item={"account_id": "idle-forever"})
    # When querying the due index
    items = table.query(
        IndexName="due-index",
        KeyConditionExpression="due_shard = :s AND next_action_at <= :t",
        ExpressionAttributeValues={":s": "0", ":t": "2025-02-01T00:00:00Z"},
    )["Items"]
    # Then only the account carrying both index keys is found
    assert [item["account_id"] for item in items] == ["due"]


def test_other_tables_keys_and_idempotency_ttl(stack: LocalStack) -> None:
    dynamodb = boto3.client("dynamodb")
    tenant = dynamodb.describe_table(TableName=stack.physical_names["TenantDataTable"])["Table"]
    assert tenant["KeySchema"] == [
        {"AttributeName": "tenant_id", "KeyType": "HASH"},
        {"AttributeName": "item_id", "KeyType": "RANGE"},
    ]
    network = dynamodb.describe_table(TableName=stack.physical_names["NetworkIdsTable"])["Table"]
    assert network["KeySchema"] == [{"AttributeName": "network_id", "KeyType": "HASH"}]
    ttl = dynamodb.describe_time_to_live(TableName=stack.physical_names["IdempotencyTable"])[
        "TimeToLiveDescription"
    ]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}


def test_documents_bucket_is_versioned_private_and_encrypted(stack: LocalStack) -> None:
    # Given the deployed documents bucket
    bucket = stack.physical_names["DocumentsBucket"]
    s3 = boto3.client("s3")
    # Then its name is the deterministic lower-case stack name, and it is versioned, blocked and encrypted
    assert bucket == "it-documentsbucket"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


@pytest.mark.parametrize(
    ("queue", "dlq"), [("AccountEventsQueue", "AccountEventsDLQ"), ("BillingEventsQueue", "BillingEventsDLQ")]
)
def test_each_queue_redrives_to_its_dlq(stack: LocalStack, queue: str, dlq: str) -> None:
    # Given a deployed intake queue
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_urls[queue], AttributeNames=["All"]
    )["Attributes"]
    # Then it sends poison messages to its own DLQ after 5 receives, and outlives a function timeout
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == stack.queue_arns[dlq]
    assert int(redrive["maxReceiveCount"]) == 5
    assert attributes["VisibilityTimeout"] == "360"
    # And Ref to the queue resolves to its URL, GetAtt Arn to its ARN, as in CloudFormation
    assert stack.resolve({"Ref": queue}) == stack.queue_urls[queue]
    assert stack.resolve({"Fn::GetAtt": [queue, "Arn"]}) == stack.queue_arns[queue]


def test_sweep_environment_names_the_deployed_resources(stack: LocalStack) -> None:
    # When resolving the sweep function's environment
    env = stack.function_environment("SweepFunction")
    # Then it names the deployed stores, and carries the parameter defaults as strings
    assert env["ACCOUNTS_TABLE"] == stack.physical_names["AccountsTable"] == "it-AccountsTable"
    assert env["IDEMPOTENCY_TABLE"] == stack.physical_names["IdempotencyTable"]
    assert env["TENANT_DATA_TABLE"] == stack.physical_names["TenantDataTable"]
    assert env["NETWORK_IDS_TABLE"] == stack.physical_names["NetworkIdsTable"]
    assert env["DOCUMENTS_BUCKET"] == stack.physical_names["DocumentsBucket"]
    assert env["IDLE_DAYS"] == "30"
    assert env["WARNING_DAYS"] == "14,7,3,1"
    assert env["SHORTEST_NOTICE_DAYS"] == "1"
    assert env["GRACE_DAYS"] == "7"
    assert env["SENDER_EMAIL"] == "sundown@example.com"
    assert env["POWERTOOLS_SERVICE_NAME"] == "sundown"
    boto3.client("dynamodb").describe_table(TableName=env["ACCOUNTS_TABLE"])  # it really exists


def test_arns_and_subs_resolve_against_the_deployment(stack: LocalStack) -> None:
    bucket = stack.physical_names["DocumentsBucket"]
    assert stack.resolve({"Fn::GetAtt": ["DocumentsBucket", "Arn"]}) == f"arn:aws:s3:::{bucket}"
    assert (
        stack.resolve({"Fn::Sub": "${DocumentsBucket.Arn}/tenants/*"}) == f"arn:aws:s3:::{bucket}/tenants/*"
    )
    table_arn = stack.resolve({"Fn::GetAtt": ["AccountsTable", "Arn"]})
    assert table_arn == "arn:aws:dynamodb:us-east-1:123456789012:table/it-AccountsTable"


def test_deploy_is_idempotent(stack: LocalStack) -> None:
    # Given an already deployed stack, when a second copy deploys with the same name
    again = LocalStack(stack.template, stack_name="it")
    again.deploy()
    # Then it finds the same resources
    assert again.physical_names == stack.physical_names
    assert again.queue_arns == stack.queue_arns
