"""Deploy the real template.yaml's stateful resources on moto and check what the functions would see."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from sundown_local.stack import LocalStack, event_pattern_matches
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
    # Then the accounts table is keyed by account_id and carries the due-index and owner-index GSIs
    assert table["KeySchema"] == [{"AttributeName": "account_id", "KeyType": "HASH"}]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"due-index", "owner-index"}
    index = indexes["due-index"]
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


def test_accounts_table_has_the_sparse_owner_index(stack: LocalStack) -> None:
    # Given the deployed stack
    table = boto3.client("dynamodb").describe_table(TableName=stack.physical_names["AccountsTable"])["Table"]
    # Then the owner-index is keyed by owner_network_id alone and projects the status with the keys
    (index,) = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "owner-index"]
    assert index["KeySchema"] == [{"AttributeName": "owner_network_id", "KeyType": "HASH"}]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert index["Projection"]["NonKeyAttributes"] == ["status"]
    assert {"AttributeName": "owner_network_id", "AttributeType": "S"} in table["AttributeDefinitions"]


def test_owner_index_is_sparse(stack: LocalStack) -> None:
    # Given a live account owned by a Network ID, and a tombstone that dropped its owner
    table = boto3.resource("dynamodb").Table(stack.physical_names["AccountsTable"])
    table.put_item(Item={"account_id": "live", "owner_network_id": "net-1", "status": "active"})
    table.put_item(Item={"account_id": "gone", "status": "deleted"})
    # When querying the owner index for that Network ID
    items = table.query(
        IndexName="owner-index",
        KeyConditionExpression="owner_network_id = :n",
        ExpressionAttributeValues={":n": "net-1"},
    )["Items"]
    # Then only the live account is found, with its status
    assert [(item["account_id"], item["status"]) for item in items] == [("live", "active")]


def test_audit_table_is_keyed_by_subject_and_entry(stack: LocalStack) -> None:
    dynamodb = boto3.client("dynamodb")
    audit = dynamodb.describe_table(TableName=stack.physical_names["AuditTable"])["Table"]
    assert audit["KeySchema"] == [
        {"AttributeName": "subject", "KeyType": "HASH"},
        {"AttributeName": "entry", "KeyType": "RANGE"},
    ]
    assert audit["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    backups = dynamodb.describe_continuous_backups(TableName=stack.physical_names["AuditTable"])
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


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


def test_purge_queue_redrives_to_its_dlq_after_ten_receives(stack: LocalStack) -> None:
    # Given the deployed purge queue
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.queue_urls["PurgeQueue"], AttributeNames=["All"])[
        "Attributes"
    ]
    # Then poison purge requests go to PurgeDLQ after 10 receives, and a message outlives 6 worker timeouts
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == stack.queue_arns["PurgeDLQ"]
    assert int(redrive["maxReceiveCount"]) == 10
    assert attributes["VisibilityTimeout"] == "5400"
    dlq = sqs.get_queue_attributes(QueueUrl=stack.queue_urls["PurgeDLQ"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert dlq["MessageRetentionPeriod"] == "1209600"
    # And the purge worker is what the purge queue invokes
    assert stack.sqs_subscriptions()["PurgeQueue"] == "PurgeWorkerFunction"


def test_purge_worker_environment_carries_the_data_map(stack: LocalStack) -> None:
    # When resolving the purge worker's environment
    env = stack.function_environment("PurgeWorkerFunction")
    # Then DATA_MAP is JSON naming the deployed tenant table and bucket, with the prefix left for the code
    data_map = json.loads(env["DATA_MAP"])
    assert data_map == {
        "tables": [{"table": stack.physical_names["TenantDataTable"], "partition_key": "tenant_id"}],
        "buckets": [{"bucket": stack.physical_names["DocumentsBucket"], "prefix": "tenants/{account_id}/"}],
    }
    # And the extra stores default to none, the audit table and purge queue are the deployed ones
    assert json.loads(env["EXTRA_DATA_MAP"]) == {"tables": [], "buckets": []}
    assert env["AUDIT_TABLE"] == stack.physical_names["AuditTable"]
    assert env["PURGE_QUEUE_URL"] == stack.queue_urls["PurgeQueue"]
    assert stack.function_environment("SweepFunction")["PURGE_QUEUE_URL"] == stack.queue_urls["PurgeQueue"]


def _statement_sids(policies: list) -> set[str]:
    return {
        statement.get("Sid")
        for policy in policies
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    }


def _policies(resources: dict, function_id: str) -> list[dict]:
    """The policy documents of a function's own role (``<Function>Role``), each with its Statement list."""
    return [policy["PolicyDocument"] for policy in resources[f"{function_id}Role"]["Properties"]["Policies"]]


