"""`replicator retry`: run FAILED replications again, as their next attempt, through the normal path."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

import typer
from rich.console import Console

from replicator.aws import eventbridge
from replicator.aws.dynamodb import replication_records
from replicator.history import ReplicationRecord, ReplicationStatus, utc_now

from . import validation
from .context import CliError, get_context
from .status import parse_since

_UNKNOWN = "no such replication"


def _failed_records(history_table: str, since: str, source_region: str | None) -> list[ReplicationRecord]:
    cutoff = utc_now() - parse_since(since)
    return [
        r
        for r in replication_records.scan_records(history_table)
        if r.status is ReplicationStatus.FAILED
        and r.retryable is None
        and (r.finished_at or r.updated_at) >= cutoff
        and (source_region is None or r.source_region == source_region)
    ]


def retry(
    ctx: typer.Context,
    replication_ids: Annotated[
        list[str] | None, typer.Argument(help="Replication ids (replicator status --json shows them)")
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Every FAILED replication (with --since, --source-region)")
    ] = False,
    since: Annotated[str, typer.Option("--since", help="With --failed: failed within 24h, 7d, 2w...")] = "7d",
    source_region: Annotated[
        str | None,
        typer.Option("--source-region", callback=validation.region, help="With --failed: of this region"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would run again, send nothing")] = False,
) -> None:
    """Run FAILED replications again, each as its next attempt.

    The snapshot goes through the start function again (a new plan from its current mapping, a new execution);
    the earlier attempt stays on the record. A SUCCEEDED, SKIPPED or running replication is not retried: the reason
    is said (exit status 1). Fix the cause first (replicator status --status FAILED shows it).

    --output json / yaml: what was retried (or would be) and what was not, and why.

    Examples: replicator retry orders-2026-11-24-03-10-us-west-2-52df4febeee8;
    replicator retry --failed --since 24h --source-region eu-west-1
    """
    cli = get_context(ctx)
    if not replication_ids and not failed:
        raise CliError("name the replications to retry, or pass --failed (with --since, --source-region)")
    chosen: list[ReplicationRecord] = []
    refused: list[dict[str, str]] = []
    for rid in replication_ids or []:
        record = replication_records.get_record(cli.history_table, rid)
        if record is None:
            refused.append({"replication_id": rid, "why": _UNKNOWN})
        elif (why := record.retryable) is not None:
            refused.append({"replication_id": rid, "why": why})
        else:
            chosen.append(record)
    if failed:
        known = {r.replication_id for r in chosen}
        chosen += [r for r in _failed_records(cli.history_table, since, source_region) if r.replication_id not in known]
    by_snapshot: dict[str, list[ReplicationRecord]] = defaultdict(list)
    for record in chosen:
        by_snapshot[str(record.source_arn)].append(record)
    if chosen and not dry_run:
        try:
            eventbridge.request_replications(sorted(by_snapshot), "retry", retry_failed=True)
        except eventbridge.RequestsRefused as error:
            raise CliError(str(error)) from error
    verb = "would run" if dry_run else "runs"
    data = {
        "dry_run": dry_run,
        "retried": [
            {
                "replication_id": r.replication_id,
                "snapshot": r.source_arn,
                "target_account_id": r.target_account_id,
                "target_region": r.target_region,
                "failed_attempt": r.attempt,
                "reason": r.reason,
                "next_attempt": r.attempt + 1,
            }
            for r in chosen
        ],
        "not_retried": refused,
        "snapshots_sent": 0 if dry_run else len(by_snapshot),
    }
    summary = (
        f"{'would send' if dry_run else 'sent'} {len(by_snapshot)} snapshot(s) again" if chosen else "nothing to retry"
    )

    def lines(console: Console) -> None:
        for record in chosen:
            console.print(
                f"{record.replication_id}: attempt {record.attempt} FAILED ({record.reason}); {verb} again as attempt "
                f"{record.attempt + 1}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        for line in refused:
            said = line["why"] if line["why"] == _UNKNOWN else f"not retried: {line['why']}"
            console.print(f"{line['replication_id']}: {said}", markup=False, highlight=False, soft_wrap=True)
        console.print(summary, highlight=False)

    cli.emit(data, table=lines)
    if cli.machine_output:
        cli.err.print(summary, highlight=False)
    if chosen and not dry_run:
        cli.err.print("follow them with `replicator status --watch`", markup=False)
    if refused:
        raise typer.Exit(1)
