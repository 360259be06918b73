"""Thin access to RDS for restore tests: restore a replica in its account (through the target role) and region,
describe what was restored, delete it, and find what tests left behind. Only `snaptest-*` databases are created or
deleted here (the target role allows nothing else)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ..restore_testing import RESTORE_PREFIX, TAG_RESTORE_TEST, Expected, Observed, RestoreTestPlan
from ..snapshots import MANAGED_BY, TAG_MANAGED_BY, TAG_SOURCE_ACCOUNT, SnapshotKind
from . import sessions
from .sessions import client, error_code

_INSTANCE_NOT_FOUND = {"DBInstanceNotFound", "DBInstanceNotFoundFault"}
_CLUSTER_NOT_FOUND = {"DBClusterNotFoundFault", "DBClusterNotFound"}
_SNAPSHOT_NOT_FOUND = {"DBSnapshotNotFound", "DBSnapshotNotFoundFault", "DBClusterSnapshotNotFoundFault"}
_ALREADY_EXISTS = {"DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault", "DBClusterAlreadyExistsFault"}


class ReplicaGone(Exception):
    """The replica to restore no longer exists (pruned since the test was planned)."""


def _rds(plan: RestoreTestPlan) -> Any:
    return client("rds", plan.target_region, plan.role_arn)


def _tags(test_id: str) -> list[dict[str, str]]:
    return [
        {"Key": TAG_RESTORE_TEST, "Value": test_id},
        {"Key": TAG_MANAGED_BY, "Value": MANAGED_BY},
        {"Key": TAG_SOURCE_ACCOUNT, "Value": sessions.own_account()},  # whose test (a vault in organization mode)
    ]


def replica_expectation(plan: RestoreTestPlan) -> Expected:
    """What a database restored from the plan's replica must show (the replica as RDS describes it)."""
    rds = _rds(plan)
    try:
        if plan.kind is SnapshotKind.INSTANCE:
            raw = rds.describe_db_snapshots(DBSnapshotIdentifier=plan.replica_identifier)["DBSnapshots"][0]
            encrypted = bool(raw.get("Encrypted"))
        else:
            raw = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=plan.replica_identifier)[
                "DBClusterSnapshots"
            ][0]
            encrypted = bool(raw.get("StorageEncrypted"))
    except ClientError as error:
        if error_code(error) in _SNAPSHOT_NOT_FOUND:
            raise ReplicaGone(
                f"replica {plan.replica_arn} no longer exists (pruned since the test was planned?)"
            ) from error
        raise
    return Expected(
        engine=raw.get("Engine", ""),
        engine_version=raw.get("EngineVersion", ""),
        encrypted=encrypted,
        kms_key_id=raw.get("KmsKeyId") if encrypted else None,
        allocated_storage_gb=raw.get("AllocatedStorage") if plan.kind is SnapshotKind.INSTANCE else None,
    )


def offered_instance_classes(plan: RestoreTestPlan, engine: str, engine_version: str) -> set[str]:
    """The DB instance classes the target region offers for this engine version."""
    rds = _rds(plan)
    offered: set[str] = set()
    paginator = rds.get_paginator("describe_orderable_db_instance_options")
    for page in paginator.paginate(Engine=engine, EngineVersion=engine_version):
        offered.update(option["DBInstanceClass"] for option in page["OrderableDBInstanceOptions"])
    return offered


def _network(plan: RestoreTestPlan) -> dict[str, Any]:
    network: dict[str, Any] = {}
    if plan.subnet_group:
        network["DBSubnetGroupName"] = plan.subnet_group
    if plan.security_group_ids:
        network["VpcSecurityGroupIds"] = list(plan.security_group_ids)
    return network


