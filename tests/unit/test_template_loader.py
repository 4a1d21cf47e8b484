"""The template loader, the EventBridge pattern matcher and parameter/env resolution (no AWS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sundown_local.event_pattern import event_pattern_matches
from sundown_local.stack import LocalStack
from sundown_local.template import load_template, loads_template

ROOT = Path(__file__).resolve().parents[2]

SHORT_TAGS = """
AWSTemplateFormatVersion: 2010-09-09
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
Resources:
  Thing:
    Properties:
      A: !Ref Stage
      B: !GetAtt Queue.Arn
      C: !GetAtt [Queue, QueueUrl]
      D: !Sub "${AWS::StackName}-x"
      E: !Join [",", [a, b]]
      F: !If [IsProd, 1, 2]
      G: !Select [0, !Split [",", "x,y"]]
      H: !FindInMap [Map, Key, Value]
      I: !ImportValue other-stack-export
      J: !Base64 hello
      K: !GetAZs ""
      L: !Cidr [10.0.0.0/16, 4, 8]
      M: !And [!Condition IsProd, !Or [true, false]]
"""


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(ROOT / "template.yaml")


@pytest.fixture
def stack(template: dict) -> LocalStack:
    return LocalStack(template, stack_name="unit")


# ---------------------------------------------------------------- short tags


def test_short_tags_become_long_form_intrinsics() -> None:
    # Given a template using every short intrinsic tag
    # When it is loaded
    props = loads_template(SHORT_TAGS)["Resources"]["Thing"]["Properties"]
    # Then each tag is the plain-dict long form CloudFormation uses in JSON
    assert props["A"] == {"Ref": "Stage"}
    assert props["B"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert props["C"] == {"Fn::GetAtt": ["Queue", "QueueUrl"]}
    assert props["D"] == {"Fn::Sub": "${AWS::StackName}-x"}
    assert props["E"] == {"Fn::Join": [",", ["a", "b"]]}
    assert props["F"] == {"Fn::If": ["IsProd", 1, 2]}
    assert props["G"] == {"Fn::Select": [0, {"Fn::Split": [",", "x,y"]}]}
    assert props["H"] == {"Fn::FindInMap": ["Map", "Key", "Value"]}
    assert props["I"] == {"Fn::ImportValue": "other-stack-export"}
    assert props["J"] == {"Fn::Base64": "hello"}
    assert props["K"] == {"Fn::GetAZs": ""}
    assert props["L"] == {"Fn::Cidr": ["10.0.0.0/16", 4, 8]}
    assert props["M"] == {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Or": [True, False]}]}


def test_conditions_use_long_form_and_dates_stay_strings() -> None:
    # Given a template with conditions and an unquoted format version date
    loaded = loads_template(SHORT_TAGS)
    # Then the date is not turned into a datetime.date, and conditions nest as dicts
    assert loaded["AWSTemplateFormatVersion"] == "2010-09-09"
    assert loaded["Conditions"]["NotProd"] == {"Fn::Not": [{"Condition": "IsProd"}]}


def test_real_template_loads_with_the_expected_resources(template: dict) -> None:
    # Given the project's template.yaml, loaded
    resources = template["Resources"]
    # Then it has the stores of the data map and the four functions
    for logical_id in (
        "AccountsTable",
        "IdempotencyTable",
        "TenantDataTable",
        "NetworkIdsTable",
        "DocumentsBucket",
    ):
        assert logical_id in resources
    functions = {k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions == {
        "AccountEventsFunction",
        "BillingEventsFunction",
        "SweepFunction",
        "AccountApiFunction",
        "PurgeWorkerFunction",
    }
    assert resources["AccountEventsRule"]["Properties"]["Targets"][0]["Arn"] == {
        "Fn::GetAtt": ["AccountEventsQueue", "Arn"]
    }


# ---------------------------------------------------------------- event patterns

STRIPE_PATTERN = {
    "source": [{"prefix": "aws.partner/stripe.com"}],
    "detail-type": ["customer.subscription.created", "customer.subscription.updated"],
}


def _event(source: str, detail_type: str, **detail: object) -> dict:
    return {"source": source, "detail-type": detail_type, "detail": detail}


def test_stripe_partner_source_matches_by_prefix() -> None:
    # Given a Stripe event from the partner event source
    event = _event("aws.partner/stripe.com/ed_test_61abc", "customer.subscription.updated")
    # Then the prefix pattern matches it, and a look-alike source or another type does not
    assert event_pattern_matches(STRIPE_PATTERN, event)
    assert not event_pattern_matches(STRIPE_PATTERN, {**event, "source": "aws.partner/stripe.org/x"})
    assert not event_pattern_matches(STRIPE_PATTERN, {**event, "detail-type": "invoice.paid"})


def test_exact_values_any_of_list_and_array_fields() -> None:
    pattern = {"source": ["saas.accounts", "saas.auth"], "resources": ["arn:a"]}
    # A listed value matches; an unlisted one does not
    assert event_pattern_matches(pattern, {"source": "saas.auth", "resources": ["arn:b", "arn:a"]})
    assert not event_pattern_matches(pattern, {"source": "saas.billing", "resources": ["arn:a"]})
    # An array-valued field matches when any element matches, and a missing field never does
    assert not event_pattern_matches(pattern, {"source": "saas.auth", "resources": ["arn:b"]})
    assert not event_pattern_matches(pattern, {"source": "saas.auth"})


def test_nested_detail_anything_but_exists_and_numeric() -> None:
    pattern = {
        "detail": {
            "status": [{"anything-but": ["deleted", "purging"]}],
            "hold": [{"exists": False}],
            "account_id": [{"exists": True}],
            "plan": {"seats": [{"numeric": [">", 0, "<=", 10]}]},
        }
    }
    ok = {"detail": {"status": "active", "account_id": "acc-1", "plan": {"seats": 3}}}
    assert event_pattern_matches(pattern, ok)
    # anything-but excludes the listed values
    assert not event_pattern_matches(pattern, {"detail": {**ok["detail"], "status": "deleted"}})
    # exists: false rejects a present field, exists: true rejects a missing one
    assert not event_pattern_matches(pattern, {"detail": {**ok["detail"], "hold": {"reason": "x"}}})
    assert not event_pattern_matches(
        pattern, {"detail": {k: v for k, v in ok["detail"].items() if k != "account_id"}}
    )
    # numeric ranges are bounds-checked, and nested objects must be objects
    assert not event_pattern_matches(pattern, {"detail": {**ok["detail"], "plan": {"seats": 11}}})
    assert not event_pattern_matches(pattern, {"detail": "not-an-object"})


def test_exact_matching_is_type_strict_and_anything_but_prefix() -> None:
    assert not event_pattern_matches({"n": ["1"]}, {"n": 1})
    assert event_pattern_matches({"n": [1]}, {"n": 1.0})
    assert not event_pattern_matches({"flag": [1]}, {"flag": True})
    assert event_pattern_matches({"source": [{"anything-but": {"prefix": "aws."}}]}, {"source": "saas.auth"})
    assert not event_pattern_matches({"source": [{"anything-but": {"prefix": "aws."}}]}, {"source": "aws.s3"})


def test_the_templates_rules_route_the_spec_events(stack: LocalStack) -> None:
    # Given the rules of the real template
    rules = {rule["logical_id"]: rule for rule in stack.rules()}
    account_rule, billing_rule = rules["AccountEventsRule"], rules["BillingEventsRule"]
    # Then each rule names its target and DLQ, on the bus the parameters name
    assert account_rule["targets"][0]["resource"] == "AccountEventsQueue"
    assert account_rule["targets"][0]["dead_letter_resource"] == "AccountEventsDLQ"
    assert account_rule["event_bus_name"] == "default"
    assert billing_rule["event_bus_name"] == "aws.partner/stripe.com/ed_test_CHANGEME"
    # And the product's events go to the account rule, Stripe's to the billing rule
    login = _event("saas.auth", "UserLoggedIn", account_id="a", network_id="n")
    stripe = _event("aws.partner/stripe.com/ed_test_1", "customer.subscription.deleted")
    assert event_pattern_matches(account_rule["event_pattern"], login)
    assert not event_pattern_matches(billing_rule["event_pattern"], login)
    assert event_pattern_matches(billing_rule["event_pattern"], stripe)
    assert not event_pattern_matches(account_rule["event_pattern"], stripe)
    assert not event_pattern_matches(account_rule["event_pattern"], _event("saas.auth", "PasswordChanged"))


# ---------------------------------------------------------------- parameters and environment


def test_parameter_override_reaches_the_function_environment(template: dict) -> None:
    # Given a stack with overridden idle and warning settings (not deployed: only parameters needed)
    stack = LocalStack(template, parameter_overrides={"IdleDays": 45, "WarningDays": "21,7"})
    # When resolving the parameter-driven variables of the sweep
    resolved = stack.resolve(
        {"IDLE": {"Ref": "IdleDays"}, "WARN": {"Ref": "WarningDays"}, "GRACE": {"Ref": "GraceDays"}}
    )
    # Then overrides win, defaults fill the rest, and every value is a string
    assert resolved == {"IDLE": "45", "WARN": "21,7", "GRACE": "7"}


@pytest.mark.parametrize(("tracing", "disabled"), [("Active", "false"), ("Disabled", "true")])
def test_the_tracing_parameter_tells_every_function_whether_to_load_the_tracer(
    template: dict, tracing: str, disabled: str
) -> None:
    # Given a stack with Tracing set one way or the other (described offline, nothing deployed)
    stack = LocalStack(template, parameter_overrides={"Tracing": tracing}).attach("http://127.0.0.1:4566")
    # Then every function reads POWERTOOLS_TRACE_DISABLED to match (sundown.observability skips the
    # X-Ray SDK when it is "true")
    for function_id in stack.functions():
        assert stack.function_environment(function_id)["POWERTOOLS_TRACE_DISABLED"] == disabled


def test_unknown_parameter_override_is_rejected(template: dict) -> None:
    with pytest.raises(KeyError, match="NoSuchParameter"):
        LocalStack(template, parameter_overrides={"NoSuchParameter": "1"})


def test_resource_refs_need_a_deploy_first(stack: LocalStack) -> None:
    # A function's environment names tables, which only exist after deploy()
    with pytest.raises(LookupError, match="deploy"):
        stack.function_environment("SweepFunction")


def test_intrinsics_resolve_sub_join_if_select_split(template: dict) -> None:
    # Given a template with a condition on a parameter
    extended = {
        **template,
        "Conditions": {"LongIdle": {"Fn::Not": [{"Fn::Equals": [{"Ref": "IdleDays"}, "30"]}]}},
    }
    stack = LocalStack(extended, stack_name="s1", parameter_overrides={"IdleDays": "60"})
    # Then the functions resolve as CloudFormation would
    expected = f"s1/{stack.region}/${{Literal}}"
    assert stack.resolve({"Fn::Sub": "${AWS::StackName}/${AWS::Region}/${!Literal}"}) == expected
    assert stack.resolve({"Fn::Sub": ["${X}-${IdleDays}", {"X": {"Ref": "GraceDays"}}]}) == "7-60"
    assert stack.resolve({"Fn::Join": ["-", [{"Ref": "AWS::Partition"}, 1]]}) == "aws-1"
    assert stack.resolve({"Fn::If": ["LongIdle", "long", "short"]}) == "long"
    assert stack.resolve({"Fn::Select": [1, {"Fn::Split": [",", {"Ref": "WarningDays"}]}]}) == "7"
    assert stack.resolve({"a": {"Fn::If": ["LongIdle", {"Ref": "AWS::NoValue"}, 1]}, "b": 2}) == {"b": 2}


def test_functions_expose_code_handler_and_events(stack: LocalStack) -> None:
    functions = stack.functions()
    sweep = functions["SweepFunction"]
    assert sweep["code_uri"] == "functions/sweep/"
    assert sweep["handler"] == "app.lambda_handler"
    assert sweep["timeout"] == 900
    assert functions["AccountApiFunction"]["timeout"] == 60
    assert sweep["events"]["Sweep"]["Properties"]["Input"] == '{"time": "<aws.scheduler.scheduled-time>"}'
    assert stack.sqs_subscriptions() == {
        "AccountEventsQueue": "AccountEventsFunction",
        "BillingEventsQueue": "BillingEventsFunction",
        "PurgeQueue": "PurgeWorkerFunction",
        "SweepPagesQueue": "SweepFunction",
    }


def test_operator_safety_parameters_and_their_defaults(template: dict) -> None:
    params = template["Parameters"]
    for name in ("DryRun", "DestructionPaused"):
        assert params[name]["Type"] == "String"
        assert params[name]["AllowedValues"] == ["true", "false"]
        assert params[name]["Default"] == "false"
    assert params["MaxPurgesPerSweep"]["Type"] == "Number"
    assert (params["MaxPurgesPerSweep"]["Default"], params["MaxPurgesPerSweep"]["MinValue"]) == (100, 0)


def test_kill_switch_and_breaker_reach_every_function_dry_run_only_the_sweep(template: dict) -> None:
    # Given overridden operator-safety parameters (not deployed: only parameters are resolved)
    overrides = {"DryRun": "true", "DestructionPaused": "true", "MaxPurgesPerSweep": 7}
    stack = LocalStack(template, parameter_overrides=overrides)
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    # Then the kill switch and the breaker are global variables, resolved from the parameters
    assert stack.resolve({k: shared[k] for k in ("DESTRUCTION_PAUSED", "MAX_PURGES_PER_SWEEP")}) == {
        "DESTRUCTION_PAUSED": "true",
        "MAX_PURGES_PER_SWEEP": "7",
    }
    assert "DRY_RUN" not in shared
    # And DRY_RUN is the scheduled sweep's alone (its own variables merge with the Globals)
    functions = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    with_dry_run = {
        k
        for k, v in functions.items()
        if "DRY_RUN" in ((v["Properties"].get("Environment") or {}).get("Variables") or {})
    }
    assert with_dry_run == {"SweepFunction"}
    sweep_env = functions["SweepFunction"]["Properties"]["Environment"]["Variables"]
    assert stack.resolve(sweep_env["DRY_RUN"]) == "true"


def test_the_operator_api_routes(stack: LocalStack) -> None:
    events = stack.functions()["AccountApiFunction"]["events"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values()}
    assert routes == {
        ("GET", "/accounts/{account_id}"),
        ("PUT", "/accounts/{account_id}/hold"),
        ("DELETE", "/accounts/{account_id}/hold"),
        ("GET", "/lifecycle/preview"),
    }
    assert all(
        e["Type"] == "HttpApi" and e["Properties"]["ApiId"] == {"Ref": "SundownHttpApi"}
        for e in events.values()
    )
