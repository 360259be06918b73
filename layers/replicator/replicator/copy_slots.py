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


class Waiter(BaseModel):
    """A replication waiting for a slot of a pool shared by several source accounts (issue 17: one vault account
    receiving the replicas of many workload accounts, whose copies all count against the vault's quota)."""

    model_config = ConfigDict(frozen=True)

    replication_id: str
    source_account: str
    queued_at_ms: int


def fair_grants(
    waiters: list[Waiter], held: dict[str, int], free: int, per_account_cap: int | None = None
) -> list[Waiter]:
    """Which waiters the `free` slots of a shared pool go to, in order.

    Max-min fair between source accounts: each slot goes to the waiting account that holds the fewest slots (ties:
    the account whose oldest waiter came first); within an account, its oldest waiter. An account's backfill of
    thousands of snapshots therefore delays another account by at most about one copy, whatever the order of
    arrival, and no slot stays free while anyone waits. `per_account_cap`, if given, is a hard ceiling on the slots
    one account holds at a time (a waiter of an account at its cap waits even if slots are free).
    """
    queues: dict[str, list[Waiter]] = {}
    for waiter in sorted(waiters, key=lambda w: (w.queued_at_ms, w.replication_id)):
        queues.setdefault(waiter.source_account, []).append(waiter)
    holding = dict(held)
    granted: list[Waiter] = []
    while len(granted) < free:
        eligible = [
            account
            for account, queue in queues.items()
            if queue and (per_account_cap is None or holding.get(account, 0) < per_account_cap)
        ]
        if not eligible:
            break
        account = min(eligible, key=lambda a: (holding.get(a, 0), queues[a][0].queued_at_ms, a))
        granted.append(queues[account].pop(0))
        holding[account] = holding.get(account, 0) + 1
    return granted
