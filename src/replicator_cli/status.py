"""`replicator status`: replications in flight (with progress) and recent outcomes, failures first."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Annotated

import typer
from botocore.exceptions import ClientError
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from replicator.aws import lineages
from replicator.aws.tables import scan_records
from replicator.history import ReplicationRecord, ReplicationStatus, utc_now

from .context import CliContext, CliError, get_context

console = Console()
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_ORDER = {ReplicationStatus.FAILED: 0, ReplicationStatus.SKIPPED: 1, ReplicationStatus.SUCCEEDED: 2}


def parse_since(text: str) -> timedelta:
    """'90s', '30m', '24h', '7d', '2w' as a duration."""
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if not match:
        raise CliError(f"--since {text!r}: use a number and a unit, e.g. 30m, 24h, 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def select(
    records: list[ReplicationRecord], since: timedelta, source: str | None, statuses: list[ReplicationStatus]
) -> list[ReplicationRecord]:
    """Records updated within `since`, from `source` (a region, or part of the snapshot ARN), of these statuses."""
    cutoff = utc_now() - since
    chosen = []
    for record in records:
        if record.updated_at < cutoff and record.status.final:
            continue  # in-flight replications are shown however old they are
        if source and record.source_region != source and source not in (record.source_arn or ""):
            continue
        if statuses and record.status not in statuses:
            continue
        chosen.append(record)
    return chosen


def _status(record: ReplicationRecord) -> str:
    """The status, and which attempt it is when the replication was retried."""
    return record.status.value + (f" (attempt {record.attempt})" if record.attempt > 1 else "")


def _elapsed(record: ReplicationRecord, now: datetime) -> str:
    seconds = int(((record.finished_at or now) - record.started_at).total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def render_bases(bases: list[lineages.BaseRecord]) -> Table:
    """The copies kept so that the next copy of each lineage is incremental, and their storage."""
    total = sum(b.size_gb or 0 for b in bases)
    table = Table(title=f"Incremental bases ({len(bases)}, about {total} GB stored)", title_justify="left")
    for column in ("database", "kept in", "base", "data taken", "GB", "kind"):
        table.add_column(column, overflow="fold")
    for base in sorted(bases, key=lambda b: b.lineage):
        parts = base.lineage.split("#")  # lineage#kind#account#region#database#account#region[#for#account]
        database = f"{parts[4]} ({parts[3]})"
        kept_in = f"{parts[5]} / {parts[6]}" + (f" for {parts[8]}" if len(parts) > 8 else "")
        table.add_row(
            database,
            kept_in,
            base.snapshot_arn.split(":", 6)[-1],
            base.taken_at.strftime("%Y-%m-%d %H:%M"),
            str(base.size_gb or "?"),
            "intermediate" if base.intermediate else "replica",
        )
    return table


def read_bases(cli: CliContext) -> list[lineages.BaseRecord] | None:
    """The lineages' bases, or None when the copy-slots table cannot be found (tables given by name only)."""
    try:
        return lineages.all_bases(cli.slots_table)
    except (CliError, ClientError):
        return None


def render(records: list[ReplicationRecord]) -> Group:
    now = utc_now()
    in_flight = sorted((r for r in records if not r.status.final), key=lambda r: r.started_at)
    done = sorted((r for r in records if r.status.final), key=lambda r: r.finished_at or r.updated_at, reverse=True)
    done.sort(key=lambda r: _ORDER.get(r.status, 3))

    flight = Table(title=f"In flight ({len(in_flight)})", title_justify="left")
    for column in ("snapshot", "target", "status", "step", "progress", "%", "elapsed"):
        flight.add_column(column, overflow="fold")
    for r in in_flight:
        flight.add_row(
            _snapshot(r),
            _target(r),
            _status(r),
            r.step or "",
            ProgressBar(total=100, completed=r.percent_progress, width=20),
            f"{r.percent_progress}%",
            _elapsed(r, now),
        )

    recent = Table(title=f"Recent outcomes ({len(done)})", title_justify="left")
    for column in ("snapshot", "target", "status", "finished", "took", "replica / reason"):
        recent.add_column(column, overflow="fold")
    for r in done:
        style = {"FAILED": "red", "SKIPPED": "yellow", "SUCCEEDED": "green"}[r.status.value]
        finished = r.finished_at.strftime("%Y-%m-%d %H:%M:%S") if r.finished_at else ""
        detail = r.replica_arn if r.status is ReplicationStatus.SUCCEEDED and r.replica_arn else r.reason
        recent.add_row(_snapshot(r), _target(r), f"[{style}]{_status(r)}[/]", finished, _elapsed(r, now), detail)
    return Group(flight, recent)


def _snapshot(record: ReplicationRecord) -> str:
    return record.source_arn.split(":", 6)[-1] if record.source_arn else record.replication_id


def _target(record: ReplicationRecord) -> str:
    if not record.target_region:
        return "-"
    return f"{record.target_account_id} / {record.target_region}"


def status(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", help="Outcomes of the last 30m, 24h, 7d... (in-flight: all)")
    ] = "24h",
    source: Annotated[str | None, typer.Option("--source", help="Source region, or part of the snapshot ARN")] = None,
    status_filter: Annotated[
        list[ReplicationStatus] | None, typer.Option("--status", help="Only these statuses (repeatable)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one record each, for scripts")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until interrupted (Ctrl-C)")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between refreshes with --watch")] = 5.0,
    refreshes: Annotated[int | None, typer.Option("--refreshes", hidden=True, help="Stop --watch after N")] = None,
) -> None:
    """Replications in flight, with a progress bar each, and recent outcomes, failures first with their reasons.

    Example: replicator status --since 7d --status FAILED
    """
    cli = get_context(ctx)
    window = parse_since(since)
    statuses = list(status_filter or [])

    def current() -> list[ReplicationRecord]:
        return select(scan_records(cli.history_table), window, source, statuses)

    if as_json:
        for record in current():
            typer.echo(record.model_dump_json(exclude_none=True))
        return
    if not watch:
        console.print(render(current()))
        bases = read_bases(cli)
        if bases:
            console.print(render_bases(bases))
        return
    count = 0
    with Live(render(current()), console=console, refresh_per_second=4) as live:
        try:
            while refreshes is None or count < refreshes:
                time.sleep(interval)
                live.update(render(current()))
                count += 1
        except KeyboardInterrupt:
            pass
