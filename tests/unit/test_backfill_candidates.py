"""Which existing snapshots `replicator backfill` sends (backfill.backfill_candidates), as a table of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from replicator.backfill import ExistingSnapshot, backfill_candidates
from replicator.snapshots import TAG_SOURCE_ARN, SnapshotKind

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def snap(name: str, age_days: float, db: str = "orders", **overrides: object) -> ExistingSnapshot:
    fields: dict = {
        "arn": f"arn:aws:rds:eu-west-1:123456789012:snapshot:{name}",
        "identifier": name,
        "kind": SnapshotKind.INSTANCE,
        "snapshot_type": "manual",
        "status": "available",
        "created_at": NOW - timedelta(days=age_days),
        "database_identifier": db,
    }
    fields.update(overrides)
    return ExistingSnapshot(**fields)


SNAPSHOTS = [
    snap("orders-new", 1),
    snap("rds:orders-auto", 3, snapshot_type="automated"),
    snap("awsbackup:job-1", 5, snapshot_type="awsbackup"),
    snap("orders-old", 30),
    snap("billing-1", 2, db="billing"),
    snap("orders-creating", 0, status="creating"),
    snap("snaprep-orders-new-1a2b3c4d", 1),  # the replicator's own copy
    snap("copied-by-hand", 1, tags={TAG_SOURCE_ARN: "arn:aws:rds:us-east-1:123456789012:snapshot:x"}),
    snap("shared-in", 1, snapshot_type="shared"),  # not this account's
]


@pytest.mark.parametrize(
    ("since_days", "db", "expected"),
    [
        (None, None, ["orders-old", "awsbackup:job-1", "rds:orders-auto", "billing-1", "orders-new"]),
        (7, None, ["awsbackup:job-1", "rds:orders-auto", "billing-1", "orders-new"]),
        (None, "orders", ["orders-old", "awsbackup:job-1", "rds:orders-auto", "orders-new"]),
        (2.5, "orders", ["orders-new"]),
        (None, "nobody", []),
    ],
)
def test_backfill_sends_available_own_snapshots_oldest_first(since_days, db, expected):
    since = NOW - timedelta(days=since_days) if since_days is not None else None
    assert [s.identifier for s in backfill_candidates(SNAPSHOTS, since, db)] == expected
