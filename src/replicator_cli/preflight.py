"""`replicator mappings check`: what would fail, per mapping target, before any snapshot is taken.

The checks reuse the Lambdas' own code: the same role assumption, key check, engine version check and planner
(a database's automated snapshot is planned as the Lambda would plan it, so every refusal rule applies).

A target with restore tests (restore_test) is also checked where its tests would run, through its role: that the
role allows restore tests (its `replicator:restore-tests` tag, target-account-role.yaml's RestoreTests), that the
subnet group and the security groups exist (in one VPC), and that the instance class (the given one, or the one the
test would choose) is offered for each tested database's engine version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from replicator.aws import kms, network, rds
from replicator.aws.errors import TransientAwsError
from replicator.aws.rds import DatabaseDetails as Database
from replicator.aws.sessions import RoleNotAssumable, assumed_account
from replicator.mapping import MappingTarget, RegionMapping
from replicator.planning import plan_replication
from replicator.restore_testing import RestoreTest, choose_instance_class
from replicator.rules import ReplicationRefused
from replicator.selection import DatabaseFacts
from replicator.snapshots import SnapshotKind, SourceSnapshot

# what a check's AWS reads can raise: refused (ClientError, a role not assumable, a read the role does not allow),
# unreachable or without credentials (BotoCoreError), STS failing passingly: each a failed check, not the end of all
_UNCHECKABLE = (ClientError, BotoCoreError, RoleNotAssumable, TransientAwsError, network.NotReadable)

T = TypeVar("T")
Key = tuple[str, str]  # (engine, engine version)


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


def check_target(
    mapping: RegionMapping, source_region: str, target: MappingTarget, own_account: str, databases: list[Database]
) -> TargetReport:
    report = TargetReport(source_region, target, target.account_id(own_account))
    role = target.role_arn
    role_ok = True
    if role:
        try:
            assumed_account(role, target.target_region)
            report.checks.append(Check("role", True, f"{role} can be assumed"))
        except _UNCHECKABLE as error:
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
    if target.restore_test is not None and role_ok:
        where = f"{report.target_account} / {target.target_region}"
        report.checks += _restore_test_checks(target, target.restore_test, where, source_region, databases)
    return report


def _read_once(answers: dict[Key, T | str], key: Key, read: Callable[[], T], failure: str) -> T | str:
    """`read()`'s answer for `key`, read once (each engine version is asked about once per target); `failure: why`
    when AWS could not answer, a failed check."""
    if key not in answers:
        try:
            answers[key] = read()
        except _UNCHECKABLE as error:
            answers[key] = f"{failure}: {error}"
    return answers[key]


def _safely(call: Any) -> str | None:
    try:
        result: str | None = call()
    except _UNCHECKABLE as error:
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
        version_offered = _read_once(
            offered,
            (db.engine, db.engine_version),
            lambda: rds.engine_version_offered(db.engine, db.engine_version, target.target_region, target.role_arn),
            "cannot check the engine version",
        )
        if isinstance(version_offered, str):
            return Check(subject, False, version_offered)
        if not version_offered:
            return Check(subject, False, f"{db.engine} {db.engine_version} is not offered in {target.target_region}")
    encryption = "encrypted" if plan.replica_encrypted else "unencrypted"
    return Check(subject, True, f"would replicate ({encryption}, {len(plan.steps)} step(s))")


# --- restore tests -------------------------------------------------------------------------------------------------


def _option(field: str, option: str) -> str:
    """How a fix names the setting: the mapping field and the `mappings put` option that sets it."""
    return f"restore_test.{field} (mappings put option {option})"


def _restore_test_checks(
    target: MappingTarget, config: RestoreTest, where: str, source_region: str, databases: list[Database]
) -> list[Check]:
    """Whether the target's restore tests could run: allowed by its role, their network there, their class."""
    region, role = target.target_region, target.role_arn
    checks: list[Check] = []
    if role:
        allowed = _restore_tests_allowed(role, region, where)
        checks.append(allowed)
        if not allowed.ok:
            return checks  # the role grants none of the calls below: each would only be refused
    vpc: str | None = None
    if config.subnet_group:
        check, vpc = _subnet_group_check(target, config.subnet_group, where)
        checks.append(check)
    if config.security_group_ids:
        checks.append(_security_groups_check(target, config.security_group_ids, vpc, where))
    tested = [db for db in databases if _tested(target, config, db)]
    offered: dict[tuple[str, str], set[str] | str] = {}
    for db in tested:
        checks.append(_instance_class_check(target, config, db, offered, where))
    if databases and not tested:
        patterns = ", ".join(config.databases)
        checks.append(
            Check(
                "restore test: databases",
                True,
                f"no database in {source_region} is tested on {where} (restore_test.databases: {patterns})",
            )
        )
    return checks


