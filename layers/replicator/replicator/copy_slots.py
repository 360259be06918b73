"""Copy slots (pure): RDS allows 20 DB snapshot copies and 5 cluster snapshot copies in flight per destination
account and region. Each copy step takes a slot of its pool before it starts and gives it back when it ends; a
replication that finds its pool full waits in the pool's queue, in arrival order, until a slot is handed to it."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from .snapshots import SnapshotKind


class CopyQuotas(BaseModel):
    model_config = ConfigDict(frozen=True)

    instance: int = 20
    cluster: int = 5

    def limit(self, kind: SnapshotKind) -> int:
        return self.instance if kind is SnapshotKind.INSTANCE else self.cluster


_POOL = re.compile(r"\d{12}#[a-z]{2}(-[a-z]+)+-\d+#(instance|cluster)")


def is_pool(name: str) -> bool:
    """Whether `name` is a copy-slot pool: `account#region#kind` (what PlanStep.slot_pool makes). A vault's
    coordinator reads pool names from what workload accounts write: anything else is ignored, never acted on."""
    return _POOL.fullmatch(name) is not None


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
    waiters: list[Waiter],
    held: dict[str, int],
    free: int,
    per_account_cap: int | None = None,
    granted: dict[str, int] | None = None,
) -> list[Waiter]:
    """Which waiters the `free` slots of a shared pool go to, in order.

    Fair between source accounts over time: each slot goes to the waiting account that has been granted the fewest
    slots so far (`granted`: see grant_counts), then to the one holding the fewest now, then to the one whose
    oldest waiter came first; within an account, its oldest waiter. An account's backfill of thousands of snapshots
    thus delays another account by about one copy per turn, whatever the order of arrival. No slot stays free
    while anyone eligible waits. `per_account_cap`, if given, is a hard ceiling on the slots one account holds at a
    time (a waiter of an account at its cap waits even if slots are free).

    Pure: the caller adds the returned grants to its own counts (`grant_counts`).
    """
    queues: dict[str, list[Waiter]] = {}
    for waiter in sorted(waiters, key=lambda w: (w.queued_at_ms, w.replication_id)):
        queues.setdefault(waiter.source_account, []).append(waiter)
    holding = dict(held)
    served = grant_counts(granted or {}, held, set(queues))
    chosen: list[Waiter] = []
    while len(chosen) < free:
        eligible = [
            account
            for account, queue in queues.items()
            if queue and (per_account_cap is None or holding.get(account, 0) < per_account_cap)
        ]
        if not eligible:
            break
        account = min(eligible, key=lambda a: (served[a], holding.get(a, 0), queues[a][0].queued_at_ms, a))
        chosen.append(queues[account].pop(0))
        holding[account] = holding.get(account, 0) + 1
        served[account] += 1
    return chosen


def grant_counts(
    granted: dict[str, int], held: dict[str, int], waiting: set[str], new_grants: list[Waiter] | None = None
) -> dict[str, int]:
    """The slots each active account (waiting or holding) has been granted, as fair_grants reads them.

    Inactive accounts are forgotten, so idleness earns no priority. An account that is absent (new, or back after
    being forgotten) starts level with the least service any active account has completed (granted and given
    back): an account that took the whole pool while it was alone pays that head start back to those who come
    while its copies run, and one that comes back to a busy pool gets at most the slots in flight ahead of the
    others. Then `new_grants` are added."""
    active = waiting | {a for a, n in held.items() if n > 0}
    floor = min((granted[a] - held.get(a, 0) for a in active if a in granted), default=0)
    counts = {a: granted.get(a, floor) for a in active}
    for waiter in new_grants or []:
        counts[waiter.source_account] = counts.get(waiter.source_account, floor) + 1
    return counts
