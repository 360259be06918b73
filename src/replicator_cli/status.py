"""`replicator status`: replications in flight (with progress) and recent outcomes, failures first."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta
from typing import Annotated

import typer
from botocore.exceptions import ClientError
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table

from replicator.aws.dynamodb import lineage_bases, shared_slot_pool, slot_pools
from replicator.aws.dynamodb.replication_records import scan_records
from replicator.aws.sessions import RoleNotAssumable
from replicator.history import ReplicationRecord, ReplicationStatus, utc_now

from . import validation
from .context import CliContext, CliError, get_context

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SNAPSHOT_WIDTH = 34  # longer snapshot names fold
_ORDER = {ReplicationStatus.FAILED: 0, ReplicationStatus.SKIPPED: 1, ReplicationStatus.SUCCEEDED: 2}


def parse_since(text: str) -> timedelta:
    """'90s', '30m', '24h', '7d', '2w' as a duration."""
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if not match:
        raise CliError(f"--since {text!r}: use a number and a unit, e.g. 30m, 24h, 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


# what a region name looks like (us-east-1, us-gov-west-1, eu-isoe-west-1): --source is then checked as a region
_LOOKS_LIKE_A_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$")


def source_option(value: str | None) -> str | None:
    """--source: a region (checked: a near miss is refused with a suggestion), or part of a snapshot ARN."""
    if value is not None and _LOOKS_LIKE_A_REGION.match(value):
        return validation.region(value)
    return value


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


def render_bases(bases: list[lineage_bases.BaseRecord]) -> Table:
    """The copies kept so that the next copy of each lineage is incremental, and their storage: within 120 columns,
    where each is kept under its database, and its kind under when its data was taken."""
    total = sum(b.size_gb or 0 for b in bases)
    table = Table(title=f"Incremental bases ({len(bases)}, about {total} GB stored)", title_justify="left")
    table.add_column("database [dim](kept in)[/]", overflow="fold", max_width=40)
    table.add_column("base", no_wrap=True, overflow="fold")
    table.add_column("data taken [dim](kind)[/]", no_wrap=True)
    table.add_column("GB", no_wrap=True, justify="right")
    for base in sorted(bases, key=lambda b: b.lineage):
        parts = base.lineage.split("#")  # lineage#kind#account#region#database#account#region[#for#account]
        database = f"{parts[4]} ({parts[3]})"
        kept_in = f"{parts[5]}/{parts[6]}" + (f" for {parts[8]}" if len(parts) > 8 else "")
        table.add_row(
            f"{escape(database)}\n[dim]{escape(kept_in)}[/]",
            escape(base.snapshot_arn.split(":", 6)[-1]),
            f"{base.taken_at.strftime('%Y-%m-%d %H:%M')}\n[dim]{'intermediate' if base.intermediate else 'replica'}[/]",
            str(base.size_gb or "?"),
        )
    return table


def read_bases(cli: CliContext) -> list[lineage_bases.BaseRecord] | None:
    """The lineages' bases, or None when the copy-slots table cannot be found (tables given by name only)."""
    try:
        return lineage_bases.all_bases(cli.slots_table)
    except (CliError, ClientError):
        return None


def read_pools(cli: CliContext, records: list[ReplicationRecord]) -> list[tuple[str, str, int, int]]:
    """(pool, whose, in flight, waiting) of every copy-slot pool in use: this stack's own pools, and a vault's shared
    pool per source account (read through the vault's role, as the reconciler does)."""
    try:
        local = slot_pools.occupancy(slot_pools.all_items(cli.slots_table))
    except (CliError, ClientError):
        return []
    table_arn = cli.stack_parameter("SharedSlotPoolTableArn") or ""
    role_arn = cli.stack_parameter("SharedSlotPoolRoleArn") or ""
    vault = table_arn.split(":")[4] if table_arn.count(":") >= 5 and role_arn else None
    rows = [(pool, "this stack", n, w) for pool, (n, w) in sorted(local.items()) if pool.split("#")[0] != vault]
    if vault is None:
        return rows
    in_use = {p for p in local if p.split("#")[0] == vault}
    in_use |= {
        pool
        for r in records
        if r.plan is not None and not r.status.final
        for pool in r.plan.slot_pools
        if pool.split("#")[0] == vault
    }
    try:
        table = shared_slot_pool.workload_table(table_arn, role_arn, None)  # the operator's account: pool items read
        for pool in sorted(in_use):
            for account, counts in sorted(shared_slot_pool.pool_state(table, pool).items()):
                rows.append((pool, account, counts.get("in_flight", 0), counts.get("waiting", 0)))
    except (ClientError, RoleNotAssumable) as error:
        cli.err.print(f"the vault's shared copy-slot pool cannot be read: {error}", markup=False, highlight=False)
    return rows


def render_pools(rows: list[tuple[str, str, int, int]]) -> Table:
    """Copies in flight and waiting per copy-slot pool (RDS's quota per destination account and region); a vault's
    shared pool per source account."""
    table = Table(title="Copy slots", title_justify="left")
    table.add_column("pool [dim](account/region/kind)[/]", no_wrap=True)
    table.add_column("source account", no_wrap=True)
    table.add_column("in flight", justify="right")
    table.add_column("waiting", justify="right")
    for pool, whose, in_flight, waiting in rows:
        table.add_row(escape(slot_pools.pool_label(pool)), escape(whose), str(in_flight), str(waiting))
    return table


