"""Least privilege, checked on what CloudFormation receives: the SAM-translated template (offline, no AWS).

Every function's role must grant exactly the API calls its code makes, on its own resources only. The
expected grants below are the contract: a new call in the code needs a new line here and in template.yaml.
They were taken from the code and checked against the boto3 calls each handler makes in the integration
and end-to-end tests. PynamoDB 6 builds its table metadata from the model, so only the purge's generic
DynamoDB code (storage.key_names) calls DescribeTable; S3 deletions always name a VersionId, so
s3:DeleteObjectVersion is needed and s3:DeleteObject is not; nothing calls ListObjects, so no s3:ListBucket.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

SES_IDENTITIES = "ses:identity/*"  # every SES identity of the account and region, with ses:FromAddress


def LOGS_AND_TRACES(log_group: str) -> set[tuple[str, str]]:
    """Every function: streams into its own log group; X-Ray (no resource-level permissions) while traced."""
    return {
        ("logs:CreateLogStream", log_group),
        ("logs:PutLogEvents", log_group),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    }


def CONSUMES(queue: str) -> set[tuple[str, str]]:
    """The SQS event source polls with the function's role: its own queue, nothing else."""
    return {
        (action, queue) for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
    }


# Function -> {(action, resource)}: resources as logical ids (plus an ARN suffix), see _resource_key.
EXPECTED_GRANTS: dict[str, set[tuple[str, str]]] = {
    "AccountEventsFunction": {
        *LOGS_AND_TRACES("AccountEventsLogGroup"),
        *CONSUMES("AccountEventsQueue"),
        ("dynamodb:GetItem", "AccountsTable"),
        ("dynamodb:PutItem", "AccountsTable"),
        ("dynamodb:UpdateItem", "AccountsTable"),
        ("dynamodb:Query", "AccountsTable/index/owner-index"),
        ("dynamodb:PutItem", "AuditTable"),
        ("dynamodb:GetItem", "NetworkIdsTable"),
        ("dynamodb:DeleteItem", "NetworkIdsTable"),
        ("s3:ListBucketVersions", "DocumentsBucket"),  # with s3:prefix network/*
        ("s3:ListBucketMultipartUploads", "DocumentsBucket"),  # no s3:prefix key for this action
        ("s3:DeleteObjectVersion", "DocumentsBucket/network/*"),  # every delete names a VersionId
        ("s3:AbortMultipartUpload", "DocumentsBucket/network/*"),
        ("ses:SendEmail", SES_IDENTITIES),
    },
    "BillingEventsFunction": {
        *LOGS_AND_TRACES("BillingEventsLogGroup"),
        *CONSUMES("BillingEventsQueue"),
        ("dynamodb:GetItem", "AccountsTable"),
        ("dynamodb:PutItem", "AccountsTable"),
        ("dynamodb:GetItem", "IdempotencyTable"),
        ("dynamodb:PutItem", "IdempotencyTable"),
        ("dynamodb:UpdateItem", "IdempotencyTable"),
        ("dynamodb:DeleteItem", "IdempotencyTable"),
    },
    "SweepFunction": {
        *LOGS_AND_TRACES("SweepLogGroup"),
        *CONSUMES("SweepPagesQueue"),
        ("dynamodb:GetItem", "AccountsTable"),
        ("dynamodb:PutItem", "AccountsTable"),
        ("dynamodb:Query", "AccountsTable/index/due-index"),
        ("dynamodb:PutItem", "AuditTable"),
        ("sqs:SendMessage", "PurgeQueue"),
        ("sqs:SendMessage", "SweepPagesQueue"),  # fans out the pages beyond its bound
        ("sqs:SendMessage", "SweepFailuresDLQ"),  # the OnFailure destination (Lambda sends as the function)
        ("ses:SendEmail", SES_IDENTITIES),
    },
    "PurgeWorkerFunction": {
        *LOGS_AND_TRACES("PurgeWorkerLogGroup"),
        *CONSUMES("PurgeQueue"),
        ("dynamodb:GetItem", "AccountsTable"),
        ("dynamodb:PutItem", "AccountsTable"),
        ("dynamodb:PutItem", "AuditTable"),
        ("dynamodb:DescribeTable", "TenantDataTable"),
        ("dynamodb:Query", "TenantDataTable"),
        ("dynamodb:BatchWriteItem", "TenantDataTable"),
        ("sqs:SendMessage", "PurgeQueue"),
        ("s3:ListBucketVersions", "DocumentsBucket"),  # with s3:prefix tenants/*
        ("s3:ListBucketMultipartUploads", "DocumentsBucket"),  # no s3:prefix key for this action
        ("s3:DeleteObjectVersion", "DocumentsBucket/tenants/*"),  # every delete names a VersionId
        ("s3:AbortMultipartUpload", "DocumentsBucket/tenants/*"),
        ("ses:SendEmail", SES_IDENTITIES),
        # Only when the operator registers extra stores (condition HasExtraDataStores).
        *(
            (action, "ExtraDataStoreArns")
            for action in (
                "dynamodb:Query",
                "dynamodb:BatchWriteItem",
                "dynamodb:DescribeTable",
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:ListBucketMultipartUploads",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:AbortMultipartUpload",
            )
        ),
    },
    "AccountApiFunction": {
        *LOGS_AND_TRACES("AccountApiLogGroup"),
        ("dynamodb:GetItem", "AccountsTable"),
        ("dynamodb:PutItem", "AccountsTable"),
        ("dynamodb:Query", "AccountsTable/index/due-index"),
        ("dynamodb:PutItem", "AuditTable"),
    },
}


