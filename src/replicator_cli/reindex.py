"""`replicator reindex`: once after an upgrade, give the records written before the history's indexes their
attributes (the coverage audit and min_interval_hours read the database index, the reconciler the unsettled one)."""

from __future__ import annotations

from typing import Annotated

import typer

from replicator.usecases.reindex import reindex_history

from .context import get_context


def reindex(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be indexed, write nothing")] = False,
) -> None:
    """Index the history's older records: run once after upgrading from a version without the history's indexes.

    Reads the whole history once (a scan); running it again changes nothing.

    --output json / yaml: the counts (indexed, already, without_database, unsettled).

    Example: replicator reindex --dry-run
    """
    cli = get_context(ctx)
    report = reindex_history(cli.history_table, dry_run=dry_run)
    verb = "would index" if dry_run else "indexed"
    summary = (
        f"{verb} {report.indexed} record(s) by database ({report.already} already were; {report.without_database} "
        f"name no database: snapshot-level outcomes or records older than stored plans); {report.unsettled} "
        "record(s) with something left for the reconciler"
    )
    cli.emit(
        {"dry_run": dry_run, **report.model_dump(mode="json")},
        table=lambda console: console.print(summary, highlight=False, soft_wrap=True),
    )
