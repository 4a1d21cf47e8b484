"""The `sundown` commands against a running local stack: moto's server in a thread of this process,
the stack deployed from template.yaml, as `sundown local` does it.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from sundown_local.cli import app
from sundown_local.server import attached_stack, env_json, start_local_stack
from tests.conftest import EVENTS, REPO_ROOT

STACK_NAME = "sundown-cli-test"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _forget_local_endpoint() -> None:
    """Later tests use in-process moto: drop every client and connection made for the server."""
    from sundown import audit, models
    from sundown.runtime import reset

    reset()
    models.bind("unbound", "us-east-1")  # drops the PynamoDB connection bound to the server's URL
    audit.bind(None, "us-east-1")


@pytest.fixture
def restore_environment() -> Iterator[None]:
    """The commands set AWS_ENDPOINT_URL and the functions' variables in os.environ: undo all of it."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        _forget_local_endpoint()


@pytest.fixture(scope="module")
def local_stack() -> Iterator[tuple[str, Any]]:
    saved = dict(os.environ)
    port = _free_port()
    server, stack = start_local_stack(port=port, stack_name=STACK_NAME)
    try:
        yield f"http://127.0.0.1:{port}", stack
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(saved)
        _forget_local_endpoint()


@pytest.fixture
def cli(restore_environment: None) -> CliRunner:
    return CliRunner()


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_local_stack_is_reachable_like_the_aws_cli_would(local_stack: tuple[str, Any]) -> None:
    # Given the stack `sundown local` deploys
    endpoint, stack = local_stack
    # When a separate client (as `aws --endpoint-url`) looks at it
    tables = _client("dynamodb", endpoint).list_tables()["TableNames"]
    versioning = _client("s3", endpoint).get_bucket_versioning(Bucket=stack.physical_names["DocumentsBucket"])
    queues = _client("sqs", endpoint).list_queues()["QueueUrls"]
    # Then the tables, the versioned bucket and the queues are all there, under their physical names
    assert stack.physical_names["AccountsTable"] in tables
    assert versioning["Status"] == "Enabled"
    assert stack.queue_urls["PurgeQueue"] in queues


def test_attach_names_the_deployed_stack_exactly(local_stack: tuple[str, Any]) -> None:
    # Given the stack deployed on the server, and one described without calling AWS
    endpoint, deployed = local_stack
    attached = attached_stack(endpoint, STACK_NAME)
    # Then names, queue URLs (moto's format) and ARNs agree
    assert attached.physical_names == deployed.physical_names
    assert attached.queue_arns == deployed.queue_arns
    assert attached.table_arns == deployed.table_arns
    assert attached.function_environment("SweepFunction") == deployed.function_environment("SweepFunction")


def test_invoke_then_explain_an_account(local_stack: tuple[str, Any], cli: CliRunner) -> None:
    # Given the running local stack
    endpoint, _ = local_stack
    target = ["--endpoint", endpoint, "--stack-name", STACK_NAME]
    # When AccountEventsFunction gets the AccountCreated sample (acme, created 2026-01-01T09:00Z)
    invoked = cli.invoke(
        app, ["invoke", "AccountEventsFunction", "-e", str(EVENTS / "account_created.json"), *target]
    )
    # Then it succeeds, shows the function's log lines and its response
    assert invoked.exit_code == 0, invoked.output
    logs, _, response = invoked.output.partition(" response ")
    assert " logs " in logs
    assert '"Metrics":[{"Name":"AccountCreated"' in logs  # Powertools' metrics line, as Lambda logs it
    assert json.loads(response.strip().strip("─").strip()) == {"outcome": "created"}

    # When the same event is delivered again
    again = cli.invoke(
        app, ["invoke", "AccountEventsFunction", "-e", str(EVENTS / "account_created.json"), *target]
    )
    # Then the function's own INFO log line is shown
    assert again.exit_code == 0, again.output
    assert '"message":"account already exists"' in again.output

    # When the operator asks why acme is where it is, five days later
    explained = cli.invoke(app, ["explain", "acme", "--at", "2026-01-06T00:00:00Z", *target])
    # Then: free and active, idle since creation, suspension on 2026-01-31, nothing for a sweep to do yet
    assert explained.exit_code == 0, explained.output
    out = explained.output
    assert "free" in out
    assert "active" in out
    assert "2026-01-31" in out
    assert "2026-01-17" in out  # the 14-day warning
    assert "nothing due yet" in out


