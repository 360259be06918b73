"""Thin access to RDS: read snapshots, make a plan's copies and shares happen, check copies, delete our own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..backfill import ExistingSnapshot
from ..coverage import SourceDatabase
from ..planning import PlanStep, StepAction
from ..retention import Replica
from ..snapshots import (
    MANAGED_BY,
    REPLICA_PREFIX,
    TAG_MANAGED_BY,
    TAG_REPLICATION_ID,
    TAG_SOURCE_ARN,
    SnapshotKind,
    SourceSnapshot,
    parse_snapshot_arn,
)
from .kms import is_aws_managed_key
from .sessions import client, error_code

_NOT_FOUND = {"DBSnapshotNotFound", "DBSnapshotNotFoundFault", "DBClusterSnapshotNotFoundFault"}
_ALREADY_EXISTS = {"DBSnapshotAlreadyExists", "DBSnapshotAlreadyExistsFault", "DBClusterSnapshotAlreadyExistsFault"}


class SnapshotNotFound(Exception):
    pass


class SnapshotQuotaExceeded(Exception):
    """RDS refused a copy: too many in flight. Its name is the error the state machine retries with backoff."""


class SingleStepRefused(Exception):
    """AWS refused to copy a shared snapshot of another account straight into another region (older AWS text says
    it cannot be done; the current text says it can): the plan's fallback stages an in-region copy first."""


# what AWS may answer a single-step cross-account, cross-region copy it does not do: a parameter refusal, or the
# shared snapshot not found from the other region (the share exists: the planner shared it the step before)
SINGLE_STEP_REFUSALS = frozenset(
    {
        "InvalidParameterCombination",
        "InvalidParameterValue",
        "DBSnapshotNotFound",
        "DBSnapshotNotFoundFault",
        "DBClusterSnapshotNotFoundFault",
    }
)


class ForeignSnapshot(Exception):
    """A snapshot under one of the plan's names exists and was not made by this replication: it is left untouched."""


@dataclass(frozen=True)
class SnapshotFacts:
    """What is checked of a snapshot the replicator made (or finds under one of its names)."""

    arn: str
    status: str
    percent: int
    encrypted: bool
    kms_key_id: str | None
    tags: dict[str, str]
    database_identifier: str | None = None


def _describe(kind: SnapshotKind, region: str, identifier: str, role_arn: str | None = None) -> dict[str, Any] | None:
    rds = client("rds", region, role_arn)
    # without a SnapshotType, RDS lists only automated and manual snapshots: AWS Backup's need it named
    extra = {"SnapshotType": "awsbackup"} if identifier.startswith("awsbackup:") else {}
    try:
        if kind is SnapshotKind.INSTANCE:
            found = rds.describe_db_snapshots(DBSnapshotIdentifier=identifier, **extra)["DBSnapshots"]
        else:
            found = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=identifier, **extra)[
                "DBClusterSnapshots"
            ]
    except ClientError as error:
        if error_code(error) in _NOT_FOUND:
            return None
        raise
    return found[0] if found else None


def _arn_of(raw: dict[str, Any]) -> str:
    return str(raw.get("DBSnapshotArn") or raw.get("DBClusterSnapshotArn") or "")


def _tags(rds: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn).get("TagList", [])}


def describe_source_snapshot(arn: str) -> SourceSnapshot:
    """The facts the planner needs about the snapshot named by an event (of this account: the caller checks)."""
    kind, region, account, identifier = parse_snapshot_arn(arn)
    raw = _describe(kind, region, identifier)
    # the answer must be the very snapshot the event names (account, region and name), nothing that resembles it
    if raw is None or _arn_of(raw) != arn:
        raise SnapshotNotFound(f"snapshot {arn} does not exist (deleted before it could be replicated?)")
    rds = client("rds", region)
    encrypted = bool(raw.get("Encrypted") if kind is SnapshotKind.INSTANCE else raw.get("StorageEncrypted"))
    kms_key_id = raw.get("KmsKeyId") if encrypted else None
    return SourceSnapshot(
        arn=arn,
        identifier=identifier,
        kind=kind,
        snapshot_type=raw.get("SnapshotType", "manual"),
        account_id=account,
        region=region,
        status=raw.get("Status", "unknown"),
        encrypted=encrypted,
        kms_key_id=kms_key_id,
        kms_key_aws_managed=kms_key_id is not None and is_aws_managed_key(kms_key_id, region),
        engine=raw.get("Engine", ""),
        engine_version=raw.get("EngineVersion", ""),
        database_identifier=raw.get("DBInstanceIdentifier") or raw.get("DBClusterIdentifier"),
        allocated_storage_gb=raw.get("AllocatedStorage"),
        tags=_tags(rds, arn),
        created_at=raw.get("OriginalSnapshotCreateTime") or raw.get("SnapshotCreateTime"),
    )


