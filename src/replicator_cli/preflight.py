"""`replicator mappings check`: what would fail, per mapping target, before any snapshot is taken.

The checks reuse the Lambdas' own code: the same role assumption, key check, engine version check and planner
(a database's automated snapshot is planned as the Lambda would plan it, so every refusal rule applies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3

from replicator.aws import kms, rds
from replicator.aws.sessions import RoleNotAssumable, client
from replicator.mapping import MappingTarget, RegionMapping
from replicator.planning import plan_replication
from replicator.rules import ReplicationRefused
from replicator.snapshots import SnapshotKind, SourceSnapshot


@dataclass
class Check:
    subject: str
    ok: bool
    detail: str


@dataclass
class TargetReport:
    source_region: str
    target: MappingTarget
    target_account: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def label(self) -> str:
        return f"{self.source_region} -> {self.target_account} / {self.target.target_region}"


@dataclass
class Database:
    identifier: str
    kind: SnapshotKind
    engine: str
    engine_version: str
    encrypted: bool
    kms_key_id: str | None


def databases_in(region: str) -> list[Database]:
    """The DB instances (not Aurora members) and Aurora clusters of this account in `region`."""
    rds_client = boto3.client("rds", region_name=region)
    found: list[Database] = []
    for page in rds_client.get_paginator("describe_db_instances").paginate():
        for db in page["DBInstances"]:
            if db.get("DBClusterIdentifier"):
                continue  # an Aurora member: its snapshots are the cluster's
            found.append(_database(db["DBInstanceIdentifier"], SnapshotKind.INSTANCE, db))
    for page in rds_client.get_paginator("describe_db_clusters").paginate():
        for cluster in page["DBClusters"]:
            found.append(_database(cluster["DBClusterIdentifier"], SnapshotKind.CLUSTER, cluster))
    return found


def _database(identifier: str, kind: SnapshotKind, raw: dict[str, Any]) -> Database:
    encrypted = bool(raw.get("StorageEncrypted"))
    return Database(
        identifier=identifier,
        kind=kind,
        engine=raw.get("Engine", ""),
        engine_version=raw.get("EngineVersion", ""),
        encrypted=encrypted,
        kms_key_id=raw.get("KmsKeyId") if encrypted else None,
    )


def check_target(
    mapping: RegionMapping, source_region: str, target: MappingTarget, own_account: str, databases: list[Database]
) -> TargetReport:
    report = TargetReport(source_region, target, target.account_id(own_account))
    role = target.role_arn
    role_ok = True
    if role:
        try:
            client("sts", target.target_region, role).get_caller_identity()
            report.checks.append(Check("role", True, f"{role} can be assumed"))
        except (RoleNotAssumable, Exception) as error:
            role_ok = False
            report.checks.append(Check("role", False, f"{error}; create it from target-account-role.yaml"))
    key = target.encryption.kms_key_arn
    if target.encryption.enabled and key and role_ok:
        problem = _safely(lambda: kms.key_problem(key, target.target_region, role))
        report.checks.append(
            Check("kms key", problem is None, problem or f"{key} is enabled in {target.target_region}")
        )
    if target.share_kms_key_arn:
        share = target.share_kms_key_arn
        problem = _safely(lambda: kms.key_problem(share, source_region, None))
        report.checks.append(Check("share key", problem is None, problem or f"{share} is enabled in {source_region}"))
    if target.transfer_kms_key_arn:
        transfer, region = target.transfer_kms_key_arn, target.target_region
        problem = _safely(lambda: kms.key_problem(transfer, region, None))
        report.checks.append(Check("transfer key", problem is None, problem or f"{transfer} is enabled in {region}"))
    offered: dict[tuple[str, str], bool | str] = {}
    for db in databases:
        report.checks.append(_check_database(db, source_region, target, own_account, role_ok, offered))
    if not databases:
        report.checks.append(Check("databases", True, f"no databases in {source_region} yet"))
    return report


def _safely(call: Any) -> str | None:
    try:
        result: str | None = call()
    except Exception as error:
        return str(error)
    return result


def _check_database(
    db: Database,
    source_region: str,
    target: MappingTarget,
    own_account: str,
    role_ok: bool,
    offered: dict[tuple[str, str], bool | str],
) -> Check:
    subject = f"{db.kind.value} {db.identifier} ({db.engine} {db.engine_version})"
    # plan the database's automated snapshot exactly as the start Lambda would
    kind = "cluster-snapshot" if db.kind is SnapshotKind.CLUSTER else "snapshot"
    snapshot = SourceSnapshot(
        arn=f"arn:aws:rds:{source_region}:{own_account}:{kind}:rds:{db.identifier}-preflight",
        identifier=f"rds:{db.identifier}-preflight",
        kind=db.kind,
        snapshot_type="automated",
        account_id=own_account,
        region=source_region,
        status="available",
        encrypted=db.encrypted,
        kms_key_id=db.kms_key_id,
        engine=db.engine,
        engine_version=db.engine_version,
    )
    try:
        plan = plan_replication(snapshot, target)
    except ReplicationRefused as refused:
        return Check(subject, False, f"would be refused: {refused.reason}")
    if role_ok:
        key = (db.engine, db.engine_version)
        if key not in offered:
            try:
                offered[key] = rds.engine_version_offered(
                    db.engine, db.engine_version, target.target_region, target.role_arn
                )
            except Exception as error:
                offered[key] = f"cannot check the engine version: {error}"
        if isinstance(offered[key], str):
            return Check(subject, False, str(offered[key]))
        if not offered[key]:
            return Check(subject, False, f"{db.engine} {db.engine_version} is not offered in {target.target_region}")
    encryption = "encrypted" if plan.replica_encrypted else "unencrypted"
    return Check(subject, True, f"would replicate ({encryption}, {len(plan.steps)} step(s))")


def check_mappings(mappings: list[tuple[str, RegionMapping]], own_account: str) -> list[TargetReport]:
    """One report per (source region, target): `mappings` pairs each source region with the mapping it uses."""
    reports = []
    for source_region, mapping in mappings:
        databases = databases_in(source_region)
        for target in mapping.targets:
            reports.append(check_target(mapping, source_region, target, own_account, databases))
    return reports
