"""`replicator restore-test ...`: start restore tests now, and list the tests that ran.

`run` is the scheduler's own use case (usecases/restore_schedule.py) run here with the CLI's credentials, on demand:
every database a mapping target's restore_test names is tested now, due or not (its plan and record are made here,
its execution restores the replica). `list` reads the tests' records (the history's restore-tests index), newest
first: how long each restore took (the RTO evidence), the age of the replica it proved restorable, or why it failed.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table

from replicator.aws.dynamodb import restore_test_records
from replicator.aws.sessions import caller_account
from replicator.clock import utc_now
from replicator.restore_testing import RestoreTestRecord, RestoreTestStatus
from replicator.settings import Settings
from replicator.usecases.restore_schedule import ScheduledTest, ScheduleReport, schedule_restore_tests

from . import validation
from .context import OutputFormat, get_context, logs_to_stderr
from .status import parse_since

app = typer.Typer(
    help="Restore tests: restore the newest replica of each database on its target, check it, delete it.",
    no_args_is_help=True,
)

TABLE_WIDTH = 120  # the tables fit this many columns (a narrower terminal: its width)
_ACCOUNT = re.compile(r"^\d{12}$")
_STYLE = {
    RestoreTestStatus.SUCCEEDED: "green",
    RestoreTestStatus.FAILED: "bold red",
    RestoreTestStatus.SKIPPED: "yellow",
}


# --- checks at the door --------------------------------------------------------------------------------------------


def _regions_option(values: list[str] | None) -> list[str] | None:
    """--source-region (repeatable): each an AWS region with RDS (a near miss is refused with a suggestion)."""
    for value in values or []:
        validation.region(value)
    return values or None


def _targets_option(values: list[str] | None) -> list[str] | None:
    """--target (repeatable): ACCOUNT/REGION, or REGION for every account; the region checked as --region is."""
    for value in values or []:
        account, _, region = value.rpartition("/")
        if "/" in value and not _ACCOUNT.match(account):
            raise typer.BadParameter(
                f"'{value}' is not ACCOUNT/REGION: the account is 12 digits (210987654321/eu-west-1), or give the "
                "region alone for every account"
            )
        if (problem := validation.region_problem(region)) is not None:
            raise typer.BadParameter(problem)
    return values or None


TargetsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        metavar="ACCOUNT/REGION",
        callback=_targets_option,
        help="Only this target: ACCOUNT/REGION, or REGION for every account (repeatable)",
    ),
]


def _statuses_option(values: list[str] | None) -> list[str] | None:
    """--status (repeatable, any case): one of the tests' statuses (as its value, upper case)."""
    chosen = []
    for value in values or []:
        try:
            chosen.append(RestoreTestStatus(value.strip().upper()).value)
        except ValueError:
            known = ", ".join(s.value for s in RestoreTestStatus)
            raise typer.BadParameter(f"'{value}' is not a restore test status: one of {known}") from None
    return chosen or None


def _matches(target: str, region: str, wanted: list[str] | None) -> bool:
    """Whether a test's target (account/region) is one --target names (ACCOUNT/REGION, or its region)."""
    return not wanted or target in wanted or region in wanted


# --- run -----------------------------------------------------------------------------------------------------------


def _action(test: ScheduledTest, dry_run: bool) -> str:
    if test.status is RestoreTestStatus.SKIPPED:
        return "skipped"
    if dry_run:
        return "would start"
    if test.started:
        return "started"
    return "not started"  # planned before (the same minute's test), its execution already under way or done


def _run_rows(report: ScheduleReport, dry_run: bool) -> list[dict[str, Any]]:
    return [{**test.model_dump(mode="json"), "action": _action(test, dry_run)} for test in report.tests]


def _run_table(rows: list[dict[str, Any]], width: int) -> Table:
    """The tests, one line each, within `width` columns: the reason cut with an ellipsis to the room left."""
    used = Console(width=10 * width).measure(_run_columns(rows, None)).maximum
    return _run_columns(rows, max(12, width - used - 2))  # 2: the reason's column separator


