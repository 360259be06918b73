"""The history table's replication records (plan, progress, outcome), read by id, through the database index (the
replications of one database to one target, by time) and the sparse unsettled index (the reconciler's work list).
The restore tests the table also keeps are restore_test_records'."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ...history import (
    DATABASE_INDEX,
    UNSETTLED,
    UNSETTLED_INDEX,
    UNSETTLED_KEY,
    IndexedReplication,
    ReplicationRecord,
    ReplicationStatus,
    utc_now,
)
from ..sessions import conditional_write, dynamodb_table, pages

_FINAL = [s.value for s in ReplicationStatus if s.final]
_OPEN = [s.value for s in ReplicationStatus if not s.final]

_NOT_FINAL = (
    "attribute_not_exists(replication_id) OR NOT #s IN (" + ", ".join(f":f{i}" for i in range(len(_FINAL))) + ")"
)
_NOT_FINAL_VALUES = {f":f{i}": v for i, v in enumerate(_FINAL)}


def create_record(table_name: str, record: ReplicationRecord) -> ReplicationRecord | None:
    """Write the first record of a replication; returns the existing record instead when there is one."""
    table = dynamodb_table(table_name)
    if conditional_write(
        lambda: table.put_item(Item=record.to_item(), ConditionExpression="attribute_not_exists(replication_id)")
    ):
        return None
    return get_record(table_name, record.replication_id)


def put_record(table_name: str, record: ReplicationRecord) -> bool:
    """Write a record unless its replication's outcome is final already: a final outcome is never overwritten
    (a late or repeated task, or a failure path after a recorded success). False when nothing was written."""
    record = record.model_copy(update={"updated_at": utc_now()})
    return conditional_write(
        lambda: dynamodb_table(table_name).put_item(
            Item=record.to_item(),
            ConditionExpression=_NOT_FINAL,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_NOT_FINAL_VALUES,
        )
    )


def replace_failed(
    table_name: str,
    record: ReplicationRecord,
    failed_attempt: int,
    replaced: ReplicationStatus = ReplicationStatus.FAILED,
) -> bool:
    """Write a retried replication's new attempt over its FAILED record (or, with `replaced`, its SKIPPED one: a
    snapshot the target's selection now takes), only if that record is still that attempt `failed_attempt` (two
    retries at once start one attempt). False when it is not."""
    record = record.model_copy(update={"updated_at": utc_now()})
    return conditional_write(
        lambda: dynamodb_table(table_name).put_item(
            Item=record.to_item(),
            ConditionExpression="#s = :failed AND (attribute_not_exists(attempt) OR attempt = :attempt)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":failed": replaced.value, ":attempt": failed_attempt},
        )
    )


def mark_replica_deleted(table_name: str, replication_id: str, deleted_at: datetime, reason: str) -> None:
    """Note on a SUCCEEDED record that the prune deleted its replica (the outcome itself stays as it was)."""
    dynamodb_table(table_name).update_item(
        Key={"replication_id": replication_id},
        UpdateExpression="SET replica_deleted_at = :at, replica_deleted_reason = :why, updated_at = :now",
        ConditionExpression="attribute_exists(replication_id)",
        ExpressionAttributeValues={
            ":at": deleted_at.isoformat(),
            ":why": reason,
            ":now": utc_now().isoformat(),
        },
    )


def set_cleanup_errors(table_name: str, replication_id: str, errors: list[str]) -> None:
    """What a replication's cleanup still leaves to do (the reconciler retries it; empty: done)."""
    table = dynamodb_table(table_name)
    if errors:
        table.update_item(
            Key={"replication_id": replication_id},
            UpdateExpression="SET cleanup_errors = :e, updated_at = :now, #u = :u",
            ConditionExpression="attribute_exists(replication_id)",
            ExpressionAttributeNames={"#u": UNSETTLED_KEY},
            ExpressionAttributeValues={":e": errors, ":now": utc_now().isoformat(), ":u": UNSETTLED},
        )
    else:
        table.update_item(
            Key={"replication_id": replication_id},
            UpdateExpression="REMOVE cleanup_errors SET updated_at = :now",
            ConditionExpression="attribute_exists(replication_id)",
            ExpressionAttributeValues={":now": utc_now().isoformat()},
        )
        _settle(table_name, replication_id)


