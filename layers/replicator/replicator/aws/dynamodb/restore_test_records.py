"""The history table's restore-test records (`record_type` = restore-test): written by the scheduler and the test's
task, read by id and, through the sparse `restore-tests` index (record_type, started_at), by time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...clock import utc_now
from ...restore_testing import RECORD_TYPE, RESTORE_TESTS_INDEX, RestoreTestRecord, RestoreTestStatus, started_key
from ..sessions import conditional_write, dynamodb_table, pages

_FINAL = tuple(s.value for s in RestoreTestStatus if s.final)
_NOT_FINAL = "NOT #s IN (" + ", ".join(f":f{i}" for i in range(len(_FINAL))) + ")"
_NOT_FINAL_VALUES = {f":f{i}": v for i, v in enumerate(_FINAL)}


def create(table_name: str, record: RestoreTestRecord) -> RestoreTestRecord | None:
    """Write a test's first record; the existing record instead when there is one (the test was planned already)."""
    if conditional_write(
        lambda: dynamodb_table(table_name).put_item(
            Item=record.to_item(), ConditionExpression="attribute_not_exists(replication_id)"
        )
    ):
        return None
    return get(table_name, record.test_id)


def put(table_name: str, record: RestoreTestRecord) -> bool:
    """Write a test's record unless its outcome is final already (False: nothing written)."""
    record = record.model_copy(update={"updated_at": utc_now()})
    return conditional_write(
        lambda: dynamodb_table(table_name).put_item(
            Item=record.to_item(),
            ConditionExpression=f"#t = :t AND {_NOT_FINAL}",
            ExpressionAttributeNames={"#s": "status", "#t": "record_type"},
            ExpressionAttributeValues={":t": RECORD_TYPE, **_NOT_FINAL_VALUES},
        )
    )


def get(table_name: str, test_id: str) -> RestoreTestRecord | None:
    """The restore test of this id (None: none, or the id names a replication)."""
    item = dynamodb_table(table_name).get_item(Key={"replication_id": test_id}, ConsistentRead=True).get("Item")
    if not item or item.get("record_type") != RECORD_TYPE:
        return None
    return RestoreTestRecord.model_validate(item)


def started_since(table_name: str, since: datetime) -> list[RestoreTestRecord]:
    """Every restore test started at or after `since`, oldest first (the sparse index: tests only)."""
    read = pages(
        dynamodb_table(table_name).query,
        IndexName=RESTORE_TESTS_INDEX,
        KeyConditionExpression="record_type = :t AND started_at >= :since",
        ExpressionAttributeValues={":t": RECORD_TYPE, ":since": started_key(since)},
    )
    items: list[dict[str, Any]] = [item for page in read for item in page["Items"]]
    return [RestoreTestRecord.model_validate(item) for item in items]
