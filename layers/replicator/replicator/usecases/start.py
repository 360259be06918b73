"""The start use case: a snapshot-completed event -> one planned, checked and recorded replication per mapping
target, each handed to its own execution.

This is the only place a plan is made. The start function reads the snapshot from RDS, plans, checks what can be
checked without changing anything (the destination is allowed, the target region offers the engine version, the key
is usable) and stores the plan with the replication's record; then it starts the execution. It takes no slot, starts
no copy and shares nothing: a start that fails leaves nothing to clean up, and a repeated event finds the record.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from ..aws import kms, rds, routes, stepfunctions
from ..aws.dynamodb import lineage_bases, region_mappings, replication_records
from ..aws.errors import is_transient
from ..aws.sessions import RoleNotAssumable, error_code
from ..events import BackupJobEvent, RdsSnapshotEvent, ReplicationRequestEvent, SnapshotEvent
from ..execution import Phase, Progress, execution_state
from ..history import ReplicationRecord, ReplicationStatus, database_target_key, parse_taken_key, taken_key
from ..mapping import MappingTarget, RegionMapping, describe_validation_error
from ..observability import logger
from ..planning import ReplicationPlan, StepAction, plan_replication
from ..rules import ReplicationRefused
from ..selection import DatabaseFacts, interval_refusal
from ..settings import Settings
from ..snapshots import SourceSnapshot, parse_snapshot_arn, replication_id, short_hash
from .outcomes import next_attempt, record_outcome, snapshot_outcome, snapshot_outcome_id, supersede


def start_replications(raw_event: dict[str, Any], settings: Settings) -> list[ReplicationRecord]:
    """Handle one EventBridge event: replicate the snapshot it names to every target of its region's mapping."""
    # imported here: only the start function parses events, the other handlers skip its cost (bench/cold_start.py)
    from aws_lambda_powertools.utilities.parser import parse

    given_id = raw_event.get("id") if isinstance(raw_event, dict) else None
    event_id = str(given_id or f"unidentified-{short_hash(repr(raw_event))}")
    event_outcome_id = f"event-{event_id}"
    try:
        event: RdsSnapshotEvent | BackupJobEvent | ReplicationRequestEvent = parse(event=raw_event, model=SnapshotEvent)  # type: ignore[call-overload]
    except (ValidationError, ValueError, TypeError) as error:
        reason = describe_validation_error(error) if isinstance(error, ValidationError) else str(error)
        return [
            snapshot_outcome(
                settings, event_outcome_id, ReplicationStatus.FAILED, f"malformed event: {reason}", event_id
            )
        ]
    if not_handled := event.not_handled_reason():
        reason = f"not replicated: {not_handled}"
        return [snapshot_outcome(settings, event_outcome_id, ReplicationStatus.SKIPPED, reason, event_id)]
    try:
        source_arn = event.snapshot_arn()
        _, _, account, _ = parse_snapshot_arn(source_arn)
    except ValueError as error:
        reason = f"malformed event: {error}"
        return [snapshot_outcome(settings, event_outcome_id, ReplicationStatus.FAILED, reason, event_id)]
    if account != settings.account_id or event.account != settings.account_id:
        # the replicator replicates its own account's snapshots only (its rules match only this account's events)
        reason = (
            f"not replicated: {source_arn} (event from account {event.account}) is not a snapshot of this "
            f"account ({settings.account_id})"
        )
        return [snapshot_outcome(settings, event_outcome_id, ReplicationStatus.SKIPPED, reason, event_id)]

    outcome_id = snapshot_outcome_id(source_arn)
    retry_failed = isinstance(event, ReplicationRequestEvent) and event.detail.retry_failed

    def about_snapshot(status: ReplicationStatus, reason: str) -> list[ReplicationRecord]:
        return [snapshot_outcome(settings, outcome_id, status, reason, event_id, source_arn, retry_failed)]

    try:
        source = rds.describe_source_snapshot(source_arn)
    except rds.SnapshotNotFound as error:
        return about_snapshot(ReplicationStatus.FAILED, str(error))
    if source.is_replica:
        logger.info("ignoring a snapshot made by the replicator itself", extra={"snapshot": source_arn})
        return []
    try:
        # a retry usually follows a fix of the mapping: read it afresh, not from the cache
        max_age = 0 if retry_failed else settings.mapping_cache_seconds
        mapping = region_mappings.resolve_mapping(settings.mapping_table, source.region, max_age)
    except ValidationError as error:
        reason = f"the region mapping for {source.region} is invalid: {describe_validation_error(error)}"
        return about_snapshot(ReplicationStatus.FAILED, reason)
    if mapping is None:
        reason = f"no region mapping for {source.region} and no '*' mapping: nothing to replicate"
        return about_snapshot(ReplicationStatus.SKIPPED, reason)
    if (twice := mapping.repeated_destination(settings.account_id)) is not None:
        reason = (
            f"the region mapping for {mapping.source_region} has two targets replicating to account {twice[0]} in "
            f"{twice[1]} (a role in this account and no role mean the same account): remove one"
        )
        return about_snapshot(ReplicationStatus.FAILED, reason)
    if retry_failed:
        supersede(settings, outcome_id, event_id, source_arn)
    facts = database_facts(source, mapping)
    return [start_target(settings, source, target, event_id, retry_failed, facts) for target in mapping.targets]


