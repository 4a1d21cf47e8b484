"""scripts/sam_local_invoke.py: the pure checks behind `make sam-local`, on small synthetic environments.

`make sam-local` itself resolves the environments with SAM CLI's own code and invokes the built handlers
against `sundown local`; these tests pin down how it judges what SAM would deliver.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))  # the script imports build_and_smoke from its own folder
_spec = importlib.util.spec_from_file_location("sam_local_invoke", SCRIPTS / "sam_local_invoke.py")
assert _spec and _spec.loader
sli: Any = importlib.util.module_from_spec(_spec)
sys.modules["sam_local_invoke"] = sli
_spec.loader.exec_module(sli)

ENDPOINT = "http://host.docker.internal:4566"


def _env_json() -> dict[str, dict[str, str]]:
    return {"SweepFunction": {"ACCOUNTS_TABLE": "sundown-local-AccountsTable", "AWS_ENDPOINT_URL": ENDPOINT}}


def test_delivered_environment_has_no_problems() -> None:
    # Given SAM delivers every variable env.json sets, plus its own AWS_* variables
    resolved = {"SweepFunction": {**_env_json()["SweepFunction"], "AWS_REGION": "us-east-1"}}
    # Then nothing is reported
    assert sli.environment_problems(_env_json(), resolved) == []


def test_a_variable_the_template_does_not_declare_is_reported_as_dropped() -> None:
    # Given env.json sets a variable SAM did not deliver (the template does not declare it)
    env_json = _env_json()
    env_json["SweepFunction"]["EXTRA"] = "x"
    resolved = {"SweepFunction": dict(_env_json()["SweepFunction"])}
    # When the environments are compared
    problems = sli.environment_problems(env_json, resolved)
    # Then the dropped variable is named
    assert problems == [
        "SweepFunction: env.json sets EXTRA, which template.yaml does not declare for it, so SAM CLI drops it"
    ]


def test_a_function_without_the_endpoint_is_reported() -> None:
    # Given a template that does not declare AWS_ENDPOINT_URL: SAM drops env.json's value
    resolved = {"SweepFunction": {"ACCOUNTS_TABLE": "sundown-local-AccountsTable"}}
    # When the environments are compared
    problems = sli.environment_problems(_env_json(), resolved)
    # Then both the dropped variable and the missing endpoint are reported
    assert any("env.json sets AWS_ENDPOINT_URL" in p for p in problems)
    assert any("gets no AWS_ENDPOINT_URL, so its SDK would call AWS itself" in p for p in problems)


def test_a_value_that_arrives_changed_and_a_missing_entry_are_reported() -> None:
    # Given SAM delivers another table name, and a function env.json has no entry for
    resolved = {
        "SweepFunction": {"ACCOUNTS_TABLE": "AccountsTable", "AWS_ENDPOINT_URL": ENDPOINT},
        "PurgeWorkerFunction": {"AWS_ENDPOINT_URL": ""},
    }
    # When the environments are compared
    problems = sli.environment_problems(_env_json(), resolved)
    # Then both are named
    assert "env.json has no entry for PurgeWorkerFunction: run `sundown env-json > env.json`" in problems
    assert (
        "SweepFunction: ACCOUNTS_TABLE arrives as 'AccountsTable', env.json says 'sundown-local-AccountsTable'"
        in problems
    )


def test_the_container_endpoint_becomes_this_hosts_endpoint_everywhere() -> None:
    # Given a container environment naming host.docker.internal in the endpoint and a queue URL
    environment = {
        "AWS_ENDPOINT_URL": ENDPOINT,
        "PURGE_QUEUE_URL": f"{ENDPOINT}/123456789012/sundown-local-PurgeQueue",
        "ACCOUNTS_TABLE": "sundown-local-AccountsTable",
    }
    # When it is seen from this host
    local = sli.on_this_host(environment, "http://127.0.0.1:50123")
    # Then both point at the local endpoint and the rest is untouched
    assert local == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:50123",
        "PURGE_QUEUE_URL": "http://127.0.0.1:50123/123456789012/sundown-local-PurgeQueue",
        "ACCOUNTS_TABLE": "sundown-local-AccountsTable",
    }


def test_the_stack_name_is_read_off_the_accounts_table() -> None:
    assert sli.stack_name_of(_env_json()) == "sundown-local"
    with pytest.raises(sli.SmokeError, match="no single <stack>-AccountsTable"):
        sli.stack_name_of(
            {"A": {"ACCOUNTS_TABLE": "x-AccountsTable"}, "B": {"ACCOUNTS_TABLE": "y-AccountsTable"}}
        )


def test_the_committed_env_json_names_the_default_local_stack() -> None:
    import json

    committed = json.loads((SCRIPTS.parent / "env.json").read_text(encoding="utf-8"))
    assert sli.stack_name_of(committed) == "sundown-local"


def test_the_committed_samconfig_gives_a_bare_sam_local_invoke_what_it_needs() -> None:
    # Given the repository's samconfig.toml
    env_file, region = sli.local_invoke_defaults(SCRIPTS.parent / "samconfig.toml")
    # Then `sam local invoke <Function> -e <event>` alone uses env.json, in the local stack's region
    assert (env_file.name, region) == ("env.json", "us-east-1")


def test_a_samconfig_without_the_local_invoke_defaults_is_refused(tmp_path: Path) -> None:
    # Given a samconfig.toml whose local_invoke section only names env.json
    config = tmp_path / "samconfig.toml"
    config.write_text('version = 0.1\n[default.local_invoke.parameters]\nenv_vars = "env.json"\n')
    # Then the check names what is missing
    with pytest.raises(
        sli.SmokeError, match=r'region = "us-east-1", add_host = \["host.docker.internal:host-gateway"\]'
    ):
        sli.local_invoke_defaults(config)
