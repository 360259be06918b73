"""The copy-slot table: one `slots` item per pool (its holders) and one `wait#...` item per waiting replication.

Acquiring is a conditional update (the pool has room, or the replication already holds a slot), so it is atomic and
idempotent; a waiter is handed a slot by whoever deletes its queue item (a conditional delete), so it is woken once.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from ..history import utc_now
from .sessions import error_code

SLOTS = "slots"


def _table(table_name: str) -> Any:
    return boto3.resource("dynamodb").Table(table_name)


def try_acquire(table_name: str, pool: str, replication_id: str, limit: int) -> bool:
    """Take a slot of `pool` for `replication_id` (or keep the one it holds); False when the pool is full."""
    table = _table(table_name)
    try:
        table.put_item(
            Item={"pool": pool, "entry": SLOTS, "holders": {}},
            ConditionExpression="attribute_not_exists(#p)",
            ExpressionAttributeNames={"#p": "pool"},
        )
    except Exception as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
    try:
        table.update_item(
            Key={"pool": pool, "entry": SLOTS},
            UpdateExpression="SET holders.#r = :now",
            ConditionExpression="attribute_exists(holders.#r) OR size(holders) < :limit",
            ExpressionAttributeNames={"#r": replication_id},
            ExpressionAttributeValues={":now": utc_now().isoformat(), ":limit": limit},
        )
    except Exception as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def release(table_name: str, pool: str, replication_id: str) -> None:
    """Give the slot back (nothing happens if it is not held)."""
    _table(table_name).update_item(
        Key={"pool": pool, "entry": SLOTS},
        UpdateExpression="REMOVE holders.#r",
        ExpressionAttributeNames={"#r": replication_id},
    )


def holders(table_name: str, pool: str) -> dict[str, str]:
    item = _table(table_name).get_item(Key={"pool": pool, "entry": SLOTS}, ConsistentRead=True).get("Item")
    return dict(item.get("holders", {})) if item else {}


def enqueue(table_name: str, pool: str, entry: str, replication_id: str, task_token: str, state: dict) -> None:
    """Wait in `pool`'s queue (a retried wait keeps its place: same entry, new token)."""
    _table(table_name).put_item(
        Item={
            "pool": pool,
            "entry": entry,
            "replication_id": replication_id,
            "task_token": task_token,
            "state": json.dumps(state),
        }
    )


def oldest_waiter(table_name: str, pool: str) -> dict[str, Any] | None:
    response = _table(table_name).query(
        KeyConditionExpression="#p = :pool AND begins_with(#e, :wait)",
        ExpressionAttributeNames={"#p": "pool", "#e": "entry"},
        ExpressionAttributeValues={":pool": pool, ":wait": "wait#"},
        Limit=1,
        ConsistentRead=True,
    )
    items = response.get("Items", [])
    return items[0] if items else None


def claim(table_name: str, pool: str, entry: str) -> dict[str, Any] | None:
    """Remove a waiter from the queue; its item if this call removed it, None if another did first."""
    try:
        response = _table(table_name).delete_item(
            Key={"pool": pool, "entry": entry},
            ConditionExpression="attribute_exists(#e)",
            ExpressionAttributeNames={"#e": "entry"},
            ReturnValues="ALL_OLD",
        )
    except Exception as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return None
        raise
    attributes: dict[str, Any] | None = response.get("Attributes")
    return attributes
