"""Removing what a replication made along the way: the shares it added, its intermediate copies, and (when it did
not succeed) its unfinished copies. Used by the finishing task and by the reconciler (for replications whose
execution ended without finishing, and for cleanups that failed once).

Only what this replication made goes: a snapshot is deleted only if it carries this replication's markers and is
what its plan makes; a share is removed only by its last user, and only if the replicator added it.
"""

from __future__ import annotations

from datetime import datetime

from botocore.exceptions import ClientError

from ..aws import rds, shares
from ..aws.dynamodb import lineage_bases
from ..execution import Progress
from ..observability import MetricUnit, logger, metrics
from ..planning import PlanStep, ReplicationPlan, StepAction
from ..settings import Settings


def clean_up(settings: Settings, plan: ReplicationPlan, progress: Progress, include_unfinished: bool) -> list[str]:
    """What could not be removed (empty: everything was); each failure is counted in the CleanupFailed metric."""
    rid = plan.replication_id
    errors: list[str] = []
    for step in plan.steps:
        if step.action is StepAction.SHARE:
            account = step.share_with or ""
            try:
                shares.leave(
                    settings.slots_table,
                    step.snapshot_arn,
                    account,
                    rid,
                    unshare=lambda step=step, account=account: rds.change_share(step, account, add=False),  # type: ignore[misc]
                )
            except ClientError as error:
                errors.append(f"{step.describe()} ({step.snapshot_arn}): could not remove the share: {error}")
    for step in copies_to_delete(plan, progress, include_unfinished):
        try:
            facts = rds.snapshot_facts(step)
            if facts is None:
                continue
            if (mismatch := rds.copy_mismatch(step, facts, rid, plan.source)) is not None:
                logger.info("left untouched", extra={"snapshot": step.snapshot_arn, "why": mismatch})
                continue
            rds.delete_snapshot(step)
        except ClientError as error:
            errors.append(f"{step.describe()} ({step.snapshot_arn}): {error}")
    if errors:
        metrics.add_metric(name="CleanupFailed", unit=MetricUnit.Count, value=len(errors))
        logger.warning("cleanup left work to do", extra={"replication_id": rid, "errors": errors})
    return errors


def keep_base(
    settings: Settings, plan: ReplicationPlan, progress: Progress, replica_made: bool, started_at: datetime
) -> list[str]:
    """Record the copy this replication made as its lineage's base, and delete the intermediate base it replaces.

    AWS makes a copy incremental against the most recent copy in the destination, and full once that one is gone: an
    intermediate base that was completed is kept whatever happened after it (a failed final copy included).
    """
    base = plan.base
    if base is None or not settings.slots_table:
        return []
    completed = progress.step_index > base.step_index if base.intermediate else replica_made
    if not completed:
        return []
    step = plan.steps[base.step_index]
    record = lineage_bases.BaseRecord(
        lineage=base.lineage,
        signature=base.signature,
        snapshot_arn=step.snapshot_arn,
        replication_id=plan.replication_id,
        taken_at=plan.source.created_at or started_at,
        size_gb=plan.source.allocated_storage_gb,
        intermediate=base.intermediate,
        updated_at=started_at,
    )
    try:
        superseded = lineage_bases.keep(settings.slots_table, record)
        if superseded is not None and base.intermediate:
            # intermediate bases live in the source account (no role); replicas are the retention's to delete
            rds.delete_replicator_snapshot(superseded, None)
            logger.info("older base deleted", extra={"lineage": base.lineage, "snapshot": superseded})
    except ClientError as error:
        return [f"keeping {step.snapshot_arn} as the base of {base.lineage}: {error}"]
    return []


def copies_to_delete(plan: ReplicationPlan, progress: Progress, include_unfinished: bool) -> list[PlanStep]:
    """The plan's intermediate copies, and (on failure) the copies from the recorded step on: its unfinished work."""
    copies = {s.snapshot_identifier: s for s in plan.steps if s.action is StepAction.COPY}
    deletions = [copies[s.snapshot_identifier] for s in plan.cleanup if s.action is StepAction.DELETE]
    if include_unfinished:
        named = {s.snapshot_identifier for s in deletions}
        later = plan.steps[progress.step_index :]
        deletions += [s for s in later if s.action is StepAction.COPY and s.snapshot_identifier not in named]
    return deletions
