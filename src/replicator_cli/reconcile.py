"""`replicator reconcile`: repair what broke, as the scheduled reconciler does (or, with --dry-run, say what)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from replicator.aws.sessions import caller_account
from replicator.settings import Settings
from replicator.usecases import reconcile as use_case

from .context import CliContext, CliError, get_context

_TITLES = {
    "records_repaired": "replications whose execution ended without an outcome: FAILED, slot given back, cleaned up",
    "executions_started": "replications recorded but never started: started",
    "slots_reclaimed": "copy slots held by replications no longer running: given back",
    "waiters_removed": "places in a queue of replications no longer running: removed",
    "shares_released": "shares kept for replications no longer running: released",
    "orphans_removed": "intermediate copies no running replication owns: deleted",
    "cleanups_finished": "cleanups left to do: finished",
    "cleanup_failed": "cleanups that failed again",
    "outcomes_published": "outcome events not published yet: published",
    "restore_tests_failed": "restore tests whose execution ended without an outcome: FAILED",
    "restore_test_databases_deleted": "snaptest-* databases of restore tests no longer running: deleted",
    "problems": "could not be checked",
}


def _restore_test_state_machine(cli: CliContext) -> str:
    """The stack's restore-test state machine (CliContext's one rule); none where it cannot be found: the
    reconciler then leaves restore tests' leftovers alone."""
    try:
        return cli.restore_test_state_machine_arn
    except CliError:
        return ""


def reconcile(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be repaired, change nothing")] = False,
) -> None:
    """Repair what broke: slots and shares held by ended executions, replications whose execution ended without an
    outcome, orphan intermediate copies, cleanups and outcome events left to do.

    Does what the scheduled reconciler does (stack parameter ReconcileSchedule); running it again changes nothing.
    Exit status 1 when something could not be checked or a cleanup failed again.

    --output json / yaml: the report, each kind of repair with what it concerns.

    Example: replicator reconcile --dry-run
    """
    cli = get_context(ctx)
    settings = Settings(
        mapping_table=cli.mapping_table,
        history_table=cli.history_table,
        slots_table=cli.slots_table,
        state_machine_arn=cli.state_machine_arn,
        restore_test_state_machine_arn=_restore_test_state_machine(cli),
        account_id=caller_account(),
    )
    report = use_case.reconcile(settings, dry_run=dry_run)
    total = report.changes
    summary = f"{'would make' if dry_run else 'made'} {total} repair(s)" if total else "nothing to repair"

    def lines(console: Console) -> None:
        for field, title in _TITLES.items():
            found = getattr(report, field)
            if found:
                console.print(f"{'would repair: ' if dry_run and field != 'problems' else ''}{title} ({len(found)})")
                for line in found:
                    console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
        console.print(summary, highlight=False)

    cli.emit({"dry_run": dry_run, "repairs": total, **report.model_dump(mode="json")}, table=lines)
    if cli.machine_output:
        cli.err.print(summary, highlight=False)
    if report.problems or report.cleanup_failed:
        raise typer.Exit(1)