def test_explain_unknown_account_exits_1(local_stack: tuple[str, Any], cli: CliRunner) -> None:
    endpoint, _ = local_stack
    result = cli.invoke(app, ["explain", "nobody", "--endpoint", endpoint, "--stack-name", STACK_NAME])
    assert result.exit_code == 1
    assert "no account 'nobody'" in result.output


def test_invoke_reports_a_failing_handler(
    local_stack: tuple[str, Any], cli: CliRunner, tmp_path: Path
) -> None:
    # Given an event the sweep cannot parse
    endpoint, _ = local_stack
    event = tmp_path / "bad.json"
    event.write_text(json.dumps({"time": "not a time"}))
    # When it is invoked
    result = cli.invoke(
        app, ["invoke", "SweepFunction", "-e", str(event), "--endpoint", endpoint, "--stack-name", STACK_NAME]
    )
    # Then the command fails with the traceback
    assert result.exit_code == 1, result.output
    assert "Traceback" in result.output


def test_invoke_without_a_local_stack_says_to_start_one(cli: CliRunner) -> None:
    # Given nothing listening on the endpoint
    endpoint = f"http://127.0.0.1:{_free_port()}"
    # When a function is invoked against it
    result = cli.invoke(
        app,
        [
            "invoke",
            "AccountEventsFunction",
            "-e",
            str(EVENTS / "account_created.json"),
            "--endpoint",
            endpoint,
        ],
    )
    # Then it fails and tells the user what to run
    assert result.exit_code == 1
    assert "sundown local" in result.output
    assert endpoint in result.output


def test_committed_env_json_matches_the_template(cli: CliRunner) -> None:
    # Given the env.json in the repository (for `sam local invoke --env-vars env.json`)
    committed = json.loads((REPO_ROOT / "env.json").read_text(encoding="utf-8"))
    # When it is generated again from template.yaml
    result = cli.invoke(app, ["env-json"])
    # Then nothing drifted: regenerate with `sundown env-json > env.json` after changing the template
    assert result.exit_code == 0, result.output
    stale = "env.json is stale: run `sundown env-json > env.json` (or `python -m sundown_local.cli env-json`)"
    assert json.loads(result.stdout) == committed, stale
    assert (REPO_ROOT / "env.json").read_text(encoding="utf-8") == result.stdout, stale
    assert env_json() == committed
    sweep = committed["SweepFunction"]
    assert sweep["AWS_ENDPOINT_URL"] == "http://host.docker.internal:4566"
    # And each function's entry holds only variables the template declares for it, AWS_ENDPOINT_URL among
    # them: SAM CLI silently drops any other, which would leave the container talking to AWS itself
    described = attached_stack("http://host.docker.internal:4566", "sundown-local")
    for function_id, variables in committed.items():
        assert set(variables) == set(described.function_environment(function_id)), function_id
    assert (
        sweep["PURGE_QUEUE_URL"] == "http://host.docker.internal:4566/123456789012/sundown-local-PurgeQueue"
    )
    assert sweep["ACCOUNTS_TABLE"] == "sundown-local-AccountsTable"


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("Nope=1", "unknown template parameter(s): Nope"),
        ("Tracing=Off", "parameter Tracing='Off' is not one of Active, Disabled"),
        ("GraceReminderDays=x", "does not match its AllowedPattern"),
        ("GraceReminderDays", "--parameter takes Name=Value"),
        ("IdleDays=0", "parameter IdleDays='0' is outside [1, None]"),
        ("IdleDays=thirty", "parameter IdleDays='thirty' is not a number"),
        ("EventBusName=", "has a length outside [1, None]"),
    ],
)
def test_simulate_refuses_a_parameter_cloudformation_would_refuse(
    cli: CliRunner, override: str, says: str
) -> None:
    # When the demo is asked for a parameter override CloudFormation would reject
    result = cli.invoke(app, ["simulate", "--days", "1", "--parameter", override])
    # Then it stops before anything runs, naming what is wrong
    assert result.exit_code == 2
    assert says in " ".join(result.output.split())


def test_simulate_with_grace_reminders_shows_them_on_the_timeline(cli: CliRunner) -> None:
    # When the demo runs long enough to purge the idle account, with GraceReminderDays 3,1
    result = cli.invoke(
        app, ["simulate", "--days", "40", "--sweep-hours", "24", "-p", "GraceReminderDays=3,1"]
    )
    # Then both reminders appear before the deletion
    assert result.exit_code == 0, result.output
    assert "3-day reminder before deletion" in result.output
    assert "1-day reminder before deletion" in result.output
    assert result.output.index("1-day reminder before deletion") < result.output.index("free/deleted")
