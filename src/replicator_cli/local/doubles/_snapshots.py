"""How the RDS doubles name a snapshot (rds_copies, and AssumedRoleTagConditions in iam)."""

from __future__ import annotations

from typing import Any

_ARN_SNAPSHOT = ("snapshot", "cluster-snapshot")


def snapshot_identifier(snapshot: Any) -> str:
    """The identifier of a moto DB snapshot or DB cluster snapshot."""
    return getattr(snapshot, "db_cluster_snapshot_identifier", None) or snapshot.db_snapshot_identifier


def snapshot_kind_of(source_arn_or_id: str) -> tuple[str | None, str | None, str]:
    """(account, region, identifier) of a snapshot ARN, or (None, None, identifier)."""
    if source_arn_or_id.startswith("arn:"):
        parts = source_arn_or_id.split(":", 6)
        if parts[5] in _ARN_SNAPSHOT:
            return parts[4], parts[3], parts[6]
    return None, None, source_arn_or_id
