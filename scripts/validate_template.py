#!/usr/bin/env python3
"""Validate template.yaml offline: no AWS credentials and no network needed.

Two steps:

1. The AWS SAM translator turns the SAM template into plain CloudFormation, exactly as the
   ``AWS::Serverless-2016-10-31`` transform does at deploy time. Local CodeUri/ContentUri paths are
   replaced by placeholder S3 URIs (what ``sam package`` uploads), and managed-policy names are
   resolved from a fixed local map instead of calling IAM. Any translation error fails the run.
2. cfn-lint checks both the SAM source (with its SAM schemas) and the translated CloudFormation.

Only cfn-lint *errors* (rule ids ``E...``) fail the run; warnings (``W...``) and informational
matches (``I...``) are printed but tolerated, because several are advisory and some are produced by
code the SAM translator generates, which we cannot change. Exit status: 0 valid, 1 invalid, 2 usage.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import yaml
from cfnlint.api import ManualArgs, lint
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

REGION = os.environ["AWS_DEFAULT_REGION"]

_MANAGED_POLICIES = (
    "AWSLambdaBasicExecutionRole",
    "AWSLambdaSQSQueueExecutionRole",
    "AWSLambdaDynamoDBExecutionRole",
    "AWSLambdaVPCAccessExecutionRole",
    "AWSLambdaRole",
    "AWSXrayWriteOnlyAccess",
    "AWSXRayDaemonWriteAccess",
    "CloudWatchLambdaInsightsExecutionRolePolicy",
)


class OfflinePolicyLoader(ManagedPolicyLoader):
    """Managed policy name -> ARN from a fixed map; never calls IAM."""

    def __init__(self) -> None:
        pass

    def load(self) -> dict[str, str]:
        service_role = {"AWSLambdaBasicExecutionRole", "AWSLambdaSQSQueueExecutionRole"}
        service_role |= {"AWSLambdaDynamoDBExecutionRole", "AWSLambdaVPCAccessExecutionRole"}
        service_role |= {"AWSLambdaRole", "CloudWatchLambdaInsightsExecutionRolePolicy"}
        return {
            name: f"arn:aws:iam::aws:policy/{'service-role/' if name in service_role else ''}{name}"
            for name in _MANAGED_POLICIES
        }


# One CloudFormation YAML loader for the whole repo (short tags read as their long form).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))
from sundown_local.template import CfnYamlLoader as _CfnLoader  # noqa: E402


def _stub_local_artifacts(template: dict[str, Any]) -> dict[str, Any]:
    """Point local CodeUri/ContentUri paths at placeholder S3 objects, as `sam package` would."""
    stubbed = copy.deepcopy(template)
    for logical_id, resource in stubbed.get("Resources", {}).items():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            uri = props.get(key)
            if isinstance(uri, str) and not uri.startswith("s3://"):
                props[key] = f"s3://sundown-validate-artifacts/{logical_id}.zip"
    return stubbed


# The translator's own usage metrics warn when nobody publishes them: nothing to do with the template.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)

# The SAM transform sees the deploy's parameter values; these change its output, so each is linted too.
TRANSFORM_VARIANTS = [("Tracing", "Disabled")]


def _moot(match: Any) -> bool:
    """A finding that can't happen on a deploy: TracingConfig's Mode is !Ref Tracing only in the
    translation with Tracing=Active (with Disabled the transform leaves TracingConfig out, as the
    Tracing=Disabled variant shows), so its "could resolve to Disabled" warning is moot."""
    return match.rule.id == "W1030" and "/TracingConfig/Mode'" in match.message


def _format_match(match: Any, label: str) -> str:
    return f"[{match.rule.id}] {label}: {match.message}"


def validate(path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    try:
        sam_template = yaml.load(text, Loader=_CfnLoader)
    except yaml.YAMLError as exc:
        print(f"{path}: invalid YAML: {exc}", file=sys.stderr)
        return 1

    # 1. SAM transform, with the defaults and with each parameter value that changes its output
    try:
        translated = transform(_stub_local_artifacts(sam_template), {}, OfflinePolicyLoader())
        variants = {
            f"{name}={value}": transform(
                _stub_local_artifacts(sam_template), {name: value}, OfflinePolicyLoader()
            )
            for name, value in TRANSFORM_VARIANTS
        }
    except InvalidDocumentException as exc:
        print(f"{path}: SAM transform failed:", file=sys.stderr)
        for cause in exc.causes:
            print(f"  {cause.message}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - any translator crash means the template is unusable
        print(f"{path}: SAM transform failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1

    # 2. cfn-lint on the SAM source (with line numbers) and on the translated CloudFormation
    config = ManualArgs(regions=[REGION])
    lines = [_format_match(m, f"{path.name}:{m.linenumber}") for m in lint(text, config=config)]
    after = f"{path.name} (after SAM transform)"
    lines += [
        _format_match(m, after) for m in lint(yaml.safe_dump(translated), config=config) if not _moot(m)
    ]
    for label, variant in variants.items():
        found = lint(yaml.safe_dump(variant), config=config)
        lines += [
            _format_match(m, f"{path.name} (after SAM transform, {label})") for m in found if not _moot(m)
        ]
    lines = list(dict.fromkeys(lines))  # same finding on several resources/passes: report once

    errors = [line for line in lines if line.startswith("[E")]
    for line in lines:
        if not line.startswith("[E"):
            print(f"warning: {line}", file=sys.stderr)
    if errors:
        print(f"{path}: {len(errors)} cfn-lint error(s):", file=sys.stderr)
        for line in errors:
            print(f"  {line}", file=sys.stderr)
        return 1

    print(f"{path.name}: valid ({len(translated.get('Resources', {}))} resources after SAM transform)")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) > 2:
        print("usage: validate_template.py [template.yaml]", file=sys.stderr)
        return 2
    path = Path(argv[1] if len(argv) == 2 else "template.yaml")
    if not path.is_file():
        print(f"{path}: no such file", file=sys.stderr)
        return 2
    return validate(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