# ---------------------------------------------------------------- the translated template


def _validate_template_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "validate_template", ROOT / "scripts" / "validate_template.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def translate(path: Path, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The SAM transform of ``path``, offline, exactly as scripts/validate_template.py runs it."""
    import yaml
    from samtranslator.translator.transform import transform

    vt = _validate_template_module()
    source = yaml.load(path.read_text(encoding="utf-8"), Loader=vt._CfnLoader)
    return transform(vt._stub_local_artifacts(source), parameters or {}, vt.OfflinePolicyLoader())


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return translate(ROOT / "template.yaml")["Resources"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every inline statement of a role; a conditional one (Fn::If) counts as present."""
    found = []
    for policy in role["Properties"].get("Policies", []):
        for statement in _as_list(policy["PolicyDocument"]["Statement"]):
            if "Fn::If" in statement:
                _, statement, _ = statement["Fn::If"]
            found.append(statement)
    return found


def _resource_key(resource: Any) -> str:
    """A resource as a readable key: AccountsTable, AccountsTable/index/due-index, ses:identity/*, ..."""
    if resource == "*":
        return "*"
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn", resource
        return logical_id
    if isinstance(resource, dict) and "Ref" in resource:
        return resource["Ref"]
    if isinstance(resource, dict) and "Fn::Sub" in resource and isinstance(resource["Fn::Sub"], str):
        text = resource["Fn::Sub"]
        if text == "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*":
            return SES_IDENTITIES
        if text.startswith("${") and ".Arn}" in text:
            logical_id, rest = text[2:].split(".Arn}", 1)
            return logical_id + rest
    raise AssertionError(f"unrecognised IAM resource {resource!r}")


def _grants(role: dict[str, Any]) -> set[tuple[str, str]]:
    grants = set()
    for statement in _statements(role):
        assert statement["Effect"] == "Allow", statement
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                grants.add((action, _resource_key(resource)))
    return grants


def _roles(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"}


# ---------------------------------------------------------------- no wildcards


def test_every_function_has_its_own_role(resources: dict[str, Any]) -> None:
    functions = {k for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    assert functions == set(EXPECTED_GRANTS)
    for function_id in functions:
        assert resources[function_id]["Properties"]["Role"] == {"Fn::GetAtt": [f"{function_id}Role", "Arn"]}


def test_no_role_grants_a_wildcard_action(resources: dict[str, Any]) -> None:
    for role_id, role in _roles(resources).items():
        for statement in _statements(role):
            assert "NotAction" not in statement and "NotResource" not in statement, (role_id, statement)
            for action in _as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*") and "*" not in action, (role_id, action)


def test_no_role_grants_a_wildcard_resource_unless_aws_requires_it(resources: dict[str, Any]) -> None:
    for role_id, role in _roles(resources).items():
        for statement in _statements(role):
            actions = _as_list(statement["Action"])
            for resource in _as_list(statement["Resource"]):
                key = _resource_key(resource)
                if key == "*":
                    # X-Ray has no resource-level permissions
                    assert all(a.startswith("xray:") for a in actions), (role_id, statement)
                elif key == SES_IDENTITIES:
                    # SES authorises on the sender's address or domain identity: pinned by the From address
                    assert set(actions) <= {"ses:SendEmail", "ses:SendRawEmail"}, (role_id, statement)
                    assert statement["Condition"] == {
                        "StringEquals": {"ses:FromAddress": {"Ref": "SenderEmail"}}
                    }
                else:
                    assert "*" not in key or key.endswith(("/network/*", "/tenants/*")), (role_id, key)


def test_no_function_role_carries_a_managed_policy(resources: dict[str, Any]) -> None:
    # AWSLambdaBasicExecutionRole and AWSLambdaSQSQueueExecutionRole grant logs and SQS on every
    # resource of the account: each role says what it needs inline instead.
    for function_id in EXPECTED_GRANTS:
        role = resources[f"{function_id}Role"]["Properties"]
        assert role.get("ManagedPolicyArns", []) == [], function_id
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]


def test_tracing_is_active_by_default_and_disabled_takes_the_xray_grant_away(
    resources: dict[str, Any],
) -> None:
    # Given the template translated with its default Tracing (Active), and with Tracing=Disabled
    disabled = translate(ROOT / "template.yaml", {"Tracing": "Disabled"})["Resources"]
    for function_id in EXPECTED_GRANTS:
        # Then by default each function is traced
        assert resources[function_id]["Properties"]["TracingConfig"] == {"Mode": {"Ref": "Tracing"}}
        # and disabled it is not
        assert "TracingConfig" not in disabled[function_id]["Properties"], function_id
        # And its X-Ray grant exists only under the TracingActive condition (Tracing=Active)
        statements = resources[f"{function_id}Role"]["Properties"]["Policies"][0]["PolicyDocument"][
            "Statement"
        ]
        xray = [s for s in statements if "Fn::If" in s and s["Fn::If"][1].get("Sid") == "XRayTraces"]
        assert len(xray) == 1 and xray[0]["Fn::If"][0] == "TracingActive", function_id
        assert xray[0]["Fn::If"][2] == {"Ref": "AWS::NoValue"}


# ---------------------------------------------------------------- exactly what each function uses


@pytest.mark.parametrize("function_id", sorted(EXPECTED_GRANTS))
def test_each_role_grants_exactly_what_its_function_calls(
    resources: dict[str, Any], function_id: str
) -> None:
    assert _grants(resources[f"{function_id}Role"]) == EXPECTED_GRANTS[function_id]


@pytest.mark.parametrize(
    "function_id", ["SweepFunction", "AccountEventsFunction", "BillingEventsFunction", "AccountApiFunction"]
)
def test_only_the_purge_worker_reaches_tenant_data(resources: dict[str, Any], function_id: str) -> None:
    text = json.dumps(resources[f"{function_id}Role"])
    assert "TenantDataTable" not in text and "tenants/" not in text
    assert "TenantDataTable" in json.dumps(resources["PurgeWorkerFunctionRole"])


def test_document_deletion_is_split_by_prefix(resources: dict[str, Any]) -> None:
    deleters = {
        prefix: {
            function_id
            for function_id in EXPECTED_GRANTS
            if ("s3:DeleteObjectVersion", f"DocumentsBucket/{prefix}")
            in _grants(resources[f"{function_id}Role"])
        }
        for prefix in ("tenants/*", "network/*")
    }
    assert deleters == {"tenants/*": {"PurgeWorkerFunction"}, "network/*": {"AccountEventsFunction"}}
    # and nobody can delete across the whole bucket
    for role in _roles(resources).values():
        assert ("s3:DeleteObjectVersion", "DocumentsBucket/*") not in _grants(role)


@pytest.mark.parametrize(
    ("function_id", "prefix"), [("PurgeWorkerFunction", "tenants/*"), ("AccountEventsFunction", "network/*")]
)
def test_bucket_listing_is_limited_to_the_functions_prefix(
    resources: dict[str, Any], function_id: str, prefix: str
) -> None:
    for statement in _statements(resources[f"{function_id}Role"]):
        actions = set(_as_list(statement["Action"]))
        if (
            statement["Resource"] == {"Fn::GetAtt": ["DocumentsBucket", "Arn"]}
            and "s3:ListBucketVersions" in actions
        ):
            assert statement["Condition"] == {"StringLike": {"s3:prefix": prefix}}
            assert "s3:ListBucketMultipartUploads" not in actions  # has no s3:prefix key: would always deny


def test_the_operator_api_cannot_delete_anything(resources: dict[str, Any]) -> None:
    actions = {action for action, _ in _grants(resources["AccountApiFunctionRole"])}
    assert not {
        a for a in actions if ":Delete" in a or a.endswith(("BatchWriteItem", "AbortMultipartUpload"))
    }
    assert not {a for a in actions if a.startswith(("s3:", "sqs:", "ses:"))}


def test_the_scheduler_role_can_only_invoke_the_sweep_and_write_its_dead_letters(
    resources: dict[str, Any],
) -> None:
    assert _grants(resources["SweepFunctionSweepRole"]) == {
        ("lambda:InvokeFunction", "SweepFunction"),
        ("sqs:SendMessage", "SweepFailuresDLQ"),
    }


# ---------------------------------------------------------------- API, dead letters, alarms, bucket


def test_every_api_route_requires_iam_auth(resources: dict[str, Any]) -> None:
    body = resources["SundownHttpApi"]["Properties"]["Body"]
    routes = {(method.upper(), path) for path, ops in body["paths"].items() for method in ops}
    assert routes == {
        ("GET", "/accounts/{account_id}"),
        ("PUT", "/accounts/{account_id}/hold"),
        ("DELETE", "/accounts/{account_id}/hold"),
        ("GET", "/lifecycle/preview"),
    }
    for ops in body["paths"].values():
        for op in ops.values():
            assert op["security"] == [{"AWS_IAM": []}]
    assert body["components"]["securitySchemes"]["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    stage = resources["SundownHttpApiApiGatewayDefaultStage"]["Properties"]
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}


def test_failed_sweeps_land_in_their_dead_letter_queue(resources: dict[str, Any]) -> None:
    invoke = resources["SweepFunctionEventInvokeConfig"]["Properties"]
    assert invoke["MaximumRetryAttempts"] == 2
    dlq = {"Fn::GetAtt": ["SweepFailuresDLQ", "Arn"]}
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == dlq
    schedule = resources["SweepFunctionSweep"]["Properties"]
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": dlq}
    queue = resources["SweepFailuresDLQ"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True and queue["MessageRetentionPeriod"] == 1209600
    # no unencrypted queue generated by SAM for the schedule
    assert all(
        r["Properties"].get("SqsManagedSseEnabled")
        for r in resources.values()
        if r["Type"] == "AWS::SQS::Queue"
    )


def test_alarms_watch_the_breaker_and_the_sweep_failures(resources: dict[str, Any]) -> None:
    deferred = resources["PurgesDeferredAlarm"]["Properties"]
    assert (deferred["Namespace"], deferred["MetricName"]) == ("Sundown", "PurgesDeferred")
    assert deferred["Dimensions"] == [{"Name": "service", "Value": "sundown"}]
    assert (deferred["Statistic"], deferred["Period"], deferred["Threshold"]) == ("Sum", 3600, 1)
    assert deferred["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    failures = resources["SweepFailuresAlarm"]["Properties"]
    assert failures["Namespace"] == "AWS/SQS"
    assert failures["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["SweepFailuresDLQ", "QueueName"]}}
    ]


def test_documents_bucket_is_private_encrypted_and_tls_only(resources: dict[str, Any]) -> None:
    bucket = resources["DocumentsBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert (
        all(bucket["PublicAccessBlockConfiguration"].values())
        and len(bucket["PublicAccessBlockConfiguration"]) == 4
    )
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "ReplicationConfiguration" not in bucket  # a replica would keep what the purge deletes
    (deny,) = resources["DocumentsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Resource"] == [
        {"Fn::GetAtt": ["DocumentsBucket", "Arn"]},
        {"Fn::Sub": "${DocumentsBucket.Arn}/*"},
    ]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_every_function_logs_to_a_log_group_with_a_retention(resources: dict[str, Any]) -> None:
    for function_id in EXPECTED_GRANTS:
        group = resources[function_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_purge_worker_concurrency_is_capped_at_the_event_source(resources: dict[str, Any]) -> None:
    (mapping,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["PurgeQueue", "Arn"]}
    ]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaxConcurrentPurges"}}
    assert mapping["BatchSize"] == 1