def database_facts(source: SourceSnapshot, mapping: RegionMapping | None = None) -> DatabaseFacts:
    """What the targets' selections look at; the database's tags are read (once) only when a selection uses them.

    A database deleted since its snapshot was taken has no tags to read: its snapshot's are used (RDS copies the
    database's tags to its snapshots when CopyTagsToSnapshot is on, and AWS Backup copies them).
    """
    tags = source.tags
    targets = mapping.targets if mapping else []
    if source.database_identifier and any(t.selection and t.selection.needs_tags for t in targets):
        found = rds.database_tags(source.kind, source.region, source.database_identifier)
        if found is not None:
            tags = found
    return DatabaseFacts(
        identifier=source.database_identifier, engine=source.engine, tags=tags, snapshot_type=source.snapshot_type
    )


def _base_record(source: SourceSnapshot, target: MappingTarget, event_id: str) -> ReplicationRecord:
    account = target.account_id(source.account_id)
    rid = replication_id(source.arn, account, target.target_region)
    database = source.database_identifier
    return ReplicationRecord(
        source_database=database,
        source_taken_at=taken_key(source.created_at) if source.created_at else None,
        database_target=(
            database_target_key(
                source.account_id, source.region, source.kind.value, database, account, target.target_region
            )
            if database
            else None
        ),
        replication_id=rid,
        status=ReplicationStatus.PENDING,
        source_arn=source.arn,
        source_region=source.region,
        snapshot_kind=source.kind.value,
        target_account_id=account,
        target_region=target.target_region,
        event_id=event_id,
        execution_name=rid,
    )


