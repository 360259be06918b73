"""The state machine's CheckCopy task: look at the copy in progress (in its account and region) and record it."""

from __future__ import annotations

from ..aws import rds
from ..execution import ExecutionState, Phase, observe_copy
from .guard import TaskContext
from .slots import give_back


def check_copy(ctx: TaskContext) -> ExecutionState:
    """Check the recorded copy in progress; when it ended, give its slot to the next waiter."""
    if ctx.final or ctx.progress.phase is not Phase.WAITING:
        return ctx.state()  # checked already (a retry after the check was recorded): carry on from the record
    step = ctx.progress.current_step(ctx.plan)
    if step is None:
        raise ValueError(f"replication {ctx.replication_id} waits for a copy, but every step of its plan is done")
    status, percent = rds.copy_status(step)
    observed = observe_copy(ctx.plan, ctx.progress, status, percent, ctx.settings.wait_policy)
    if observed.step_index != ctx.progress.step_index or observed.phase is Phase.FAILED:
        give_back(ctx.settings, ctx.replication_id, step.slot_pool)  # the copy ended: its slot goes to the next waiter
    return ctx.save(observed).state()
