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

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from ...clock import utc_now
from ..sessions import conditional_write, dynamodb_table, pages, role_dynamodb_table
from .slot_pools import cancellation_reasons, new_lease, on_conflict_retry

SLOTS = "slots"
WAITING_INDEX = "waiting"


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


# ---- the workload's side, through the vault's role (its own partition only) ----


def workload_table(table_arn: str, role_arn: str, source_account: str | None) -> Any:
    """The vault's table as a workload account reaches it: through the vault's role, in a session tagged with the
    workload's account (its own requests: read, written, deleted); untagged, only the pool items can be read."""
    return role_dynamodb_table(table_arn, role_arn, source_account)


def holds(table: Any, source_account: str, pool: str, replication_id: str) -> bool:
    """Whether the coordinator granted this replication a slot of `pool`: read from the pool item, which only the
    coordinator writes (a `lease` a workload wrote on its own request would prove nothing)."""
    item = table.get_item(Key=pool_key(pool), ConsistentRead=True).get("Item") or {}
    return holder_key(source_account, replication_id) in item.get("holders", {})


def slot_request(table: Any, source_account: str, pool: str, replication_id: str) -> dict | None:
    """This replication's request in `pool`, as it is now (None: it has none)."""
    item = table.get_item(Key=request_key(source_account, pool, replication_id), ConsistentRead=True).get("Item")
    return dict(item) if item else None


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


def pool_item(table_name: str, pool: str) -> dict[str, Any]:
    item = dynamodb_table(table_name).get_item(Key=pool_key(pool), ConsistentRead=True).get("Item")
    return dict(item) if item else {**pool_key(pool), "holders": {}, "granted": {}}


def waiting_requests(table_name: str, pool: str) -> list[dict[str, Any]]:
    """The requests still waiting in `pool`, oldest first (the index is eventually consistent: a request seen
    here may have been granted or given back since; the grant's conditions catch that)."""
    query = dynamodb_table(table_name).query
    return [
        item
        for page in pages(
            query,
            IndexName=WAITING_INDEX,
            KeyConditionExpression="waiting_pool = :pool",
            ExpressionAttributeValues={":pool": pool},
        )
        for item in page["Items"]
    ]


def existing_requests(table_name: str, keys: Iterable[dict[str, str]]) -> set[tuple[str, str]]:
    """Which of these requests still exist (strongly consistent reads): a holder whose request is gone gave its slot
    back."""
    table = dynamodb_table(table_name)
    found: set[tuple[str, str]] = set()
    for key in keys:
        item = table.get_item(Key=key, ConsistentRead=True, ProjectionExpression="pk, sk").get("Item")
        if item:
            found.add((str(item["pk"]), str(item["sk"])))
    return found


def drop_holders(table_name: str, pool: str, replication_ids: Iterable[str]) -> None:
    table = dynamodb_table(table_name)

    def drop(rid: str) -> None:
        table.update_item(
            Key=pool_key(pool), UpdateExpression="REMOVE holders.#r", ExpressionAttributeNames={"#r": rid}
        )

    for rid in replication_ids:
        on_conflict_retry(lambda: drop(rid))  # noqa: B023 (called at once, inside the loop)


def ensure_pool(table_name: str, pool: str) -> None:
    table = dynamodb_table(table_name)
    conditional_write(
        lambda: on_conflict_retry(
            lambda: table.put_item(
                Item={**pool_key(pool), "pool": pool, "holders": {}, "granted": {}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        )
    )


def grant(table_name: str, pool: str, request: dict[str, Any], limit: int) -> str | None:
    """Move `request` (a well-formed one: request_identity) from the queue to the pool's holders, in one
    transaction; its lease, or None when the pool is full (`limit`) or the request is no longer waiting (given
    back, or granted already)."""
    lease = new_lease()
    identity = request_identity(request, pool)
    if identity is None:
        raise ValueError(f"not a request of {pool}: {request.get('pk')} {request.get('sk')}")
    account, rid = identity
    holder = {"account": account, "replication_id": rid, "pk": str(request["pk"]), "sk": str(request["sk"])}
    items = [
        {
            "Update": {
                "TableName": table_name,
                "Key": pool_key(pool),
                "UpdateExpression": "SET holders.#r = :holder",
                "ConditionExpression": "attribute_not_exists(holders.#r) AND size(holders) < :limit",
                "ExpressionAttributeNames": {"#r": holder_key(account, rid)},
                "ExpressionAttributeValues": {":holder": holder, ":limit": limit},
            }
        },
        {
            "Update": {
                "TableName": table_name,
                "Key": {"pk": request["pk"], "sk": request["sk"]},
                "UpdateExpression": "SET lease = :lease, granted_at = :now REMOVE waiting_pool",
                "ConditionExpression": "attribute_exists(waiting_pool)",
                "ExpressionAttributeValues": {":lease": lease, ":now": _now()},
            }
        },
    ]
    client = dynamodb_table(table_name).meta.client
    try:
        on_conflict_retry(lambda: client.transact_write_items(TransactItems=items))
    except ClientError as error:
        if cancellation_reasons(error) and "ConditionalCheckFailed" in cancellation_reasons(error):
            return None
        raise
    return lease


def save_pool_state(table_name: str, pool: str, counts: dict[str, int], accounts: dict[str, dict[str, int]]) -> None:
    """What the coordinator keeps of a pool besides its holders: the grants each active account has had
    (copy_slots.grant_counts) and, for operators, each source account's copies in flight and waiting."""
    on_conflict_retry(
        lambda: dynamodb_table(table_name).update_item(
            Key=pool_key(pool),
            UpdateExpression="SET granted = :counts, accounts = :accounts, seen_at = :now",
            ExpressionAttributeValues={":counts": counts, ":accounts": accounts, ":now": _now()},
        )
    )


def pool_state(table: Any, pool: str) -> dict[str, dict[str, int]]:
    """Each source account's copies in flight and waiting in a shared pool, as its coordinator last saw them (read
    by a workload through the vault's role, which may read the pool items but no other account's requests)."""
    item = table.get_item(Key=pool_key(pool), ConsistentRead=True).get("Item") or {}
    return {
        str(account): {k: int(v) for k, v in counts.items()} for account, counts in item.get("accounts", {}).items()
    }


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
