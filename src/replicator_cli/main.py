"""`replicator`: the replicator's command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from typer._click.core import ParameterSource  # typer vendors click and exports no public name for it

from . import (
    backfill,
    coverage,
    local_cloud,
    mappings,
    reconcile,
    reindex,
    restore_tests,
    retention,
    retry,
    status,
    validation,
)
from .context import DEFAULT_STACK, CliContext, CliError, OutputFormat, get_context
from .errors import TranslatedErrors

if TYPE_CHECKING:  # the emulation's modules load moto: imported by the local commands only when they run
    from .local.scenario import ScenarioResult

app = typer.Typer(
    cls=TranslatedErrors,
    pretty_exceptions_enable=False,
    help=(
        "RDS and Aurora snapshot replicator: manage region mappings, watch replications, and run the whole "
        "application locally. Works against AWS (--profile, --region; tables found from the stack's outputs) "
        "and against a local endpoint (AWS_ENDPOINT_URL)."
    ),
    no_args_is_help=True,
)
EMULATION_MISSING = (
    "`replicator local` runs the embedded emulation, an optional extra of the package: "
    "pip install 'rds-snapshot-replicator[local]' (make demo and make test install it)"
)


def _emulation_installed(ctx: typer.Context) -> None:
    """The local commands need the emulation's packages (moto, SAM's translator): without them, say how to get them."""
    if ctx.resilient_parsing:  # shell completion
        return
    try:
        import moto  # noqa: F401
        import samtranslator  # noqa: F401
    except ImportError as missing:
        raise CliError(EMULATION_MISSING) from missing


local_app = typer.Typer(
    help="Run the whole application (template, handlers, state machine) on moto, on 127.0.0.1.",
    no_args_is_help=True,
    callback=_emulation_installed,
)
app.add_typer(local_app, name="local")
local_app.command("start")(local_cloud.start)
local_app.command("stop")(local_cloud.stop)
local_app.command("env")(local_cloud.env)
app.add_typer(mappings.app, name="mappings")
app.command("status")(status.status)
app.command("prune")(retention.prune)
app.command("backfill")(backfill.backfill)
app.command("coverage")(coverage.coverage)
app.command("retry")(retry.retry)
app.command("reconcile")(reconcile.reconcile)
app.command("reindex")(reindex.reindex)
app.add_typer(restore_tests.app, name="restore-test")


def _print_version(value: bool | None) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as installed

        try:
            typer.echo(f"replicator {installed('rds-snapshot-replicator')}")
        except PackageNotFoundError:
            typer.echo("replicator (not installed as a package)")
        raise typer.Exit(0)


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[str | None, typer.Option("--profile", help="AWS profile (default: the usual chain)")] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", callback=validation.region, help="The stack's region (default: AWS_REGION)"),
    ] = None,
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
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--output", "-o", envvar="REPLICATOR_OUTPUT", help="Results as a table (for people), json or yaml"
        ),
    ] = OutputFormat.table,
    debug: Annotated[
        bool, typer.Option("--debug", help="Tracebacks and the functions' debug logs (on stderr)")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="The functions' logs (INFO and above, on stderr) where they run here"),
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colors (also when NO_COLOR is set)")] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit"),
    ] = None,
) -> None:
    # the use cases the CLI shares with the Lambdas publish metrics as EMF lines on stdout, which only Lambda's log
    # ingestion turns into metrics: from the command line they would only clutter its output
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    if no_color:
        os.environ["NO_COLOR"] = "1"
    ctx.obj = CliContext(
        profile,
        region,
        stack_name,
        mapping_table,
        history_table,
        slots_table,
        state_machine_arn,
        output,
        debug,
        verbose,
    )
    ctx.obj.configure()
    if external_id:
        os.environ["EXTERNAL_ID"] = external_id  # what the target roles require, as the Lambdas give it


def _short(text: str, room: int, wide: bool) -> str:
    """`text` within `room` characters (an ellipsis in the middle keeps an ARN's or a name's both ends)."""
    if wide or len(text) <= room:
        return text
    head = (room - 1) // 2
    return f"{text[:head]}…{text[-(room - 1 - head) :]}"


def _print_table(result: ScenarioResult, title: str, wide: bool = False) -> None:
    """The outcomes in one table that fits 120 columns (names and reasons shortened; `wide`: in full), then what
    went wrong, if anything, and a one-line verdict."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    table.add_column("snapshot [dim](type)[/]", no_wrap=not wide, max_width=None if wide else 24)
    table.add_column("target [dim](path)[/]", max_width=None if wide else 28)
    table.add_column("status", no_wrap=True)
    table.add_column("replica / reason", overflow="fold")
    for o in result.outcomes:
        if o.replica_arn:
            detail = o.replica_arn if wide else o.replica_arn.rsplit(":", 1)[-1]
            if o.replica_encrypted is not None:
                detail += " (encrypted)" if o.replica_encrypted else " (unencrypted)"
        else:
            detail = o.reason if wide or len(o.reason) <= 110 else f"{o.reason[:109]}…"  # in full with --wide
        mark = "" if o.met is None else (" [green]✓[/]" if o.met else f" [red]✗ expected {o.expected}[/]")
        style = {"SUCCEEDED": "green", "FAILED": "red", "SKIPPED": "yellow"}.get(o.status, "")
        table.add_row(
            f"{_short(o.snapshot, 24, wide)}\n[dim]{o.snapshot_type or '-'}[/]",
            f"{o.target_account or '-'}/{o.target_region or '-'}\n[dim]{o.path or 'nothing copied'}[/]",
            f"[{style}]{o.status}[/]{mark}",
            detail,
        )
    console = Console(width=None if wide and sys.stdout.isatty() else (250 if wide else 120))
    console.print(table)
    if result.restore_tests:
        console.print(_restore_table(result, wide))
    _print_problems(result, console)
    console.print(_verdict(result))