def start_target(
    settings: Settings,
    source: SourceSnapshot,
    target: MappingTarget,
    event_id: str,
    retry_failed: bool = False,
    facts: DatabaseFacts | None = None,
) -> ReplicationRecord:
    """Select, plan, check, record and start one replication; a snapshot the target's selection leaves out is
    recorded SKIPPED with the rule, a refusal FAILED with its reason, never raised.

    With `retry_failed`, a replication whose last attempt FAILED runs again as its next attempt (a new plan, a new
    execution name; the earlier attempt stays readable on the record). A snapshot SKIPPED by the selection is
    selected again whenever it is sent again (a backfill after the selection changed): if it is selected now, it
    is replicated as its next attempt.
    """
    record = _base_record(source, target, event_id)
    facts = facts or database_facts(source)
    existing = replication_records.get_record(settings.history_table, record.replication_id)
    replacing: int | None = None
    replaced = ReplicationStatus.FAILED
    if existing is not None and existing.status is ReplicationStatus.SKIPPED and existing.not_selected:
        if _not_selected(settings, source, target, facts, record) is not None:
            return existing  # still left out: the record stays as it was
        record, replacing, replaced = next_attempt(record, existing), existing.attempt, ReplicationStatus.SKIPPED
        existing = None
    if existing is not None and existing.status.final:
        if not retry_failed or (why := existing.retryable) is not None:
            logger.info("already replicated: repeated event ignored", extra={"replication_id": record.replication_id})
            if retry_failed:
                logger.info("not retried", extra={"replication_id": record.replication_id, "reason": why})
            return existing
        record, replacing = next_attempt(record, existing), existing.attempt
        existing = None
    if existing is None:
        if (why_not := _not_selected(settings, source, target, facts, record)) is not None:
            skipped = record.model_copy(
                update={"status": ReplicationStatus.SKIPPED, "reason": f"not selected: {why_not}", "not_selected": True}
            )
            return record_outcome(settings, skipped, replacing_attempt=replacing, replaced=replaced)
        try:
            plan = plan_replication(source, target, single_step=_single_step_worth_trying(settings, source, target))
            if refusal := settings.destinations.refusal(plan.target_account_id):
                raise ReplicationRefused(refusal, field="role_arn")
            preflight(plan)
        except ReplicationRefused as refused:
            return _failed(settings, record, f"refused: {refused.reason}", replacing, replaced)
        except RoleNotAssumable as error:
            return _failed(settings, record, _not_assumable(settings, error), replacing, replaced)
        except ClientError as error:
            if is_transient(error):
                raise  # passing: the event is retried (Lambda, then EventBridge) and nothing was made yet
            reason = f"could not check the replication: {error_code(error)}: {error}"
            return _failed(settings, record, reason, replacing, replaced)
        note = _copy_note(settings, plan)
        record = record.model_copy(update={"plan": plan, "progress": Progress(phase=Phase.QUEUED), "copy_note": note})
        if replacing is not None:
            if not replication_records.replace_failed(settings.history_table, record, replacing, replaced):
                return (
                    replication_records.get_record(settings.history_table, record.replication_id) or record
                )  # retried already
        else:
            existing = replication_records.create_record(settings.history_table, record)
    if existing is not None:
        if existing.status.final or existing.plan is None or existing.progress is None:
            return existing  # finished meanwhile, or a record of an older version: never started twice
        if stepfunctions.execution_exists(settings.state_machine_arn, existing.execution_name or ""):
            logger.info("replication in progress: repeated event", extra={"replication_id": existing.replication_id})
            return existing
        record = existing  # recorded, but its execution never started (a crash between the two): start it now
    return start_execution(settings, record)


def start_execution(settings: Settings, record: ReplicationRecord) -> ReplicationRecord:
    if record.progress is None or not record.execution_name:
        raise ValueError(f"replication {record.replication_id} was recorded without its plan")
    state = execution_state(record.replication_id, record.progress, settings.slot_recheck_seconds)
    try:
        stepfunctions.start_execution(settings.state_machine_arn, record.execution_name, state.to_payload())
    except ClientError as error:
        if is_transient(error):
            raise  # passing: the retried event finds the record and starts its execution
        # nothing was set in motion: the record says why, nothing needs cleaning up
        return _failed(settings, record, f"could not start the replication's execution: {error_code(error)}: {error}")
    return record


def _copy_note(settings: Settings, plan: ReplicationPlan) -> str | None:
    """What the record says of this replication's copies: a full copy when it starts a lineage, full transfers."""
    notes = [plan.note] if plan.note else []
    if plan.base is not None and settings.slots_table:
        known = lineage_bases.get(settings.slots_table, plan.base.lineage)
        if known is None:
            notes.append("the first copy of its lineage: a full copy (the next ones are incremental against it)")
        elif known.signature != plan.base.signature:
            notes.append(
                f"the key or the plan changed ({known.signature} -> {plan.base.signature}): a new lineage, whose first "
                "copy is full"
            )
    return "; ".join(notes) or None


