"""The `sundown` command: run Sundown's lifecycle locally, on an embedded AWS."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

app = typer.Typer(
    help="Sundown: warn, suspend and purge idle SaaS accounts. Local tools.", no_args_is_help=True
)
console = Console(width=None if Console().is_terminal else 160)


@app.callback()
def main() -> None:
    """Sundown's local tools: everything runs on an embedded AWS, nothing reaches your account."""


@app.command()
def simulate(
    days: Annotated[int, typer.Option(min=1, max=400, help="How many days to replay.")] = 45,
    sweep_hours: Annotated[
        int, typer.Option(min=1, help="Hours between sweeps (the template's default is 1).")
    ] = 1,
) -> None:
    """Replay accounts, logins, billing events and sweeps through the template's wiring, and print the timeline."""
    from sundown_local.embedded import embedded_stack, sent_emails
    from sundown_local.simulation import START
    from sundown_local.simulation import simulate as run

    warnings.filterwarnings("ignore", message="No application metrics to publish")
    quiet = {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"}
    with embedded_stack(function_env=quiet) as wiring:
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

            result = run(
                wiring,
                days,
                sweep_every=timedelta(hours=sweep_hours),
                sent_emails=sent_emails,
                on_tick=on_tick,
            )

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


if __name__ == "__main__":
    app()
