"""The state machine's payload, and the pure transitions of a replication between its checks."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .history import utc_now
from .planning import PlanStep, ReplicationPlan
from .snapshots import SnapshotKind
from .waiting import CopyProgress, next_wait_seconds

COPY_IN_PROGRESS = {"creating", "copying", "pending", "queued"}


class Phase(StrEnum):
    """What the state machine does next (its Choice state reads this)."""

    QUEUED = "queued"  # the next copy needs a slot first: AcquireSlot (waits in the pool's queue if it is full)
    WAITING = "waiting"  # a copy is in progress: Wait, then check it
    STEP_DONE = "step_done"  # the current copy is available: run the next step
    FINISHED = "finished"  # every step done: clean up and record SUCCEEDED
    FAILED = "failed"  # clean up and record FAILED with failure_reason


class TaskError(BaseModel):
    """What a Catch in the state machine puts at $.error."""

    model_config = ConfigDict(populate_by_name=True)

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
    ceiling_seconds: int = 900


class ReplicationState(BaseModel):
    """The input and output of every task of the replication state machine."""

    plan: ReplicationPlan
    event_id: str
    step_index: int = 0
    phase: Phase = Phase.WAITING
    wait_seconds: int = 30
    percent_progress: int = 0
    checks: int = 0
    started_at: datetime = Field(default_factory=utc_now)
    step_started_at: datetime = Field(default_factory=utc_now)
    failure_reason: str | None = None
    error: TaskError | None = None
    last_check_seconds: float | None = None  # seconds into the current copy at the last check
    slot_pool: str | None = None  # the copy-slot pool this replication holds a slot of
    queued_at_ms: int | None = None  # when it started to need a slot (epoch ms): its place in the pool's queue
    slot_recheck_seconds: int = 3600  # AcquireSlot's timeout: a waiting replication re-checks its place this often

    @property
    def current_step(self) -> PlanStep | None:
        steps = self.plan.steps
        return steps[self.step_index] if self.step_index < len(steps) else None

    def step_label(self) -> str:
        step = self.current_step
        total = len(self.plan.steps)
        if step is None:
            return f"{total}/{total} done"
        return f"{self.step_index + 1}/{total} {step.describe()}"

    def to_payload(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def first_wait_seconds(state: ReplicationState, policy: WaitPolicy) -> int:
    """The wait before the first check of a copy just started."""
    return _wait(state, CopyProgress(0.0, 0), policy)


def _wait(state: ReplicationState, progress: CopyProgress, policy: WaitPolicy) -> int:
    source = state.plan.source
    sized = CopyProgress(
        progress.elapsed_seconds,
        progress.percent,
        progress.previous_elapsed_seconds,
        progress.previous_percent,
        size_gb=source.allocated_storage_gb,
        cluster=source.kind is SnapshotKind.CLUSTER,
    )
    return next_wait_seconds(sized, floor=policy.floor_seconds, ceiling=policy.ceiling_seconds)


def observe_copy(
    state: ReplicationState, status: str | None, percent: int, policy: WaitPolicy, now: datetime | None = None
) -> ReplicationState:
    """The state after one check of the current copy (`status` None = the copy no longer exists)."""
    step = state.current_step
    if step is None:
        raise ValueError("observe_copy needs a step in progress")
    now = now or utc_now()
    changes: dict = {"checks": state.checks + 1, "percent_progress": percent}
    if status == "available":
        changes.update(step_index=state.step_index + 1, percent_progress=100, step_started_at=now)
        changes.update(last_check_seconds=None)
        changes["phase"] = Phase.STEP_DONE if state.step_index + 1 < len(state.plan.steps) else Phase.FINISHED
        if changes["phase"] is Phase.STEP_DONE:
            changes["queued_at_ms"] = epoch_ms(now)  # the next copy needs a slot: its place in the queue from now
    elif status in COPY_IN_PROGRESS:
        elapsed = (now - state.step_started_at).total_seconds()
        seen_before = state.last_check_seconds is not None
        progress = CopyProgress(
            elapsed,
            percent,
            state.last_check_seconds,
            state.percent_progress if seen_before else None,
        )
        changes["phase"] = Phase.WAITING
        changes["wait_seconds"] = _wait(state, progress, policy)
        changes["last_check_seconds"] = elapsed
    elif status is None:
        changes.update(phase=Phase.FAILED, failure_reason=f"{step.describe()}: {step.snapshot_identifier} disappeared")
    else:
        changes.update(
            phase=Phase.FAILED,
            failure_reason=f"{step.describe()}: copy {step.snapshot_identifier} ended in status '{status}'",
        )
    return state.model_copy(update=changes)
