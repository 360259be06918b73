"""The EventBridge events that start a replication, and the events the replicator publishes."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

from .snapshots import parse_snapshot_arn

# Snapshot-completed RDS event ids (creation started, copy and deletion events are not triggers).
SNAPSHOT_COMPLETED_EVENT_IDS = {
    "RDS-EVENT-0042": "manual DB snapshot created",
    "RDS-EVENT-0091": "automated DB snapshot created",
    "RDS-EVENT-0075": "manual DB cluster snapshot created",
    "RDS-EVENT-0169": "automated DB cluster snapshot created",
}
BACKUP_RESOURCE_TYPES = ("RDS", "Aurora")

EVENT_SOURCE = "rds-snapshot-replicator"
DETAIL_TYPE_SUCCEEDED = "Snapshot Replication Succeeded"
DETAIL_TYPE_FAILED = "Snapshot Replication Failed"
DETAIL_TYPE_REQUESTED = "Snapshot Replication Requested"  # sent by `replicator backfill` for existing snapshots
# sent by a vault's coordinator (coordinator.yaml) to a workload account's default bus: a slot of the shared pool is
# granted to one of its replications (the event only wakes it: its SlotGranted function checks the grant itself)
DETAIL_TYPE_SLOT_GRANTED = "Copy Slot Granted"


class RdsEventDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    EventID: str
    SourceArn: str
    SourceIdentifier: str
    SourceType: str
    EventCategories: list[str] = Field(default_factory=list)
    Message: str | None = None
    Date: str | None = None


class RdsSnapshotEvent(EventBridgeModel):
    source: Literal["aws.rds"]
    detail_type: Literal["RDS DB Snapshot Event", "RDS DB Cluster Snapshot Event"] = Field(alias="detail-type")
    detail: RdsEventDetail

    def snapshot_arn(self) -> str:
        return self.detail.SourceArn

    def not_handled_reason(self) -> str | None:
        if self.detail.EventID not in SNAPSHOT_COMPLETED_EVENT_IDS:
            return f"{self.detail.EventID} is not a snapshot-completed event"
        return None


class BackupJobDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    backupJobId: str
    state: str
    resourceType: str
    resourceArn: str | None = None


class BackupJobEvent(EventBridgeModel):
    source: Literal["aws.backup"]
    detail_type: Literal["Backup Job State Change"] = Field(alias="detail-type")
    detail: BackupJobDetail

    def snapshot_arn(self) -> str:
        """The recovery point (an RDS snapshot or cluster snapshot) is in the event's resources."""
        for arn in self.resources:
            try:
                parse_snapshot_arn(arn)
            except ValueError:
                continue
            return arn
        raise ValueError(f"backup job {self.detail.backupJobId} names no RDS snapshot in resources {self.resources}")

    def not_handled_reason(self) -> str | None:
        if self.detail.state != "COMPLETED":
            return f"backup job state {self.detail.state} is not COMPLETED"
        if self.detail.resourceType not in BACKUP_RESOURCE_TYPES:
            return f"backup of resource type {self.detail.resourceType} is not an RDS or Aurora snapshot"
        return None


class ReplicationRequestDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    SourceArn: str
    requested_by: str = "backfill"  # backfill | retry
    retry_failed: bool = False  # replications of this snapshot that FAILED run again, as their next attempt


class ReplicationRequestEvent(EventBridgeModel):
    """A snapshot that exists already, sent for replication by `replicator backfill` (AWS reserves aws.* sources)."""

    source: Literal["rds-snapshot-replicator"]
    detail_type: Literal["Snapshot Replication Requested"] = Field(alias="detail-type")
    detail: ReplicationRequestDetail

    def snapshot_arn(self) -> str:
        """The snapshot, which must be of the account that sent the request (the replicator's own)."""
        _, _, account, _ = parse_snapshot_arn(self.detail.SourceArn)
        if account != self.account:
            raise ValueError(
                f"{self.detail.SourceArn} is a snapshot of account {account}; only snapshots of this account "
                f"({self.account}) can be requested"
            )
        return self.detail.SourceArn

    def not_handled_reason(self) -> str | None:
        return None


SnapshotEvent = Annotated[RdsSnapshotEvent | BackupJobEvent | ReplicationRequestEvent, Field(discriminator="source")]