def test_extra_data_store_access_is_granted_only_when_arns_are_given(stack: LocalStack) -> None:
    # Given the default parameters, the purge worker has no statement for extra stores
    policies = stack.resolve(_policies(stack.resources, "PurgeWorkerFunction"))
    assert "PurgeExtraDataStores" not in _statement_sids(policies)
    assert stack.condition("HasExtraDataStores") is False
    # When an operator registers extra stores
    arns = "arn:aws:dynamodb:us-east-1:123456789012:table/crm,arn:aws:s3:::media,arn:aws:s3:::media/*"
    extended = LocalStack(stack.template, stack_name="it", parameter_overrides={"ExtraDataStoreArns": arns})
    extended.deploy()
    policies = extended.resolve(_policies(extended.resources, "PurgeWorkerFunction"))
    # Then exactly those ARNs are granted, to the purge worker
    (statement,) = [
        s
        for p in policies
        if isinstance(p, dict)
        for s in p.get("Statement", [])
        if s.get("Sid") == "PurgeExtraDataStores"
    ]
    assert statement["Resource"] == arns.split(",")
    assert (
        "dynamodb:BatchWriteItem" in statement["Action"] and "s3:DeleteObjectVersion" in statement["Action"]
    )


def _names(key: str, arg: object, logical_id: str) -> bool:
    """Whether one intrinsic (Ref, Fn::GetAtt or Fn::Sub) names logical_id."""
    if key == "Ref":
        return arg == logical_id
    if key == "Fn::GetAtt":
        return (arg[0] if isinstance(arg, list) else str(arg).split(".")[0]) == logical_id
    return key == "Fn::Sub" and f"${{{logical_id}" in str(arg)


def _mentions(value: object, logical_id: str, text: str) -> list[object]:
    """Every Ref/GetAtt/Sub naming logical_id and every string containing text, anywhere inside value."""
    found: list[object] = []
    if isinstance(value, list):
        for item in value:
            found += _mentions(item, logical_id, text)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if _names(key, arg, logical_id):
                found.append(value)
            found += _mentions(arg, logical_id, text)
    elif isinstance(value, str) and text in value:
        found.append(value)
    return found


@pytest.mark.parametrize(
    "function_id", ["SweepFunction", "AccountEventsFunction", "BillingEventsFunction", "AccountApiFunction"]
)
def test_only_the_purge_worker_can_delete_tenant_data(function_id: str) -> None:
    # Given the template's IAM policies of each function
    resources = load_template(ROOT / "template.yaml")["Resources"]
    policies = _policies(resources, function_id)
    # Then no other function can reach the tenant table or tenants/*
    assert _mentions(policies, "TenantDataTable", "tenants/") == []
    # While the purge worker can (so the walk above is not vacuous)
    assert _mentions(_policies(resources, "PurgeWorkerFunction"), "TenantDataTable", "tenants/")


