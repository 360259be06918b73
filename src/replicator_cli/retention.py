"""`replicator prune`: delete (or, with --dry-run, list) replicas outside their mapping target's retention, and
the transfer bases no mapping target copies against any more."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from replicator.settings import Settings
from replicator.usecases.prune import PruneReport, prune_replicas

from .context import CliError, get_context

console = Console()


def render(report: PruneReport, dry_run: bool) -> Table:
    title = "Replicas outside their retention" + (" (dry run: nothing deleted)" if dry_run else "")
    table = Table(title=title, title_justify="left")
    for column in ("replica", "source snapshot", "created", "why", "done"):
        table.add_column(column, overflow="fold")
    for result in report.results:
        done = "would delete" if dry_run else ("deleted" if result.deleted else f"[red]not deleted: {result.error}[/]")
        table.add_row(
            result.replica_arn,
            result.source_arn,
            result.created_at.strftime("%Y-%m-%d %H:%M"),
            f"unused base: {result.reason}" if result.what == "base" else result.reason,
            done,
        )
    return table


def prune(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted, delete nothing")] = False,
) -> None:
    """Delete the replicas outside their mapping target's retention (retention_days, keep_last), and the transfer
    bases no mapping target copies against any more (its target removed, its transfer key changed).

    Does what the scheduled prune function does; only snapshots the replicator made (its tags and its history) are
    ever deleted.

    Example: replicator prune --dry-run
    """
    cli = get_context(ctx)
    try:
        slots_table = cli.slots_table
    except CliError:
        slots_table = ""  # tables given by name without --slots-table: the bases are not looked at
    settings = Settings(mapping_table=cli.mapping_table, history_table=cli.history_table, slots_table=slots_table)
    report = prune_replicas(settings, dry_run=dry_run)
    if report.results:
        console.print(render(report, dry_run))
    verb = "would delete" if dry_run else "deleted"
    done = report.results if dry_run else [r for r in report.results if r.deleted]
    bases = sum(1 for r in done if r.what == "base")
    console.print(f"{verb} {len(done) - bases} replica(s)" + (f" and {bases} unused base(s)" if bases else ""))
    if not slots_table:
        console.print("unused bases not looked at: give --slots-table (or the stack) to prune them too")
    failed = [r for r in report.results if r.error]
    if report.problems or failed:
        raise CliError("; ".join([*report.problems, *(f"{r.replica_arn}: {r.error}" for r in failed)]))
