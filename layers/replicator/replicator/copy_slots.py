"""Copy slots (pure): RDS allows 20 DB snapshot copies and 5 cluster snapshot copies in flight per destination
account and region. Each copy step takes a slot of its pool before it starts and gives it back when it ends; a
replication that finds its pool full waits in the pool's queue, in arrival order, until a slot is handed to it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .planning import PlanStep, StepAction
from .snapshots import SnapshotKind


class CopyQuotas(BaseModel):
    model_config = ConfigDict(frozen=True)

    instance: int = 20
    cluster: int = 5

    def limit(self, kind: SnapshotKind) -> int:
        return self.instance if kind is SnapshotKind.INSTANCE else self.cluster


def pool_of(step: PlanStep) -> str:
    """The quota a copy step counts against: its destination account and region, and the snapshot kind."""
    if step.action is not StepAction.COPY:
        raise ValueError(f"only copies take slots, not {step.action}")
    return f"{step.account_id}#{step.region}#{step.kind.value}"


def next_copy(steps: list[PlanStep], index: int) -> PlanStep | None:
    """The first copy step at or after `index` (the steps before it, shares, need no slot)."""
    return next((s for s in steps[index:] if s.action is StepAction.COPY), None)


def waiter_entry(queued_at_ms: int, replication_id: str) -> str:
    """Sort key of a waiting replication: its arrival time first, so the queue is served in arrival order."""
    return f"wait#{queued_at_ms:015d}#{replication_id}"


class SlotWaitExpired(Exception):
    """A replication waited longer than the settings allow for a copy slot (recorded as FAILED with this reason)."""


def slot_wait_problem(pool: str, queued_at_ms: int, now_ms: int, max_hours: int) -> str | None:
    """Why a replication must stop waiting for a slot of `pool`, or None while it may wait on."""
    waited_hours = (now_ms - queued_at_ms) / 3_600_000
    if waited_hours <= max_hours:
        return None
    return (
        f"waited {waited_hours:.0f} h for a copy slot in {pool} (limit: {max_hours} h, MAX_SLOT_WAIT_HOURS): "
        "copies there do not end, or copies made outside the replicator use the RDS copy quota"
    )
