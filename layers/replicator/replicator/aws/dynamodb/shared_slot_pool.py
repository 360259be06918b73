"""The shared copy-slot pool of a vault account (coordinator.yaml's table): one pool per destination for every
workload account that replicates there (issue 17, docs/organization.md).

Two kinds of item:
- a slot request, one per replication and pool, written and deleted only by the workload account that owns it
  (partition `account#<source account>`: the vault role's `dynamodb:LeadingKeys` condition holds each workload to
  its own partition). While it waits it carries `waiting_pool` (the sparse `waiting` index, ordered by arrival);
  the coordinator grants it by removing that and setting `lease`. Deleting it gives the slot (or the place) back.
- a pool item (`pool#<pool>`, `slots`), written only by the coordinator: the replications holding a slot and the
  grants each account has had (copy_slots.grant_counts).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from ...clock import utc_now
from ..sessions import conditional_write, dynamodb_table, pages, role_dynamodb_table
from .slot_pools import cancellation_reasons, new_lease, on_conflict_retry

SLOTS = "slots"
WAITING_INDEX = "waiting"
BATCH_GET_KEYS = 100  # the most keys one BatchGetItem request may name
_BATCH_ATTEMPTS = 8
_RANDOM = secrets.SystemRandom()


def request_key(source_account: str, pool: str, replication_id: str) -> dict[str, str]:
    return {"pk": f"account#{source_account}", "sk": f"{pool}#{replication_id}"}


def pool_key(pool: str) -> dict[str, str]:
    return {"pk": f"pool#{pool}", "sk": SLOTS}


def holder_key(source_account: str, replication_id: str) -> str:
    """A holder of a pool, named by its account and replication: two accounts' replication ids never collide."""
    return f"{source_account}#{replication_id}"


def request_identity(request: dict[str, Any], pool: str) -> tuple[str, str] | None:
    """(source account, replication id) of a request of `pool`, from its key alone: the partition key is the one
    attribute IAM holds a workload to (dynamodb:LeadingKeys), so an account named anywhere else in the item is not
    believed. None for an item that is no well-formed request of this pool."""
    pk, sk, rid = str(request.get("pk", "")), str(request.get("sk", "")), str(request.get("replication_id", ""))
    if not pk.startswith("account#") or not rid or sk != f"{pool}#{rid}":
        return None
    if not isinstance(request.get("queued_at_ms"), int | Decimal):  # its arrival, which orders the waiters
        return None
    return pk.removeprefix("account#"), rid


def arrival(queued_at_ms: int, replication_id: str) -> str:
    """The waiting index's sort key: arrival time first, so the coordinator reads a pool's waiters oldest first."""
    return f"{queued_at_ms:015d}#{replication_id}"


def read_pool(table: Any, pool: str) -> dict[str, Any]:
    """The pool item as it is now (a strongly consistent read), read by the coordinator and by the workloads alike:
    its `holders` (holder_key -> the holder's account, replication id and request key), the `granted` counts and
    each account's `accounts` state. A pool no one was granted a slot of yet has no item: it reads as empty (no
    holders, no counts); its first grant makes the item (grant)."""
    item = dict(table.get_item(Key=pool_key(pool), ConsistentRead=True).get("Item") or pool_key(pool))
    for name in ("holders", "granted", "accounts"):
        item[name] = dict(item.get(name) or {})
    return item


# ---- the workload's side, through the vault's role (its own partition only) ----


def workload_table(table_arn: str, role_arn: str, source_account: str | None) -> Any:
    """The vault's table as a workload account reaches it: through the vault's role, in a session tagged with the
    workload's account (None: the caller's own; the role lets the tag name no other): its own requests read,
    written and deleted, the pool items read."""
    return role_dynamodb_table(table_arn, role_arn, source_account)


def holds(table: Any, source_account: str, pool: str, replication_id: str) -> bool:
    """Whether the coordinator granted this replication a slot of `pool`: read from the pool item, which only the
    coordinator writes (a `lease` a workload wrote on its own request would prove nothing)."""
    return holder_key(source_account, replication_id) in read_pool(table, pool)["holders"]


