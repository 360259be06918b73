"""Backfill (pure): which snapshots that exist already are sent for replication by `replicator backfill`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from .snapshots import REPLICA_PREFIX, TAG_SOURCE_ARN, SnapshotKind


class ExistingSnapshot(BaseModel):
    """A snapshot as listed in its region (not yet described in full: the start function does that)."""

    model_config = ConfigDict(frozen=True)

    arn: str
    identifier: str
    kind: SnapshotKind
    snapshot_type: str
    status: str
    created_at: datetime | None
    database_identifier: str | None = None
    engine: str = ""
    tags: dict[str, str] = {}

    @property
    def is_replica(self) -> bool:
        return self.identifier.startswith(REPLICA_PREFIX) or TAG_SOURCE_ARN in self.tags


def backfill_candidates(
    snapshots: list[ExistingSnapshot], since: datetime | None = None, database: str | None = None
) -> list[ExistingSnapshot]:
    """Available snapshots, not the replicator's own, created since `since`, of `database`: oldest first.

    Oldest first, so that the copy queue serves them in the order they were taken.
    """
    chosen = [
        s
        for s in snapshots
        if s.status == "available"
        and not s.is_replica
        and s.snapshot_type in ("manual", "automated", "awsbackup")
        and (since is None or (s.created_at is not None and s.created_at >= since))
        and (database is None or s.database_identifier == database)
    ]
    return sorted(chosen, key=lambda s: (s.created_at is None, s.created_at or datetime.min, s.arn))
