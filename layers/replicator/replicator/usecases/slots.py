"""Copy slots: RDS allows 20 DB / 5 cluster snapshot copies in flight per destination account and region.

A replication takes a slot of the next copy's pool before the copy starts (AcquireSlot), or waits in the pool's
queue on its task token; a copy that ends gives its slot back and hands it to the oldest waiter, which is resumed.
Slots are held under the replication's id, so every path can give back what a replication holds without trusting
what any input says it holds.

A vault's shared pool (Settings.shares_pool: coordinator.yaml, docs/organization.md) is taken differently: the
replication asks for a slot with its own request in the vault's table (through the vault's role, which lets it
touch only its own account's requests), waits on its task token in this stack's table, and is woken by the vault's
coordinator (a `Copy Slot Granted` event, then SlotGranted) or finds the grant at its re-check; giving back is
deleting the request, which the coordinator sees.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..aws import stepfunctions
from ..aws.dynamodb import shared_slot_pool, slot_pools
from ..aws.sessions import home_region
from ..clock import epoch_ms, utc_now
from ..copy_slots import SlotWaitExpired, slot_wait_problem, waiter_entry
from ..execution import Phase
from ..observability import MetricUnit, logger, metrics
from ..planning import ReplicationPlan
from ..settings import Settings
from ..snapshots import SnapshotKind
from .guard import TaskContext


def holds_slot(settings: Settings, replication_id: str, pool: str) -> bool:
    if settings.shares_pool(pool):
        return granted_shared_slot(settings, replication_id, pool)
    return replication_id in slot_pools.holders(settings.slots_table, pool)


def granted_shared_slot(settings: Settings, replication_id: str, pool: str) -> bool:
    """Whether the vault's coordinator granted this replication a slot of the shared `pool` (its pool item says so:
    only the coordinator writes it)."""
    return shared_slot_pool.holds(*_shared(settings), pool, replication_id)


def _shared(settings: Settings) -> tuple[Any, str]:
    """The vault's table, through its role, and this stack's account (whose requests are the only ones it may
    touch there)."""
    table = shared_slot_pool.workload_table(
        settings.shared_slot_pool_table_arn, settings.shared_slot_pool_role_arn, settings.account_id
    )
    return table, settings.account_id


def take_slot(settings: Settings, replication_id: str, pool: str, queued_at_ms: int | None) -> bool:
    """Take a slot of `pool`; False when it is full or others wait for it (the queue is served in arrival order).

    A replication already holding one (handed to it while its task was being retried) keeps that one.
    """
    table = settings.slots_table
    if replication_id in slot_pools.holders(table, pool):
        taken = True
    else:
        waiter = slot_pools.oldest_waiter(table, pool)
        if waiter is not None and waiter["replication_id"] != replication_id:
            return False  # others wait for this pool: no barging in
        taken = slot_pools.try_acquire(table, pool, replication_id, settings.quotas.limit(_kind_of(pool)))
    if taken and queued_at_ms is not None:
        # its place in the queue goes: left there, it would be handed a second slot
        slot_pools.leave_queue(table, pool, waiter_entry(queued_at_ms, replication_id))
    return taken


def give_back(settings: Settings, replication_id: str, pool: str) -> None:
    """Give back the slot held in `pool` (if any) and hand it to the oldest waiter."""
    if settings.shares_pool(pool):
        # the coordinator sees the request go and hands the slot on (to whichever account's turn it is)
        shared_slot_pool.give_back_request(*_shared(settings), pool, replication_id)
        return
    if replication_id in slot_pools.holders(settings.slots_table, pool):
        slot_pools.release(settings.slots_table, pool, replication_id)
        _wake_without_failing(pool, settings)


def give_back_everything(settings: Settings, plan: ReplicationPlan, queued_at_ms: int | None) -> None:
    """A finishing replication holds no slot and no place in a queue afterwards, whatever its tasks recorded."""
    rid = plan.replication_id
    for pool in plan.slot_pools:
        if queued_at_ms is not None:
            slot_pools.leave_queue(settings.slots_table, pool, waiter_entry(queued_at_ms, rid))
        give_back(settings, rid, pool)


def _kind_of(pool: str) -> SnapshotKind:
    return SnapshotKind(pool.rsplit("#", 1)[1])


def _wake_without_failing(pool: str, settings: Settings) -> None:
    """Waking others is a courtesy of this replication: its failure must not fail this replication (whose copy is
    done); a waiter not woken takes the slot at its next re-check or the next wake."""
    try:
        wake_waiters(pool, settings)
    except ClientError as error:
        logger.warning("could not hand a slot to a waiter", extra={"pool": pool, "error": str(error)})
        metrics.add_metric(name="SlotHandOverFailed", unit=MetricUnit.Count, value=1)


def wake_waiters(pool: str, settings: Settings) -> None:
    """Hand free slots of `pool` to its waiters, oldest first, until the pool is full or nobody waits."""
    if settings.shares_pool(pool):
        return  # the vault's coordinator hands its slots over
    table = settings.slots_table
    limit = settings.quotas.limit(_kind_of(pool))
    while (waiter := slot_pools.oldest_waiter(table, pool)) is not None:
        outcome, lease = slot_pools.hand_over(table, pool, waiter, limit)
        if outcome is slot_pools.HandOver.FULL:
            return
        if outcome is slot_pools.HandOver.TAKEN:
            continue  # another release woke it first, or it queued again: look at the queue again
        rid = waiter["replication_id"]
        try:
            # the output says nothing the execution acts on: its next task reads its plan from its record
            handed_over = stepfunctions.send_task_success(waiter["task_token"], {"pool": pool})
        except ClientError as error:
            # not handed over: the slot is freed; the waiter, out of the queue, takes its place again (the same
            # entry, its arrival time) when its wait re-checks (SlotRecheckSeconds). Putting it back from here could
            # race with that re-check and leave a stale place behind.
            slot_pools.release(table, pool, rid, lease)
            logger.warning("could not hand a slot over", extra={"replication_id": rid, "error": str(error)})
            metrics.add_metric(name="SlotHandOverFailed", unit=MetricUnit.Count, value=1)
            if _refused(error):
                raise  # a permission problem stalls every waiter: fail loudly, never swallow it
            return
        if not handed_over:
            # its task ended (timed out and re-checking, or stopped): a re-check queues it again with a new token
            logger.warning("waiter gone: its slot is freed", extra={"replication_id": rid})
            slot_pools.release(table, pool, rid, lease)


def _refused(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code", "") in ("AccessDenied", "AccessDeniedException")


def acquire_slot(ctx: TaskContext) -> bool:
    """The state machine's AcquireSlot task: resume at once with a slot, or wait in the pool's queue (no polling).

    True when the slot was taken (and the execution resumed), False when the replication now waits in the queue.
    """
    token = ctx.task_input.task_token
    if not token:
        raise ValueError("AcquireSlot needs the task token")
    settings, rid, progress = ctx.settings, ctx.replication_id, ctx.progress
    step = None if ctx.final else ctx.plan.next_copy(progress.step_index)
    if step is None or progress.phase in (Phase.WAITING, Phase.FINISHED, Phase.FAILED):
        _resume(token)  # nothing to wait for: its next task takes it on from where its record says
        return True
    pool = step.slot_pool
    # a vault's shared pool is granted by its coordinator; this stack's own pools are taken here
    shared = settings.shares_pool(pool)
    if shared:
        taken = granted_shared_slot(settings, rid, pool)
    else:
        taken = take_slot(settings, rid, pool, progress.queued_at_ms)
    if taken:
        if progress.queued_at_ms is not None:
            if shared:  # (take_slot leaves the queue itself)
                slot_pools.leave_queue(settings.slots_table, pool, waiter_entry(progress.queued_at_ms, rid))
            ctx = ctx.save(progress.model_copy(update={"queued_at_ms": None}))
        _resume(token)
        return True
    now_ms = epoch_ms(utc_now())
    queued_at = progress.queued_at_ms or now_ms
    if problem := slot_wait_problem(pool, queued_at, now_ms, settings.max_slot_wait_hours):
        raise SlotWaitExpired(problem)
    slot_pools.enqueue(settings.slots_table, pool, waiter_entry(queued_at, rid), rid, token)
    ctx.save(progress.model_copy(update={"queued_at_ms": queued_at, "phase": Phase.QUEUED}))
    if shared:
        # asked (or re-checked) only now that the token is stored: a grant that follows at once finds what to wake
        shared_slot_pool.request_slot(*_shared(settings), pool, rid, queued_at, home_region())
    else:
        wake_waiters(pool, settings)  # a slot freed between the full pool and the enqueue is not lost
    return False


def _resume(token: str) -> None:
    try:
        stepfunctions.send_task_success(token, {})
    except ClientError as error:
        if _refused(error):
            raise
        # the slot is held under this replication's id: the wait's next re-check takes it (take_slot adopts a slot
        # it holds) instead of the replication failing for a passing error
        logger.warning("could not resume with the slot taken", extra={"error": str(error)})
