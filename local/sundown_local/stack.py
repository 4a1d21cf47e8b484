"""Deploy the stateful part of the SAM template (tables, buckets, queues) to the AWS endpoint boto3
talks to (moto in-process under `moto.mock_aws`, or a moto server via AWS_ENDPOINT_URL), and resolve
the template's intrinsic functions against it, so that local code sees what Lambda would see.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from sundown_local.event_pattern import event_pattern_matches

__all__ = ["LocalStack", "event_pattern_matches"]

DEFAULT_ACCOUNT_ID = "123456789012"
_NO_VALUE = object()  # AWS::NoValue: the enclosing key or list item disappears
_SUB_VAR = re.compile(r"\$\{([^}]+)\}")

_TABLE = "AWS::DynamoDB::Table"
_BUCKET = "AWS::S3::Bucket"
_QUEUE = "AWS::SQS::Queue"
_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")

# CloudFormation AWS::SQS::Queue property -> SQS queue attribute
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
_GSI_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")


class LocalStack:
    """One deployed copy of a template's stateful resources, plus an intrinsic-function resolver."""

    def __init__(
        self,
        template: Mapping[str, Any],
        stack_name: str = "sundown-local",
        parameter_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.template = template
        self.stack_name = stack_name
        self.region: str = boto3.session.Session().region_name or "us-east-1"
        self.account_id = DEFAULT_ACCOUNT_ID
        self.resources: dict[str, dict[str, Any]] = dict(template.get("Resources") or {})
        self.parameters = self._parameter_values(parameter_overrides or {})
        self.physical_names: dict[str, str] = {}  # logical id -> table/bucket name, or queue URL
        self.queue_urls: dict[str, str] = {}
        self.queue_arns: dict[str, str] = {}
        self.table_arns: dict[str, str] = {}
        self._conditions: dict[str, bool] = {}

    # ------------------------------------------------------------------ deploy

    def deploy(self) -> None:
        """Create every table, bucket and queue of the template (idempotent)."""
        try:
            self.account_id = boto3.client("sts").get_caller_identity()["Account"]
        except (BotoCoreError, ClientError):
            self.account_id = DEFAULT_ACCOUNT_ID
        for logical_id in self._of_type(_QUEUE):
            self._deploy_queue(logical_id)
        for logical_id in self._of_type(_TABLE):
            self._deploy_table(logical_id)
        for logical_id in self._of_type(_BUCKET):
            self._deploy_bucket(logical_id)

    def attach(self, endpoint_url: str, account_id: str = DEFAULT_ACCOUNT_ID) -> LocalStack:
        """Know an already deployed stack's names, queue URLs and ARNs without calling AWS.

        Names are deterministic (``<stack>-<LogicalId>`` unless the template names the resource), so a
        stack deployed by another process on ``endpoint_url`` (a moto server) is described exactly.
        Queue URLs take moto's form, ``<endpoint>/<account>/<name>``.
        """
        self.account_id = account_id
        base = endpoint_url.rstrip("/")
        for logical_id in self._of_type(_QUEUE):
            name = self.queue_name(logical_id)
            self.queue_urls[logical_id] = self.physical_names[logical_id] = f"{base}/{account_id}/{name}"
            self.queue_arns[logical_id] = f"arn:aws:sqs:{self.region}:{account_id}:{name}"
        for logical_id in self._of_type(_TABLE):
            name = self.physical_names[logical_id] = self.table_name(logical_id)
            self.table_arns[logical_id] = f"arn:aws:dynamodb:{self.region}:{account_id}:table/{name}"
        for logical_id in self._of_type(_BUCKET):
            self.physical_names[logical_id] = self.bucket_name(logical_id)
        return self

    def _name_property(self, logical_id: str, key: str) -> str | None:
        value = self.resolve((self.resources[logical_id].get("Properties") or {}).get(key))
        return None if value is None else str(value)

    def queue_name(self, logical_id: str) -> str:
        """The queue's physical name: its QueueName, or a generated one within SQS's limits."""
        name = self._name_property(logical_id, "QueueName")
        fifo = _truthy(self.resolve((self.resources[logical_id].get("Properties") or {}).get("FifoQueue")))
        if name is None:
            name = _shorten(self._default_name(logical_id), 75 if fifo else 80)  # ".fifo" included
        if fifo and not name.endswith(".fifo"):
            name += ".fifo"
        return name

    def table_name(self, logical_id: str) -> str:
        return self._name_property(logical_id, "TableName") or self._default_name(logical_id)

    def bucket_name(self, logical_id: str) -> str:
        return self._name_property(logical_id, "BucketName") or _bucket_name(self._default_name(logical_id))

    def _of_type(self, resource_type: str) -> list[str]:
        return [
            logical_id
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == resource_type and self._resource_enabled(resource)
        ]

    def _resource_enabled(self, resource: Mapping[str, Any]) -> bool:
        condition = resource.get("Condition")
        return condition is None or self.condition(condition)

    def _props(self, logical_id: str) -> dict[str, Any]:
        props = self.resolve(self.resources[logical_id].get("Properties") or {})
        return props if isinstance(props, dict) else {}

    def _default_name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def _deploy_queue(self, logical_id: str) -> None:
        if logical_id in self.queue_urls:
            return
        # Dead-letter queues first: the redrive policy needs their ARN.
        raw_redrive = (self.resources[logical_id].get("Properties") or {}).get("RedrivePolicy")
        for dependency in _referenced_resources(raw_redrive):
            if self.resources.get(dependency, {}).get("Type") == _QUEUE:
                self._deploy_queue(dependency)
        props = self._props(logical_id)
        name = self.queue_name(logical_id)
        attributes = {key: _attribute_string(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.queue_urls[logical_id] = self.physical_names[logical_id] = url
        self.queue_arns[logical_id] = arn

    def _deploy_table(self, logical_id: str) -> None:
        props = self._props(logical_id)
        name = self.table_name(logical_id)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if "ProvisionedThroughput" in props:
            kwargs["ProvisionedThroughput"] = _ints(props["ProvisionedThroughput"])
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):
                kwargs[key] = [
                    {k: _ints(v) for k, v in index.items() if k in _GSI_KEYS} for index in props[key]
                ]
        if stream := props.get("StreamSpecification"):
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        if sse := props.get("SSESpecification"):
            kwargs["SSESpecification"] = {"Enabled": _truthy(sse.get("SSEEnabled"))} | {
                k: sse[k] for k in ("SSEType", "KMSMasterKeyId") if k in sse
            }
        if props.get("Tags"):
            kwargs["Tags"] = props["Tags"]
        dynamodb = boto3.client("dynamodb")
        with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):  # already there (moto server)
            dynamodb.create_table(**kwargs)
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        if (ttl := props.get("TimeToLiveSpecification")) and _truthy(ttl.get("Enabled")):
            current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )
        pitr = props.get("PointInTimeRecoverySpecification") or {}
        if _truthy(pitr.get("PointInTimeRecoveryEnabled")):
            dynamodb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        self.physical_names[logical_id] = name
        self.table_arns[logical_id] = dynamodb.describe_table(TableName=name)["Table"]["TableArn"]

    def _deploy_bucket(self, logical_id: str) -> None:
        props = self._props(logical_id)
        name = self.bucket_name(logical_id)
        s3 = boto3.client("s3")
        create: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(**create)
        if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if encryption := props.get("BucketEncryption"):
            rules = [
                {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                | (
                    {"BucketKeyEnabled": _truthy(rule["BucketKeyEnabled"])}
                    if "BucketKeyEnabled" in rule
                    else {}
                )
                for rule in encryption["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if block := props.get("PublicAccessBlockConfiguration"):
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration={k: _truthy(v) for k, v in block.items()}
            )
        if ownership := props.get("OwnershipControls"):
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=ownership)
        self.physical_names[logical_id] = name

    # ------------------------------------------------------------------ resolution

    def _parameter_values(self, overrides: Mapping[str, Any]) -> dict[str, str | list[str]]:
        declared = self.template.get("Parameters") or {}
        unknown = set(overrides) - set(declared)
        if unknown:
            raise KeyError(f"unknown template parameter(s): {', '.join(sorted(unknown))}")
        values: dict[str, str | list[str]] = {}
        for name, spec in declared.items():
            if name in overrides:
                raw = overrides[name]
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                raise KeyError(f"template parameter {name} has no default and no override")
            text = ",".join(map(_attribute_string, raw)) if isinstance(raw, list) else _attribute_string(raw)
            if name in overrides:
                _check_allowed(name, spec, text)
            is_list = spec.get("Type", "String").startswith(("List<", "CommaDelimitedList"))
            values[name] = [p.strip() for p in text.split(",")] if is_list else text
        return values

    def condition(self, name: str) -> bool:
        """Evaluate a named template Condition."""
        if name not in self._conditions:
            definition = (self.template.get("Conditions") or {})[name]
            self._conditions[name] = bool(self.resolve(definition))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function in `value` against the deployed stack."""
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in map(self._resolve, value) if r is not _NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" or key.startswith("Fn::") or (key == "Condition" and isinstance(arg, str)):
                return self._intrinsic(key, arg)
        return {k: r for k, v in value.items() if (r := self._resolve(v)) is not _NO_VALUE}

    def _intrinsic(self, key: str, arg: Any) -> Any:
        match key:
            case "Ref":
                return self._ref(arg)
            case "Condition":
                return self.condition(arg)
            case "Fn::GetAtt":
                logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else self._resolve(arg)
                return self.get_att(logical_id, attribute)
            case "Fn::Sub":
                return self._sub(arg)
            case "Fn::Join":
                delimiter, items = self._resolve(arg)
                return str(delimiter).join(_attribute_string(i) for i in items)
            case "Fn::Select":
                index, items = self._resolve(arg)
                return items[int(index)]
            case "Fn::Split":
                delimiter, text = self._resolve(arg)
                return text.split(delimiter)
            case "Fn::If":
                name, if_true, if_false = arg
                return self._resolve(if_true if self.condition(name) else if_false)
            case "Fn::Equals":
                left, right = (_attribute_string(v) for v in self._resolve(arg))
                return left == right
            case "Fn::Not":
                return not self._resolve(arg)[0]
            case "Fn::And":
                return all(self._resolve(arg))
            case "Fn::Or":
                return any(self._resolve(arg))
            case "Fn::FindInMap":
                mapping, top, second = self._resolve(arg)[:3]
                return self.template["Mappings"][mapping][top][second]
            case "Fn::Base64":
                return base64.b64encode(str(self._resolve(arg)).encode()).decode()
            case "Fn::GetAZs":
                return [f"{self.region}{zone}" for zone in "abc"]
            case _:
                raise NotImplementedError(f"{key} cannot be resolved locally")

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical_names:
            return self.physical_names[name]
        if name in self.resources:
            if self.resources[name].get("Type") in (_TABLE, _BUCKET, _QUEUE):
                raise LookupError(f"{name} is not deployed yet: call deploy() first")
            return self._default_name(name)  # a resource this class does not deploy
        raise KeyError(f"Ref to unknown parameter or resource {name!r}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        """Fn::GetAtt for deployed resources (Arn, QueueUrl, QueueName) and ARNs of the others."""
        resource_type = self.resources.get(logical_id, {}).get("Type")
        if resource_type is None:
            raise KeyError(f"Fn::GetAtt to unknown resource {logical_id!r}")
        if resource_type in (_TABLE, _BUCKET, _QUEUE) and logical_id not in self.physical_names:
            raise LookupError(f"{logical_id} is not deployed yet: call deploy() first")
        region, account = self.region, self.account_id
        match resource_type, attribute:
            case "AWS::SQS::Queue", "Arn":
                return self.queue_arns[logical_id]
            case "AWS::SQS::Queue", "QueueUrl":
                return self.queue_urls[logical_id]
            case "AWS::SQS::Queue", "QueueName":
                return self.queue_arns[logical_id].rsplit(":", 1)[1]
            case "AWS::DynamoDB::Table", "Arn":
                return self.table_arns[logical_id]
            case "AWS::S3::Bucket", "Arn":
                return f"arn:aws:s3:::{self.physical_names[logical_id]}"
            case "AWS::S3::Bucket", "DomainName":
                return f"{self.physical_names[logical_id]}.s3.amazonaws.com"
            case (("AWS::Serverless::Function" | "AWS::Lambda::Function"), "Arn"):
                return f"arn:aws:lambda:{region}:{account}:function:{self._default_name(logical_id)}"
            case "AWS::Events::Rule", "Arn":
                return f"arn:aws:events:{region}:{account}:rule/{self._default_name(logical_id)}"
            case "AWS::Logs::LogGroup", "Arn":
                name = self.resolve((self.resources[logical_id].get("Properties") or {}).get("LogGroupName"))
                return f"arn:aws:logs:{region}:{account}:log-group:{name or self._default_name(logical_id)}:*"
            case "AWS::IAM::Role", "Arn":
                return f"arn:aws:iam::{account}:role/{self._default_name(logical_id)}"
            case _:
                raise NotImplementedError(f"Fn::GetAtt {logical_id}.{attribute} ({resource_type})")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self._resolve(arg[1]))

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} stays ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return _attribute_string(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return _attribute_string(self.get_att(*name.split(".", 1)))
            return _attribute_string(self._ref(name))

        return _SUB_VAR.sub(substitute, text)

    # ------------------------------------------------------------------ what the functions get

    def functions(self) -> dict[str, dict[str, Any]]:
        """Logical id -> code_uri, handler, timeout and the (unresolved) SAM Events of every function."""
        defaults = (self.template.get("Globals") or {}).get("Function") or {}
        result: dict[str, dict[str, Any]] = {}
        for logical_id, resource in self.resources.items():
            if resource.get("Type") not in _FUNCTION_TYPES:
                continue
            props = {**defaults, **(resource.get("Properties") or {})}
            result[logical_id] = {
                "code_uri": props.get("CodeUri"),
                "handler": props.get("Handler"),
                "timeout": int(self.resolve(props.get("Timeout", 3))),
                "events": props.get("Events") or {},
            }
        return result

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The environment variables Lambda would give this function, resolved to strings."""
        resource = self.resources.get(logical_id)
        if resource is None or resource.get("Type") not in _FUNCTION_TYPES:
            raise KeyError(f"{logical_id} is not a function of this template")
        defaults = ((self.template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
        own = (resource.get("Properties") or {}).get("Environment") or {}
        merged = {**(defaults.get("Variables") or {}), **(own.get("Variables") or {})}
        resolved = self.resolve(merged) or {}
        return {name: _attribute_string(value) for name, value in resolved.items()}

    def sqs_subscriptions(self) -> dict[str, str]:
        """Queue logical id -> logical id of the function its SQS event source invokes."""
        subscriptions: dict[str, str] = {}
        for function_id, function in self.functions().items():
            for event in function["events"].values():
                if event.get("Type") == "SQS":
                    for queue_id in _referenced_resources(event.get("Properties", {}).get("Queue")):
                        subscriptions[queue_id] = function_id
        return subscriptions

    def rules(self) -> list[dict[str, Any]]:
        """Every AWS::Events::Rule: bus name, pattern and targets (with their resource logical ids)."""
        rules = []
        for logical_id in self._of_type("AWS::Events::Rule"):
            props = self.resources[logical_id].get("Properties") or {}
            targets = []
            for target in props.get("Targets") or []:
                dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
                targets.append(
                    {
                        "id": target.get("Id"),
                        "resource": next(iter(_referenced_resources(target.get("Arn"))), None),
                        "dead_letter_resource": next(iter(_referenced_resources(dead_letter)), None),
                        "input": target.get("Input"),
                    }
                )
            rules.append(
                {
                    "logical_id": logical_id,
                    "event_bus_name": self.resolve(props.get("EventBusName", "default")),
                    "event_pattern": self.resolve(props.get("EventPattern") or {}),
                    "state": props.get("State", "ENABLED"),
                    "targets": targets,
                }
            )
        return rules


# ---------------------------------------------------------------------- helpers


def _referenced_resources(value: Any) -> list[str]:
    """Logical ids named by Ref / Fn::GetAtt anywhere inside `value`."""
    found: list[str] = []
    if isinstance(value, list):
        for item in value:
            found += _referenced_resources(item)
    elif isinstance(value, Mapping):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str) and not arg.startswith("AWS::"):
                found.append(arg)
            elif key == "Fn::GetAtt":
                found.append(arg.split(".", 1)[0] if isinstance(arg, str) else arg[0])
            else:
                found += _referenced_resources(arg)
    return found


def _attribute_string(value: Any) -> str:
    """CloudFormation's string form of a scalar: booleans lower-case, dicts as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _ints(value: Any) -> Any:
    """Numbers in throughput settings arrive as YAML ints or strings; the API wants ints."""
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _shorten(name: str, limit: int) -> str:
    """Keep a generated name within a service limit, deterministically (prefix + hash)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-.')}-{digest}"


def _bucket_name(name: str) -> str:
    return _shorten(re.sub(r"[^a-z0-9.-]", "-", name.lower()), 63)


def _check_allowed(name: str, spec: Mapping[str, Any], value: str) -> None:
    """Refuse an override CloudFormation would refuse: its AllowedValues, AllowedPattern, Min/MaxValue
    (Number) and Min/MaxLength (String) constraints."""
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [_attribute_string(v) for v in allowed]:
        raise ValueError(f"parameter {name}={value!r} is not one of {', '.join(map(str, allowed))}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and re.fullmatch(pattern, value) is None:
        raise ValueError(f"parameter {name}={value!r} does not match its AllowedPattern {pattern}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"parameter {name}={value!r} is not a number") from None
        low, high = spec.get("MinValue"), spec.get("MaxValue")
        if (low is not None and number < float(low)) or (high is not None and number > float(high)):
            raise ValueError(f"parameter {name}={value!r} is outside [{low}, {high}]")
    low, high = spec.get("MinLength"), spec.get("MaxLength")
    if (low is not None and len(value) < int(low)) or (high is not None and len(value) > int(high)):
        raise ValueError(f"parameter {name}={value!r} has a length outside [{low}, {high}]")
