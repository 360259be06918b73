"""Factories shared by the unit and integration tests (importable from any test folder: tests/conftest.py puts this
folder on the path). Scenario factories (databases, bursts of snapshots, mapping targets) are in
tests/integration/support.py."""

from __future__ import annotations

from typing import Any

from replicator.snapshots import SnapshotKind, SourceSnapshot, snapshot_arn

SOURCE_ACCOUNT = "123456789012"  # the replicator's own account (moto's default)
TARGET_ACCOUNT = "210987654321"  # the vault: another account of the organisation
OTHER_ACCOUNT = "345678901234"
ROLE = f"arn:aws:iam::{TARGET_ACCOUNT}:role/SnapshotReplication"  # a mapping target's role in the target account
OTHER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/SnapshotReplication"
ORDERS_AUTOMATED = "rds:orders-2026-11-24-03-10"


def source_snapshot(
    identifier: str = ORDERS_AUTOMATED,
    snapshot_type: str = "automated",
    *,
    kind: SnapshotKind = SnapshotKind.INSTANCE,
    account_id: str = SOURCE_ACCOUNT,
    region: str = "us-east-1",
    partition: str = "aws",
    **fields: Any,
) -> SourceSnapshot:
    """An available, encrypted PostgreSQL 16.4 source snapshot in `region` of `account_id`; any other field of
    SourceSnapshot as a keyword (encrypted=False, kms_key_id=..., database_identifier=..., arn=...)."""
    values: dict[str, Any] = {
        "arn": snapshot_arn(kind, region, account_id, identifier, partition),
        "identifier": identifier,
        "kind": kind,
        "snapshot_type": snapshot_type,
        "account_id": account_id,
        "region": region,
        "status": "available",
        "encrypted": True,
        "engine": "postgres",
        "engine_version": "16.4",
    }
    return SourceSnapshot(**{**values, **fields})


__all__ = [
    "ORDERS_AUTOMATED",
    "OTHER_ACCOUNT",
    "OTHER_ROLE",
    "ROLE",
    "SOURCE_ACCOUNT",
    "TARGET_ACCOUNT",
    "source_snapshot",
]