def request_slot(
    table: Any,
    source_account: str,
    pool: str,
    replication_id: str,
    queued_at_ms: int,
    home_region: str,
) -> None:
    """Ask for a slot of `pool` (the coordinator grants it, oldest first and fair between accounts); asking again
    keeps the place and only notes the re-check, which makes the coordinator look at the pool again."""
    key = request_key(source_account, pool, replication_id)
    created = conditional_write(
        lambda: table.put_item(
            Item={
                **key,
                "pool": pool,
                "replication_id": replication_id,
                "source_account": source_account,
                "queued_at_ms": queued_at_ms,
                "home_region": home_region,  # where its stack's bus is: the coordinator's grant event goes there
                "waiting_pool": pool,
                "arrival": arrival(queued_at_ms, replication_id),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    )
    if not created:
        table.update_item(
            Key=key, UpdateExpression="SET rechecked_at = :now", ExpressionAttributeValues={":now": _now()}
        )


def give_back_request(table: Any, source_account: str, pool: str, replication_id: str) -> None:
    """Give back the slot (or the place in the queue) of this replication in `pool`: nothing if it has none."""
    table.delete_item(Key=request_key(source_account, pool, replication_id))


def _now() -> str:
    return utc_now().isoformat()


# ---- the coordinator's side (in the vault account, its own table) ----


def coordinator_table(table_name: str) -> Any:
    """The vault's table as the coordinator reaches it: its own account's, with its own role."""
    return dynamodb_table(table_name)


def waiting_requests(table: Any, pool: str) -> list[dict[str, Any]]:
    """The requests still waiting in `pool`, oldest first (the index is eventually consistent: a request seen
    here may have been granted or given back since; the grant's conditions catch that)."""
    return [
        item
        for page in pages(
            table.query,
            IndexName=WAITING_INDEX,
            KeyConditionExpression="waiting_pool = :pool",
            ExpressionAttributeValues={":pool": pool},
        )
        for item in page["Items"]
    ]


def existing_requests(table: Any, keys: Iterable[dict[str, str]]) -> set[tuple[str, str]]:
    """Which of these requests still exist: a holder whose request is gone gave its slot back. Strongly consistent
    BatchGetItem requests of at most BATCH_GET_KEYS keys each (one request for a pool's holders: RDS's quotas are 20
    and 5), the keys DynamoDB leaves unprocessed (throttling, size) asked again after a jittered pause."""
    unique = list({(str(k["pk"]), str(k["sk"])): None for k in keys})  # a duplicate key fails the whole request
    found: set[tuple[str, str]] = set()
    for start in range(0, len(unique), BATCH_GET_KEYS):
        chunk = [{"pk": pk, "sk": sk} for pk, sk in unique[start : start + BATCH_GET_KEYS]]
        request: dict[str, Any] = {
            table.name: {"Keys": chunk, "ConsistentRead": True, "ProjectionExpression": "pk, sk"}
        }
        for attempt in range(_BATCH_ATTEMPTS):
            response = table.meta.client.batch_get_item(RequestItems=request)
            found |= {(str(i["pk"]), str(i["sk"])) for i in response.get("Responses", {}).get(table.name, [])}
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            if attempt == _BATCH_ATTEMPTS - 1:  # the batch fails: the stream retries it, and the next pass reads again
                raise RuntimeError(f"DynamoDB left {len(request[table.name]['Keys'])} keys unprocessed: {table.name}")
            time.sleep(_RANDOM.uniform(0, 0.05 * 2**attempt))  # full jitter: 50 ms, 100 ms, ... 3.2 s at most
    return found


def drop_holders(table: Any, pool: str, holder_keys: Iterable[str]) -> None:
    def drop(key: str) -> None:
        table.update_item(
            Key=pool_key(pool), UpdateExpression="REMOVE holders.#r", ExpressionAttributeNames={"#r": key}
        )

    for key in holder_keys:
        on_conflict_retry(lambda: drop(key))  # noqa: B023 (called at once, inside the loop)


def grant(table: Any, pool: str, request: dict[str, Any], limit: int, *, empty: bool) -> str | None:
    """Move `request` (a well-formed one: request_identity) from the queue to the pool's holders, in one
    transaction; its lease, or None when the pool is full (`limit`) or the request is no longer waiting (given
    back, or granted already). `empty`: the pool had no holder when the caller read it (read_pool).

    A pool item may not exist yet (no pass made one: a missing item reads as empty), or have no `holders` map (an
    item save_pool_state made before any grant). DynamoDB cannot set a key of an absent map (`SET holders.#r`: "the
    document path provided in the update expression is invalid"), and one update cannot both make the map and set
    a key in it (overlapping paths), so the grant into an empty pool writes the whole map, on the condition that it
    is absent or still empty (an UpdateItem, in a transaction too, makes the item if it is missing); every other
    grant adds its key, on the condition that the pool has room (on a missing item, size() of an absent attribute
    is false: refused, never an error). A wrong `empty` costs only a refused grant, never a slot over the limit."""
    if limit < 1:
        return None
    lease = new_lease()
    identity = request_identity(request, pool)
    if identity is None:
        raise ValueError(f"not a request of {pool}: {request.get('pk')} {request.get('sk')}")
    account, rid = identity
    key = holder_key(account, rid)
    holder = {"account": account, "replication_id": rid, "pk": str(request["pk"]), "sk": str(request["sk"])}
    if empty:
        pool_update = {
            "UpdateExpression": "SET holders = :holders",
            "ConditionExpression": "attribute_not_exists(holders) OR size(holders) = :none",
            "ExpressionAttributeValues": {":holders": {key: holder}, ":none": 0},
        }
    else:
        pool_update = {
            "UpdateExpression": "SET holders.#r = :holder",
            "ConditionExpression": "attribute_not_exists(holders.#r) AND size(holders) < :limit",
            "ExpressionAttributeNames": {"#r": key},
            "ExpressionAttributeValues": {":holder": holder, ":limit": limit},
        }
    items = [
        {"Update": {"TableName": table.name, "Key": pool_key(pool), **pool_update}},
        {
            "Update": {
                "TableName": table.name,
                "Key": {"pk": request["pk"], "sk": request["sk"]},
                "UpdateExpression": "SET lease = :lease, granted_at = :now REMOVE waiting_pool",
                "ConditionExpression": "attribute_exists(waiting_pool)",
                "ExpressionAttributeValues": {":lease": lease, ":now": _now()},
            }
        },
    ]
    try:
        on_conflict_retry(lambda: table.meta.client.transact_write_items(TransactItems=items))
    except ClientError as error:
        if "ConditionalCheckFailed" in cancellation_reasons(error):
            return None
        raise
    return lease


def save_pool_state(table: Any, pool: str, counts: dict[str, int], accounts: dict[str, dict[str, int]]) -> None:
    """What the coordinator keeps of a pool besides its holders: the grants each active account has had
    (copy_slots.grant_counts) and, for operators, each source account's copies in flight and waiting. Top-level
    attributes only, so it needs no item made before (UpdateItem makes a missing one, without holders: grant's
    empty-pool form covers that)."""
    on_conflict_retry(
        lambda: table.update_item(
            Key=pool_key(pool),
            UpdateExpression="SET granted = :counts, accounts = :accounts, seen_at = :now",
            ExpressionAttributeValues={":counts": counts, ":accounts": accounts, ":now": _now()},
        )
    )


def pool_state(table: Any, pool: str) -> dict[str, dict[str, int]]:
    """Each source account's copies in flight and waiting in a shared pool, as its coordinator last saw them (read
    by a workload through the vault's role, which may read the pool items but no other account's requests)."""
    accounts = read_pool(table, pool)["accounts"]
    return {str(account): {k: int(v) for k, v in counts.items()} for account, counts in accounts.items()}


def own_requests(table: Any, source_account: str) -> list[dict[str, Any]]:
    """Every request of `source_account` in the vault's table (the reconciler looks for those no running
    replication owns)."""
    return [
        item
        for page in pages(
            table.query,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": f"account#{source_account}"},
            ConsistentRead=True,
        )
        for item in page["Items"]
    ]