def _tested(target: MappingTarget, config: RestoreTest, db: Database) -> bool:
    """Whether the target's restore tests would test `db`: selected by the target, matched by restore_test."""
    facts = DatabaseFacts(identifier=db.identifier, engine=db.engine, tags=db.tags)
    selected = target.selection is None or target.selection.refusal(facts) is None
    return selected and config.tests(db.identifier)


def _restore_tests_allowed(role: str, region: str, where: str) -> Check:
    subject = "restore test: role"
    account = role.split(":")[4] if role.count(":") >= 5 else where
    redeploy = (
        f"update the target-account-role.yaml stack in account {account} with RestoreTests=allowed "
        f"(its administrator opts in), or remove the restore test (--no-restore-test)"
    )
    try:
        mode = network.restore_tests_mode(role, region)
    except _UNCHECKABLE as error:
        return Check(subject, False, f"cannot read the tags of {role} for {where} ({error}): {redeploy}")
    if mode == "allowed":
        return Check(subject, True, f"{role} allows restore tests (replicator:restore-tests = allowed)")
    if mode is None:
        return Check(
            subject,
            False,
            f"{role} has no tag {network.TAG_RESTORE_TESTS} (made from an older target-account-role.yaml): "
            f"restore tests on {where} would be refused; {redeploy}",
        )
    return Check(
        subject,
        False,
        f"{role} denies restore tests ({network.TAG_RESTORE_TESTS} = {mode}): every restore test on {where} "
        f"would fail; {redeploy}",
    )


def _subnet_group_check(target: MappingTarget, name: str, where: str) -> tuple[Check, str | None]:
    subject = "restore test: subnet group"
    fix = f"create it there, or set another in {_option('subnet_group', '--restore-test-subnet-group')}"
    try:
        group = network.subnet_group(name, target.target_region, target.role_arn)
    except _UNCHECKABLE as error:
        return Check(subject, False, f"cannot read DB subnet group {name} in {where}: {error}"), None
    if group is None:
        return Check(subject, False, f"DB subnet group {name} does not exist in {where}: {fix}"), None
    return Check(subject, True, f"DB subnet group {name} exists in {where} (VPC {group.vpc_id or '?'})"), group.vpc_id


def _security_groups_check(target: MappingTarget, group_ids: list[str], vpc: str | None, where: str) -> Check:
    subject = "restore test: security groups"
    fix = f"create them there, or set others in {_option('security_group_ids', '--restore-test-security-group')}"
    try:
        found = network.security_groups(group_ids, target.target_region, target.role_arn)
    except _UNCHECKABLE as error:
        return Check(subject, False, f"cannot read security groups {', '.join(group_ids)} in {where}: {error}")
    missing = [g for g in group_ids if g not in found]
    if missing:
        return Check(subject, False, f"security group(s) {', '.join(missing)} do not exist in {where}: {fix}")
    elsewhere = [g for g in group_ids if vpc and found[g] and found[g] != vpc]
    if elsewhere:
        return Check(
            subject,
            False,
            f"security group(s) {', '.join(elsewhere)} are not in the subnet group's VPC {vpc} in {where}: "
            f"a restored database's security groups must be in its VPC; {fix}",
        )
    return Check(subject, True, f"security group(s) {', '.join(group_ids)} exist in {where}")


def _instance_class_check(
    target: MappingTarget,
    config: RestoreTest,
    db: Database,
    offered: dict[tuple[str, str], set[str] | str],
    where: str,
) -> Check:
    subject = f"restore test: {db.kind.value} {db.identifier} ({db.engine} {db.engine_version})"
    classes = _read_once(
        offered,
        (db.engine, db.engine_version),
        lambda: network.offered_instance_classes(db.engine, db.engine_version, target.target_region, target.role_arn),
        f"cannot read the instance classes offered in {where}",
    )
    if isinstance(classes, str):
        return Check(subject, False, classes)
    version = f"{db.engine} {db.engine_version}"
    if config.instance_class:
        if config.instance_class in classes:
            return Check(subject, True, f"would restore as {config.instance_class} in {where}")
        return Check(
            subject,
            False,
            f"{config.instance_class} is not offered for {version} in {where}: set one that is in "
            f"{_option('instance_class', '--restore-test-instance-class')}",
        )
    chosen = choose_instance_class(db.kind, db.engine, classes)
    if chosen is None:
        return Check(
            subject,
            False,
            f"no small instance class is offered for {version} in {where} (restore tests would fail): set one "
            f"that is in {_option('instance_class', '--restore-test-instance-class')}",
        )
    return Check(subject, True, f"would restore as {chosen} in {where} (the smallest offered)")


def check_mappings(mappings: list[tuple[str, RegionMapping]], own_account: str) -> list[TargetReport]:
    """One report per (source region, target): `mappings` pairs each source region with the mapping it uses."""
    reports = []
    for source_region, mapping in mappings:
        databases = rds.database_details(source_region)
        for target in mapping.targets:
            reports.append(check_target(mapping, source_region, target, own_account, databases))
    return reports