def snapshot_facts(step: PlanStep) -> SnapshotFacts | None:
    """The snapshot a step makes or acts on, read in its account and region (None when it does not exist)."""
    raw = _describe(step.kind, step.region, step.snapshot_identifier, step.role_arn)
    if raw is None:
        return None
    arn = _arn_of(raw) or step.snapshot_arn
    encrypted = bool(raw.get("Encrypted") if step.kind is SnapshotKind.INSTANCE else raw.get("StorageEncrypted"))
    tag_list = raw.get("TagList")
    tags = (
        {t["Key"]: t["Value"] for t in tag_list} if tag_list else _tags(client("rds", step.region, step.role_arn), arn)
    )
    return SnapshotFacts(
        arn=arn,
        status=str(raw.get("Status", "unknown")),
        percent=int(raw.get("PercentProgress") or 0),
        encrypted=encrypted,
        kms_key_id=raw.get("KmsKeyId") if encrypted else None,
        tags=tags,
        database_identifier=raw.get("DBInstanceIdentifier") or raw.get("DBClusterIdentifier"),
    )


def made_by(facts: SnapshotFacts, replication_id: str, source_arn: str) -> bool:
    """Whether a snapshot carries this replication's markers (its id and its source)."""
    return facts.tags.get(TAG_REPLICATION_ID) == replication_id and facts.tags.get(TAG_SOURCE_ARN) == source_arn


def copy_mismatch(step: PlanStep, facts: SnapshotFacts, replication_id: str, source: SourceSnapshot) -> str | None:
    """Why an existing snapshot under a copy step's name is not the copy this replication makes (None: it is)."""
    if not made_by(facts, replication_id, source.arn):
        return f"a snapshot named {step.snapshot_identifier} exists and was not made by this replication"
    database = source.database_identifier
    if database and facts.database_identifier and facts.database_identifier != database:
        return f"snapshot {step.snapshot_identifier} is a snapshot of {facts.database_identifier}, not of {database}"
    if facts.encrypted != step.encrypted:
        state = "encrypted" if facts.encrypted else "unencrypted"
        return f"snapshot {step.snapshot_identifier} is {state}, which this replication's plan does not make"
    # a key named by its ARN (the mapping's, the share key) must be that key; a staging copy names its account's
    # default key by alias (alias/aws/rds), and being encrypted is what matters there
    if step.kms_key_id and ":key/" in step.kms_key_id and facts.kms_key_id != step.kms_key_id:
        return f"snapshot {step.snapshot_identifier} is encrypted with {facts.kms_key_id}, not {step.kms_key_id}"
    return None


def start_copy(step: PlanStep, replication_id: str, source: SourceSnapshot) -> None:
    """Start a plan's copy. A copy already under its name is adopted only if this replication made it as planned;
    anything else there raises ForeignSnapshot and is left untouched."""
    if step.action is not StepAction.COPY:
        raise ValueError(f"not a copy: {step.describe()}")
    rds = client("rds", step.region, step.role_arn)
    args: dict[str, Any] = {"Tags": [{"Key": k, "Value": v} for k, v in step.tags.items()], "CopyTags": False}
    if step.kms_key_id:
        args["KmsKeyId"] = step.kms_key_id
    if step.source_region and step.source_region != step.region:
        args["SourceRegion"] = step.source_region  # boto3 makes the presigned URL for a cross-region copy
    try:
        if step.kind is SnapshotKind.INSTANCE:
            rds.copy_db_snapshot(
                SourceDBSnapshotIdentifier=step.source_arn, TargetDBSnapshotIdentifier=step.snapshot_identifier, **args
            )
        else:
            rds.copy_db_cluster_snapshot(
                SourceDBClusterSnapshotIdentifier=step.source_arn,
                TargetDBClusterSnapshotIdentifier=step.snapshot_identifier,
                **args,
            )
    except ClientError as error:
        code = error_code(error)
        if code in ("SnapshotQuotaExceeded", "SnapshotQuotaExceededFault"):
            raise SnapshotQuotaExceeded(f"{step.describe()}: {error}") from error
        if step.crosses_account_and_region and code in SINGLE_STEP_REFUSALS:
            raise SingleStepRefused(f"{step.describe()}: {code}: {error}") from error
        if code not in _ALREADY_EXISTS:
            raise
        facts = snapshot_facts(step)
        problem = "it vanished while being adopted" if facts is None else None
        problem = problem or copy_mismatch(step, facts, replication_id, source)  # type: ignore[arg-type]
        if problem:
            raise ForeignSnapshot(f"{step.describe()}: {problem}; it is left untouched") from error