def set_index_fields(table_name: str, replication_id: str, fields: dict[str, str]) -> bool:
    """Add the database index's attributes to a record that lacks them (False: it has them, or is gone)."""
    names = {f"#{i}": name for i, name in enumerate(fields)}
    values = {f":{i}": value for i, value in enumerate(fields.values())}
    return conditional_write(
        lambda: dynamodb_table(table_name).update_item(
            Key={"replication_id": replication_id},
            UpdateExpression="SET " + ", ".join(f"#{i} = :{i}" for i in range(len(fields))),
            ConditionExpression="attribute_exists(replication_id) AND attribute_not_exists(database_target)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    )


def mark_published(table_name: str, replication_id: str) -> None:
    """Note that a final outcome's event went out (the outcome itself is not changed)."""
    dynamodb_table(table_name).update_item(
        Key={"replication_id": replication_id},
        UpdateExpression="SET outcome_published = :yes",
        ConditionExpression="attribute_exists(replication_id)",
        ExpressionAttributeValues={":yes": True},
    )
    _settle(table_name, replication_id)


def _settle(table_name: str, replication_id: str) -> None:
    """Take a record out of the unsettled index once nothing is left to do for it (final, no cleanup left, its
    outcome event published); a record with something left stays in it."""
    open_statuses = {f":n{i}": v for i, v in enumerate(_OPEN)}
    conditional_write(
        lambda: dynamodb_table(table_name).update_item(
            Key={"replication_id": replication_id},
            UpdateExpression="REMOVE #u",
            ConditionExpression=(
                "attribute_exists(#u) AND NOT #s IN (" + ", ".join(open_statuses) + ") "
                "AND attribute_not_exists(cleanup_errors) AND outcome_published = :yes"
            ),
            ExpressionAttributeNames={"#u": UNSETTLED_KEY, "#s": "status"},
            ExpressionAttributeValues={":yes": True, **open_statuses},
        )
    )


def unsettled_records(table_name: str) -> list[ReplicationRecord]:
    """The records the reconciler must look at (running, or a cleanup or an outcome event left to do), read from
    the history's sparse index: their number, not the history's length, sets the cost."""
    read = pages(
        dynamodb_table(table_name).query,
        IndexName=UNSETTLED_INDEX,
        KeyConditionExpression="#u = :u",
        ExpressionAttributeNames={"#u": UNSETTLED_KEY},
        ExpressionAttributeValues={":u": UNSETTLED},
    )
    return [ReplicationRecord.model_validate(item) for page in read for item in page["Items"]]


def mark_unsettled(table_name: str, replication_id: str) -> bool:
    """Put a record written before the unsettled index existed into it (False: gone, or there already)."""
    return conditional_write(
        lambda: dynamodb_table(table_name).update_item(
            Key={"replication_id": replication_id},
            UpdateExpression="SET #u = :u",
            ConditionExpression="attribute_exists(replication_id) AND attribute_not_exists(#u)",
            ExpressionAttributeNames={"#u": UNSETTLED_KEY},
            ExpressionAttributeValues={":u": UNSETTLED},
        )
    )


def get_record(table_name: str, rid: str) -> ReplicationRecord | None:
    """The replication of this id (None: none, or the id names a restore test, which is no replication)."""
    item = dynamodb_table(table_name).get_item(Key={"replication_id": rid}, ConsistentRead=True).get("Item")
    return ReplicationRecord.model_validate(item) if item and "record_type" not in item else None


class ReadUsage:
    """Read capacity a series of queries consumed, by DynamoDB's rule for Query: the items read per request,
    rounded up to 4 KB, half a unit per 4 KB when eventually consistent (the emulation does not size it)."""

    def __init__(self) -> None:
        self.requests = 0
        self.items = 0
        self.read_units = 0.0

    def add(self, items: list[dict[str, Any]]) -> None:
        size = sum(_item_size(item) for item in items)
        self.requests += 1
        self.items += len(items)
        self.read_units += max(1, -(-size // 4096)) * 0.5


def _item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (attribute names and values; numbers and booleans approximated)."""
    return sum(len(str(name)) + len(str(value).encode()) for name, value in item.items())


def replications_of_database(
    table_name: str,
    database_target: str,
    since: str | None = None,
    until: str | None = None,
    newest_first: bool = True,
    page_size: int = 20,
    usage: ReadUsage | None = None,
) -> Iterator[IndexedReplication]:
    """The replications of one source database to one target (history.database_target_key), by the time their
    snapshot was taken (taken_key() bounds, inclusive), read from the database index page by page as the caller
    iterates: no scan of the history."""
    condition = "database_target = :key"
    values: dict[str, Any] = {":key": database_target}
    if since is not None and until is not None:
        condition += " AND source_taken_at BETWEEN :since AND :until"
        values.update({":since": since, ":until": until})
    elif since is not None:
        condition += " AND source_taken_at >= :since"
        values[":since"] = since
    elif until is not None:
        condition += " AND source_taken_at <= :until"
        values[":until"] = until
    kwargs: dict[str, Any] = {
        "IndexName": DATABASE_INDEX,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": not newest_first,
        "Limit": page_size,
    }
    for page in pages(dynamodb_table(table_name).query, **kwargs):
        if usage is not None:
            usage.add(page["Items"])
        for item in page["Items"]:
            yield IndexedReplication.model_validate(item)


def _scan(table_name: str, **request: Any) -> list[dict[str, Any]]:
    return [item for page in pages(dynamodb_table(table_name).scan, **request) for item in page["Items"]]


def scan_records(table_name: str) -> list[ReplicationRecord]:
    """Every replication (the CLI's status command filters them); the restore tests the history also keeps are
    left out (restore_test_records reads those)."""
    items = _scan(table_name, FilterExpression="attribute_not_exists(record_type)")
    return [ReplicationRecord.model_validate(item) for item in items]