def start_restore(plan: RestoreTestPlan, test_id: str, instance_class: str, engine: str, engine_version: str) -> bool:
    """Restore the replica as the plan's DB instance or Aurora cluster: never publicly accessible, no deletion
    protection, tagged with the test; False when it exists already (a retried call)."""
    rds = _rds(plan)
    try:
        if plan.kind is SnapshotKind.INSTANCE:
            rds.restore_db_instance_from_db_snapshot(
                DBInstanceIdentifier=plan.restore_identifier,
                DBSnapshotIdentifier=plan.replica_identifier,
                DBInstanceClass=instance_class,
                PubliclyAccessible=False,
                MultiAZ=False,
                DeletionProtection=False,
                AutoMinorVersionUpgrade=False,
                CopyTagsToSnapshot=False,
                Tags=_tags(test_id),
                **_network(plan),
            )
        else:
            rds.restore_db_cluster_from_snapshot(
                DBClusterIdentifier=plan.restore_identifier,
                SnapshotIdentifier=plan.replica_identifier,
                Engine=engine,
                EngineVersion=engine_version,
                DeletionProtection=False,
                CopyTagsToSnapshot=False,
                Tags=_tags(test_id),
                **_network(plan),
            )
    except ClientError as error:
        if error_code(error) in _ALREADY_EXISTS:
            return False
        if error_code(error) in _SNAPSHOT_NOT_FOUND:
            raise ReplicaGone(
                f"replica {plan.replica_arn} no longer exists (pruned since the test was planned?)"
            ) from error
        raise
    return True


def add_cluster_instance(plan: RestoreTestPlan, test_id: str, instance_class: str, engine: str) -> bool:
    """The restored cluster's one instance (an Aurora cluster without one cannot be used); False when it exists."""
    if plan.instance_identifier is None:
        raise ValueError(f"restore test {test_id} restores a DB instance: it adds no cluster instance")
    try:
        _rds(plan).create_db_instance(
            DBInstanceIdentifier=plan.instance_identifier,
            DBClusterIdentifier=plan.restore_identifier,
            Engine=engine,
            DBInstanceClass=instance_class,
            PubliclyAccessible=False,
            AutoMinorVersionUpgrade=False,
            Tags=_tags(test_id),
        )
    except ClientError as error:
        if error_code(error) in _ALREADY_EXISTS:
            return False
        raise
    return True


@dataclass(frozen=True)
class _Kind:
    """How RDS names one kind of restored database: its describe and delete calls, and their errors."""

    describe: str  # the describe operation
    identifier: str  # its identifier parameter
    listed: str  # the response's list
    status: str  # the status field
    not_found: frozenset[str]
    delete: str  # the delete operation
    delete_options: dict[str, bool]
    busy: str  # the delete's error when a deletion is under way (or the database is not deletable yet)


_INSTANCE = _Kind(
    "describe_db_instances",
    "DBInstanceIdentifier",
    "DBInstances",
    "DBInstanceStatus",
    frozenset(_INSTANCE_NOT_FOUND),
    "delete_db_instance",
    {"SkipFinalSnapshot": True, "DeleteAutomatedBackups": True},
    "InvalidDBInstanceState",
)
_CLUSTER = _Kind(
    "describe_db_clusters",
    "DBClusterIdentifier",
    "DBClusters",
    "Status",
    frozenset(_CLUSTER_NOT_FOUND),
    "delete_db_cluster",
    {"SkipFinalSnapshot": True},
    "InvalidDBClusterStateFault",
)


def _described(rds: Any, kind: _Kind, identifier: str) -> dict[str, Any] | None:
    """The database as RDS describes it; None when it does not exist."""
    try:
        found: dict[str, Any] = getattr(rds, kind.describe)(**{kind.identifier: identifier})[kind.listed][0]
    except ClientError as error:
        if error_code(error) in kind.not_found:
            return None
        raise
    return found


def _observed(plan: RestoreTestPlan, kind: _Kind, identifier: str) -> Observed | None:
    raw = _described(_rds(plan), kind, identifier)
    if raw is None:
        return None
    return Observed(
        identifier=identifier,
        status=raw.get(kind.status, "unknown"),
        engine=raw.get("Engine", ""),
        engine_version=raw.get("EngineVersion", ""),
        encrypted=bool(raw.get("StorageEncrypted")),
        kms_key_id=raw.get("KmsKeyId"),
        allocated_storage_gb=raw.get("AllocatedStorage") if kind is _INSTANCE else None,
        publicly_accessible=bool(raw.get("PubliclyAccessible")),
    )


