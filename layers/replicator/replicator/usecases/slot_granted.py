"""SlotGranted: a vault's coordinator granted one of this stack's replications a slot of its shared copy-slot pool
(the `Copy Slot Granted` event): resume the replication's waiting execution.

The event is only a wake-up call, and anyone the bus policy admits could send one: the grant is read from the
vault's table (this account's own request), the task token from this stack's table, the queue time from the
replication's record. A lost or stale event costs only time: the wait's re-check finds the grant
(SlotRecheckSeconds)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ..aws import stepfunctions
from ..aws.dynamodb import replication_records, slot_pools
from ..copy_slots import waiter_entry
from ..execution import Phase
from ..observability import logger
from ..settings import Settings
from .slots import granted_shared_slot


class SlotGrantedDetail(BaseModel):
    """The event's detail (events.DETAIL_TYPE_SLOT_GRANTED)."""

    model_config = ConfigDict(extra="ignore")

    replication_id: str
    pool: str


def slot_granted(settings: Settings, detail: SlotGrantedDetail) -> bool:
    """True if the replication's waiting execution was resumed."""
    rid, pool = detail.replication_id, detail.pool
    record = replication_records.get_record(settings.history_table, rid)
    progress = record.progress if record else None
    if progress is None or progress.phase is not Phase.QUEUED or progress.queued_at_ms is None:
        return False  # not waiting (resumed already by its re-check, or ended)
    if not settings.shares_pool(pool) or not granted_shared_slot(settings, rid, pool):
        logger.warning("no grant behind a Copy Slot Granted event", extra={"replication_id": rid, "pool": pool})
        return False
    entry = waiter_entry(progress.queued_at_ms, rid)
    waiter = next((w for w in slot_pools.pool_items(settings.slots_table, pool) if w["entry"] == entry), None)
    if waiter is None:
        return False
    if not stepfunctions.send_task_success(str(waiter["task_token"]), {"pool": pool}):
        return False  # the wait timed out to re-check: that re-check finds the grant
    slot_pools.leave_queue(settings.slots_table, pool, entry)
    return True