def _run_columns(rows: list[dict[str, Any]], reason_width: int | None) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.add_column("database", overflow="fold", max_width=24)
    table.add_column("target", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("replica age", no_wrap=True, justify="right")
    if reason_width is not None:
        table.add_column("reason", no_wrap=True, overflow="ellipsis", max_width=reason_width)
    style = {"started": "green", "would start": "cyan", "skipped": "yellow", "not started": "dim"}
    for row in rows:
        age = row["replica_age_hours"]
        cells = [
            escape(row["database"]),
            escape(row["target"]),
            f"[{style[row['action']]}]{row['action']}[/]",
            f"{age:.1f} h" if age is not None else "-",
        ]
        table.add_row(*cells, *([escape(row["reason"] or "")] if reason_width is not None else []))
    return table


def _summary(rows: list[dict[str, Any]], report: ScheduleReport, dry_run: bool) -> str:
    count = {action: sum(1 for r in rows if r["action"] == action) for action in ("started", "would start")}
    skipped = sum(1 for r in rows if r["action"] == "skipped")
    already = sum(1 for r in rows if r["action"] == "not started")
    if dry_run:
        line = f"dry run: {count['would start']} restore test(s) would start"
    else:
        line = f"{count['started']} restore test(s) started"
    if skipped:
        line += f", {skipped} skipped (no replica to test)"
    if already:
        line += f", {already} planned already (not started again)"
    if report.problems:
        line += f"; {len(report.problems)} problem(s)"
    return line


def run(
    ctx: typer.Context,
    source_region: Annotated[
        list[str] | None,
        typer.Option(
            "--source-region", metavar="REGION", callback=_regions_option, help="Only this source region (repeatable)"
        ),
    ] = None,
    database: Annotated[
        list[str] | None,
        typer.Option("--db", metavar="ID", help="Only this DB instance or Aurora cluster identifier (repeatable)"),
    ] = None,
    target: TargetsOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would start, start nothing")] = False,
    state_machine_arn: Annotated[
        str | None,
        typer.Option(
            "--restore-test-state-machine-arn",
            envvar="REPLICATOR_RESTORE_TEST_STATE_MACHINE_ARN",
            metavar="ARN",
            help="The restore-test state machine (default: the stack's output RestoreTestStateMachineArn)",
        ),
    ] = None,
) -> None:
    """Start restore tests now, due or not, of the databases the filters select.

    Each database a mapping target's restore_test names has its newest replica on that target restored, checked
    and deleted by the restore-test state machine.

    A database without a replica on the target is recorded SKIPPED with the reason. Tests run as the scheduled ones
    do (their records, alarms and metrics): follow them with `replicator restore-test list`. Exit status 1 when
    nothing could be started because of problems (an invalid mapping, a region whose databases could not be
    listed); the problems are said on stderr.

    Example: replicator restore-test run --db orders --target 210987654321/eu-west-1 --dry-run
    """
    cli = get_context(ctx)
    cli.restore_test_state_machine_flag = state_machine_arn or cli.restore_test_state_machine_flag
    account = caller_account()
    settings = Settings(
        mapping_table=cli.mapping_table,
        history_table=cli.history_table,
        account_id=account,
        restore_test_state_machine_arn="" if dry_run else cli.restore_test_state_machine_arn,
    )
    with logs_to_stderr():
        report = schedule_restore_tests(
            settings,
            source_regions=source_region,
            targets=target,
            databases=database,
            on_demand=True,
            dry_run=dry_run,
        )
    rows = _run_rows(report, dry_run)
    line = _summary(rows, report, dry_run)
    err = cli.err
    for problem in report.problems:
        err.print(f"[yellow]problem[/]: {escape(problem)}")
    data = {
        "dry_run": dry_run,
        "started": sum(1 for r in rows if r["action"] == "started"),
        "would_start": sum(1 for r in rows if r["action"] == "would start"),
        "skipped": sum(1 for r in rows if r["action"] == "skipped"),
        "tests": rows,
        "problems": report.problems,
    }

    def table(out: Console) -> None:
        if rows:
            out.print(_run_table(rows, _width()))
        out.print(line, markup=False, highlight=False, soft_wrap=True)

    cli.emit(rows if cli.output is OutputFormat.csv else data, table=table)
    if cli.machine_output:
        err.print(line, markup=False)
    if not rows and not report.problems:
        given = " ".join(
            f"{option} {value}"
            for option, values in (("--source-region", source_region), ("--db", database), ("--target", target))
            for value in values or []
        )
        err.print(
            f"note: no database to test{' matches ' + given if given else ''}: a mapping target tests restores when "
            "it has a restore_test (mappings put ... --restore-test-every-days 7), and tests its selected databases "
            "(restore_test.databases)",
            markup=False,
        )
    if any(r["action"] in ("started", "would start") for r in rows) and not dry_run:
        err.print("follow them with `replicator restore-test list --since 1d`", markup=False)
    if report.problems and not any(r["action"] in ("started", "would start") for r in rows):
        raise typer.Exit(1)


# --- list ----------------------------------------------------------------------------------------------------------


def _minutes(seconds: float | None) -> float | None:
    return round(seconds / 60, 1) if seconds is not None else None


def as_row(record: RestoreTestRecord) -> dict[str, Any]:
    """A test as data (json, yaml, csv): every value in full, times in UTC."""
    plan = record.plan
    age = plan.replica_age_seconds if plan is not None else None
    return {
        "test_id": record.test_id,
        "started_at": record.started_at.astimezone(UTC).isoformat(),
        "finished_at": record.finished_at.astimezone(UTC).isoformat() if record.finished_at else None,
        "source_region": record.source_region,
        "database": record.database,
        "kind": plan.kind.value if plan is not None else None,
        "target": record.target,
        "target_account": record.target_account,
        "target_region": record.target_region,
        "status": record.status.value,
        "restore_seconds": record.restore_seconds,
        "restore_seconds_at_least": record.restore_seconds_at_least,  # the last look that saw it not available yet
        "restore_minutes": _minutes(record.restore_seconds),
        "replica_arn": plan.replica_arn if plan is not None else None,
        "replica_taken_at": plan.replica_taken_at.astimezone(UTC).isoformat() if plan is not None else None,
        "replica_age_seconds": age,
        "replica_age_hours": round(age / 3600, 1) if age is not None else None,
        "instance_class": record.instance_class or (plan.instance_class if plan is not None else None),
        "restore_identifier": plan.restore_identifier if plan is not None else None,
        "reason": record.reason,
        "checks": record.checks,
        "deleted": record.deleted,
        "cleanup_errors": record.cleanup_errors,
    }


# every column but the reason: (header, justify, max width: a longer value folds; None: never folded)
_LIST_COLUMNS: tuple[tuple[str, JustifyMethod, int | None], ...] = (
    ("started (UTC)", "left", None),
    ("database", "left", 18),
    ("target", "left", None),
    ("status", "left", None),
    ("restore\n(min)", "right", None),
    ("replica\nage (h)", "right", None),
    ("instance\nclass", "left", None),
)


def _list_cells(row: dict[str, Any]) -> list[str]:
    started = datetime.fromisoformat(row["started_at"]).strftime("%Y-%m-%d %H:%M")
    minutes, age = row["restore_minutes"], row["replica_age_hours"]
    return [
        started,
        row["database"],
        row["target"],
        row["status"],
        f"{minutes:.1f}" if minutes is not None else "-",
        f"{age:.1f}" if age is not None else "-",
        row["instance_class"] or "-",
    ]


def render_list(rows: list[dict[str, Any]], width: int = TABLE_WIDTH) -> Table:
    """The tests, one line each, within `width` columns: the reason cut with an ellipsis to the room left."""
    measure = Console(width=10 * width).measure
    used = measure(_list_table(rows, None)).maximum
    return _list_table(rows, max(12, width - used - 2))  # 2: the reason's column separator


def _list_table(rows: list[dict[str, Any]], reason_width: int | None) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for header, justify, most in _LIST_COLUMNS:
        table.add_column(header, justify=justify, overflow="fold", max_width=most, no_wrap=most is None)
    if reason_width is not None:
        table.add_column("reason", no_wrap=True, overflow="ellipsis", max_width=reason_width)
    for row in rows:
        cells = [escape(c) for c in _list_cells(row)]
        style = _STYLE.get(RestoreTestStatus(row["status"]), "")
        cells[3] = f"[{style}]{cells[3]}[/]" if style else cells[3]
        table.add_row(*cells, *([escape(row["reason"] or "")] if reason_width is not None else []))
    return table


def list_tests(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="Tests started within the last 24h, 7d, 30d, 2w...")] = "30d",
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            callback=_statuses_option,
            help="Only tests with this status: SUCCEEDED, FAILED, SKIPPED, PENDING, RESTORING... (repeatable)",
        ),
    ] = None,
    target: TargetsOption = None,
) -> None:
    """The restore tests started within --since, newest first, with how long each restore took.

    Per test: when it started (UTC), which database on which target, its status, how long the restore took
    (minutes, the RTO evidence), the age of the tested replica (hours), the instance class and the reason (cut in
    the table; in full, with the checks made and what was deleted, with --output json / yaml / csv).

    Example: replicator restore-test list --since 7d --status FAILED
    """
    cli = get_context(ctx)
    window = parse_since(since)
    records = restore_test_records.started_since(cli.history_table, utc_now() - window)
    chosen = [
        r for r in records if (not status or r.status.value in status) and _matches(r.target, r.target_region, target)
    ]
    chosen.sort(key=lambda r: r.started_at, reverse=True)
    rows = [as_row(r) for r in chosen]
    counts = {s: sum(1 for r in chosen if r.status is s) for s in RestoreTestStatus}
    shown = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    line = f"{len(rows)} restore test(s) started within {since}" + (f": {shown}" if shown else "")

    def table(out: Console) -> None:
        if rows:
            out.print(render_list(rows, _width()))
        out.print(line, markup=False, highlight=False, soft_wrap=True)

    cli.emit(rows, table=table)
    if cli.machine_output:
        cli.err.print(line, markup=False)


def _width() -> int:
    return min(Console().width, TABLE_WIDTH) if sys.stdout.isatty() else TABLE_WIDTH


app.command("run")(run)
app.command("list")(list_tests)
