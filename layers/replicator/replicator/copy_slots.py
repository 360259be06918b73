"""Copy slots (pure): RDS allows 20 DB snapshot copies and 5 cluster snapshot copies in flight per destination
account and region. Each copy step takes a slot of its pool before it starts and gives it back when it ends; a
replication that finds its pool full waits in the pool's queue, in arrival order, until a slot is handed to it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .snapshots import SnapshotKind


class CopyQuotas(BaseModel):
    model_config = ConfigDict(frozen=True)

    instance: int = 20
    cluster: int = 5

    def limit(self, kind: SnapshotKind) -> int:
        return self.instance if kind is SnapshotKind.INSTANCE else self.cluster


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