def copy_status(step: PlanStep) -> tuple[str | None, int]:
    """(status, percent progress) of the copy a step makes; status None when the copy does not exist."""
    raw = _describe(step.kind, step.region, step.snapshot_identifier, step.role_arn)
    if raw is None:
        return None, 0
    return raw.get("Status", "unknown"), int(raw.get("PercentProgress") or 0)


def shared_with(step: PlanStep) -> list[str]:
    """The accounts a snapshot may be restored by (its `restore` attribute; "all" = public)."""
    rds = client("rds", step.region, step.role_arn)
    if step.kind is SnapshotKind.INSTANCE:
        result = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=step.snapshot_identifier)
        attributes = result["DBSnapshotAttributesResult"]["DBSnapshotAttributes"]
    else:
        result = rds.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier=step.snapshot_identifier)
        attributes = result["DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"]
    for attribute in attributes:
        if attribute.get("AttributeName") == "restore":
            return list(attribute.get("AttributeValues", []))
    return []


def change_share(step: PlanStep, account: str, add: bool) -> None:
    """Add `account` to (or remove it from) a snapshot's restore attribute; removing from a gone snapshot is a no-op."""
    rds = client("rds", step.region, step.role_arn)
    args = {"AttributeName": "restore", ("ValuesToAdd" if add else "ValuesToRemove"): [account]}
    try:
        if step.kind is SnapshotKind.INSTANCE:
            rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=step.snapshot_identifier, **args)
        else:
            rds.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier=step.snapshot_identifier, **args)
    except ClientError as error:
        if add or error_code(error) not in _NOT_FOUND:
            raise


def _delete(kind: SnapshotKind, region: str, identifier: str, role_arn: str | None) -> bool:
    """Delete a DB or cluster snapshot in one account (through `role_arn`) and region; False if it was gone."""
    rds = client("rds", region, role_arn)
    try:
        if kind is SnapshotKind.INSTANCE:
            rds.delete_db_snapshot(DBSnapshotIdentifier=identifier)
        else:
            rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=identifier)
    except ClientError as error:
        if error_code(error) in _NOT_FOUND:
            return False
        raise
    return True


def delete_snapshot(step: PlanStep) -> bool:
    """Delete the snapshot a step names; False if it was already gone."""
    return _delete(step.kind, step.region, step.snapshot_identifier, step.role_arn)


