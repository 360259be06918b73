"""The copy-slot table: one `slots` item per pool (its holders) and one `wait#...` item per waiting replication.

Taking a slot is a conditional update (the pool has room, or the replication already holds one), so it is atomic and
idempotent. Each holder's value is a lease, fresh on every take, so that a hand-over that turns out to be lost gives
back only the slot it gave. A waiter is handed a slot by one transaction that removes it from the queue (only if its
task token is still the one read) and adds it to the holders (only if the pool has room), so two releases never
wake the same waiter and a waiter never holds a slot while still queued.
"""

from __future__ import annotations

import json
import secrets
from enum import StrEnum
from typing import Any

from ..history import utc_now
from .sessions import dynamodb_table, error_code

SLOTS = "slots"


class HandOver(StrEnum):
    HANDED = "handed"  # the waiter left the queue holding a slot (under the returned lease)
    TAKEN = "taken"  # it left the queue already (another release woke it) or re-queued with a new token
    FULL = "full"  # the pool has no free slot


def _lease() -> str:
    return f"{utc_now().isoformat()}#{secrets.token_hex(4)}"


def _ensure_pool(table: Any, pool: str) -> None:
    try:
        table.put_item(
            Item={"pool": pool, "entry": SLOTS, "holders": {}},
            ConditionExpression="attribute_not_exists(#p)",
            ExpressionAttributeNames={"#p": "pool"},
        )
    except Exception as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise


def try_acquire(table_name: str, pool: str, replication_id: str, limit: int) -> bool:
    """Take a slot of `pool` for `replication_id` (or renew the one it holds); False when the pool is full."""
    table = dynamodb_table(table_name)
    _ensure_pool(table, pool)
    try:
        table.update_item(
            Key={"pool": pool, "entry": SLOTS},
            UpdateExpression="SET holders.#r = :lease",
            ConditionExpression="attribute_exists(holders.#r) OR size(holders) < :limit",
            ExpressionAttributeNames={"#r": replication_id},
            ExpressionAttributeValues={":lease": _lease(), ":limit": limit},
        )
    except Exception as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def hand_over(table_name: str, pool: str, waiter: dict[str, Any], limit: int) -> tuple[HandOver, str]:
    """Take `waiter` (an item read from the queue) out of the queue and give it a slot, in one transaction."""
    lease = _lease()
    table = dynamodb_table(table_name)
    try:
        table.meta.client.transact_write_items(
            TransactItems=[
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
        )
    except Exception as error:
        if error_code(error) != "TransactionCanceledException":
            raise
        reasons = [r.get("Code") for r in getattr(error, "response", {}).get("CancellationReasons", [])]
        if reasons[:1] == ["ConditionalCheckFailed"]:
            return HandOver.TAKEN, ""
        return HandOver.FULL, ""
    return HandOver.HANDED, lease


def release(table_name: str, pool: str, replication_id: str, lease: str | None = None) -> None:
    """Give the slot back (nothing happens if it is not held, or, given a lease, if it was taken again since)."""
    kwargs: dict[str, Any] = {}
    if lease is not None:
        kwargs = {"ConditionExpression": "holders.#r = :lease", "ExpressionAttributeValues": {":lease": lease}}
    try:
        dynamodb_table(table_name).update_item(
            Key={"pool": pool, "entry": SLOTS},
            UpdateExpression="REMOVE holders.#r",
            ExpressionAttributeNames={"#r": replication_id},
            **kwargs,
        )
    except Exception as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise


def holders(table_name: str, pool: str) -> dict[str, str]:
    item = dynamodb_table(table_name).get_item(Key={"pool": pool, "entry": SLOTS}, ConsistentRead=True).get("Item")
    return dict(item.get("holders", {})) if item else {}


def enqueue(
    table_name: str,
    pool: str,
    entry: str,
    replication_id: str,
    task_token: str,
    state: dict,
    *,
    keep_newer: bool = False,
) -> None:
    """Wait in `pool`'s queue (a re-check keeps its place: same entry, new token).

    keep_newer: put a waiter back only if it has not queued again meanwhile (a newer token must not be overwritten).
    """
    kwargs: dict[str, Any] = {}
    if keep_newer:
        kwargs = {"ConditionExpression": "attribute_not_exists(#e)", "ExpressionAttributeNames": {"#e": "entry"}}
    try:
        dynamodb_table(table_name).put_item(
            Item={
                "pool": pool,
                "entry": entry,
                "replication_id": replication_id,
                "task_token": task_token,
                "state": json.dumps(state),
            },
            **kwargs,
        )
    except Exception as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise


def leave_queue(table_name: str, pool: str, entry: str) -> None:
    dynamodb_table(table_name).delete_item(Key={"pool": pool, "entry": entry})


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