def _restore_table(result: ScenarioResult, wide: bool) -> Table:
    """The restore tests the scheduler ran after the replications: what was restored where, how long it took."""
    table = Table(
        title="Restore tests (the scheduler's run after the replications)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("database [dim](restored as)[/]", no_wrap=True)
    table.add_column("target", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("restore time / reason", overflow="fold")
    for t in result.restore_tests:
        mark = "" if t.met is None else (" [green]✓[/]" if t.met else f" [red]✗ expected {t.expected}[/]")
        style = {"SUCCEEDED": "green", "FAILED": "red", "SKIPPED": "yellow"}.get(t.status, "")
        restored = f"{t.kind or '-'}, {t.instance_class}" if t.instance_class else "-"
        reason = t.reason if wide or len(t.reason) <= 110 else f"{t.reason[:109]}…"
        table.add_row(
            f"{t.database}\n[dim]{restored}[/]",
            f"{t.target_account}/{t.target_region}",
            f"[{style}]{t.status}[/]{mark}",
            reason,
        )
    return table


def _print_problems(result: ScenarioResult, console: Console, *, data_says_it: bool = False) -> None:
    """What went wrong: expected outcomes that did not happen and intermediate copies left behind (unless the data
    printed says so already), handler errors."""
    for missing in [] if data_says_it else result.missing:
        console.print(
            f"[red]missing outcome[/]: {missing.snapshot} -> {missing.target_region} ({missing.status} expected)"
        )
    for leftover in [] if data_says_it else result.leftovers:
        console.print(f"[red]intermediate copy left behind[/]: {leftover}")
    for test in [] if data_says_it else result.missing_restore_tests:
        console.print(f"[red]missing restore test[/]: {test.database} -> {test.target_region} ({test.status} expected)")
    for leftover in [] if data_says_it else result.restore_leftovers:
        console.print(f"[red]restore-test database left behind[/]: {leftover}")
    for error in result.async_errors:
        console.print(f"[red]handler error[/]: {error}", highlight=False)


def _verdict(result: ScenarioResult) -> str:
    met = sum(1 for o in result.outcomes if o.met) + sum(1 for t in result.restore_tests if t.met)
    expected = sum(1 for o in result.outcomes if o.met is not None) + len(result.missing)
    expected += sum(1 for t in result.restore_tests if t.met is not None) + len(result.missing_restore_tests)
    return (
        f"[green]{met} of {expected} expected outcomes: every expected outcome happened[/]"
        if result.ok
        else f"[red]{met} of {expected} expected outcomes: some expected outcomes did not happen[/]"
    )


def _as_items(result: ScenarioResult) -> list[dict[str, object]]:
    """A scenario's result as data (the JSON lines' objects): one per outcome, then {"missing": expectation} per
    expected outcome that did not happen and {"leftover": snapshot} per intermediate copy left behind."""
    items: list[dict[str, object]] = [o.model_dump(mode="json") for o in result.outcomes]
    items += [{"missing": m.model_dump(mode="json")} for m in result.missing]
    items += [{"leftover": leftover} for leftover in result.leftovers]
    items += [{"restore_test": t.model_dump(mode="json")} for t in result.restore_tests]
    items += [{"missing_restore_test": m.model_dump(mode="json")} for m in result.missing_restore_tests]
    items += [{"restore_leftover": leftover} for leftover in result.restore_leftovers]
    return items


def _print_outcomes(ctx: typer.Context, result: ScenarioResult, title: str, wide: bool, json_lines: bool) -> None:
    """The outcomes on stdout: JSON lines, or as the global --output says (a table: _print_table; json / yaml: the
    JSON lines' objects as one document; csv: the outcomes, one row each); what went wrong also on stderr."""
    cli = get_context(ctx)
    if json_lines:
        for item in _as_items(result):
            typer.echo(json.dumps(item, separators=(",", ":")))
    elif cli.output is OutputFormat.csv:
        cli.emit([o.model_dump(mode="json") for o in result.outcomes])
    else:
        cli.emit(_as_items(result), table=lambda _console: _print_table(result, title, wide))
    if json_lines or cli.machine_output:
        _print_problems(result, cli.err, data_says_it=cli.output is not OutputFormat.csv)
        cli.err.print(_verdict(result), highlight=False)


def _output_given(ctx: typer.Context) -> bool:
    """Whether --output (or REPLICATOR_OUTPUT) was given, rather than left to its default."""
    source = ctx.find_root().get_parameter_source("output")
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


@local_app.command("demo")
def demo(
    ctx: typer.Context,
    wide: Annotated[bool, typer.Option("--wide", help="Full snapshot names, replica ARNs and reasons")] = False,
) -> None:
    """Run the built-in demo scenario (scenarios/demo.yaml) and print a table of outcomes; exit 1 if any is wrong.

    --output json / yaml: the outcomes as data (one document); csv: one row per outcome.
    """
    from .local.cloud import find_root
    from .local.scenario import run_scenario

    path = find_root() / "scenarios" / "demo.yaml"
    result = run_scenario(path, log_level=get_context(ctx).log_level)
    title = "Snapshot replication demo: the real rules, handlers and state machine on moto (127.0.0.1)"
    _print_outcomes(ctx, result, title, wide, json_lines=False)
    raise typer.Exit(0 if result.ok else 1)


@local_app.command("run")
def run(
    ctx: typer.Context,
    scenario: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Scenario file (YAML), see README")],
    table: Annotated[
        bool, typer.Option("--table", help="Print a table instead of JSON lines (--output table)")
    ] = False,
    wide: Annotated[bool, typer.Option("--wide", help="With a table: names, ARNs and reasons in full")] = False,
) -> None:
    """Run a scenario file and print one JSON line per outcome; exit 1 if an expected outcome did not happen.

    Only the outcomes go to stdout (the handlers' logs go to stderr). --output json / yaml: the same objects as one
    document; --output table (or --table): a table; --output csv: one row per outcome.
    """
    from .local.scenario import run_scenario

    cli = get_context(ctx)
    given = _output_given(ctx)
    if table and given and cli.output is not OutputFormat.table:
        raise typer.BadParameter(f"--table and --output {cli.output.value}: choose one", param_hint="'--table'")
    result = run_scenario(scenario, log_level=get_context(ctx).log_level)
    _print_outcomes(ctx, result, f"Scenario {scenario}", wide, json_lines=not (table or given))
    raise typer.Exit(0 if result.ok else 1)


if __name__ == "__main__":
    app()