def describe_instance(plan: RestoreTestPlan, identifier: str) -> Observed | None:
    """The restored DB instance as RDS describes it; None when it does not exist."""
    return _observed(plan, _INSTANCE, identifier)


def describe_cluster(plan: RestoreTestPlan, identifier: str) -> Observed | None:
    """The restored Aurora cluster as RDS describes it; None when it does not exist."""
    return _observed(plan, _CLUSTER, identifier)


def _delete(kind: _Kind, region: str, role_arn: str | None, identifier: str) -> str:
    """Delete a restore test's database (no final snapshot): its status once its deletion started (now or
    before, 'deleting'), 'gone' if it does not exist."""
    if not identifier.startswith(RESTORE_PREFIX):
        raise ValueError(f"{identifier} is not a restore test's database: not deleted")
    rds = client("rds", region, role_arn)
    # IAM checks the delete's tag conditions (target-account-role.yaml) before RDS looks for the database: one that
    # does not exist has no tags, so its delete is AccessDenied, not not-found. Look first.
    if _described(rds, kind, identifier) is None:
        return "gone"
    try:
        getattr(rds, kind.delete)(**{kind.identifier: identifier}, **kind.delete_options)
    except ClientError as error:
        if error_code(error) in kind.not_found:
            return "gone"
        if error_code(error) != kind.busy:
            if _described(rds, kind, identifier) is None:
                return "gone"  # deleted meanwhile
            raise
    raw = _described(rds, kind, identifier)
    return "gone" if raw is None else str(raw.get(kind.status, "unknown"))


def delete_instance(region: str, role_arn: str | None, identifier: str) -> str:
    """Delete a restore test's DB instance (no final snapshot, no automated backups kept): 'deleting' once its
    deletion started (now or before), 'gone' if it does not exist."""
    return _delete(_INSTANCE, region, role_arn, identifier)


def delete_cluster(region: str, role_arn: str | None, identifier: str) -> str:
    """Delete a restore test's Aurora cluster (no final snapshot): 'deleting' or 'gone', as delete_instance."""
    return _delete(_CLUSTER, region, role_arn, identifier)


@dataclass(frozen=True)
class LeftOver:
    """A database a restore test created, found in a target account and region."""

    kind: SnapshotKind  # instance: a DB instance; cluster: an Aurora cluster
    identifier: str
    test_id: str | None
    created_at: datetime | None
    status: str
    workload: str | None = None  # the workload account whose test made it (replicator:source-account)


def list_left_overs(region: str, role_arn: str | None) -> list[LeftOver]:
    """Every `snaptest-*` DB instance and cluster of one account (through `role_arn`) and region, with the test that
    made it (its tag)."""
    rds = client("rds", region, role_arn)
    found: list[LeftOver] = []
    for page in rds.get_paginator("describe_db_clusters").paginate():
        for raw in page["DBClusters"]:
            if raw["DBClusterIdentifier"].startswith(RESTORE_PREFIX):
                found.append(
                    _left_over(SnapshotKind.CLUSTER, raw["DBClusterIdentifier"], raw, "ClusterCreateTime", "Status")
                )
    for page in rds.get_paginator("describe_db_instances").paginate():
        for raw in page["DBInstances"]:
            if raw["DBInstanceIdentifier"].startswith(RESTORE_PREFIX):
                found.append(
                    _left_over(
                        SnapshotKind.INSTANCE,
                        raw["DBInstanceIdentifier"],
                        raw,
                        "InstanceCreateTime",
                        "DBInstanceStatus",
                    )
                )
    return found


def _left_over(kind: SnapshotKind, identifier: str, raw: dict[str, Any], created: str, status: str) -> LeftOver:
    tags = {t["Key"]: t["Value"] for t in raw.get("TagList", [])}
    return LeftOver(
        kind=kind,
        identifier=identifier,
        test_id=tags.get(TAG_RESTORE_TEST),
        created_at=raw.get(created),
        status=str(raw.get(status, "unknown")),
        workload=tags.get(TAG_SOURCE_ACCOUNT),
    )
