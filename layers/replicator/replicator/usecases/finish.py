"""The state machine's FinishSucceeded / FinishFailed task: verify, clean up, record the outcome.

Success is recorded only for a replica that exists, is available, carries this replication's markers and is
encrypted as planned; it is then tagged complete (target-account roles can protect complete replicas from deletion).
Cleanup removes only what this replication made (checked by its tags) and only the shares it added that no other
running replication needs. A final outcome recorded already is never changed.
"""

from __future__ import annotations

from ..aws import rds
from ..execution import Phase
from ..history import ReplicationRecord, ReplicationStatus
from ..planning import PlanStep
from ..snapshots import TAG_COMPLETE
from .cleanup import clean_up, keep_base
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
    cleanup_errors = keep_base(settings, plan, progress, replica_made=succeeded, started_at=ctx.record.started_at)
    cleanup_errors += clean_up(settings, plan, progress, include_unfinished=not succeeded)
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
