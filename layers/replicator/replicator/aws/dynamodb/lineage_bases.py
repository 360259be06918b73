"""Lineages: per source database and destination, the copy kept so that the next copy can be incremental (its
base). One item per lineage in the copy-slots table (pool `lineage#...`, entry `base`), newest base wins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from ...clock import epoch_ms, utc_now
from ..sessions import conditional_write, conditionally, dynamodb_table, pages


class BaseRecord(BaseModel):
    lineage: str
    signature: str  # the key and the plan's shape
    snapshot_arn: str
    replication_id: str
    taken_at: datetime  # when the base's data was taken (its source snapshot)
    size_gb: int | None = None
    intermediate: bool
    updated_at: datetime


def get(table_name: str, lineage: str) -> BaseRecord | None:
    item = dynamodb_table(table_name).get_item(Key={"pool": lineage, "entry": "base"}, ConsistentRead=True).get("Item")
    return _record(item) if item else None


def _record(item: dict[str, Any]) -> BaseRecord:
    return BaseRecord.model_validate(
        {k: v for k, v in item.items() if k not in ("pool", "entry", "taken_ms")} | {"lineage": item["pool"]}
    )


def keep(table_name: str, base: BaseRecord) -> str | None:
    """Make `base` its lineage's base if its data is at least as recent as the recorded one.

    Returns the snapshot no longer needed as a base: the previous base it replaces, or `base` itself when a newer
    one is recorded already (replications of one database can finish out of order); None when there is none.
    """
    item = {
        "signature": base.signature,
        "snapshot_arn": base.snapshot_arn,
        "replication_id": base.replication_id,
        "taken_at": base.taken_at.isoformat(),
        "taken_ms": epoch_ms(base.taken_at),
        "intermediate": base.intermediate,
        "updated_at": utc_now().isoformat(),
    }
    if base.size_gb is not None:
        item["size_gb"] = base.size_gb
    names = {f"#{k}": k for k in item}
    written = conditionally(
        lambda: dynamodb_table(table_name).update_item(
            Key={"pool": base.lineage, "entry": "base"},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in item),
            ConditionExpression="attribute_not_exists(taken_ms) OR taken_ms <= :taken_ms",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":{k}": v for k, v in item.items()},
            ReturnValues="ALL_OLD",
        )
    )
    if written is None:
        return base.snapshot_arn  # a newer base is recorded: this one is not needed
    old = written.get("Attributes")
    if not old or old.get("snapshot_arn") == base.snapshot_arn:
        return None
    return str(old["snapshot_arn"])


def all_bases(table_name: str) -> list[BaseRecord]:
    """Every lineage's base (for `replicator status` and the prune)."""
    scan = dynamodb_table(table_name).scan
    return [_record(i) for page in pages(scan) for i in page["Items"] if str(i["pool"]).startswith("lineage#")]


def forget(table_name: str, lineage: str, snapshot_arn: str) -> None:
    """Remove a lineage's record, if its base is still `snapshot_arn` (the prune deleted it)."""
    conditional_write(
        lambda: dynamodb_table(table_name).delete_item(
            Key={"pool": lineage, "entry": "base"},
            ConditionExpression="snapshot_arn = :arn",
            ExpressionAttributeValues={":arn": snapshot_arn},
        )
    )