def _single_step_worth_trying(settings: Settings, source: SourceSnapshot, target: MappingTarget) -> bool:
    """False when AWS refused a single-step cross-account, cross-region copy on this route within the last day."""
    if target.role_arn is None or target.target_region == source.region or not settings.slots_table:
        return True
    return not routes.single_step_refused_lately(
        settings.slots_table, source.kind.value, source.region, target.target_region
    )


def _failed(
    settings: Settings,
    record: ReplicationRecord,
    reason: str,
    replacing: int | None = None,
    replaced: ReplicationStatus = ReplicationStatus.FAILED,
) -> ReplicationRecord:
    failed = record.model_copy(update={"status": ReplicationStatus.FAILED, "reason": reason})
    return record_outcome(settings, failed, replacing_attempt=replacing, replaced=replaced)


def _not_selected(
    settings: Settings, source: SourceSnapshot, target: MappingTarget, facts: DatabaseFacts, record: ReplicationRecord
) -> str | None:
    """Why the target's selection leaves this snapshot out (the rule), or None: it is replicated.

    min_interval_hours reads the replications of the same database to the same target whose snapshots were taken
    within the interval on either side (the database index: one Query, however long the history).
    """
    selection = target.selection
    if selection is None:
        return None
    if (refusal := selection.refusal(facts)) is not None:
        return refusal
    if selection.min_interval_hours is None or record.database_target is None or source.created_at is None:
        return None
    interval = timedelta(hours=selection.min_interval_hours)
    taken = parse_taken_key(taken_key(source.created_at))  # in UTC, as the index holds it
    nearby = replication_records.replications_of_database(
        settings.history_table,
        record.database_target,
        since=taken_key(taken - interval),
        until=taken_key(taken + interval),
    )
    apart = [
        (taken - other.taken_at).total_seconds() / 3600
        for other in nearby
        if other.counts_for_interval and other.replication_id != record.replication_id
    ]
    return interval_refusal(selection, apart)


def _not_assumable(settings: Settings, error: RoleNotAssumable) -> str:
    if settings.allowed_organization_id:
        return f"{error} (AllowedOrganizationId is {settings.allowed_organization_id}: is the account in it?)"
    return str(error)


def preflight(plan: ReplicationPlan) -> None:
    """AWS-side checks before anything is made: the target region offers the engine version and the key is usable."""
    source, target = plan.source, plan.target
    role = target.role_arn
    region = target.target_region
    if source.engine and not rds.engine_version_offered(source.engine, source.engine_version, region, role):
        raise ReplicationRefused(
            f"{source.engine} {source.engine_version} is not offered in {target.target_region}: a replica there "
            "could not be restored; upgrade the database or choose another target region",
            field="target_region",
        )
    key = target.encryption.kms_key_arn
    if plan.replica_encrypted and key and (problem := kms.key_problem(key, target.target_region, role)):
        raise ReplicationRefused(problem, field="encryption.kms_key_arn")
    # the keys this account's own copies use (share_kms_key_arn in the source region, transfer_kms_key_arn in the
    # target region): each must exist, enabled, where its copy is made
    named = {target.share_kms_key_arn: "share_kms_key_arn", target.transfer_kms_key_arn: "transfer_kms_key_arn"}
    for step in plan.steps:
        own_copy = step.action is StepAction.COPY and step.account_id == source.account_id
        key_field = named.get(step.kms_key_id) if own_copy and step.kms_key_id else None
        if key_field and (problem := kms.key_problem(str(step.kms_key_id), step.region, None)):
            raise ReplicationRefused(f"{key_field}: {problem}", field=key_field)
