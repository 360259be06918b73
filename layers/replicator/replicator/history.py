"""Replications as recorded in the history table (their plan, progress and outcome) and published to EventBridge."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .clock import utc_now
from .execution import Phase, Progress
from .planning import ReplicationPlan

DATABASE_INDEX = "by-database-target"  # history table index: (database_target, source_taken_at)
# a sparse index of the records the reconciler must look at (running, or with a cleanup or an event left to do):
# the attribute exists only on those, so the reconciler reads them without scanning months of settled history
UNSETTLED_INDEX = "unsettled"
UNSETTLED_KEY = "unsettled"
UNSETTLED = "1"


def taken_key(when: datetime) -> str:
    """A snapshot's time as the database index's sort key: UTC, to the second, ordered as text."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_taken_key(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def database_target_key(
    source_account: str, source_region: str, kind: str, database: str, target_account: str, target_region: str
) -> str:
    """The database index's key: one source database replicated to one target (account and region)."""
    return "#".join((source_account, source_region, kind, database, target_account, target_region))


class ReplicationStatus(StrEnum):
    PENDING = "PENDING"  # planned, checked and recorded; its execution takes a slot and starts the first copy
    QUEUED = "QUEUED"  # waiting for a copy slot (the RDS copy quota of the destination is in use)
    COPYING = "COPYING"  # a copy step is in progress
    CLEANING_UP = "CLEANING_UP"  # removing intermediate copies and shares
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"

    @property
    def final(self) -> bool:
        return self in (ReplicationStatus.SUCCEEDED, ReplicationStatus.FAILED, ReplicationStatus.SKIPPED)


class AttemptSummary(BaseModel):
    """An earlier attempt of a replication, kept on its record when it is retried."""

    attempt: int
    status: ReplicationStatus
    reason: str = ""
    execution_name: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    cleanup_errors: list[str] = Field(default_factory=list)


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
    attempt: int = 1  # the replication's run: the first, or a retry
    outcome_published: bool | None = None  # the outcome event went out (False: to be published again)
    previous_attempts: list[AttemptSummary] = Field(default_factory=list)  # oldest first
    copy_note: str | None = None  # what this replication's copies cost: a full copy (a new lineage), full transfers
    # the source database and when its snapshot was taken: the key and sort key of the history's database index
    # (DATABASE_INDEX), which the min_interval_hours check and the coverage audit query instead of scanning
    source_database: str | None = None
    source_taken_at: str | None = None  # taken_key(): UTC, sortable as text
    database_target: str | None = None  # database_target_key()
    not_selected: bool | None = None  # SKIPPED by the target's selection (re-evaluated when sent again)
    # the plan the start function made, and where the replication is in it: the only plan its tasks act on
    plan: ReplicationPlan | None = None
    progress: Progress | None = None

    def index_fields(self) -> dict[str, str] | None:
        """The database index's attributes of a record written before the index existed, from its stored plan
        (None: no plan names its database)."""
        source = self.plan.source if self.plan else None
        if self.plan is None or source is None or not source.database_identifier or source.created_at is None:
            return None
        database = source.database_identifier
        return {
            "source_database": database,
            "source_taken_at": taken_key(source.created_at),
            "database_target": database_target_key(
                source.account_id,
                source.region,
                source.kind.value,
                database,
                self.plan.target_account_id,
                self.plan.target.target_region,
            ),
        }

    @property
    def carried_out(self) -> ReplicationPlan | None:
        """The stored plan as it is carried out (its fallback route once AWS refused its single step)."""
        if self.plan is None:
            return None
        return self.plan.route(self.progress.fallback if self.progress else False)

    def progressed(self, progress: Progress, status: ReplicationStatus | None = None) -> ReplicationRecord:
        """This record with the replication moved to `progress` (status QUEUED or COPYING unless given)."""
        if self.plan is None:
            raise ValueError(f"replication {self.replication_id} has no plan")
        if status is None:
            status = ReplicationStatus.QUEUED if progress.phase is Phase.QUEUED else ReplicationStatus.COPYING
        plan = self.plan.route(progress.fallback)
        return self.model_copy(
            update={
                "progress": progress,
                "status": status,
                "step": progress.step_label(plan),
                "percent_progress": progress.overall_percent(plan),
            }
        )

    @property
    def retryable(self) -> str | None:
        """Why this replication cannot be retried (None: it can: it FAILED)."""
        if self.replication_id.startswith("tampering-"):
            return "a refused task input, not a replication: nothing to retry"
        if self.status is ReplicationStatus.SUCCEEDED:
            return f"it SUCCEEDED ({self.reason})"
        if self.status is ReplicationStatus.SKIPPED:
            return f"it was SKIPPED by design ({self.reason})"
        if not self.status.final:
            return f"it is still running ({self.status.value}, {self.step or 'starting'})"
        if not self.source_arn:
            return "no snapshot is named by it (a malformed event): nothing to retry"
        return None

    def summary(self) -> AttemptSummary:
        return AttemptSummary(
            attempt=self.attempt,
            status=self.status,
            reason=self.reason,
            execution_name=self.execution_name,
            started_at=self.started_at,
            finished_at=self.finished_at,
            cleanup_errors=self.cleanup_errors,
        )

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def unsettled(self) -> bool:
        """The reconciler still has a look to take: it runs, or a cleanup or its outcome event is left to do."""
        return not self.status.final or bool(self.cleanup_errors) or self.outcome_published is False

    def to_item(self) -> dict:
        """The DynamoDB item (no empty or None attributes; numbers as Decimal, as DynamoDB stores them), with the
        key of the history's sparse UNSETTLED_INDEX while the record is unsettled."""
        data = self.model_dump(mode="json", exclude_none=True)
        data = {k: v for k, v in data.items() if v not in ("", [])}
        if self.unsettled:
            data[UNSETTLED_KEY] = UNSETTLED
        return json.loads(json.dumps(data), parse_float=Decimal)


class IndexedReplication(BaseModel):
    """A replication as the history's database index returns it (the attributes it projects)."""

    replication_id: str
    status: ReplicationStatus
    source_taken_at: str
    reason: str = ""
    source_arn: str | None = None
    replica_arn: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    replica_deleted_at: datetime | None = None
    not_selected: bool | None = None

    @property
    def taken_at(self) -> datetime:
        return parse_taken_key(self.source_taken_at)

    @property
    def holds_a_replica(self) -> bool:
        """A replica of it exists (SUCCEEDED and not pruned since)."""
        return self.status is ReplicationStatus.SUCCEEDED and self.replica_deleted_at is None

    @property
    def counts_for_interval(self) -> bool:
        """It made, or is making, a replica: min_interval_hours counts it."""
        return self.status not in (ReplicationStatus.FAILED, ReplicationStatus.SKIPPED)


# what the database index projects besides its keys and the table's key (template.yaml, HistoryTable)
INDEX_PROJECTION = (
    "status",
    "reason",
    "source_arn",
    "replica_arn",
    "started_at",
    "finished_at",
    "replica_deleted_at",
    "not_selected",
)
