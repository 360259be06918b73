"""`replicator coverage`: does every selected database have a replica on each target younger than its RPO?

Prints the coverage audit's rows (usecases/coverage.py, the same audit the scheduled function publishes as metrics):
one per source database and mapping target. Exit status 1 when a selected database breaches its target's RPO.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
import yaml
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from replicator.aws.sessions import caller_account
from replicator.coverage import CoverageRow, TargetCoverage, Verdict
from replicator.usecases.coverage import CoverageReport, audit_coverage

from .context import OutputFormat, get_context, logs_to_stderr

_REGION = r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d"
_TARGET = re.compile(rf"^(\d{{12}}/)?{_REGION}$")
_SOURCE_REGION = re.compile(rf"^{_REGION}$")
TABLE_WIDTH = 120  # the tables fit this many columns (a narrower terminal: its width)

# the fields of a row in json and csv, in this order
FIELDS = (
    "source_region",
    "database",
    "kind",
    "engine",
    "database_status",
    "target",
    "target_account",
    "target_region",
    "selected",
    "not_selected_reason",
    "rpo_hours",
    "newest_replica_taken_at",
    "newest_replica_arn",
    "age_seconds",
    "age",
    "verdict",
    "last_failure",
)

_VERDICT_STYLE = {Verdict.OK: "green", Verdict.BREACH: "bold red", Verdict.NONE: "yellow", Verdict.NOT_SELECTED: "dim"}


def human_age(seconds: float | None) -> str:
    """An age as people read it: 45s, 12m, 3h 12m, 2d 4h ('' for none)."""
    if seconds is None:
        return ""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if whole < 3600:
        return f"{minutes}m"
    if whole < 86400:
        return f"{hours}h {minutes % 60}m"
    return f"{days}d {hours % 24}h"


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when is not None else None


def as_record(row: CoverageRow) -> dict[str, Any]:
    """A row with every value in full (json and csv): ISO times in UTC, the age in seconds and as text."""
    record = {
        **row.model_dump(mode="json"),
        "target": row.target,
        "newest_replica_taken_at": _iso(row.newest_replica_taken_at),
        "age": human_age(row.age_seconds),
        "verdict": row.verdict.value,
    }
    return {name: record.get(name) for name in FIELDS}


def _when(taken_at: datetime | None) -> str:
    return taken_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if taken_at is not None else "-"


def _note(row: CoverageRow) -> str:
    if not row.selected:
        return row.not_selected_reason or ""
    if row.last_failure:
        return f"last attempt FAILED: {row.last_failure}"
    return ""


_COLUMNS = (  # (header, max width: longer values fold) of every column but the reason
    ("database", 24),
    ("kind", 8),
    ("engine", 17),
    ("selected", 8),
    ("newest (UTC)", 16),
    ("age", 7),
    ("verdict", 12),
)


def render_tables(rows: list[CoverageRow], width: int = TABLE_WIDTH) -> list[Table]:
    """One table per source region and target (its RPO in the title), one line per database; each fits `width`
    columns: the reason (not selected, or the last attempt's failure) is cut with an ellipsis to the room left."""
    groups: dict[tuple[str, str], list[CoverageRow]] = {}
    for row in rows:
        groups.setdefault((row.source_region, row.target), []).append(row)
    measure = Console(width=10 * width).measure
    tables = []
    for (source_region, target), group in groups.items():
        rpo = group[0].rpo_hours
        title = f"{source_region} -> {target} (RPO {f'{rpo:g}h' if rpo is not None else 'not set'})"
        used = measure(_table(title, group, None)).maximum
        tables.append(_table(title, group, max(10, width - used - 3)))  # 3: the reason's column separator
    return tables


def _table(title: str, group: list[CoverageRow], reason_width: int | None) -> Table:
    """The table of one source region and target; without the reason column when `reason_width` is None."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, title=title, title_justify="left")
    cells = [_cells(row) for row in group]
    for index, (header, most) in enumerate(_COLUMNS):
        natural = max(len(header), *(len(c[index]) for c in cells))
        table.add_column(header, overflow="fold", max_width=most, no_wrap=natural <= most)
    if reason_width is not None:
        table.add_column("reason", no_wrap=True, overflow="ellipsis", max_width=reason_width)
    for row, row_cells in zip(group, cells, strict=True):
        style = _VERDICT_STYLE.get(row.verdict, "")
        *plain, verdict, reason = [escape(c) for c in row_cells]
        verdict = f"[{style}]{verdict}[/]" if style else verdict
        table.add_row(*plain, verdict, *([reason] if reason_width is not None else []))
    return table


def _cells(row: CoverageRow) -> list[str]:
    """The table's cells of a row, as plain text (the same order as _COLUMNS, then the reason)."""
    return [
        row.database,
        row.kind.value,
        row.engine,
        "yes" if row.selected else "no",
        _when(row.newest_replica_taken_at),
        human_age(row.age_seconds) or "-",
        row.verdict.value,
        _note(row),
    ]


def summary(targets: list[TargetCoverage]) -> str:
    """One line: per target, its covered and uncovered databases and the oldest of their newest replicas."""
    if not targets:
        return "coverage: no mapped database to cover"
    parts = []
    for target in targets:
        oldest = human_age(target.oldest_replica_age_seconds) or "none"
        parts.append(
            f"{target.target}: {target.covered} covered, {target.uncovered} uncovered, oldest replica {oldest}"
        )
    return "coverage: " + "; ".join(parts)


def _checked(values: list[str] | None, pattern: re.Pattern[str], option: str, example: str) -> list[str] | None:
    for value in values or []:
        if not pattern.match(value):
            raise typer.BadParameter(f"{value!r} is not {example}", param_hint=f"'{option}'")
    return values or None


def coverage(
    ctx: typer.Context,
    source_region: Annotated[
        list[str] | None, typer.Option("--source-region", metavar="REGION", help="Only this source region (repeatable)")
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            metavar="ACCOUNT/REGION",
            help="Only this target: ACCOUNT/REGION, or REGION for every account (repeatable)",
        ),
    ] = None,
    breaches_only: Annotated[
        bool, typer.Option("--breaches-only", help="Print only the databases breaching their RPO")
    ] = False,
) -> None:
    """Every database of every mapped source region, on each target of its mapping: selected or not, its newest
    replica (when its snapshot was taken, UTC) and its age, and the verdict against the target's rpo_hours.

    Verdicts: ok (a replica younger than the RPO, or a database too young to have one), BREACH (older, or none),
    none (no replica, the target sets no RPO), not selected (the target's selection leaves the database out).
    Exit status 1 when a selected database breaches its target's RPO, 0 otherwise.

    Example: replicator coverage --target 210987654321/eu-west-1 --breaches-only
    """
    regions = _checked(source_region, _SOURCE_REGION, "--source-region", "a region name such as eu-west-1")
    targets = _checked(target, _TARGET, "--target", "ACCOUNT/REGION (210987654321/eu-west-1) or a region")
    cli = get_context(ctx)
    own_account = caller_account()
    with logs_to_stderr():
        report = audit_coverage(cli.mapping_table, cli.history_table, own_account, regions, targets)
    _print(report, cli.output, breaches_only)
    if report.breaches:
        raise typer.Exit(1)


def _print(report: CoverageReport, output: OutputFormat, breaches_only: bool) -> None:
    width = min(Console().width, TABLE_WIDTH) if sys.stdout.isatty() else TABLE_WIDTH
    out = Console(width=width)
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    for problem in report.problems:
        err.print(f"[yellow]problem[/]: {escape(problem)}")
    rows = report.breaches if breaches_only else report.rows
    if output is OutputFormat.json:
        typer.echo(json.dumps([as_record(row) for row in rows], indent=2))
    elif output is OutputFormat.yaml:
        typer.echo(yaml.safe_dump([as_record(row) for row in rows], sort_keys=False), nl=False)
    elif output is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in as_record(row).items()})
        typer.echo(buffer.getvalue(), nl=False)
    else:
        for index, table in enumerate(render_tables(rows, width)):
            if index:
                out.print()
            out.print(table)
    line = summary(report.targets)
    if output is OutputFormat.table:
        out.print(line, soft_wrap=True, highlight=False)
    else:
        err.print(line, markup=False)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
