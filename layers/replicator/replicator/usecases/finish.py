"""The state machine's FinishSucceeded / FinishFailed task: verify, clean up, record the outcome.

Success is recorded only for a replica that exists, is available, carries this replication's markers and is
encrypted as planned; it is then tagged complete (target-account roles can protect complete replicas from deletion).
Cleanup removes only what this replication made (checked by its tags) and only the shares it added that no other
running replication needs. A final outcome recorded already is never changed.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..aws import rds, shares
from ..execution import Phase
from ..history import ReplicationRecord, ReplicationStatus
from ..planning import PlanStep, StepAction
from ..snapshots import TAG_COMPLETE
from .guard import TaskContext
from .outcomes import publish_pending, record_outcome
from .slots import give_back_everything


def finish_replication(ctx: TaskContext) -> ReplicationRecord:
    """Clean up intermediate copies and shares, then record SUCCEEDED or FAILED (with the reason)."""
    if ctx.final:
        # recorded already (a retry, or the failure path after a recorded success): never changed, but its event
        # still goes out if publishing it failed the first time
        return publish_pending(ctx.settings, ctx.record)
    settings, plan, progress = ctx.settings, ctx.plan, ctx.progress
    give_back_everything(settings, plan, progress.queued_at_ms)
    error = ctx.task_input.state.error
    succeeded = progress.all_done(plan) and error is None and ctx.task_input.state.phase is Phase.FINISHED
    reason = ""
    if succeeded:
        final_copy = plan.steps[-1]
        problem = _replica_problem(ctx, final_copy)
        if problem is None:
            rds.add_tags(final_copy, {TAG_COMPLETE: "true"})
            reason = f"replica {plan.replica_arn} is available"
        else:
            succeeded, reason = False, problem
    elif error is not None:
        reason = f"step {progress.step_label(plan)} failed: {error.describe()}"
    else:
        reason = progress.failure_reason or f"stopped at step {progress.step_label(plan)} without a reason"
    cleaning = ctx.save(progress, ReplicationStatus.CLEANING_UP)
    cleanup_errors = _clean_up(cleaning, include_unfinished=not succeeded)
    if succeeded and cleanup_errors:
        reason += "; cleanup left work to do (see cleanup_errors)"
    record = cleaning.record.model_copy(
        update={
            "status": ReplicationStatus.SUCCEEDED if succeeded else ReplicationStatus.FAILED,
            "reason": reason,
            "replica_arn": plan.replica_arn if succeeded else None,
            "cleanup_errors": cleanup_errors,
            "percent_progress": 100 if succeeded else progress.overall_percent(plan),
        }
    )
    return record_outcome(settings, record)


def _replica_problem(ctx: TaskContext, final_copy: PlanStep) -> str | None:
    """Why the replica is not the one this replication made as planned (None: it is)."""
    facts = rds.snapshot_facts(final_copy)
    if facts is None:
        return f"the replica {ctx.plan.replica_arn} does not exist"
    if facts.status != "available":
        return f"the replica {ctx.plan.replica_arn} is '{facts.status}', not 'available'"
    mismatch = rds.copy_mismatch(final_copy, facts, ctx.replication_id, ctx.plan.source)
    return f"{mismatch}; it is left untouched" if mismatch else None


def _clean_up(ctx: TaskContext, include_unfinished: bool) -> list[str]:
    """Leave the shares, delete intermediate copies (and, on failure, the copies this replication left unfinished).

    Each snapshot is deleted only if it carries this replication's markers; anything else is left untouched.
    """
    plan, rid = ctx.plan, ctx.replication_id
    errors: list[str] = []
    for step in plan.steps:
        if step.action is StepAction.SHARE:
            account = step.share_with or ""
            try:
                shares.leave(
                    ctx.settings.slots_table,
                    step.snapshot_arn,
                    account,
                    rid,
                    unshare=lambda step=step, account=account: rds.change_share(step, account, add=False),  # type: ignore[misc]
                )
            except ClientError as error:
                errors.append(f"{step.describe()} ({step.snapshot_arn}): could not remove the share: {error}")
    copies = {s.snapshot_identifier: s for s in plan.steps if s.action is StepAction.COPY}
    deletions = [copies[s.snapshot_identifier] for s in plan.cleanup if s.action is StepAction.DELETE]
    if include_unfinished:
        # copies from the recorded step on can only be this replication's unfinished work (a retry would redo them)
        later = plan.steps[ctx.progress.step_index :]
        named = _names(deletions)
        deletions += [s for s in later if s.action is StepAction.COPY and s.snapshot_identifier not in named]
    for step in deletions:
        try:
            facts = rds.snapshot_facts(step)
            if facts is None:
                continue
            if (mismatch := rds.copy_mismatch(step, facts, rid, plan.source)) is not None:
                errors.append(f"{step.snapshot_arn}: {mismatch}; left untouched")
                continue
            rds.delete_snapshot(step)
        except ClientError as error:
            errors.append(f"{step.describe()} ({step.snapshot_arn}): {error}")
    return errors


def _names(steps: list[PlanStep]) -> set[str]:
    return {s.snapshot_identifier for s in steps}
