"""Share leases: which running replications need a snapshot shared with an account, and who added the share.

One item per (snapshot, account) in the copy-slots table (pool `share#<snapshot ARN>`, entry the account): `users`,
the replications that need the share; `origin`, whether the replicator added it (`replicator`) or it was there before
(`pre-existing`, never removed). The last user to leave removes a share the replicator added: it first marks the
item `closing` (so that no replication joins while the share goes), removes the share, then the item. A replication
that finds it closing waits a moment; a closing mark older than STALE_SECONDS is from a finisher that died mid-way
and is taken over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from ..clock import epoch_ms, utc_now
from .sessions import conditional_write, conditionally, dynamodb_table

STALE_SECONDS = 900
_BUSY_WAIT_SECONDS = (0.2, 0.5, 1, 2, 4)


class Origin(StrEnum):
    REPLICATOR = "replicator"
    PRE_EXISTING = "pre-existing"


class ShareBeingRemoved(Exception):
    """The share is being removed by a finishing replication; the step is retried."""


def _key(snapshot_arn: str, account: str) -> dict[str, str]:
    return {"pool": f"share#{snapshot_arn}", "entry": account}


def join(
    table_name: str, snapshot_arn: str, account: str, replication_id: str, already_shared: Callable[[], bool]
) -> Origin:
    """Count `replication_id` among the users of this share; the share's origin (read from RDS by the first user)."""
    table = dynamodb_table(table_name)
    for pause in (*_BUSY_WAIT_SECONDS, None):
        joined = conditionally(
            lambda: table.update_item(
                Key=_key(snapshot_arn, account),
                UpdateExpression="ADD #u :r REMOVE closing_at",
                ConditionExpression="attribute_not_exists(closing_at) OR closing_at < :stale",
                ExpressionAttributeNames={"#u": "users"},
                ExpressionAttributeValues={
                    ":r": {replication_id},
                    ":stale": epoch_ms(utc_now()) - STALE_SECONDS * 1000,
                },
                ReturnValues="ALL_NEW",
            )
        )
        if joined is not None:
            item = joined["Attributes"]
            break
        if pause is None:
            raise ShareBeingRemoved(f"the share of {snapshot_arn} with {account} is being removed")
        time.sleep(pause)
    if "origin" in item:
        return Origin(item["origin"])
    # the first user: was it shared before the replicator came? (written before any share is added, so that a later
    # user reading the attribute after this one shared cannot call the replicator's share pre-existing)
    origin = Origin.PRE_EXISTING if already_shared() else Origin.REPLICATOR
    item = table.update_item(
        Key=_key(snapshot_arn, account),
        UpdateExpression="SET origin = if_not_exists(origin, :o)",
        ExpressionAttributeValues={":o": origin.value},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    return Origin(item["origin"])


def leave(table_name: str, snapshot_arn: str, account: str, replication_id: str, unshare: Callable[[], None]) -> bool:
    """Stop needing this share; removes it (`unshare`) when this was its last user and the replicator added it.

    True when the share was removed.
    """
    table = dynamodb_table(table_name)
    key = _key(snapshot_arn, account)
    left = conditionally(
        lambda: table.update_item(
            Key=key,
            UpdateExpression="DELETE #u :r",
            ConditionExpression="attribute_exists(#p) AND contains(#u, :id)",
            ExpressionAttributeNames={"#u": "users", "#p": "pool"},
            ExpressionAttributeValues={":r": {replication_id}, ":id": replication_id},
            ReturnValues="ALL_NEW",
        )
    )
    if left is None:
        return False  # it never joined (it failed before sharing), or left already
    item: dict[str, Any] = left["Attributes"]
    if item.get("users"):
        return False  # others still need it
    if item.get("origin") != Origin.REPLICATOR.value:
        _delete_if_unused(table, key)  # shared before the replicator came: it stays shared
        return False
    closing = epoch_ms(utc_now())
    if not conditional_write(
        lambda: table.update_item(
            Key=key,
            UpdateExpression="SET closing_at = :now",
            ConditionExpression="attribute_not_exists(#u) AND attribute_not_exists(closing_at)",
            ExpressionAttributeNames={"#u": "users"},
            ExpressionAttributeValues={":now": closing},
        )
    ):
        return False  # another replication joined meanwhile: it needs the share
    unshare()
    table.delete_item(Key=key, ConditionExpression="closing_at = :now", ExpressionAttributeValues={":now": closing})
    return True


def _delete_if_unused(table: Any, key: dict[str, str]) -> None:
    conditional_write(
        lambda: table.delete_item(
            Key=key, ConditionExpression="attribute_not_exists(#u)", ExpressionAttributeNames={"#u": "users"}
        )
    )


def users(table_name: str, snapshot_arn: str, account: str) -> set[str]:
    item = dynamodb_table(table_name).get_item(Key=_key(snapshot_arn, account), ConsistentRead=True).get("Item")
    return set(item.get("users", set())) if item else set()
