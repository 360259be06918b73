"""Recording outcomes: the history record (never overwriting a final one), the outcome event, the metrics."""

from __future__ import annotations

from ..aws import eventbridge
from ..aws.dynamodb import replication_records
from ..clock import utc_now
from ..history import ReplicationRecord, ReplicationStatus
from ..observability import MetricUnit, logger, metrics
from ..settings import Settings
from ..snapshots import execution_name, parse_snapshot_arn, sanitize_identifier, short_hash

METRIC_BY_STATUS = {
    ReplicationStatus.SUCCEEDED: "ReplicationsSucceeded",
    ReplicationStatus.FAILED: "ReplicationsFailed",
    ReplicationStatus.SKIPPED: "ReplicationsSkipped",
}


def record_outcome(
    settings: Settings,
    record: ReplicationRecord,
    replacing_attempt: int | None = None,
    replaced: ReplicationStatus = ReplicationStatus.FAILED,
) -> ReplicationRecord:
    """Write a final outcome, publish it to EventBridge and count it; a final outcome already recorded stays.

    The outcome is written first and its event published after: if publishing fails, the outcome stands (a SUCCEEDED
    replication is never turned FAILED by it) and the event is published again by the next attempt (the task's
    retry, the failure path, the reconciler), until `outcome_published` says it went out.
    """
    if record.finished_at is None:
        record = record.model_copy(update={"finished_at": utc_now()})
    record = record.model_copy(update={"outcome_published": False})
    if replacing_attempt is not None:
        # a retry's outcome (or a resent snapshot's that its selection skipped before)
        written = replication_records.replace_failed(settings.history_table, record, replacing_attempt, replaced)
    else:
        written = replication_records.put_record(settings.history_table, record)
    if not written:
        existing = replication_records.get_record(settings.history_table, record.replication_id)
        logger.info(
            "outcome already recorded: kept",
            extra={"replication_id": record.replication_id, "kept": existing.status.value if existing else None},
        )
        if existing is not None:
            return publish_pending(settings, existing)
        return record
    record = publish_pending(settings, record)
    metrics.add_metric(name=METRIC_BY_STATUS[record.status], unit=MetricUnit.Count, value=1)
    if record.status is ReplicationStatus.SUCCEEDED and record.duration_seconds is not None:
        metrics.add_metric(name="ReplicationDuration", unit=MetricUnit.Seconds, value=record.duration_seconds)
    log = logger.warning if record.status is ReplicationStatus.FAILED else logger.info
    log("replication outcome", extra={"outcome": record.model_dump(mode="json", exclude_none=True, exclude={"plan"})})
    return record


def publish_pending(settings: Settings, record: ReplicationRecord) -> ReplicationRecord:
    """Publish a final outcome whose event has not gone out yet (and note that it has)."""
    if not record.status.final or record.outcome_published is not False:
        return record
    eventbridge.publish_outcome(settings.event_bus_name, record)
    replication_records.mark_published(settings.history_table, record.replication_id)
    return record.model_copy(update={"outcome_published": True})


def publish(settings: Settings, record: ReplicationRecord) -> None:
    """Publish an outcome recorded elsewhere (a refused task input has its own record and metric)."""
    eventbridge.publish_outcome(settings.event_bus_name, record)


def snapshot_outcome_id(source_arn: str) -> str:
    """Id of an outcome about a snapshot as a whole (no mapping, invalid mapping, snapshot gone)."""
    try:
        _, _, _, identifier = parse_snapshot_arn(source_arn)
    except ValueError:
        identifier = "snapshot"
    return f"{sanitize_identifier(identifier)[:48]}-all-{short_hash(source_arn, length=12)}"


def snapshot_outcome(
    settings: Settings,
    rid: str,
    status: ReplicationStatus,
    reason: str,
    event_id: str,
    source_arn: str | None = None,
    retry_failed: bool = False,
) -> ReplicationRecord:
    """An outcome about an event or a snapshot as a whole, before any replication of it was planned.

    A retry request replaces such a FAILED outcome of the same snapshot with the new attempt's.
    """
    try:
        source_region = parse_snapshot_arn(source_arn)[1] if source_arn else None
    except ValueError:
        source_region = None
    record = ReplicationRecord(
        replication_id=rid,
        status=status,
        reason=reason,
        event_id=event_id,
        source_arn=source_arn,
        source_region=source_region,
    )
    earlier = replication_records.get_record(settings.history_table, rid) if retry_failed else None
    if earlier is not None and earlier.retryable is None:
        return record_outcome(settings, next_attempt(record, earlier), replacing_attempt=earlier.attempt)
    return record_outcome(settings, record)


def next_attempt(record: ReplicationRecord, failed: ReplicationRecord) -> ReplicationRecord:
    """`record` as the attempt after `failed`, which stays readable in its previous attempts."""
    attempt = failed.attempt + 1
    return record.model_copy(
        update={
            "attempt": attempt,
            "execution_name": execution_name(record.replication_id, attempt) if record.execution_name else None,
            "previous_attempts": [*failed.previous_attempts, failed.summary()],
        }
    )


def supersede(settings: Settings, rid: str, event_id: str, source_arn: str) -> None:
    """A retried snapshot that now passes the snapshot-level checks: its FAILED snapshot-level outcome is SKIPPED
    (its targets are replicated on their own records), kept readable as a previous attempt."""
    earlier = replication_records.get_record(settings.history_table, rid)
    if earlier is None or earlier.retryable is not None:
        return
    record = ReplicationRecord(
        replication_id=rid,
        status=ReplicationStatus.SKIPPED,
        reason=f"retried as attempt {earlier.attempt + 1}: its targets are replicated on their own records",
        event_id=event_id,
        source_arn=source_arn,
        source_region=earlier.source_region,
    )
    record_outcome(settings, next_attempt(record, earlier), replacing_attempt=earlier.attempt)
