#!/usr/bin/env python3
"""`sam local invoke --env-vars env.json` against `sundown local`, checked without Docker.

Run by ``make sam-local`` (part of ``make test``) with the SAM CLI's own virtualenv, after ``make build``:

1. **The local stack.** ``sundown local`` (the project's CLI) starts on a free 127.0.0.1 port with the
   stack name env.json was generated for.
2. **The environment SAM CLI gives each container.** SAM CLI's own code (``LocalLambdaRunner``'s invoke
   config, what ``sam local invoke`` builds the container from) resolves every built function's
   variables from the built template and the env_vars file and region that samconfig.toml's
   ``[default.local_invoke.parameters]`` give a bare ``sam local invoke`` (env.json, us-east-1, with
   the host-gateway mapping a Linux container needs; all three are required). It fails
   when env.json sets a variable SAM would drop (the template does not declare it), when a value does
   not arrive, or when a function would not get AWS_ENDPOINT_URL (its SDK would then call AWS itself).
3. **The invocation.** Each built handler in ``INVOCATIONS`` runs on python3.12 ``-I -S`` with Lambda's
   sys.path (the built function and layer, then the runtime's boto3) and exactly that environment, the
   container's ``host.docker.internal`` replaced by 127.0.0.1 (what Docker's host-gateway mapping does).
   An AccountCreated event goes to AccountEventsFunction; the account must then be in the local stack's
   table, GET /accounts/acme on AccountApiFunction must answer 200 with it, and the sample sweep (a
   month later) must find it in the due index and send its warning through SES.

Exit status: 0 all good, 1 a check failed, 2 no usable python3.12 or no build.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import build_and_smoke as bs
from build_and_smoke import SmokeError

REPO_ROOT = bs.REPO_ROOT
REGION = "us-east-1"  # the local stack's region
CONTAINER_HOST = "host.docker.internal"
READY_TIMEOUT_S = 120
# (function, event file), in order; response_problems says what each must leave behind
INVOCATIONS = [
    ("AccountEventsFunction", "events/account_created.json"),
    ("AccountApiFunction", "events/api_get_account.json"),
    ("SweepFunction", "events/sweep_schedule.json"),  # the due index, and an email through SES
]
ACCOUNT_ID = "acme"  # the account the events name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def local_invoke_defaults(samconfig: Path) -> tuple[Path, str]:
    """(env_vars file, region) that a bare `sam local invoke` takes from samconfig.toml.

    They must be there, with the host-gateway mapping a Linux container needs to reach the local stack,
    so that the README's plain `sam local invoke <Function> -e <event>` is the command checked here.
    """
    import tomllib

    section = tomllib.loads(samconfig.read_text(encoding="utf-8")).get("default", {}).get("local_invoke", {})
    params = section.get("parameters", {})
    missing = [
        f"{key} = {want}"
        for key, want, ok in (
            ("env_vars", '"env.json"', bool(params.get("env_vars"))),
            ("region", f'"{REGION}"', params.get("region") == REGION),
            (
                "add_host",
                f'["{CONTAINER_HOST}:host-gateway"]',
                f"{CONTAINER_HOST}:host-gateway" in params.get("add_host", []),
            ),
        )
        if not ok
    ]
    if missing:
        raise SmokeError(f"{samconfig.name} [default.local_invoke.parameters] needs: {', '.join(missing)}")
    return samconfig.parent / params["env_vars"], params["region"]


def stack_name_of(env_json: dict[str, dict[str, str]]) -> str:
    """The stack name env.json was generated for, read off its Accounts table name (<stack>-AccountsTable)."""
    names = {variables.get("ACCOUNTS_TABLE", "") for variables in env_json.values()}
    if len(names) != 1 or not next(iter(names)).endswith("-AccountsTable"):
        raise SmokeError(f"env.json names no single <stack>-AccountsTable (ACCOUNTS_TABLE values: {names})")
    return next(iter(names)).removesuffix("-AccountsTable")


@contextmanager
def sundown_local(sundown: Path, stack_name: str, scratch: Path) -> Iterator[str]:
    """`sundown local` on a free port until the block ends; yields its endpoint."""
    ready = scratch / "sundown-local.ready"
    ready.unlink(missing_ok=True)
    log = scratch / "sundown-local.log"
    port = free_port()
    command = [
        str(sundown),
        "local",
        "--port",
        str(port),
        "--stack-name",
        stack_name,
        "--ready-file",
        str(ready),
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"}
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SmokeError(f"`{' '.join(command)}` did not come up:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield ready.read_text().strip()
    finally:
        proc.send_signal(signal.SIGTERM)  # `sundown local` stops cleanly on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def sam_environments(
    built_template: Path, env_json: dict[str, Any], region: str
) -> dict[str, dict[str, str]]:
    """Per function: the environment SAM CLI would give its container for `--env-vars env.json`."""
    from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(str(built_template))
    provider = SamFunctionProvider(stacks)
    runner = LocalLambdaRunner(
        local_runtime=None,  # type: ignore[arg-type]  # only the invoke configuration is asked for
        function_provider=provider,
        cwd=str(built_template.parent),
        real_path=str(REPO_ROOT),
        aws_region=region,
        env_vars_values=env_json,
    )
    return {
        function.name: runner.get_invoke_config(function).env_vars.resolve()
        for function in provider.get_all()
    }


def environment_problems(
    env_json: dict[str, dict[str, str]], resolved: dict[str, dict[str, str]]
) -> list[str]:
    """What `sam local invoke --env-vars env.json` would not deliver to a function as env.json says."""
    problems = []
    for function_id, environment in sorted(resolved.items()):
        wanted = env_json.get(function_id)
        if wanted is None:
            problems.append(f"env.json has no entry for {function_id}: run `sundown env-json > env.json`")
            continue
        for name, value in sorted(wanted.items()):
            if name not in environment:
                problems.append(
                    f"{function_id}: env.json sets {name}, which template.yaml does not declare for it, "
                    "so SAM CLI drops it"
                )
            elif environment[name] != value:
                problems.append(
                    f"{function_id}: {name} arrives as {environment[name]!r}, env.json says {value!r}"
                )
        if not environment.get("AWS_ENDPOINT_URL"):
            problems.append(
                f"{function_id}: its container gets no AWS_ENDPOINT_URL, so its SDK would call AWS itself "
                "(declare AWS_ENDPOINT_URL in template.yaml and regenerate env.json)"
            )
    for function_id in sorted(set(env_json) - set(resolved)):
        problems.append(f"env.json names {function_id}, which is not a function of the built template")
    return problems


def on_this_host(environment: dict[str, str], endpoint: str) -> dict[str, str]:
    """The container's environment as seen from this host: host.docker.internal:<port> is our endpoint."""
    pattern = re.compile(rf"http://{re.escape(CONTAINER_HOST)}:\d+")
    return {name: pattern.sub(endpoint, value) for name, value in environment.items()}


