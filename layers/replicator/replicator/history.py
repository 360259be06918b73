"""Outcomes of replications, as recorded in the history table and published to EventBridge."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ReplicationStatus(StrEnum):
    PENDING = "PENDING"  # planned and checked, first copy being started
    QUEUED = "QUEUED"  # waiting for a copy slot (the RDS copy quota of the destination is in use)
    COPYING = "COPYING"  # a copy step is in progress
    CLEANING_UP = "CLEANING_UP"  # removing intermediate copies and shares
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"

    @property
    def final(self) -> bool:
        return self in (ReplicationStatus.SUCCEEDED, ReplicationStatus.FAILED, ReplicationStatus.SKIPPED)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ReplicationRecord(BaseModel):
    """One item of the history table: the latest state of one (snapshot, target) replication."""

    model_config = ConfigDict(use_enum_values=False)

    replication_id: str
    status: ReplicationStatus
    reason: str = ""
    source_arn: str | None = None
    source_region: str | None = None
    snapshot_kind: str | None = None
    target_account_id: str | None = None
    target_region: str | None = None
    replica_arn: str | None = None
    step: str | None = None  # e.g. "2/3 copy into the target account"
    percent_progress: int = 0
    event_id: str | None = None
    execution_name: str | None = None
    started_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    finished_at: datetime | None = None
    cleanup_errors: list[str] = Field(default_factory=list)
    replica_deleted_at: datetime | None = None  # the pruner deleted the replica (its mapping target's retention)
    replica_deleted_reason: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_item(self) -> dict:
        """The DynamoDB item (no empty or None attributes)."""
        data = self.model_dump(mode="json", exclude_none=True)
        return {k: v for k, v in data.items() if v not in ("", [])}