def test_sweep_has_no_s3_access_and_account_events_only_network_files() -> None:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    sweep = _policies(resources, "SweepFunction")
    assert _mentions(sweep, "DocumentsBucket", "s3:") == []
    assert not any(isinstance(p, dict) and any(k.startswith("S3") for k in p) for p in sweep)
    account_events = _policies(resources, "AccountEventsFunction")
    object_resources = [
        s["Resource"]
        for p in account_events
        if isinstance(p, dict)
        for s in p.get("Statement", [])
        if "s3:DeleteObjectVersion" in s.get("Action", [])
    ]
    assert object_resources == [{"Fn::Sub": "${DocumentsBucket.Arn}/network/*"}]
    # And its bucket listing is limited to network/* where IAM can say so (not ListBucketMultipartUploads)
    (listing,) = [
        s
        for p in account_events
        if isinstance(p, dict)
        for s in p.get("Statement", [])
        if "s3:ListBucketVersions" in s.get("Action", [])
    ]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "network/*"}}


@pytest.mark.parametrize("function_id", ["AccountEventsFunction", "SweepFunction", "PurgeWorkerFunction"])
def test_ses_is_granted_on_identities_only_from_the_sender_address(
    stack: LocalStack, function_id: str
) -> None:
    policies = stack.resolve(_policies(stack.resources, function_id))
    (statement,) = [
        s for p in policies for s in p.get("Statement", []) if s.get("Sid") == "SendEmailAsSender"
    ]
    assert statement["Action"] == "ses:SendEmail"
    assert statement["Resource"] == "arn:aws:ses:us-east-1:123456789012:identity/*"
    assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": "sundown@example.com"}}


def test_account_events_rule_routes_network_id_deletion_requests(stack: LocalStack) -> None:
    (rule,) = [rule for rule in stack.rules() if rule["logical_id"] == "AccountEventsRule"]
    assert rule["targets"][0]["resource"] == "AccountEventsQueue"
    event = {
        "source": "saas.identity",
        "detail-type": "NetworkIdDeletionRequested",
        "detail": {"network_id": "n"},
    }
    assert event_pattern_matches(rule["event_pattern"], event)
    assert stack.sqs_subscriptions()["AccountEventsQueue"] == "AccountEventsFunction"


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


def test_operator_safety_switches_reach_the_functions(stack: LocalStack) -> None:
    # The sweep gets the kill switch, the breaker and its own dry-run flag, at their safe defaults
    sweep = stack.function_environment("SweepFunction")
    assert (sweep["DRY_RUN"], sweep["DESTRUCTION_PAUSED"], sweep["MAX_PURGES_PER_SWEEP"]) == (
        "false",
        "false",
        "100",
    )
    # The other functions share the kill switch and the breaker, but DRY_RUN is the scheduled sweep's alone
    for function_id in ("PurgeWorkerFunction", "AccountApiFunction", "AccountEventsFunction"):
        env = stack.function_environment(function_id)
        assert env["DESTRUCTION_PAUSED"] == "false" and env["MAX_PURGES_PER_SWEEP"] == "100"
        assert "DRY_RUN" not in env


def test_sweep_failures_queue_deploys_encrypted_with_two_weeks_retention(stack: LocalStack) -> None:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_urls["SweepFailuresDLQ"], AttributeNames=["All"]
    )["Attributes"]
    assert attributes["MessageRetentionPeriod"] == "1209600"
    assert attributes["SqsManagedSseEnabled"] == "true"
    sweep = stack.resources["SweepFunction"]["Properties"]
    destination = sweep["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert stack.resolve(destination) == stack.queue_arns["SweepFailuresDLQ"]
    schedule_dlq = sweep["Events"]["Sweep"]["Properties"]["DeadLetterConfig"]["Arn"]
    assert stack.resolve(schedule_dlq) == stack.queue_arns["SweepFailuresDLQ"]


def test_deploy_is_idempotent(stack: LocalStack) -> None:
    # Given an already deployed stack, when a second copy deploys with the same name
    again = LocalStack(stack.template, stack_name="it")
    again.deploy()
    # Then it finds the same resources
    assert again.physical_names == stack.physical_names
    assert again.queue_arns == stack.queue_arns
