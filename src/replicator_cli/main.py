"""`replicator`: the replicator's command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from . import backfill, coverage, mappings, reconcile, reindex, retention, retry, status
from .context import DEFAULT_STACK, CliContext

app = typer.Typer(
    help=(
        "RDS and Aurora snapshot replicator: manage region mappings, watch replications, and run the whole "
        "application locally. Works against AWS (--profile, --region; tables found from the stack's outputs) "
        "and against a local endpoint (AWS_ENDPOINT_URL)."
    ),
    no_args_is_help=True,
)
local_app = typer.Typer(
    help="Run the whole application (template, handlers, state machine) on moto, on 127.0.0.1.",
    no_args_is_help=True,
)
app.add_typer(local_app, name="local")
app.add_typer(mappings.app, name="mappings")
app.command("status")(status.status)
app.command("prune")(retention.prune)
app.command("backfill")(backfill.backfill)
app.command("coverage")(coverage.coverage)
app.command("retry")(retry.retry)
app.command("reconcile")(reconcile.reconcile)
app.command("reindex")(reindex.reindex)


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[str | None, typer.Option("--profile", help="AWS profile (default: the usual chain)")] = None,
    region: Annotated[str | None, typer.Option("--region", help="The stack's region (default: AWS_REGION)")] = None,
    stack_name: Annotated[
        str, typer.Option("--stack-name", envvar="REPLICATOR_STACK", help="Stack whose outputs name the tables")
    ] = DEFAULT_STACK,
    mapping_table: Annotated[
        str | None, typer.Option("--mapping-table", envvar="REPLICATOR_MAPPING_TABLE", help="Mapping table name")
    ] = None,
    history_table: Annotated[
        str | None, typer.Option("--history-table", envvar="REPLICATOR_HISTORY_TABLE", help="History table name")
    ] = None,
    slots_table: Annotated[
        str | None, typer.Option("--slots-table", envvar="REPLICATOR_SLOTS_TABLE", help="Copy slots table name")
    ] = None,
    state_machine_arn: Annotated[
        str | None,
        typer.Option(
            "--state-machine-arn", envvar="REPLICATOR_STATE_MACHINE_ARN", help="The replication state machine"
        ),
    ] = None,
    external_id: Annotated[
        str | None,
        typer.Option("--external-id", envvar="REPLICATOR_EXTERNAL_ID", help="The stack's ExternalId (mappings check)"),
    ] = None,
) -> None:
    # the use cases the CLI shares with the Lambdas publish metrics as EMF lines on stdout, which only Lambda's log
    # ingestion turns into metrics: from the command line they would only clutter its output
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    ctx.obj = CliContext(profile, region, stack_name, mapping_table, history_table, slots_table, state_machine_arn)
    ctx.obj.configure()
    if external_id:
        os.environ["EXTERNAL_ID"] = external_id  # what the target roles require, as the Lambdas give it


def _print_table(result: object, title: str) -> None:
    from .local.scenario import ScenarioResult

    if not isinstance(result, ScenarioResult):
        raise TypeError(f"expected a ScenarioResult, not {type(result).__name__}")
    table = Table(title=title, show_lines=False)
    for column in ("snapshot", "kind", "target", "status", "expected", "replica / reason"):
        table.add_column(column, overflow="fold")
    for o in result.outcomes:
        target = f"{o.target_account or '-'} / {o.target_region or '-'}"
        detail = o.replica_arn or o.reason
        if o.replica_encrypted is not None:
            detail += " (encrypted)" if o.replica_encrypted else " (unencrypted)"
        mark = "" if o.met is None else ("[green]yes[/]" if o.met else "[red]NO[/]")
        style = {"SUCCEEDED": "green", "FAILED": "red", "SKIPPED": "yellow"}.get(o.status, "")
        table.add_row(
            o.snapshot, o.kind or "-", target, f"[{style}]{o.status}[/]", f"{o.expected or ''} {mark}", detail
        )
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
    for missing in result.missing:
        console.print(
            f"[red]missing outcome[/]: {missing.snapshot} -> {missing.target_region} ({missing.status} expected)"
        )
    for leftover in result.leftovers:
        console.print(f"[red]intermediate copy left behind[/]: {leftover}")
    for error in result.async_errors:
        console.print(f"[red]handler error[/]: {error}")
    verdict = (
        "[green]every expected outcome happened[/]" if result.ok else "[red]some expected outcomes did not happen[/]"
    )
    console.print(verdict)


@local_app.command("demo")
def demo() -> None:
    """Run the built-in demo scenario (scenarios/demo.yaml) and print a table of outcomes; exit 1 if any is wrong."""
    from .local.cloud import find_root
    from .local.scenario import run_scenario

    path = find_root() / "scenarios" / "demo.yaml"
    result = run_scenario(path, log_level="ERROR")
    _print_table(result, "Snapshot replication demo (moto on 127.0.0.1)")
    raise typer.Exit(0 if result.ok else 1)


@local_app.command("run")
def run(
    scenario: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Scenario file (YAML), see README")],
    table: Annotated[bool, typer.Option("--table", help="Print a table instead of JSON lines")] = False,
) -> None:
    """Run a scenario file and print one JSON line per outcome; exit 1 if an expected outcome did not happen."""
    from .local.scenario import run_scenario

    result = run_scenario(scenario, log_level="ERROR")
    if table:
        _print_table(result, f"Scenario {scenario}")
    else:
        for outcome in result.outcomes:
            typer.echo(outcome.model_dump_json())
        for missing in result.missing:
            typer.echo(f'{{"missing": {missing.model_dump_json()}}}')
        for leftover in result.leftovers:
            typer.echo(f'{{"leftover": "{leftover}"}}')
    raise typer.Exit(0 if result.ok else 1)


if __name__ == "__main__":
    app()
