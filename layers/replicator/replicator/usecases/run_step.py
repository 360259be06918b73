"""The state machine's RunStep task: carry out the stored plan's next steps (shares, then one copy).

Steps run from where the record says the replication is, so a retried or repeated call does the same thing again
(shares and copies are idempotent: an existing copy is adopted only if this replication made it as planned).
"""

from __future__ import annotations

from ..aws import rds, routes, shares
from ..clock import epoch_ms, utc_now
from ..execution import ExecutionState, Phase, Progress, copy_started
from ..observability import MetricUnit, logger, metrics
from ..planning import PlanStep, ReplicationPlan, StepAction
from .guard import PlanTampering, TaskContext
from .slots import give_back, holds_slot

_RUNNABLE = (Phase.QUEUED, Phase.STEP_DONE)


def run_step(ctx: TaskContext) -> ExecutionState:
    """Run steps from the recorded one until a copy is started (then wait for it) or none are left."""
    if ctx.final or ctx.progress.phase not in _RUNNABLE:
        return ctx.state()  # done already (a retry after the work was recorded): carry on from the record
    plan, progress, rid = ctx.plan, ctx.progress, ctx.replication_id
    index = progress.step_index
    while index < len(plan.steps):
        step = plan.steps[index]
        if step.action is StepAction.COPY:
            if not holds_slot(ctx.settings, rid, step.slot_pool):
                # no slot for this copy (the hand-over was undone, or the input skipped AcquireSlot): queue for one
                queued = progress.queued_at_ms or epoch_ms(utc_now())
                changes = {"step_index": index, "phase": Phase.QUEUED, "queued_at_ms": queued}
                return ctx.save(progress.model_copy(update=changes)).state()
            try:
                rds.start_copy(step, rid, plan.source)
            except rds.SingleStepRefused as refused:
                return _fall_back(ctx, progress.model_copy(update={"step_index": index}), step, str(refused))
            logger.info("copy started", extra={"replication_id": rid, "step": f"{index + 1}/{len(plan.steps)}"})
            return ctx.save(copy_started(plan, progress, index, ctx.settings.wait_policy)).state()
        if step.action is StepAction.SHARE:
            share(ctx, step)
            logger.info("shared", extra={"replication_id": rid, "step": f"{index + 1}/{len(plan.steps)}"})
        index += 1
        progress = progress.model_copy(update={"step_index": index})
    return ctx.save(progress.model_copy(update={"phase": Phase.FINISHED})).state()


def _fall_back(ctx: TaskContext, progress: Progress, step: PlanStep, why: str) -> ExecutionState:
    """AWS refused the single-step copy: carry out the plan's fallback (an in-region staging copy first) from here,
    and remember the refusal for this route so that the next plans take the staging path at once."""
    if progress.fallback or not ctx.record.plan or not ctx.record.plan.fallback_steps:
        raise rds.SingleStepRefused(why)  # no fallback left: the replication fails with AWS's answer
    source = ctx.plan.source
    routes.remember_single_step_refused(ctx.settings.slots_table, source.kind.value, source.region, step.region, why)
    metrics.add_metric(name="SingleStepRefused", unit=MetricUnit.Count, value=1)
    logger.warning("single-step copy refused: staging", extra={"replication_id": ctx.replication_id, "why": why})
    give_back(ctx.settings, ctx.replication_id, step.slot_pool)  # the staging copy needs a slot of another pool
    queued = progress.model_copy(update={"fallback": True, "phase": Phase.QUEUED, "queued_at_ms": epoch_ms(utc_now())})
    return ctx.save(queued).state()


def check_share(plan: ReplicationPlan, step: PlanStep) -> None:
    """The last check before a share: only the plan's own snapshot, only with the plan's target account."""
    account = step.share_with or ""
    if not (account.isdigit() and len(account) == 12) or account != plan.target_account_id:
        raise PlanTampering(f"refused to share {step.snapshot_identifier} with {account!r}: not the plan's target")
    own = {plan.source.identifier} | {s.snapshot_identifier for s in plan.steps if s.action is StepAction.COPY}
    if step.snapshot_identifier not in own or step.account_id != plan.source.account_id:
        raise PlanTampering(f"refused to share {step.snapshot_identifier}: not a snapshot of this plan")


def share(ctx: TaskContext, step: PlanStep) -> None:
    """Share a snapshot of the plan with its target account, unless it was shared already (then never unshared)."""
    check_share(ctx.plan, step)
    account = step.share_with or ""
    origin = shares.join(
        ctx.settings.slots_table,
        step.snapshot_arn,
        account,
        ctx.replication_id,
        already_shared=lambda: account in rds.shared_with(step),
    )
    if origin is shares.Origin.REPLICATOR and account not in rds.shared_with(step):
        rds.change_share(step, account, add=True)
