"""`replicator backfill`: send the snapshots that exist already, and have no replica yet, for replication."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import track

from replicator.aws import eventbridge, rds
from replicator.aws.dynamodb import region_mappings, replication_records
from replicator.aws.sessions import caller_account
from replicator.backfill import ExistingSnapshot, backfill_candidates
from replicator.history import ReplicationStatus, utc_now
from replicator.mapping import ALL_REGIONS, MappingTarget, RegionMapping, describe_validation_error
from replicator.selection import DatabaseFacts
from replicator.snapshots import replication_id

from . import validation
from .context import CliError, OutputFormat, get_context
from .status import parse_since

_BATCH = 10  # PutEvents takes at most 10 entries
_SHOWN = 5  # databases named when --db names none with a snapshot


@dataclass
class _Look:
    """What the history and the targets' selections say of one snapshot."""

    missing: list[MappingTarget] = field(default_factory=list)  # selected, without any record
    reselected: list[MappingTarget] = field(default_factory=list)  # SKIPPED as not selected before, selected now
    failed: list[MappingTarget] = field(default_factory=list)  # selected, FAILED before
    left_out: int = 0  # targets whose selection leaves the snapshot out


def _read_mapping(mapping_table: str, source_region: str) -> RegionMapping | None:
    """The region's own mapping, else '*': read afresh (the Lambdas' cache is theirs, not the command's)."""
    for key in (source_region, ALL_REGIONS):
        item = region_mappings.mapping_item(mapping_table, key)
        if item:
            return RegionMapping.model_validate(item)
    return None


class _Facts:
    """What the targets' selections look at, per snapshot; each database's tags read once, and only when a
    selection looks at tags (its snapshot's tags when the database is gone), as the start function reads them."""

    def __init__(self, mapping: RegionMapping, region: str):
        self.region = region
        self.needs_tags = any(t.selection is not None and t.selection.needs_tags for t in mapping.targets)
        self._tags: dict[tuple[str, str], dict[str, str] | None] = {}

    def of(self, snapshot: ExistingSnapshot) -> DatabaseFacts:
        tags = snapshot.tags
        if self.needs_tags and snapshot.database_identifier:
            key = (snapshot.kind.value, snapshot.database_identifier)
            if key not in self._tags:
                self._tags[key] = rds.database_tags(snapshot.kind, self.region, snapshot.database_identifier)
            found = self._tags[key]
            if found is not None:
                tags = found
        return DatabaseFacts(
            identifier=snapshot.database_identifier,
            engine=snapshot.engine,
            tags=tags,
            snapshot_type=snapshot.snapshot_type,
        )


def _look(
    history_table: str, snapshot: ExistingSnapshot, mapping: RegionMapping, account: str, facts: DatabaseFacts
) -> _Look:
    """Per target: left out by its selection, or selected and then without a record, SKIPPED as not selected
    before (the start function selects it again), or FAILED before. min_interval_hours is the start function's."""
    look = _Look()
    for target in mapping.targets:
        if target.selection is not None and target.selection.refusal(facts) is not None:
            look.left_out += 1
            continue
        rid = replication_id(snapshot.arn, target.account_id(account), target.target_region)
        record = replication_records.get_record(history_table, rid)
        if record is None:
            look.missing.append(target)
        elif record.status is ReplicationStatus.SKIPPED and record.not_selected:
            look.reselected.append(target)
        elif record.status is ReplicationStatus.FAILED:
            look.failed.append(target)
    return look


def _no_snapshot_of(database: str, snapshots: list[ExistingSnapshot], region: str) -> str:
    """No snapshot of --db's database in the region: said, with the databases that do have snapshots there (the
    closest names first, a few)."""
    others = sorted({s.database_identifier for s in backfill_candidates(snapshots) if s.database_identifier})
    if not others:
        return f"no snapshot of {database} in {region}: the region has no snapshot to replicate"
    near = difflib.get_close_matches(database, others, n=3)
    shown = [*near, *(o for o in others if o not in near)][:_SHOWN]
    more = f" (and {len(others) - len(shown)} more)" if len(others) > len(shown) else ""
    return (
        f"no snapshot of {database} in {region}: --db takes a DB instance or Aurora cluster identifier; the "
        f"databases with snapshots there: {', '.join(shown)}{more}"
    )


def _target_names(look: _Look, include_failed: bool, account: str) -> list[str]:
    chosen = [*look.missing, *look.reselected, *(look.failed if include_failed else [])]
    return [f"{t.account_id(account)}/{t.target_region}" for t in chosen]