def add_tags(step: PlanStep, tags: dict[str, str]) -> None:
    """Tag the snapshot a step made (in its account and region)."""
    rds = client("rds", step.region, step.role_arn)
    rds.add_tags_to_resource(ResourceName=step.snapshot_arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def engine_version_offered(engine: str, version: str, region: str, role_arn: str | None) -> bool:
    """Whether `region` offers this engine version (a copy or restore of an unoffered Aurora version fails)."""
    rds = client("rds", region, role_arn)
    found = rds.describe_db_engine_versions(Engine=engine, EngineVersion=version)["DBEngineVersions"]
    return bool(found)


_LISTINGS = (  # (kind, operation, response key, prefix of the snapshot's fields)
    (SnapshotKind.INSTANCE, "describe_db_snapshots", "DBSnapshots", "DB"),
    (SnapshotKind.CLUSTER, "describe_db_cluster_snapshots", "DBClusterSnapshots", "DBCluster"),
)


def _listed(rds: Any, **filters: str) -> Iterator[tuple[SnapshotKind, str, str, dict[str, Any]]]:
    """(kind, ARN, identifier, description) of every DB and cluster snapshot listed with these filters."""
    for kind, operation, key, prefix in _LISTINGS:
        for page in rds.get_paginator(operation).paginate(**filters):
            for raw in page[key]:
                yield kind, raw[f"{prefix}SnapshotArn"], raw[f"{prefix}SnapshotIdentifier"], raw


def list_replicas(region: str, role_arn: str | None) -> list[Replica]:
    """Manual snapshots named like the replicator's copies in one account (through `role_arn`) and region."""
    rds = client("rds", region, role_arn)
    found: list[Replica] = []
    for kind, arn, identifier, raw in _listed(rds, SnapshotType="manual"):
        if not identifier.startswith(REPLICA_PREFIX):
            continue  # not named like a replica: never looked at further
        # retention counts from when the data was taken (a replica made by a backfill is as old as its source)
        created = raw.get("OriginalSnapshotCreateTime") or raw.get("SnapshotCreateTime")
        if created is None or raw.get("Status") != "available":
            continue  # still being made: never a candidate
        tag_list = raw.get("TagList")
        tags = {t["Key"]: t["Value"] for t in tag_list} if tag_list is not None else _tags(rds, arn)
        found.append(
            Replica(arn=arn, identifier=identifier, kind=kind, status=raw["Status"], created_at=created, tags=tags)
        )
    return found


@dataclass(frozen=True)
class Intermediate:
    """A copy the replicator makes on the way to a replica: `-share` (source account, source region), `-stage` (a
    target account, source region), `-xfer` (source account, target region; kept as its lineage's base)."""

    arn: str
    identifier: str
    kind: SnapshotKind
    region: str
    tags: dict[str, str]


def list_intermediates(region: str, role_arn: str | None) -> list[Intermediate]:
    """The replicator's intermediate copies in one account (through `role_arn`) and region."""
    rds = client("rds", region, role_arn)
    found = []
    for kind, arn, identifier, raw in _listed(rds, SnapshotType="manual"):
        if identifier.startswith(REPLICA_PREFIX) and identifier.endswith(("-share", "-stage", "-xfer")):
            tag_list = raw.get("TagList")
            tags = {t["Key"]: t["Value"] for t in tag_list} if tag_list is not None else _tags(rds, arn)
            found.append(Intermediate(arn=arn, identifier=identifier, kind=kind, region=region, tags=tags))
    return found


def delete_replicator_snapshot(arn: str, role_arn: str | None) -> bool:
    """Delete a snapshot the replicator made (named snaprep-*, tagged managed-by), found by its ARN; anything else is
    left alone. False if it was gone or not the replicator's."""
    kind, region, _, identifier = parse_snapshot_arn(arn)
    if not identifier.startswith(REPLICA_PREFIX):
        return False
    rds = client("rds", region, role_arn)
    try:
        tags = _tags(rds, arn)
    except ClientError as error:
        if error_code(error) in _NOT_FOUND:
            return False
        raise
    if tags.get(TAG_MANAGED_BY) != MANAGED_BY:
        return False
    return _delete(kind, region, identifier, role_arn)


def delete_intermediate(intermediate: Intermediate, role_arn: str | None) -> bool:
    """Delete an intermediate copy (the caller checked its tags); False if it was already gone."""
    return _delete(intermediate.kind, intermediate.region, intermediate.identifier, role_arn)


def delete_replica(replica: Replica, role_arn: str | None) -> bool:
    """Delete a replica; False if it was already gone."""
    _, region, _, _ = parse_snapshot_arn(replica.arn)
    return _delete(replica.kind, region, replica.identifier, role_arn)


def list_source_snapshots(region: str) -> list[ExistingSnapshot]:
    """Every DB and cluster snapshot of this account in `region`: automated, manual and AWS Backup's."""
    rds = client("rds", region)
    found: dict[str, ExistingSnapshot] = {}  # by ARN: an AWS Backup snapshot may be listed by both calls
    # without a SnapshotType RDS lists automated and manual snapshots; AWS Backup's must be asked for
    for filters in ({}, {"SnapshotType": "awsbackup"}):
        for kind, arn, identifier, raw in _listed(rds, **filters):
            found[arn] = ExistingSnapshot(
                arn=arn,
                identifier=identifier,
                kind=kind,
                snapshot_type=raw.get("SnapshotType", "manual"),
                status=raw.get("Status", "unknown"),
                created_at=raw.get("SnapshotCreateTime"),
                database_identifier=raw.get("DBInstanceIdentifier") or raw.get("DBClusterIdentifier"),
                engine=raw.get("Engine", ""),
                tags={t["Key"]: t["Value"] for t in raw.get("TagList", [])},
            )
    return list(found.values())


_DATABASE_NOT_FOUND = {"DBInstanceNotFound", "DBInstanceNotFoundFault", "DBClusterNotFoundFault"}


def database_tags(kind: SnapshotKind, region: str, identifier: str) -> dict[str, str] | None:
    """The tags of this account's DB instance (or Aurora cluster, for a cluster snapshot); None when it is gone."""
    rds = client("rds", region)
    try:
        if kind is SnapshotKind.INSTANCE:
            found = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
        else:
            found = rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
    except ClientError as error:
        if error_code(error) in _DATABASE_NOT_FOUND:
            return None
        raise
    if not found:
        return None
    return {t["Key"]: t["Value"] for t in found[0].get("TagList", [])}


# per kind of database: (operation, response key, identifier field, status field)
_DATABASE_LISTINGS = {
    SnapshotKind.INSTANCE: ("describe_db_instances", "DBInstances", "DBInstanceIdentifier", "DBInstanceStatus"),
    SnapshotKind.CLUSTER: ("describe_db_clusters", "DBClusters", "DBClusterIdentifier", "Status"),
}


def _databases(region: str, kinds: tuple[SnapshotKind, ...]) -> Iterator[tuple[SnapshotKind, str, str, dict[str, Any]]]:
    """(kind, identifier, status, raw) of this account's databases in `region`, kind by kind in the order given: DB
    instances (not an Aurora cluster's members: their snapshots are the cluster's) and Aurora clusters."""
    rds = client("rds", region)
    for kind in kinds:
        operation, key, identifier, status = _DATABASE_LISTINGS[kind]
        for page in rds.get_paginator(operation).paginate():
            for raw in page[key]:
                if kind is SnapshotKind.INSTANCE and raw.get("DBClusterIdentifier"):
                    continue
                yield kind, raw[identifier], str(raw.get(status, "unknown")), raw


def list_databases(region: str) -> list[SourceDatabase]:
    """This account's DB instances and DB clusters in `region` (the instances of a cluster are its cluster's: its
    snapshots are cluster snapshots), with their engines and tags, as the coverage audit selects them."""
    return [
        SourceDatabase(
            identifier=identifier,
            kind=kind,
            region=region,
            engine=raw.get("Engine", ""),
            status=status,
            created_at=raw.get("InstanceCreateTime") or raw.get("ClusterCreateTime"),
            tags={t["Key"]: t["Value"] for t in raw.get("TagList", [])},
        )
        for kind, identifier, status, raw in _databases(region, (SnapshotKind.CLUSTER, SnapshotKind.INSTANCE))
    ]


@dataclass(frozen=True)
class DatabaseDetails:
    """A database of this account as `mappings check` plans its snapshots: engine version and encryption."""

    identifier: str
    kind: SnapshotKind
    engine: str
    engine_version: str
    encrypted: bool
    kms_key_id: str | None
    tags: dict[str, str] = field(default_factory=dict)


def database_details(region: str) -> list[DatabaseDetails]:
    """The DB instances (not Aurora members) and then the Aurora clusters of this account in `region`."""
    found = []
    for kind, identifier, _, raw in _databases(region, (SnapshotKind.INSTANCE, SnapshotKind.CLUSTER)):
        encrypted = bool(raw.get("StorageEncrypted"))
        found.append(
            DatabaseDetails(
                identifier=identifier,
                kind=kind,
                engine=raw.get("Engine", ""),
                engine_version=raw.get("EngineVersion", ""),
                encrypted=encrypted,
                kms_key_id=raw.get("KmsKeyId") if encrypted else None,
                tags={t["Key"]: t.get("Value", "") for t in raw.get("TagList", []) if "Key" in t},
            )
        )
    return found
