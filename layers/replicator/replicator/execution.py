"""Where a replication is in its plan, and the pure transitions between the checks of its copies.

The plan and the progress are stored with the replication's record (the truth); the state machine's payload
(ExecutionState) carries only the replication id and what its Choice and Wait states read. Every task reads the plan
and the progress from the record by replication id, so no input can make a task act on a plan the replicator did
not make.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .clock import epoch_ms, utc_now
from .planning import PlanStep, ReplicationPlan, StepAction
from .waiting import CopyProgress, next_wait_seconds

COPY_IN_PROGRESS = {"creating", "copying", "pending", "queued"}


class Phase(StrEnum):
    """What the state machine does next (its Choice states read this)."""

    QUEUED = "queued"  # the next copy needs a slot first: AcquireSlot (waits in the pool's queue if it is full)
    WAITING = "waiting"  # a copy is in progress: Wait, then check it
    STEP_DONE = "step_done"  # the current copy is available: take a slot for the next one, then run it
    FINISHED = "finished"  # every step done: verify the replica, clean up and record SUCCEEDED
    FAILED = "failed"  # clean up and record FAILED with failure_reason


class TaskError(BaseModel):
    """What a Catch in the state machine puts at $.error."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    error: str = Field(alias="Error")
    cause: str | None = Field(default=None, alias="Cause")

    def describe(self) -> str:
        message = self.cause or ""
        with contextlib.suppress(ValueError, AttributeError):  # a Lambda error's cause is its JSON error payload
            message = json.loads(message).get("errorMessage", message)
        return f"{self.error}: {message}" if message else self.error


class WaitPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    floor_seconds: int = 30
    ceiling_seconds: int = 7200


class Progress(BaseModel):
    """Where a replication is in its plan; stored with its record, written only by the replication's own tasks."""

    model_config = ConfigDict(frozen=True)

    step_index: int = 0
    phase: Phase = Phase.QUEUED
    wait_seconds: int = 30
    percent_progress: int = 0  # of the current copy
    checks: int = 0
    step_started_at: datetime = Field(default_factory=utc_now)
    last_check_seconds: float | None = None  # seconds into the current copy at the last check
    queued_at_ms: int | None = None  # when it started to need a slot (epoch ms): its place in the pool's queue
    failure_reason: str | None = None
    fallback: bool = False  # AWS refused the plan's single-step copy: its fallback steps are carried out instead

    def current_step(self, plan: ReplicationPlan) -> PlanStep | None:
        return plan.steps[self.step_index] if self.step_index < len(plan.steps) else None

    def step_label(self, plan: ReplicationPlan) -> str:
        step = self.current_step(plan)
        total = len(plan.steps)
        if step is None:
            return f"{total}/{total} done"
        return f"{self.step_index + 1}/{total} {step.describe()}"

    def overall_percent(self, plan: ReplicationPlan) -> int:
        """Progress over all copy steps, so that a two-copy plan does not show 100% halfway."""
        copies = [i for i, s in enumerate(plan.steps) if s.action is StepAction.COPY]
        done = sum(1 for i in copies if i < self.step_index)
        current = self.percent_progress if self.step_index in copies else 0
        return int((done * 100 + current) / max(1, len(copies)))

    def all_done(self, plan: ReplicationPlan) -> bool:
        return self.phase is Phase.FINISHED and self.step_index >= len(plan.steps)


class ExecutionState(BaseModel):
    """The state machine's payload: the replication id and what its Choice and Wait states read, nothing to act on.

    Strict: a payload with anything more (a plan, a step, a role) was not made by the replicator.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    replication_id: str = Field(min_length=1, max_length=80)
    phase: Phase
    wait_seconds: int = Field(default=30, ge=0)
    slot_recheck_seconds: int = Field(default=3600, ge=1)
    error: TaskError | None = None

    def to_payload(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class TaskInput(BaseModel):
    """What the state machine passes each task: its state, the execution's name and (AcquireSlot) its task token."""

    model_config = ConfigDict(extra="forbid")

    state: ExecutionState
    execution_name: str = Field(min_length=1, max_length=80)
    task_token: str | None = None


def execution_state(replication_id: str, progress: Progress, slot_recheck_seconds: int) -> ExecutionState:
    return ExecutionState(
        replication_id=replication_id,
        phase=progress.phase,
        wait_seconds=progress.wait_seconds,
        slot_recheck_seconds=slot_recheck_seconds,
    )


def first_wait_seconds(plan: ReplicationPlan, policy: WaitPolicy) -> int:
    """The wait before the first check of a copy just started."""
    return _wait(plan, CopyProgress(0.0, 0), policy)


def _wait(plan: ReplicationPlan, progress: CopyProgress, policy: WaitPolicy) -> int:
    source = plan.source
    sized = CopyProgress(
        progress.elapsed_seconds,
        progress.percent,
        progress.previous_elapsed_seconds,
        progress.previous_percent,
        size_gb=source.allocated_storage_gb,
    )
    return next_wait_seconds(sized, floor=policy.floor_seconds, ceiling=policy.ceiling_seconds)


def copy_started(plan: ReplicationPlan, progress: Progress, step_index: int, policy: WaitPolicy) -> Progress:
    """The progress once the copy of `step_index` is started (or adopted): wait for its first check."""
    return progress.model_copy(
        update={
            "step_index": step_index,
            "phase": Phase.WAITING,
            "step_started_at": utc_now(),
            "percent_progress": 0,
            "last_check_seconds": None,
            "queued_at_ms": None,
            "wait_seconds": first_wait_seconds(plan, policy),
        }
    )


def observe_copy(
    plan: ReplicationPlan,
    progress: Progress,
    status: str | None,
    percent: int,
    policy: WaitPolicy,
    now: datetime | None = None,
) -> Progress:
    """The progress after one check of the current copy (`status` None = the copy no longer exists)."""
    step = progress.current_step(plan)
    if step is None:
        raise ValueError("observe_copy needs a step in progress")
    now = now or utc_now()
    changes: dict = {"checks": progress.checks + 1, "percent_progress": percent}
    if status == "available":
        changes.update(step_index=progress.step_index + 1, percent_progress=100, step_started_at=now)
        changes.update(last_check_seconds=None)
        changes["phase"] = Phase.STEP_DONE if progress.step_index + 1 < len(plan.steps) else Phase.FINISHED
        if changes["phase"] is Phase.STEP_DONE:
            changes["queued_at_ms"] = epoch_ms(now)  # the next copy needs a slot: its place in the queue from now
    elif status in COPY_IN_PROGRESS:
        elapsed = (now - progress.step_started_at).total_seconds()
        seen_before = progress.last_check_seconds is not None
        copy = CopyProgress(
            elapsed,
            percent,
            progress.last_check_seconds,
            progress.percent_progress if seen_before else None,
        )
        changes["phase"] = Phase.WAITING
        changes["wait_seconds"] = _wait(plan, copy, policy)
        changes["last_check_seconds"] = elapsed
    elif status is None:
        changes.update(phase=Phase.FAILED, failure_reason=f"{step.describe()}: {step.snapshot_identifier} disappeared")
    else:
        changes.update(
            phase=Phase.FAILED,
            failure_reason=f"{step.describe()}: copy {step.snapshot_identifier} ended in status '{status}'",
        )
    return progress.model_copy(update=changes)