def backfill(
    ctx: typer.Context,
    source_region: Annotated[
        str,
        typer.Option("--source-region", callback=validation.region, help="Region whose snapshots are replicated"),
    ],
    since: Annotated[str | None, typer.Option("--since", help="Only snapshots of the last 24h, 7d, 2w...")] = None,
    database: Annotated[str | None, typer.Option("--db", help="Only this DB instance or Aurora cluster")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be sent, send nothing")] = False,
    include_failed: Annotated[
        bool, typer.Option("--include-failed", help="Also run again, as their next attempt, replications that FAILED")
    ] = False,
) -> None:
    """Replicate the snapshots that already exist in a region and have no replica yet.

    Each is sent to the replicator as an event, so it goes through the same planning, copy quota and outcome path as
    a new snapshot. Running it again sends only what is still missing.

    Each target's selection is honoured: a snapshot is sent only when some target selects it (database pattern,
    tags, engine, snapshot type) and has no record of it yet, or SKIPPED it as not selected before (a changed
    selection: the replicator selects it again). min_interval_hours is applied by the replicator, not here.

    --output json / yaml: the counts, and the snapshots sent (or that would be), per target; csv: one row per
    snapshot.

    Example: replicator backfill --source-region eu-west-1 --since 7d --db orders
    """
    cli = get_context(ctx)
    err = cli.err
    try:
        mapping = _read_mapping(cli.mapping_table, source_region)
    except ValidationError as error:
        raise CliError(f"the mapping for {source_region} is invalid: {describe_validation_error(error)}") from error
    if mapping is None:
        raise CliError(f"no region mapping for {source_region} and no '*' mapping: nothing would be replicated")
    cutoff = utc_now() - parse_since(since) if since else None
    account = caller_account()
    listed = rds.list_source_snapshots(source_region)
    candidates = backfill_candidates(listed, cutoff, database)
    if database and not candidates:
        if not (all_of_it := backfill_candidates(listed, None, database)):
            raise CliError(_no_snapshot_of(database, listed, source_region))
        err.print(f"note: {database} has {len(all_of_it)} snapshot(s) in {source_region}, none taken within {since}")
    facts = _Facts(mapping, source_region)
    to_send: list[tuple[ExistingSnapshot, _Look]] = []
    done = unselected = failed_before = reselected = left_out = 0
    for snapshot in candidates:
        look = _look(cli.history_table, snapshot, mapping, account, facts.of(snapshot))
        failed_before += len(look.failed)
        left_out += look.left_out
        if look.missing or look.reselected or (include_failed and look.failed):
            to_send.append((snapshot, look))
            reselected += len(look.reselected)
        elif look.left_out == len(mapping.targets):
            unselected += 1
        else:
            done += 1
    unselected_text = f"{unselected} selected by no target; " if unselected else ""
    counts = (
        f"{len(candidates)} snapshot(s) in {source_region}; {done} already replicated or on their way; "
        f"{unselected_text}{len(to_send)} to replicate to {len(mapping.targets)} target(s)"
    )
    if any(t.selection is not None for t in mapping.targets):
        err.print(
            f"the targets' selections leave out {left_out} snapshot-target pair(s) "
            "(min_interval_hours is applied by the replicator, as for new snapshots)"
        )
    if reselected:
        err.print(f"{reselected} replication(s) SKIPPED before as not selected are selected now: sent again")
    if failed_before and include_failed:
        err.print(f"{failed_before} earlier replication(s) of these snapshots FAILED: they run again")
    elif failed_before:
        err.print(
            f"{failed_before} earlier replication(s) of these snapshots FAILED and are not retried here: "
            f"see `replicator status --status FAILED --source {source_region}`; --include-failed runs them again",
            markup=False,
        )
    rows: list[dict[str, Any]] = [
        {
            "snapshot": snapshot.arn,
            "database": snapshot.database_identifier,
            "snapshot_type": snapshot.snapshot_type,
            "created_at": snapshot.created_at,
            "targets": _target_names(look, include_failed, account),
        }
        for snapshot, look in to_send
    ]
    if not dry_run:
        _send([snapshot.arn for snapshot, _ in to_send], include_failed, err)
    per_target: dict[str, list[str]] = {f"{t.account_id(account)}/{t.target_region}": [] for t in mapping.targets}
    for row in rows:
        for target in row["targets"]:
            per_target.setdefault(target, []).append(row["snapshot"])
    data = {
        "source_region": source_region,
        "dry_run": dry_run,
        "include_failed": include_failed,
        "snapshots": len(candidates),
        "already_replicated": done,
        "selected_by_no_target": unselected,
        "left_out_pairs": left_out,
        "reselected": reselected,
        "failed_before": failed_before,
        "to_replicate": len(to_send),
        "sent": 0 if dry_run else len(to_send),
        "targets": [{"target": target, "snapshots": arns} for target, arns in per_target.items()],
        "to_send": rows,
    }

    def table(console: Console) -> None:
        console.print(counts, markup=False, highlight=False, soft_wrap=True)
        for row in rows if dry_run else []:
            where = ", ".join(row["targets"])
            console.print(f"would send {row['snapshot']} (for {where})", markup=False, highlight=False, soft_wrap=True)
        if to_send and not dry_run:
            console.print(f"sent {len(to_send)} snapshot(s) for replication", highlight=False)

    cli.emit(rows if cli.output is OutputFormat.csv else data, table=table)
    if cli.machine_output:
        err.print(counts, markup=False)
    if to_send and not dry_run:
        err.print(f"follow them with `replicator status --watch --source {source_region}`", markup=False)


def _send(arns: list[str], include_failed: bool, err: Console) -> None:
    """The snapshots to the replicator as events, 10 a call, with a progress bar on stderr."""
    batches = [arns[i : i + _BATCH] for i in range(0, len(arns), _BATCH)]
    for batch in track(batches, description="sending", console=err, disable=not batches, transient=True):
        try:
            eventbridge.request_replications(batch, "backfill", retry_failed=include_failed)
        except eventbridge.RequestsRefused as error:
            raise CliError(f"{error}; run backfill again to resume") from error
