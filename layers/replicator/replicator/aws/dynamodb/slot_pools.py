"""The copy-slot table: one `slots` item per pool (its holders) and one `wait#...` item per waiting replication.

Taking a slot is a conditional update (the pool has room, or the replication already holds one), so it is atomic and
idempotent. Each holder's value is a lease, fresh on every take, so that a hand-over that turns out to be lost gives
back only the slot it gave. A waiter is handed a slot by one transaction that removes it from the queue (only if its
task token is still the one read) and adds it to the holders (only if the pool has room), so two releases never
wake the same waiter and a waiter never holds a slot while still queued.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from ...clock import utc_now
from ..sessions import conditional_write, dynamodb_table, error_code, pages

SLOTS = "slots"
_T = TypeVar("_T")
# a write to an item that a transaction is changing fails at once with TransactionConflictException (the SDK does not
# retry it); every slot write touches the pool's one item, so conflicts are expected in a burst and retried here
_CONFLICTS = {"TransactionConflictException", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_ATTEMPTS = 8
_RANDOM = secrets.SystemRandom()


def _pause(attempt: int) -> None:
    time.sleep(_RANDOM.uniform(0, 0.05 * 2**attempt))  # full jitter: 50 ms, 100 ms, ... 6.4 s at most


class HandOver(StrEnum):
    HANDED = "handed"  # the waiter left the queue holding a slot (under the returned lease)
    TAKEN = "taken"  # it left the queue already (another release woke it) or re-queued with a new token
    FULL = "full"  # the pool has no free slot


def on_conflict_retry(write: Callable[[], _T]) -> _T:
    """Run a write, again after a short jittered pause while it conflicts with a transaction on the same item."""
    for attempt in range(_ATTEMPTS):
        try:
            return write()
        except ClientError as error:
            if attempt == _ATTEMPTS - 1 or not _conflicted(error):
                raise
            _pause(attempt)
    raise AssertionError("unreachable")


def _conflicted(error: ClientError) -> bool:
    if error_code(error) in _CONFLICTS:
        return True
    if error_code(error) == "TransactionCanceledException":
        return bool(_CONFLICTS & set(cancellation_reasons(error)))
    return False


def cancellation_reasons(error: Exception) -> list[str]:
    """Why each item of a cancelled transaction failed ("None" for those that did not), in order."""
    reasons = getattr(error, "response", {}).get("CancellationReasons", [])
    return [str(r.get("Code", "None")) for r in reasons]


def hand_over_outcome(reasons: list[str]) -> HandOver | None:
    """What a cancelled hand-over transaction means; None when it only conflicted (try again)."""
    if reasons[:1] == ["ConditionalCheckFailed"]:
        return HandOver.TAKEN
    if reasons[1:2] == ["ConditionalCheckFailed"]:
        return HandOver.FULL
    return None


def new_lease() -> str:
    return f"{utc_now().isoformat()}#{secrets.token_hex(4)}"


def _ensure_pool(table: Any, pool: str) -> None:
    conditional_write(
        lambda: on_conflict_retry(
            lambda: table.put_item(
                Item={"pool": pool, "entry": SLOTS, "holders": {}},
                ConditionExpression="attribute_not_exists(#p)",
                ExpressionAttributeNames={"#p": "pool"},
            )
        )
    )


def try_acquire(table_name: str, pool: str, replication_id: str, limit: int) -> bool:
    """Take a slot of `pool` for `replication_id` (or renew the one it holds); False when the pool is full."""
    table = dynamodb_table(table_name)
    _ensure_pool(table, pool)
    return conditional_write(
        lambda: on_conflict_retry(
            lambda: table.update_item(
                Key={"pool": pool, "entry": SLOTS},
                UpdateExpression="SET holders.#r = :lease",
                ConditionExpression="attribute_exists(holders.#r) OR size(holders) < :limit",
                ExpressionAttributeNames={"#r": replication_id},
                ExpressionAttributeValues={":lease": new_lease(), ":limit": limit},
            )
        )
    )


def hand_over(table_name: str, pool: str, waiter: dict[str, Any], limit: int) -> tuple[HandOver, str]:
    """Take `waiter` (an item read from the queue) out of the queue and give it a slot, in one transaction."""
    lease = new_lease()
    table = dynamodb_table(table_name)
    items = [
        {
            "Delete": {
                "TableName": table_name,
                "Key": {"pool": pool, "entry": waiter["entry"]},
                "ConditionExpression": "task_token = :token",
                "ExpressionAttributeValues": {":token": waiter["task_token"]},
            }
        },
        {
            "Update": {
                "TableName": table_name,
                "Key": {"pool": pool, "entry": SLOTS},
                "UpdateExpression": "SET holders.#r = :lease",
                "ConditionExpression": "attribute_exists(holders.#r) OR size(holders) < :limit",
                "ExpressionAttributeNames": {"#r": waiter["replication_id"]},
                "ExpressionAttributeValues": {":lease": lease, ":limit": limit},
            }
        },
    ]
    try:
        on_conflict_retry(lambda: table.meta.client.transact_write_items(TransactItems=items))
    except ClientError as error:
        outcome = hand_over_outcome(cancellation_reasons(error))
        if error_code(error) != "TransactionCanceledException" or outcome is None:
            raise
        return outcome, ""
    return HandOver.HANDED, lease


def release(table_name: str, pool: str, replication_id: str, lease: str | None = None) -> bool:
    """Give the slot back (nothing happens if it is not held, or, given a lease, if it was taken again since).

    True if this call gave a slot back under `lease` (without a lease: always).
    """
    kwargs: dict[str, Any] = {}
    if lease is not None:
        kwargs = {"ConditionExpression": "holders.#r = :lease", "ExpressionAttributeValues": {":lease": lease}}
    return conditional_write(
        lambda: on_conflict_retry(
            lambda: dynamodb_table(table_name).update_item(
                Key={"pool": pool, "entry": SLOTS},
                UpdateExpression="REMOVE holders.#r",
                ExpressionAttributeNames={"#r": replication_id},
                **kwargs,
            )
        )
    )


def holders(table_name: str, pool: str) -> dict[str, str]:
    item = dynamodb_table(table_name).get_item(Key={"pool": pool, "entry": SLOTS}, ConsistentRead=True).get("Item")
    return dict(item.get("holders", {})) if item else {}


def enqueue(table_name: str, pool: str, entry: str, replication_id: str, task_token: str) -> None:
    """Wait in `pool`'s queue (a re-check keeps its place: same entry, new token).

    A waiter item names the replication and its task token, nothing else: a hand-over only resumes its execution,
    whose tasks then read their plan from the replication's record.
    """
    item = {"pool": pool, "entry": entry, "replication_id": replication_id, "task_token": task_token}
    on_conflict_retry(lambda: dynamodb_table(table_name).put_item(Item=item))


def leave_queue(table_name: str, pool: str, entry: str) -> None:
    on_conflict_retry(lambda: dynamodb_table(table_name).delete_item(Key={"pool": pool, "entry": entry}))


def oldest_waiter(table_name: str, pool: str) -> dict[str, Any] | None:
    response = dynamodb_table(table_name).query(
        KeyConditionExpression="#p = :pool AND begins_with(#e, :wait)",
        ExpressionAttributeNames={"#p": "pool", "#e": "entry"},
        ExpressionAttributeValues={":pool": pool, ":wait": "wait#"},
        Limit=1,
        ConsistentRead=True,
    )
    items = response.get("Items", [])
    return items[0] if items else None


def all_items(table_name: str) -> list[dict[str, Any]]:
    """Every pool, waiter and share lease (the reconciler looks for what no running replication owns)."""
    table = dynamodb_table(table_name)
    return [item for page in pages(table.scan, ConsistentRead=True) for item in page["Items"]]


def lease_taken_at(lease: str) -> datetime | None:
    """When a holder's lease was taken (leases are `<ISO time>#<random>`)."""
    try:
        return datetime.fromisoformat(lease.split("#", 1)[0])
    except ValueError:
        return None


def pool_items(table_name: str, pool: str) -> list[dict[str, Any]]:
    """A pool's holders item and its waiters, as they are now (one query)."""
    query = dynamodb_table(table_name).query
    return [
        item
        for page in pages(
            query,
            KeyConditionExpression="#p = :pool",
            ExpressionAttributeNames={"#p": "pool"},
            ExpressionAttributeValues={":pool": pool},
            ConsistentRead=True,
        )
        for item in page["Items"]
    ]


def occupancy(items: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Per copy-slot pool among `items` (read by `all_items` or `pool_items`): the copies in flight (slots held) and
    the replications waiting. Share leases, lineage bases and the like are not pools and are left out."""
    found: dict[str, tuple[int, int]] = {}
    for item in items:
        pool, entry = str(item["pool"]), str(item["entry"])
        in_flight, waiting = found.get(pool, (0, 0))
        if entry == SLOTS:
            found[pool] = (len(item.get("holders", {})), waiting)
        elif entry.startswith("wait#"):
            found[pool] = (in_flight, waiting + 1)
    return found


def pool_label(pool: str) -> str:
    """A pool as a metric dimension reads it: `account/region/kind` (the table's key is `account#region#kind`)."""
    return pool.replace("#", "/")
