"""The `sundown` command: run Sundown's lifecycle locally, on an embedded AWS."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from sundown_local.server import (
    CONTAINER_ENDPOINT,
    DEFAULT_ENDPOINT,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_STACK_NAME,
)

app = typer.Typer(
    help="Sundown: warn, suspend and purge idle SaaS accounts. Local tools.", no_args_is_help=True
)
console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True, soft_wrap=True)

EndpointOption = Annotated[str, typer.Option(help="Where `sundown local` listens.")]
StackNameOption = Annotated[str, typer.Option(help="The stack name `sundown local` deployed.")]


@app.callback()
def main() -> None:
    """Sundown's local tools: everything runs on a local AWS (moto), nothing reaches your account."""


@app.command()
def simulate(
    days: Annotated[int, typer.Option(min=1, max=400, help="How many days to replay.")] = 45,
    sweep_hours: Annotated[
        int, typer.Option(min=1, help="Hours between sweeps (the template's default is 1).")
    ] = 1,
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            "--parameter",
            "-p",
            help="A template parameter override, Name=Value (repeatable), e.g. -p GraceReminderDays=3,1.",
        ),
    ] = None,
) -> None:
    """Replay accounts, logins, billing events and sweeps through the template's wiring, and print the timeline."""
    from pydantic import ValidationError

    from sundown_local.embedded import embedded_stack, sent_emails
    from sundown_local.server import TEMPLATE
    from sundown_local.simulation import START
    from sundown_local.simulation import simulate as run
    from sundown_local.stack import LocalStack
    from sundown_local.template import load_template

    overrides = {}
    for item in parameter or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            err_console.print(f"[red]error:[/red] --parameter takes Name=Value, got {item!r}")
            raise typer.Exit(2)
        overrides[name] = value
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    quiet = {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"}
    try:  # checked as CloudFormation would, before anything starts
        LocalStack(load_template(TEMPLATE), parameter_overrides=overrides)
    except (KeyError, ValueError) as error:
        err_console.print(f"[red]error:[/red] {error.args[0]}")
        raise typer.Exit(2) from None
    with embedded_stack(parameter_overrides=overrides or None, function_env=quiet) as wiring:
        total = int(timedelta(days=days) / timedelta(hours=sweep_hours)) + 1
        with Progress(
            TextColumn("[bold]simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("", total=total)

            def on_tick(at: datetime) -> None:
                progress.update(task, advance=1, description=f"day {(at - START).days}")

            try:
                result = run(
                    wiring,
                    days,
                    sweep_every=timedelta(hours=sweep_hours),
                    sent_emails=sent_emails,
                    on_tick=on_tick,
                )
            except ValidationError as error:  # what each function would refuse at its first invocation
                err_console.print(f"[red]error:[/red] the functions refuse these settings: {error}")
                raise typer.Exit(2) from None

    timeline = Table(title=f"Timeline ({result.start:%Y-%m-%d} + {days} days)", show_lines=False)
    for column in ("day", "time (UTC)", "account", "what happened", "email sent"):
        timeline.add_column(column)
    for entry in result.timeline:
        timeline.add_row(
            str((entry.at - result.start).days),
            f"{entry.at:%Y-%m-%d %H:%M}",
            entry.account_id,
            entry.what,
            entry.email,
        )
    console.print(timeline)

    final = Table(title=f"Accounts on {result.end:%Y-%m-%d}")
    for column in (
        "account",
        "plan",
        "status",
        "last activity",
        "suspend at",
        "delete at",
        "warnings",
        "support",
    ):
        final.add_column(column)
    for account_id, view in result.accounts.items():
        final.add_row(
            account_id,
            view["plan"],
            view["status"],
            view.get("last_activity_at") or "-",
            view.get("suspend_at") or "-",
            view.get("delete_at") or "-",
            ", ".join(f"{w['days_before']}d" for w in view.get("warnings_sent", [])) or "-",
            "yes" if view["support"] else "no",
        )
    console.print(final)

    data = Table(
        title="Tenant data: seeded -> left (items / object versions / delete markers / unfinished uploads)"
    )
    for column in ("account", "status", "seeded", "left"):
        data.add_column(column)
    for account_id, seeded in result.seeded.items():
        left = result.left[account_id]
        data.add_row(
            account_id,
            result.accounts[account_id]["status"],
            " / ".join(seeded.as_row()),
            " / ".join(left.as_row()),
        )
    console.print(data)

    survivors = Table(title="Network IDs (an account purge never touches them)")
    for column in ("network id", "identity record", "files under network/<id>/"):
        survivors.add_column(column)
    for network_id, (present, files) in result.identities.items():
        survivors.add_row(network_id, "kept" if present else "GONE", str(files))
    console.print(survivors)

    for account_id, view in result.accounts.items():
        if view["status"] == "deleted":
            console.print(f"[bold]Deletion certificate for {account_id}[/bold]")
            console.print_json(data=view["certificate"])
    console.print(f"{len(result.emails)} emails sent through SES.")


# ---------------------------------------------------------------------- a long-running local stack


@app.command()
def local(
    port: Annotated[int, typer.Option(help="Port of the local AWS endpoint.")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = DEFAULT_HOST,
    stack_name: Annotated[str, typer.Option(help="Prefix of the generated resource names.")] = (
        DEFAULT_STACK_NAME
    ),
    log_requests: Annotated[bool, typer.Option(help="Print every AWS request the server answers.")] = False,
    ready_file: Annotated[
        Path | None, typer.Option(help="Write the endpoint here once the stack is deployed (for scripts).")
    ] = None,
) -> None:
    """Run a local AWS (moto's server) with template.yaml's tables, bucket and queues, until Ctrl-C."""
    from sundown_local.server import LocalStackUnavailable, start_local_stack

    with console.status(f"starting a local AWS on {host}:{port} and deploying template.yaml..."):
        try:
            server, stack = start_local_stack(port, host, stack_name, log_requests=log_requests)
        except LocalStackUnavailable as error:
            err_console.print(f"[red]error:[/red] {error}")
            raise typer.Exit(1) from None
    # Clients (the AWS CLI, `sundown invoke`) dial loopback when the server listens on every interface.
    endpoint = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    try:
        print_local_stack(stack, endpoint)
        if ready_file is not None:
            ready_file.write_text(endpoint + "\n", encoding="utf-8")
        console.print("\n[bold green]Ready.[/bold green] Press Ctrl-C to stop (the state lives in memory).")
        _block_until_interrupted()
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping the local AWS...")
        server.stop()
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)


def _block_until_interrupted() -> None:
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)  # `kill <pid>` stops it as cleanly as Ctrl-C
    try:
        while True:
            time.sleep(0.5)
    finally:
        signal.signal(signal.SIGTERM, previous)


def print_local_stack(stack: Any, endpoint: str) -> None:
    from sundown_local.server import resource_rows

    console.print(f"[bold]Local AWS endpoint:[/bold] {endpoint}   (region {stack.region}, fake credentials)")
    table = Table(title=f"Stack {stack.stack_name} (from template.yaml)")
    for column in ("logical id", "type", "physical name / queue URL"):
        table.add_column(column)
    for logical_id, kind, name in resource_rows(stack):
        table.add_row(logical_id, kind, name)
    console.print(table)
    accounts = stack.physical_names["AccountsTable"]
    bucket = stack.physical_names["DocumentsBucket"]
    dlq = stack.queue_urls["AccountEventsDLQ"]
    env_file = "env.json"
    if endpoint != DEFAULT_ENDPOINT or stack.stack_name != DEFAULT_STACK_NAME:
        env_file = "env.local.json"  # env.json is for the defaults; make one for this port / name
    port = endpoint.rsplit(":", 1)[-1]
    options = "" if endpoint == DEFAULT_ENDPOINT else f" --endpoint {endpoint}"
    if stack.stack_name != DEFAULT_STACK_NAME:
        options += f" --stack-name {stack.stack_name}"
    examples = [
        "# the AWS CLI needs credentials and a region; any will do:",
        "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1",
        f"aws --endpoint-url {endpoint} dynamodb scan --table-name {accounts}",
        f"aws --endpoint-url {endpoint} s3api get-bucket-versioning --bucket {bucket}",
        f"aws --endpoint-url {endpoint} sqs get-queue-attributes --queue-url {dlq} --attribute-names All",
        "# run a function in this machine's Python, against this stack (like `sam local invoke`, no Docker):",
        f"sundown invoke AccountEventsFunction -e events/account_created.json{options}",
        f"sundown invoke SweepFunction -e events/sweep_schedule.json{options}",
        f"sundown explain acme --at 2026-01-20T00:00:00Z{options}",
        "# or in SAM's Lambda containers (Docker): env.json holds each function's variables for this stack;",
        "# on Linux, start `sundown local --host 0.0.0.0` so that containers reach it through the bridge",
        *(
            []
            if env_file == "env.json"
            else [
                f"sundown env-json --endpoint-for-containers http://host.docker.internal:{port}"
                f"{' --stack-name ' + stack.stack_name if stack.stack_name != DEFAULT_STACK_NAME else ''}"
                f" > {env_file}"
            ]
        ),
        "sam build   # samconfig.toml adds --env-vars env.json --region us-east-1 and the host-gateway",
        "sam local invoke AccountEventsFunction -e events/account_created.json"
        + ("" if env_file == "env.json" else f" --env-vars {env_file}"),
    ]
    console.print("\n[bold]Try:[/bold]")
    for line in examples:
        console.print(Text(line, style="dim" if line.startswith("#") else "cyan"), soft_wrap=True)


# ---------------------------------------------------------------------- invoke one function


@app.command()
def invoke(
    function_id: Annotated[str, typer.Argument(help="The function's logical id in template.yaml.")],
    event: Annotated[
        Path,
        typer.Option(
            "--event", "-e", exists=True, dir_okay=False, help="JSON event file, e.g. events/*.json."
        ),
    ],
    endpoint: EndpointOption = DEFAULT_ENDPOINT,
    stack_name: StackNameOption = DEFAULT_STACK_NAME,
) -> None:
    """Invoke a function in this process against the running `sundown local` stack (no Docker)."""
    from sundown_local.runner import FakeContext, FunctionRunner

    stack = _attach(endpoint, stack_name)
    functions = sorted(stack.functions())
    if function_id not in functions:
        err_console.print(
            f"[red]error:[/red] {function_id} is not a function of template.yaml; one of: {', '.join(functions)}"
        )
        raise typer.Exit(2)
    try:
        payload = json.loads(event.read_text(encoding="utf-8"))
    except ValueError as error:
        err_console.print(f"[red]error:[/red] {event} is not JSON: {error}")
        raise typer.Exit(2) from None

    runner = FunctionRunner(stack)
    context = FakeContext(
        function_name=function_id, remaining_ms=stack.functions()[function_id]["timeout"] * 1000
    )
    output = io.StringIO()
    response: Any = None
    failure: str | None = None
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        try:
            with _captured_stdout(output):
                response = runner.invoke(function_id, payload, context)
        except Exception:  # noqa: BLE001 - any error of the handler is the result to show
            failure = traceback.format_exc()
    elapsed_ms = (time.monotonic() - started) * 1000

    console.print(f"[bold]{function_id}[/bold] <- {event}   ({elapsed_ms:.0f} ms, endpoint {endpoint})")
    console.rule("logs", style="dim")
    lines = [line for line in output.getvalue().splitlines() if line.strip()]
    for line in lines:
        console.print(Text(line, style="dim"), soft_wrap=True)
    if not lines:
        console.print(Text("(no log lines)", style="dim"))
    if failure is not None:
        console.rule("[red]error", style="red")
        err_console.print(Text(failure.rstrip(), style="red"), soft_wrap=True)
        raise typer.Exit(1)
    console.rule("response", style="dim")
    console.print_json(data=response, default=str)


@contextlib.contextmanager
def _captured_stdout(buffer: io.StringIO) -> Iterator[None]:
    """Capture what the function prints: print() and Powertools' JSON log lines.

    A Powertools Logger keeps the stream it was created with, so the handlers of loggers made earlier
    in this process are pointed at the buffer too, and put back afterwards.
    """
    handlers = [
        handler
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        if isinstance(logger, logging.Logger)
        for handler in logger.handlers
        if type(handler) is logging.StreamHandler and handler.stream not in (sys.stderr, sys.__stderr__)
    ]
    # Plain assignment, not setStream(): that flushes the old stream, which may be closed by now.
    previous = [handler.stream for handler in handlers]
    for handler in handlers:
        handler.stream = buffer
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.stream = stream
        # Loggers created during the call (the function's first import) write to the process's stdout.
        for logger in logging.Logger.manager.loggerDict.values():
            for handler in getattr(logger, "handlers", []):
                if type(handler) is logging.StreamHandler and handler.stream is buffer:
                    handler.stream = sys.__stdout__


def _attach(endpoint: str, stack_name: str) -> Any:
    """The running local stack's names, checked reachable; points this process's AWS SDK at it."""
    from sundown_local.server import LocalStackUnavailable, attached_stack, aws_environment, check_reachable

    stack = attached_stack(endpoint, stack_name)
    try:
        check_reachable(stack, endpoint)
    except LocalStackUnavailable as error:
        err_console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    os.environ.update(aws_environment(endpoint))
    os.environ.pop("AWS_PROFILE", None)
    return stack


# ---------------------------------------------------------------------- explain an account


@app.command()
def explain(
    account_id: Annotated[str, typer.Argument(help="The account to explain.")],
    at: Annotated[
        str | None,
        typer.Option(help="ISO time to evaluate at, e.g. 2026-01-20T00:00:00Z (default: the wall clock)."),
    ] = None,
    endpoint: EndpointOption = DEFAULT_ENDPOINT,
    stack_name: StackNameOption = DEFAULT_STACK_NAME,
) -> None:
    """Why an account of the running local stack is in its state, its next dates, and what a sweep would do."""
    from sundown.clock import parse_time
    from sundown.runtime import reset
    from sundown_local.explain import explain as run_explain
    from sundown_local.server import function_environment

    if at is None:
        when, source = datetime.now(UTC).replace(microsecond=0), "the wall clock (use --at to choose)"
    else:
        try:
            when, source = parse_time(at), "--at"
        except ValueError:
            err_console.print(f"[red]error:[/red] --at {at!r} is not an ISO time like 2026-01-20T00:00:00Z")
            raise typer.Exit(2) from None
    stack = _attach(endpoint, stack_name)
    os.environ.update(function_environment(stack, "AccountApiFunction", endpoint))
    reset()  # read the settings (tables, idle/grace days) of this environment
    result = run_explain(account_id, when)
    if result is None:
        err_console.print(
            f"[red]error:[/red] no account {account_id!r} in {stack.physical_names['AccountsTable']} on {endpoint}"
        )
        raise typer.Exit(1)

    view = result.view
    console.print(f"[bold]{account_id}[/bold] at {when:%Y-%m-%dT%H:%M:%SZ} (from {source})")
    summary = Table(show_header=False, box=None, padding=(0, 2))
    summary.add_row("plan", f"[bold]{view['plan']}[/bold]")
    summary.add_row("status", f"[bold]{view['status']}[/bold]")
    for key in ("last_activity_at", "suspend_at", "delete_at", "deleted_at"):
        if key in view:
            summary.add_row(key, view[key] or "-")
    summary.add_row("support", "yes" if view.get("support") else "no")
    console.print(summary)
    console.print("\n[bold]Why[/bold]")
    for reason in result.why:
        console.print(f"  - {reason}", soft_wrap=True)
    if result.next_dates:
        dates = Table(title="Next", title_justify="left", show_header=False, box=None, padding=(0, 2))
        for what, when_text in result.next_dates:
            dates.add_row(what, when_text)
        console.print()
        console.print(dates)
    console.print(
        f"\n[bold]A sweep at {when:%Y-%m-%dT%H:%M:%SZ} would:[/bold] {result.sweep}", soft_wrap=True
    )
    if result.certificate is not None:
        console.print("\n[bold]Deletion certificate[/bold]")
        console.print_json(data=result.certificate)


# ---------------------------------------------------------------------- env.json for sam local


@app.command("env-json")
def env_json_command(
    endpoint_for_containers: Annotated[
        str, typer.Option(help="How SAM's Lambda containers reach `sundown local` on this host.")
    ] = CONTAINER_ENDPOINT,
    stack_name: StackNameOption = DEFAULT_STACK_NAME,
) -> None:
    """Print `sam local invoke --env-vars` JSON: every function's variables resolved to the local stack.

    SAM CLI applies only the variables template.yaml declares for a function, so that is all this
    prints: the table, bucket and queue names, and AWS_ENDPOINT_URL (declared empty in the template,
    which botocore treats as unset in AWS). The credentials and region SAM gives the containers come
    from `sam`'s side: samconfig.toml sets `--region us-east-1` for `sam local`; any credentials do.
    """
    from sundown_local.server import env_json

    if not sys.stdout.isatty():
        err_console.print(
            "[dim]note: the local stack is in us-east-1 (samconfig.toml sets it for `sam local`); "
            "any credentials do[/dim]"
        )
    sys.stdout.write(
        json.dumps(env_json(endpoint_for_containers, stack_name), indent=2, sort_keys=True) + "\n"
    )


if __name__ == "__main__":
    app()