def split(records: list[ReplicationRecord]) -> tuple[list[ReplicationRecord], list[ReplicationRecord]]:
    """(in flight, oldest first; recent outcomes, failures first, then the newest first)."""
    in_flight = sorted((r for r in records if not r.status.final), key=lambda r: r.started_at)
    done = sorted((r for r in records if r.status.final), key=lambda r: r.finished_at or r.updated_at, reverse=True)
    done.sort(key=lambda r: _ORDER.get(r.status, 3))
    return in_flight, done


def as_data(records: list[ReplicationRecord]) -> list[dict[str, object]]:
    """The records as --output json / yaml / csv print them: in flight first, then the recent outcomes, in the
    table's order; each as the history stores it (unset fields left out)."""
    in_flight, done = split(records)
    return [r.model_dump(mode="json", exclude_none=True) for r in (*in_flight, *done)]


def render(records: list[ReplicationRecord]) -> Group:
    """The two tables, within 120 columns: each replication's snapshot with its target under it, so that the step,
    the replica or the reason get the room left."""
    now = utc_now()
    in_flight, done = split(records)

    flight = Table(title=f"In flight ({len(in_flight)})", title_justify="left")
    flight.add_column("snapshot [dim](target)[/]", overflow="fold", max_width=_SNAPSHOT_WIDTH)
    flight.add_column("status", no_wrap=True)
    flight.add_column("step", overflow="fold")
    flight.add_column("progress", no_wrap=True)
    flight.add_column("%", no_wrap=True, justify="right")
    flight.add_column("elapsed", no_wrap=True)
    for r in in_flight:
        flight.add_row(
            _where(r),
            escape(_status(r)),
            escape(r.step or ""),
            ProgressBar(total=100, completed=r.percent_progress, width=20),
            f"{r.percent_progress}%",
            _elapsed(r, now),
        )

    recent = Table(title=f"Recent outcomes ({len(done)})", title_justify="left")
    recent.add_column("snapshot [dim](target)[/]", overflow="fold", max_width=_SNAPSHOT_WIDTH)
    recent.add_column("status", no_wrap=True)
    recent.add_column("finished [dim](took)[/]", no_wrap=True)
    recent.add_column("replica / reason", overflow="fold")
    for r in done:
        style = {"FAILED": "red", "SKIPPED": "yellow", "SUCCEEDED": "green"}[r.status.value]
        finished = r.finished_at.strftime("%Y-%m-%d %H:%M") if r.finished_at else ""
        detail = r.replica_arn if r.status is ReplicationStatus.SUCCEEDED and r.replica_arn else r.reason
        recent.add_row(
            _where(r),
            f"[{style}]{escape(_status(r))}[/]",
            f"{finished}\n[dim]{_elapsed(r, now)}[/]",
            escape(detail or ""),
        )
    return Group(flight, recent)


def _where(record: ReplicationRecord) -> str:
    """The snapshot, and under it the target (dim)."""
    return f"{escape(_snapshot(record))}\n[dim]{escape(_target(record))}[/]"


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
    source: Annotated[
        str | None,
        typer.Option("--source", callback=source_option, help="Source region (checked), or part of the snapshot ARN"),
    ] = None,
    status_filter: Annotated[
        list[ReplicationStatus] | None, typer.Option("--status", help="Only these statuses (repeatable)")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="JSON lines, one record each, for scripts (--output json: one JSON array)"),
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Refresh the tables until interrupted (Ctrl-C); table output only")
    ] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between refreshes with --watch")] = 5.0,
    refreshes: Annotated[int | None, typer.Option("--refreshes", hidden=True, help="Stop --watch after N")] = None,
) -> None:
    """Replications in flight, with a progress bar each, and recent outcomes, failures first with their reasons.

    --output json / yaml: the records (in flight, then recent) as one list; csv: one row each; --json: one JSON
    line per record (for scripts, as before --output).

    Example: replicator status --since 7d --status FAILED
    """
    cli = get_context(ctx)
    if watch and (as_json or cli.machine_output):
        raise typer.BadParameter(
            "--watch refreshes the tables: use it without --json and with --output table", param_hint="'--watch'"
        )
    window = parse_since(since)
    statuses = list(status_filter or [])

    def current() -> list[ReplicationRecord]:
        return select(scan_records(cli.history_table), window, source, statuses)

    if as_json:
        for record in as_data(current()):
            typer.echo(json.dumps(record, separators=(",", ":")))
        return
    if not watch:
        records = current()

        def tables(console: Console) -> None:
            console.print(render(records))
            pools = [row for row in read_pools(cli, records) if row[2] or row[3]]
            if pools:
                console.print(render_pools(pools))
            bases = read_bases(cli)
            if bases:
                console.print(render_bases(bases))

        cli.emit(as_data(records), table=tables)
        return
    count = 0
    with Live(render(current()), console=cli.out, refresh_per_second=4) as live:
        try:
            while refreshes is None or count < refreshes:
                time.sleep(interval)
                live.update(render(current()))
                count += 1
        except KeyboardInterrupt:
            pass
