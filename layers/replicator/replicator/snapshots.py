"""What the replicator knows about a source snapshot, read once from RDS before planning."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

# Every snapshot the replicator creates starts with this prefix. The EventBridge rule excludes it (no loops) and the
# start handler double-checks with the tags below.
REPLICA_PREFIX = "snaprep-"
TAG_SOURCE_ARN = "replicator:source-arn"
TAG_REPLICATION_ID = "replicator:replication-id"
TAG_MANAGED_BY = "replicator:managed-by"
TAG_SOURCE_DATABASE = "replicator:source-database"  # the DB instance or cluster (retention's keep_last counts per it)
TAG_COMPLETE = "replicator:complete"  # "true" on a finished replica (target roles may protect these from deletion)
# the workload account a replica (or restore-test database) belongs to: a vault role in organization mode lets each
# workload account tag, delete and restore-test only its own (target-account-role.yaml, TrustedOrganizationId)
TAG_SOURCE_ACCOUNT = "replicator:source-account"
TAG_LINEAGE_BASE = "replicator:lineage-base"  # on a copy kept only as the base of its lineage's next copy
MANAGED_BY = "rds-snapshot-replicator"


class SnapshotKind(StrEnum):
    INSTANCE = "instance"  # DB instance snapshot (RDS)
    CLUSTER = "cluster"  # Aurora DB cluster snapshot

    @property
    def max_identifier_length(self) -> int:
        return 255 if self is SnapshotKind.INSTANCE else 63

    @property
    def arn_resource(self) -> str:
        return "snapshot" if self is SnapshotKind.INSTANCE else "cluster-snapshot"


class SourceSnapshot(BaseModel):
    """Facts about the snapshot to replicate."""

    model_config = ConfigDict(frozen=True)

    arn: str
    identifier: str
    kind: SnapshotKind
    snapshot_type: str  # automated | manual | awsbackup | shared
    account_id: str
    region: str
    status: str
    encrypted: bool
    kms_key_id: str | None = None
    kms_key_aws_managed: bool = False  # encrypted with the account's default aws/rds key (cannot be shared)
    engine: str
    engine_version: str
    database_identifier: str | None = None
    allocated_storage_gb: int | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None  # when its data was taken (the original snapshot's time for a copy)

    @property
    def partition(self) -> str:
        return self.arn.split(":")[1]

    @property
    def is_replica(self) -> bool:
        """A snapshot the replicator made itself: never replicated again."""
        return self.identifier.startswith(REPLICA_PREFIX) or TAG_SOURCE_ARN in self.tags

    @property
    def shareable_as_is(self) -> bool:
        """AWS shares only manual snapshots, and not those encrypted with the default aws/rds key."""
        return self.snapshot_type == "manual" and not (self.encrypted and self.kms_key_aws_managed)


def snapshot_arn(kind: SnapshotKind, region: str, account_id: str, identifier: str, partition: str = "aws") -> str:
    return f"arn:{partition}:rds:{region}:{account_id}:{kind.arn_resource}:{identifier}"


def parse_snapshot_arn(arn: str) -> tuple[SnapshotKind, str, str, str]:
    """(kind, region, account, identifier) of a snapshot ARN; ValueError if it is not one."""
    match = re.fullmatch(r"arn:aws[a-z-]*:rds:([a-z0-9-]+):(\d{12}):(snapshot|cluster-snapshot):(.+)", arn)
    if not match:
        raise ValueError(f"'{arn}' is not an RDS snapshot or cluster snapshot ARN")
    region, account, resource, identifier = match.groups()
    kind = SnapshotKind.INSTANCE if resource == "snapshot" else SnapshotKind.CLUSTER
    return kind, region, account, identifier


def short_hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


def sanitize_identifier(text: str) -> str:
    """Letters, digits and single hyphens, as RDS identifiers require (drops `rds:` / `awsbackup:` prefixes)."""
    text = re.sub(r"^(rds|awsbackup):", "", text)
    text = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return text or "snapshot"


def replica_identifier(source: SourceSnapshot, target_account: str, target_region: str, suffix: str = "") -> str:
    """Deterministic name of a snapshot the replicator creates for `source` and one target.

    `snaprep-<source name>-<hash>[-suffix]`, within the kind's length limit; the hash keeps truncated names unique.
    """
    digest = short_hash(source.arn, target_account, target_region)
    tail = f"-{digest}" + (f"-{suffix}" if suffix else "")
    room = source.kind.max_identifier_length - len(REPLICA_PREFIX) - len(tail)
    body = sanitize_identifier(source.identifier)[:room].rstrip("-")
    return f"{REPLICA_PREFIX}{body}{tail}"


def replication_id(source_arn: str, target_account: str, target_region: str) -> str:
    """Deterministic id of one (snapshot, target) replication; also the Step Functions execution name (max 80)."""
    _, _, _, identifier = parse_snapshot_arn(source_arn)
    body = sanitize_identifier(identifier)[:48].rstrip("-")
    return f"{body}-{target_region}-{short_hash(source_arn, target_account, target_region, length=12)}"


MAX_ATTEMPTS = 99  # "-a99" keeps the longest replication id (76 characters) within an execution name's 80


def execution_name(rid: str, attempt: int) -> str:
    """The Step Functions execution name of a replication's attempt (names cannot be reused for 90 days)."""
    if not 1 <= attempt <= MAX_ATTEMPTS:
        raise ValueError(f"attempt {attempt} of {rid}: at most {MAX_ATTEMPTS} attempts")
    return rid if attempt == 1 else f"{rid}-a{attempt}"
