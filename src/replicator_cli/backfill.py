"""`replicator backfill`: send the snapshots that exist already, and have no replica yet, for replication."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import track

from replicator.aws import eventbridge, rds, tables
from replicator.aws.sessions import home_client
from replicator.backfill import ExistingSnapshot, backfill_candidates
from replicator.history import ReplicationStatus, utc_now
from replicator.mapping import RegionMapping, describe_validation_error
from replicator.snapshots import replication_id

from .context import CliError, get_context
from .status import parse_since

console = Console()
_BATCH = 10  # PutEvents takes at most 10 entries


def _missing_targets(
    history_table: str, snapshot: ExistingSnapshot, mapping: RegionMapping, account: str
) -> tuple[int, int]:
    """(targets without any record, targets whose replication failed before) of one snapshot."""
    missing = failed = 0
    for target in mapping.targets:
        rid = replication_id(snapshot.arn, target.account_id(account), target.target_region)
        record = tables.get_record(history_table, rid)
        if record is None:
            missing += 1
        elif record.status is ReplicationStatus.FAILED:
            failed += 1
    return missing, failed


def backfill(
    ctx: typer.Context,
    source_region: Annotated[str, typer.Option("--source-region", help="Region whose snapshots are replicated")],
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

    Example: replicator backfill --source-region eu-west-1 --since 7d --db orders
    """
    cli = get_context(ctx)
    try:
        mapping = tables.resolve_mapping(cli.mapping_table, source_region, max_age=0)
    except ValidationError as error:
        raise CliError(f"the mapping for {source_region} is invalid: {describe_validation_error(error)}") from error
    if mapping is None:
        raise CliError(f"no region mapping for {source_region} and no '*' mapping: nothing would be replicated")
    cutoff = utc_now() - parse_since(since) if since else None
    account = home_client("sts").get_caller_identity()["Account"]
    candidates = backfill_candidates(rds.list_source_snapshots(source_region), cutoff, database)
    to_send, done, failed_before = [], 0, 0
    for snapshot in candidates:
        missing, failed = _missing_targets(cli.history_table, snapshot, mapping, account)
        failed_before += failed
        if missing or (include_failed and failed):
            to_send.append(snapshot)
        else:
            done += 1
    console.print(
        f"{len(candidates)} snapshot(s) in {source_region}; {done} already replicated or on their way; "
        f"{len(to_send)} to replicate to {len(mapping.targets)} target(s)"
    )
    if failed_before and include_failed:
        console.print(f"{failed_before} earlier replication(s) of these snapshots FAILED: they run again")
    elif failed_before:
        console.print(
            f"{failed_before} earlier replication(s) of these snapshots FAILED and are not retried here: "
            f"see `replicator status --status FAILED --source {source_region}`; --include-failed runs them again"
        )
    if dry_run:
        for snapshot in to_send:
            console.print(f"would send {snapshot.arn}")
        return
    batches = [to_send[i : i + _BATCH] for i in range(0, len(to_send), _BATCH)]
    for batch in track(batches, description="sending", console=console, disable=not batches):
        try:
            eventbridge.request_replications([s.arn for s in batch], "backfill", retry_failed=include_failed)
        except eventbridge.RequestsRefused as error:
            raise CliError(f"{error}; run backfill again to resume") from error
    if to_send:
        console.print(f"sent {len(to_send)}; follow them with `replicator status --watch --source {source_region}`")
