"""Thin access to RDS: read snapshots, make the plan's steps happen, check copies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..backfill import ExistingSnapshot
from ..planning import PlanStep, StepAction
from ..retention import Replica
from ..snapshots import REPLICA_PREFIX, SnapshotKind, SourceSnapshot, parse_snapshot_arn
from .kms import is_aws_managed_key
from .sessions import client, error_code

_NOT_FOUND = {"DBSnapshotNotFound", "DBSnapshotNotFoundFault", "DBClusterSnapshotNotFoundFault"}
_ALREADY_EXISTS = {"DBSnapshotAlreadyExists", "DBSnapshotAlreadyExistsFault", "DBClusterSnapshotAlreadyExistsFault"}


class SnapshotNotFound(Exception):
    pass


class SnapshotQuotaExceeded(Exception):
    """RDS refused a copy: too many in flight. Its name is the error the state machine retries with backoff."""


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
    except Exception as error:
        if error_code(error) in _NOT_FOUND:
            return None
        raise
    return found[0] if found else None


def describe_source_snapshot(arn: str) -> SourceSnapshot:
    """The facts the planner needs about the snapshot named by an event."""
    kind, region, account, identifier = parse_snapshot_arn(arn)
    raw = _describe(kind, region, identifier)
    if raw is None:
        raise SnapshotNotFound(f"snapshot {arn} does not exist (deleted before it could be replicated?)")
    rds = client("rds", region)
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn).get("TagList", [])}
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
        tags=tags,
    )


def start_step(step: PlanStep) -> None:
    """Make one step happen. A copy that already exists (a retried start) is adopted, not made twice."""
    rds = client("rds", step.region, step.role_arn)
    instance = step.kind is SnapshotKind.INSTANCE
    if step.action is StepAction.COPY:
        _copy(rds, step, instance)
    elif step.action in (StepAction.SHARE, StepAction.UNSHARE):
        change = "ValuesToAdd" if step.action is StepAction.SHARE else "ValuesToRemove"
        args = {"AttributeName": "restore", change: [step.share_with]}
        try:
            if instance:
                rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=step.snapshot_identifier, **args)
            else:
                rds.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier=step.snapshot_identifier, **args)
        except Exception as error:
            if not (step.action is StepAction.UNSHARE and error_code(error) in _NOT_FOUND):
                raise
    elif step.action is StepAction.DELETE:
        try:
            if instance:
                rds.delete_db_snapshot(DBSnapshotIdentifier=step.snapshot_identifier)
            else:
                rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=step.snapshot_identifier)
        except Exception as error:
            if error_code(error) not in _NOT_FOUND:
                raise


def _copy(rds: Any, step: PlanStep, instance: bool) -> None:
    args: dict[str, Any] = {"Tags": [{"Key": k, "Value": v} for k, v in step.tags.items()], "CopyTags": False}
    if step.kms_key_id:
        args["KmsKeyId"] = step.kms_key_id
    if step.source_region and step.source_region != step.region:
        args["SourceRegion"] = step.source_region  # boto3 makes the presigned URL for a cross-region copy
    try:
        if instance:
            rds.copy_db_snapshot(
                SourceDBSnapshotIdentifier=step.source_arn, TargetDBSnapshotIdentifier=step.snapshot_identifier, **args
            )
        else:
            rds.copy_db_cluster_snapshot(
                SourceDBClusterSnapshotIdentifier=step.source_arn,
                TargetDBClusterSnapshotIdentifier=step.snapshot_identifier,
                **args,
            )
    except Exception as error:
        code = error_code(error)
        if code in ("SnapshotQuotaExceeded", "SnapshotQuotaExceededFault"):
            raise SnapshotQuotaExceeded(f"{step.describe()}: {error}") from error
        if code not in _ALREADY_EXISTS:
            raise


def copy_status(step: PlanStep) -> tuple[str | None, int]:
    """(status, percent progress) of the copy a step makes; status None when the copy does not exist."""
    raw = _describe(step.kind, step.region, step.snapshot_identifier, step.role_arn)
    if raw is None:
        return None, 0
    return raw.get("Status", "unknown"), int(raw.get("PercentProgress") or 0)


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
        if tag_list is None:
            tag_list = rds.list_tags_for_resource(ResourceName=arn).get("TagList", [])
        tags = {t["Key"]: t["Value"] for t in tag_list}
        found.append(
            Replica(arn=arn, identifier=identifier, kind=kind, status=raw["Status"], created_at=created, tags=tags)
        )
    return found


def delete_replica(replica: Replica, role_arn: str | None) -> bool:
    """Delete a replica; False if it was already gone."""
    _, region, _, _ = parse_snapshot_arn(replica.arn)
    rds = client("rds", region, role_arn)
    try:
        if replica.kind is SnapshotKind.INSTANCE:
            rds.delete_db_snapshot(DBSnapshotIdentifier=replica.identifier)
        else:
            rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=replica.identifier)
    except Exception as error:
        if error_code(error) in _NOT_FOUND:
            return False
        raise
    return True


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
                tags={t["Key"]: t["Value"] for t in raw.get("TagList", [])},
            )
    return list(found.values())
