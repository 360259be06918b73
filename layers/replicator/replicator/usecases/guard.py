"""What every state machine task does first: check that its input is one the replicator made and load the plan.

The input names a replication and the execution it comes from; the plan, the target and the progress are read from
the replication's record, where only the start function puts a plan. A task refuses (PlanTampering, counted in the
metric of that name, which has an alarm) an input with anything more than the replicator puts there, a replication
that does not exist or has no stored plan, an execution that does not own the replication, and a stored plan that
is not the one the planner makes for its source and target or that names a destination the stack does not allow.
A refused input is recorded as its own FAILED outcome (`tampering-...`), so that a forged call can neither act nor
fail a real replication; a stored plan found altered fails its replication, with nothing done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..aws.dynamodb import replication_records
from ..execution import ExecutionState, Phase, Progress, TaskInput, execution_state
from ..history import ReplicationRecord, ReplicationStatus
from ..mapping import describe_validation_error
from ..observability import MetricUnit, logger, metrics
from ..planning import ReplicationPlan
from ..settings import Settings
from ..snapshots import short_hash
from . import outcomes


class PlanTampering(Exception):
    """A task was asked to act on something the replicator did not plan; nothing was done."""


@dataclass(frozen=True)
class TaskContext:
    """A task's verified view of its replication: the stored record, plan and progress."""

    settings: Settings
    task_input: TaskInput
    record: ReplicationRecord
    plan: ReplicationPlan
    progress: Progress

    @property
    def replication_id(self) -> str:
        return self.record.replication_id

    @property
    def final(self) -> bool:
        return self.record.status.final

    def state(self, progress: Progress | None = None) -> ExecutionState:
        """The execution's next state: where the replication is, as its record says."""
        progress = progress or self.progress
        if self.final:
            return ExecutionState(
                replication_id=self.replication_id,
                phase=Phase.FINISHED if self.record.status is ReplicationStatus.SUCCEEDED else Phase.FAILED,
                slot_recheck_seconds=self.settings.slot_recheck_seconds,
            )
        return execution_state(self.replication_id, progress, self.settings.slot_recheck_seconds)

    def save(self, progress: Progress, status: ReplicationStatus | None = None) -> TaskContext:
        """Record the replication's new progress (never over a final outcome)."""
        record = self.record.progressed(progress, status)
        replication_records.put_record(self.settings.history_table, record)
        plan = record.plan.route(progress.fallback) if record.plan else self.plan
        return TaskContext(self.settings, self.task_input, record, plan, progress)


def load_task(payload: Any, settings: Settings, task: str) -> TaskContext:
    """The verified context of a task invocation; PlanTampering (after recording it) for anything else."""
    try:
        task_input = TaskInput.model_validate(payload)
    except ValidationError as error:
        rid, execution = _claimed(payload)
        reason = f"its input is not one the replicator makes ({describe_validation_error(error)})"
        raise refuse_input(settings, task, reason, payload, rid, execution) from error
    rid = task_input.state.replication_id
    execution = task_input.execution_name
    record = replication_records.get_record(settings.history_table, rid)
    if record is None:
        raise refuse_input(settings, task, f"no replication {rid} is recorded", payload, rid, execution)
    if record.plan is None or record.progress is None:
        raise refuse_input(settings, task, f"replication {rid} has no stored plan", payload, rid, execution)
    if record.execution_name != execution:
        reason = f"execution {execution} does not own replication {rid} (its execution is {record.execution_name})"
        raise refuse_input(settings, task, reason, payload, rid, execution)
    if problems := record.plan.problems(settings.destinations):
        raise refuse_stored_plan(settings, task, record, problems)
    return TaskContext(settings, task_input, record, record.plan.route(record.progress.fallback), record.progress)


def _claimed(payload: Any) -> tuple[str | None, str | None]:
    """(replication id, execution name) an input that is not the replicator's claims, as far as they can be read."""
    if not isinstance(payload, dict):
        return None, None
    execution = payload.get("execution_name")
    state = payload.get("state", payload)
    rid = None
    if isinstance(state, dict):
        plan = state.get("plan")
        rid = state.get("replication_id") or (plan.get("replication_id") if isinstance(plan, dict) else None)
    return (str(rid)[:80] if rid else None), (str(execution)[:80] if execution else None)


def refuse_input(
    settings: Settings,
    task: str,
    reason: str,
    payload: Any,
    replication_id: str | None = None,
    execution: str | None = None,
) -> PlanTampering:
    """Count and record a task input the replicator did not make; the replication it names is left as it is."""
    subject = f"replication {replication_id}" if replication_id else "no replication"
    message = f"{task} refused an input the replicator did not make, naming {subject}: {reason}; nothing was done"
    metrics.add_metric(name="PlanTampering", unit=MetricUnit.Count, value=1)
    logger.error("plan tampering", extra={"task": task, "reason": reason, "execution": execution})
    fingerprint = execution or json.dumps(payload, sort_keys=True, default=str)
    record = ReplicationRecord(
        replication_id=f"tampering-{short_hash(task if not execution else '', fingerprint, length=16)}",
        status=ReplicationStatus.FAILED,
        reason=message,
        execution_name=execution,
    )
    if replication_records.create_record(settings.history_table, record) is None:
        outcomes.publish(settings, record)
    return PlanTampering(message)


def refuse_stored_plan(settings: Settings, task: str, record: ReplicationRecord, problems: list[str]) -> PlanTampering:
    """A stored plan that is not the planner's: its replication fails, and no step of it is carried out."""
    message = (
        f"{task} refused replication {record.replication_id}: its stored plan is not one the replicator makes "
        f"({'; '.join(problems)}); nothing of it was done, intermediates (if any) are left for a person to check"
    )
    metrics.add_metric(name="PlanTampering", unit=MetricUnit.Count, value=1)
    logger.error("plan tampering", extra={"task": task, "replication_id": record.replication_id, "problems": problems})
    failed = record.model_copy(update={"status": ReplicationStatus.FAILED, "reason": message, "replica_arn": None})
    outcomes.record_outcome(settings, failed)
    return PlanTampering(message)