def account_item(endpoint: str, table: str) -> dict[str, Any] | None:
    import boto3

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return dynamodb.get_item(TableName=table, Key={"account_id": {"S": ACCOUNT_ID}}).get("Item")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", type=Path, default=REPO_ROOT / ".aws-sam" / "build")
    ap.add_argument("--samconfig", type=Path, default=REPO_ROOT / "samconfig.toml")
    ap.add_argument("--env-json", type=Path, help="instead of samconfig.toml's local_invoke env_vars")
    ap.add_argument("--sundown", type=Path, default=REPO_ROOT / ".venv" / "bin" / "sundown")
    ap.add_argument("--python", help="the python3.12 to use (default: scripts/find-python312)")
    args = ap.parse_args(argv)
    build_dir = args.build_dir.resolve()
    built_template = build_dir / "template.yaml"
    if not built_template.is_file():
        print(f"error: no build in {build_dir}: run `make build` first", file=sys.stderr)
        return 2
    if not args.sundown.is_file():
        print(f"error: {args.sundown} not found: run `make venv` first", file=sys.stderr)
        return 2
    work = build_dir.parent / "smoke"
    work.mkdir(parents=True, exist_ok=True)
    python = (
        bs.build_python_dir(bs.find_python312(args.python or os.environ.get("PYTHON312")), work)
        / "python3.12"
    )

    # SAM CLI takes credentials and region from this process; it must see none of the shell's AWS setup.
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

    failures: list[str] = []
    summary: list[str] = []
    try:
        env_file, region = local_invoke_defaults(args.samconfig)
        env_json = json.loads((args.env_json or env_file).read_text(encoding="utf-8"))
        resolved = sam_environments(built_template, env_json, region)
        problems = environment_problems(env_json, resolved)
        if problems:
            failures += problems
            raise SmokeError(
                "nothing was invoked: env.json and what SAM CLI would give the containers disagree"
            )
        summary.append(
            f"SAM CLI's invoke configuration gives all {len(resolved)} functions env.json's variables, "
            f"AWS_ENDPOINT_URL={next(iter(resolved.values()))['AWS_ENDPOINT_URL']} among them"
        )
        _, layers, functions = bs.read_build(build_dir)
        layer_dirs_for, _, _, layer_problems = bs.loadable_layers(layers, python, work)
        failures += layer_problems
        runtime_dir = bs.runtime_packages(python, work / "lambda-runtime")
        home = work / "home"
        home.mkdir(exist_ok=True)
        by_id = {fn.logical_id: fn for fn in functions}

        with (
            tempfile.TemporaryDirectory() as scratch,
            sundown_local(args.sundown, stack_name_of(env_json), Path(scratch)) as endpoint,
        ):
            summary.append(f"sundown local: {endpoint}")
            for function_id, event_file in INVOCATIONS:
                fn = by_id[function_id]
                environment = {
                    **bs.lambda_env(fn, [layers[lid] for lid in fn.layers], runtime_dir, home),
                    **on_this_host(resolved[function_id], endpoint),
                }
                result = bs.smoke_import(
                    python,
                    fn.code_dir,
                    [d for lid in fn.layers for d in layer_dirs_for[lid]],
                    runtime_dir,
                    fn.handler,
                    environment,
                    label=function_id,
                    pycache=home / "pycache",
                    event=json.loads((REPO_ROOT / event_file).read_text(encoding="utf-8")),
                )
                if not result.ok:
                    tail = "\n  ".join(result.output.splitlines()[-12:])
                    raise SmokeError(f"{function_id} <- {event_file}: {result.error}\n  {tail}")
                summary.append(f"{function_id} <- {event_file}: {json.dumps(result.response)[:160]}")
                failures += response_problems(function_id, result.response, endpoint, environment)
    except SmokeError as exc:
        failures.append(str(exc))

    return bs.report("sam local invoke --env-vars env.json, minus Docker", summary, failures)


def response_problems(
    function_id: str, response: Any, endpoint: str, environment: dict[str, str]
) -> list[str]:
    """What the local stack must show after each invocation."""
    if function_id == "AccountEventsFunction":
        item = account_item(endpoint, environment["ACCOUNTS_TABLE"])
        if item is None:
            return [
                f"AccountEventsFunction ran, but {ACCOUNT_ID!r} is not in {environment['ACCOUNTS_TABLE']}"
            ]
        return []
    if function_id == "AccountApiFunction":
        if not isinstance(response, dict) or response.get("statusCode") != 200:
            return [f"GET /accounts/{ACCOUNT_ID} answered {response!r}, not 200"]
        body = json.loads(response.get("body") or "{}")
        if body.get("account_id") != ACCOUNT_ID:
            return [f"GET /accounts/{ACCOUNT_ID} answered another account: {body!r}"]
        return []
    if function_id == "SweepFunction":
        totals = response.get("totals") if isinstance(response, dict) else None
        if totals != {"warned": 1}:
            return [f"the sample sweep should have warned {ACCOUNT_ID!r} once; it answered {response!r}"]
        return []
    return [f"no check of {function_id}'s response"]


if __name__ == "__main__":
    sys.exit(main())
