"""Scenario files: databases, snapshots, keys, accounts, mappings and events, run through the real pipeline.

The format is documented in README.md ("Scenario files"). Placeholders in mapping items: `{{key:NAME}}` is the ARN
of the scenario's key NAME, `{{role:ACCOUNT}}` the ARN of the replication role created in ACCOUNT.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import boto3
import yaml
from moto.cloudformation.models import cloudformation_backends
from moto.rds.models import rds_backends
from pydantic import BaseModel, ConfigDict, Field

from replicator.aws.dynamodb import restore_test_records
from replicator.aws.dynamodb.replication_records import scan_records
from replicator.history import ReplicationRecord
from replicator.restore_testing import RESTORE_PREFIX, RestoreTestRecord
from replicator.snapshots import REPLICA_PREFIX, parse_snapshot_arn, snapshot_arn

from .cloud import HOME_REGION, LOCAL_EXTERNAL_ID, SOURCE_ACCOUNT, TARGET_ROLE_NAME, LocalCloud
from .provision import account_client, load_template


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeySpec(_Spec):
    name: str
    region: str
    account: str = SOURCE_ACCOUNT


class DatabaseSpec(_Spec):
    id: str
    kind: Literal["instance", "cluster"] = "instance"
    region: str = HOME_REGION
    engine: str = "postgres"
    engine_version: str = "16.3"
    encrypted: bool = False
    kms_key: str | None = None  # a key of the scenario; encrypted without one = the account's aws/rds key
    tags: dict[str, str] = Field(default_factory=dict)  # the database's own tags (a selection may read them)


class SnapshotSpec(_Spec):
    id: str
    database: str
    type: Literal["manual", "automated", "awsbackup"] = "manual"
    tags: dict[str, str] = Field(default_factory=dict)


class EventSpec(_Spec):
    file: str | None = None  # an EventBridge event as the Lambda receives it (see events/)
    snapshot: str | None = None  # or: a snapshot of the scenario, for which the matching event is generated


class EngineVersionSpec(_Spec):
    region: str
    engine: str
    version: str


class Expectation(_Spec):
    snapshot: str
    status: Literal["SUCCEEDED", "FAILED", "SKIPPED"]
    target_region: str | None = None
    target_account: str | None = None
    reason_contains: str | None = None
    replica_encrypted: bool | None = None


class RestoreExpectation(_Spec):
    """A restore test the scenario expects (after its replications, the scheduler runs once)."""

    database: str
    target_region: str
    status: Literal["SUCCEEDED", "FAILED", "SKIPPED"]
    target_account: str | None = None
    reason_contains: str | None = None


class Scenario(_Spec):
    name: str
    description: str = ""
    copy_seconds: float = 2.0
    poll_seconds: int = 1
    timeout_seconds: float = 60.0
    instance_copy_quota: int = 20  # the stack's InstanceCopyQuota (copy slots per destination account and region)
    slot_recheck_seconds: int = 3600  # the stack's SlotRecheckSeconds
    cluster_copy_quota: int = 5  # the stack's ClusterCopyQuota
    target_accounts: list[str] = Field(default_factory=list)
    allowed_target_accounts: list[str] | None = None  # the stack's AllowedTargetAccounts (default: target_accounts)
    replica_deletion: Literal["retention", "never"] = "retention"  # the target roles' ReplicaDeletion
    # the target roles in organization mode (target-account-role.yaml's TrustedOrganizationId): they trust the
    # replicators of every account of this organization, this one among them (RoleTrust's organization_of)
    organization_id: str | None = None
    # a vault account whose copy quota every workload shares: coordinator.yaml deployed there, its target role and the
    # stack configured for it (SharedSlotPoolTableArn); its pool's quota and per-account cap are coordinator.yaml's
    shared_slot_pool_account: str | None = None
    shared_pool_instance_quota: int = 20
    shared_pool_per_account_cap: int = 0
    refuse_single_step: bool = False  # AWS refuses cross-account, cross-region copies in one step (older AWS text)
    keys: list[KeySpec] = Field(default_factory=list)
    databases: list[DatabaseSpec] = Field(default_factory=list)
    snapshots: list[SnapshotSpec] = Field(default_factory=list)
    unavailable_engine_versions: list[EngineVersionSpec] = Field(default_factory=list)
    failing_copies: list[str] = Field(default_factory=list)  # source snapshot ids whose copies end `failed`
    restore_tests: Literal["allowed", "denied"] = "allowed"  # the target roles' RestoreTests
    restore_seconds: float | None = None  # how long a restore test's restore takes (default: copy_seconds)
    failing_restores: list[str] = Field(default_factory=list)  # source databases whose test restores end `failed`
    stuck_restores: list[str] = Field(default_factory=list)  # source databases whose test restores never end
    mappings: list[dict[str, Any]] = Field(default_factory=list)
    events: list[EventSpec] = Field(default_factory=list)
    expect: list[Expectation] = Field(default_factory=list)
    expect_restore_tests: list[RestoreExpectation] = Field(default_factory=list)

    @property
    def tests_restores(self) -> bool:
        """A mapping target of the scenario has `restore_test`: the scheduler runs once its replications ended."""
        return any(t.get("restore_test") for m in self.mappings for t in m.get("targets", []))

    @classmethod
    def load(cls, path: Path) -> Scenario:
        return cls.model_validate(yaml.safe_load(path.read_text()))


class Outcome(BaseModel):
    """One line of a scenario's result: a recorded outcome, checked against the expectation it answers."""

    snapshot: str
    kind: str | None
    source_region: str | None
    target_account: str | None
    target_region: str | None
    status: str
    reason: str
    replica_arn: str | None = None
    replica_encrypted: bool | None = None
    snapshot_type: str | None = None  # automated, manual, awsbackup
    path: str | None = None  # the copies and shares the replication took (planning.PlanShape.path)
    expected: str | None = None  # the expected status, when an expectation names this outcome
    met: bool | None = None  # None: no expectation; else whether every expected fact holds


class RestoreOutcome(BaseModel):
    """One restore test the scheduler ran after the scenario's replications, checked against its expectation."""

    database: str
    target_account: str
    target_region: str
    status: str
    reason: str
    restore_seconds: float | None = None
    instance_class: str | None = None
    kind: str | None = None  # instance | cluster (what was restored)
    expected: str | None = None
    met: bool | None = None


class ScenarioResult(BaseModel):
    outcomes: list[Outcome]
    missing: list[Expectation]  # expectations no recorded outcome answered
    leftovers: list[str]  # intermediate copies still present after all replications ended
    async_errors: list[str]
    restore_tests: list[RestoreOutcome] = Field(default_factory=list)
    missing_restore_tests: list[RestoreExpectation] = Field(default_factory=list)
    restore_leftovers: list[str] = Field(default_factory=list)  # snaptest-* databases not deleting after the tests

    @property
    def ok(self) -> bool:
        return (
            not self.missing
            and not self.leftovers
            and not self.async_errors
            and all(o.met is not False for o in self.outcomes)
            and not self.missing_restore_tests
            and not self.restore_leftovers
            and all(t.met is not False for t in self.restore_tests)
        )


class ScenarioRunner:
    def __init__(self, scenario: Scenario, cloud: LocalCloud, base_dir: Path):
        self.scenario = scenario
        self.cloud = cloud
        self.base_dir = base_dir
        self.key_arns: dict[str, str] = {}
        self.role_arns: dict[str, str] = {}
        self.snapshot_arns: dict[str, str] = {}

    # ---- seeding ----

    def seed(self) -> None:
        s = self.scenario
        self.cloud.doubles.copy_clock.fail_identifiers.update(s.failing_copies)
        restores = self.cloud.doubles.restore_clock
        restores.failing.update(s.failing_restores)
        restores.stuck.update(s.stuck_restores)
        if s.restore_seconds is not None:
            restores.restore_seconds = s.restore_seconds
        self.cloud.doubles.refuse_single_step = s.refuse_single_step
        for v in s.unavailable_engine_versions:
            self.cloud.doubles.engine_catalog.unavailable.add((v.region, v.engine, v.version))
        for account in s.target_accounts:
            self._target_role(account)
        for key in s.keys:
            kms = account_client("kms", key.region, "" if key.account == SOURCE_ACCOUNT else key.account)
            arn = kms.create_key(Description=f"scenario key {key.name}")["KeyMetadata"]["Arn"]
            kms.create_alias(AliasName=f"alias/{key.name}", TargetKeyId=arn)
            self.key_arns[key.name] = arn
        databases = {d.id: d for d in s.databases}
        for db in s.databases:
            self._database(db)
        for snap in s.snapshots:
            self._snapshot(snap, databases[snap.database])
        table = boto3.resource("dynamodb").Table(self.cloud.stack.mapping_table)
        for item in s.mappings:
            table.put_item(Item=self._resolve_placeholders(item))

    def _target_role(self, account: str) -> None:
        """target-account-role.yaml itself, deployed in the target account (as its owner would)."""
        template = load_template(self.cloud.root / "target-account-role.yaml")
        parameters = {
            "ReplicatorRolePattern": self.cloud.stack.outputs["ReplicatorRolePattern"],
            "ExternalId": LOCAL_EXTERNAL_ID,
            "RoleName": TARGET_ROLE_NAME,
            "ReplicaDeletion": self.scenario.replica_deletion,
            "RestoreTests": self.scenario.restore_tests,
        }
        coordinator = self.cloud.coordinator
        if coordinator is not None and coordinator.account == account:
            parameters["SharedSlotPoolTableArn"] = coordinator.table_arn
        organization = self.scenario.organization_id
        if organization:
            pattern = parameters["ReplicatorRolePattern"].split(":")
            parameters["ReplicatorRolePattern"] = ":".join([*pattern[:4], "*", *pattern[5:]])  # any account's
            parameters["TrustedOrganizationId"] = organization
            self.cloud.doubles.organization_of[SOURCE_ACCOUNT] = organization
        # made through the account's CloudFormation directly: deploying there from here needs a role there first
        stack = cloudformation_backends[account][HOME_REGION].create_stack(
            name="rds-snapshot-replicator-target", template=json.dumps(template), parameters=parameters
        )
        if stack.status != "CREATE_COMPLETE":
            raise RuntimeError(f"target-account-role.yaml in {account}: {stack.status}")
        self.role_arns[account] = next(o["OutputValue"] for o in stack.outputs or [] if o["OutputKey"] == "RoleArn")

    def _database(self, db: DatabaseSpec) -> None:
        rds = boto3.client("rds", region_name=db.region)
        key = None
        if db.encrypted:
            key = self.key_arns[db.kms_key] if db.kms_key else self._aws_rds_key(db.region)
        common: dict[str, Any] = {
            "Engine": db.engine,
            "EngineVersion": db.engine_version,
            "StorageEncrypted": db.encrypted,
        }
        common.update(MasterUsername="admin", MasterUserPassword="local-only-password")
        if key:
            common["KmsKeyId"] = key
        if db.tags:
            common["Tags"] = [{"Key": k, "Value": v} for k, v in db.tags.items()]
        if db.kind == "instance":
            rds.create_db_instance(
                DBInstanceIdentifier=db.id, DBInstanceClass="db.t3.micro", AllocatedStorage=20, **common
            )
        else:
            rds.create_db_cluster(DBClusterIdentifier=db.id, **common)

    def _aws_rds_key(self, region: str) -> str:
        """The account's default aws/rds key (AWS creates it on first use)."""
        return boto3.client("kms", region_name=region).describe_key(KeyId="alias/aws/rds")["KeyMetadata"]["Arn"]

    def _snapshot(self, snap: SnapshotSpec, db: DatabaseSpec) -> None:
        cluster = db.kind == "cluster"
        if snap.type == "manual":
            rds = boto3.client("rds", region_name=db.region)
            if cluster:
                rds.create_db_cluster_snapshot(DBClusterIdentifier=db.id, DBClusterSnapshotIdentifier=snap.id)
            else:
                rds.create_db_snapshot(DBInstanceIdentifier=db.id, DBSnapshotIdentifier=snap.id)
        else:
            # automated and AWS Backup snapshots are made by AWS, not through the API: make them in the backend
            backend = rds_backends[SOURCE_ACCOUNT][db.region]
            if cluster:
                backend.create_db_cluster_snapshot(db.id, snap.id, snapshot_type=snap.type)
            else:
                backend.create_db_snapshot(db.id, snap.id, snapshot_type=snap.type)
        kind = "cluster-snapshot" if cluster else "snapshot"
        arn = f"arn:aws:rds:{db.region}:{SOURCE_ACCOUNT}:{kind}:{snap.id}"
        if snap.tags:
            boto3.client("rds", region_name=db.region).add_tags_to_resource(
                ResourceName=arn, Tags=[{"Key": k, "Value": v} for k, v in snap.tags.items()]
            )
        self.snapshot_arns[snap.id] = arn

    def _resolve_placeholders(self, item: Any) -> Any:
        def replace(match: re.Match[str]) -> str:
            kind, name = match.group(1), match.group(2)
            table = self.key_arns if kind == "key" else self.role_arns
            if name not in table:
                raise ValueError(f"scenario mapping names unknown {kind} '{name}'")
            return table[name]

        # numbers as Decimal, as DynamoDB stores them (boto3 refuses floats: rpo_hours, max_minutes...)
        return json.loads(re.sub(r"\{\{(key|role):([^}]+)\}\}", replace, json.dumps(item)), parse_float=Decimal)

    # ---- events ----

    def events(self) -> list[dict[str, Any]]:
        events = []
        for spec in self.scenario.events:
            if spec.file:
                path = self.base_dir / spec.file
                if not path.exists():
                    path = self.cloud.root / spec.file
                events.append(json.loads(path.read_text()))
            elif spec.snapshot:
                events.append(self.event_for(spec.snapshot))
        return events

    def event_for(self, snapshot_id: str) -> dict[str, Any]:
        """The event AWS raises when the scenario's snapshot `snapshot_id` completes (snapshot_event)."""
        spec = next(s for s in self.scenario.snapshots if s.id == snapshot_id)
        arn = self.snapshot_arns[snapshot_id]
        _kind, region, account, _ = parse_snapshot_arn(arn)
        return snapshot_event(arn, spec.type, region, account)

    def send(self, events: list[dict[str, Any]], region: str = HOME_REGION) -> list[str]:
        """Put the events on the default bus of `region` (default: the stack's): the rules decide what reaches the
        start function (from another region, only what a forwarder there sends to the stack's bus). Returns the ids
        EventBridge gave them."""
        client = boto3.client("events", region_name=region)
        ids = []
        for event in events:
            entry = {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event.get("resources", []),
                "Time": datetime.fromisoformat(event["time"].replace("Z", "+00:00")) if "time" in event else None,
            }
            response = client.put_events(Entries=[{k: v for k, v in entry.items() if v is not None}])
            if response.get("FailedEntryCount"):
                raise RuntimeError(f"EventBridge refused an event: {response['Entries']}")
            ids.append(response["Entries"][0]["EventId"])
        return ids

    # ---- results ----

    def wait(self) -> list[ReplicationRecord]:
        """Until every expected outcome (or, with none, every replication) is final, or the timeout."""
        deadline = time.monotonic() + self.scenario.timeout_seconds
        table = self.cloud.stack.history_table
        while True:
            idle = self.cloud.doubles.wait_idle(timeout=0.2)
            records = scan_records(table)
            if self.scenario.expect:
                done = all(self._answer(e, records) is not None for e in self.scenario.expect)
            else:
                done = idle and all(r.status.final for r in records)
            if (done and idle and not self._executions_running()) or time.monotonic() > deadline:
                return records
            time.sleep(0.5)  # each look scans the history table: not more often, the emulation shares one CPU

    def _executions_running(self) -> bool:
        sfn = boto3.client("stepfunctions")
        arn = self.cloud.stack.state_machine_arn
        return bool(sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"])

    def _answer(self, expectation: Expectation, records: list[ReplicationRecord]) -> ReplicationRecord | None:
        for record in records:
            if not record.status.final or not record.source_arn:
                continue
            if not record.source_arn.endswith(":" + expectation.snapshot):
                continue
            if expectation.target_region and record.target_region != expectation.target_region:
                continue
            if expectation.target_account and record.target_account_id != expectation.target_account:
                continue
            return record
        return None

    def result(self, records: list[ReplicationRecord]) -> ScenarioResult:
        outcomes: list[Outcome] = []
        answered: set[str] = set()
        missing = []
        for expectation in self.scenario.expect:
            record = self._answer(expectation, records)
            if record is None:
                missing.append(expectation)
                continue
            answered.add(record.replication_id)
            outcomes.append(self._outcome(record, expectation))
        for record in records:
            if record.replication_id not in answered:
                outcomes.append(self._outcome(record, None))
        return ScenarioResult(
            outcomes=outcomes,
            missing=missing,
            leftovers=_leftover_intermediates(),
            async_errors=list(self.cloud.doubles.lambda_dispatcher.async_errors),
        )

    def _snapshot_type(self, record: ReplicationRecord) -> str | None:
        """The type the scenario gave the snapshot (a record refused before planning has no plan to say it)."""
        name = record.source_arn.split(":", 6)[-1] if record.source_arn else None
        return next((s.type for s in self.scenario.snapshots if s.id == name), None)

    def _outcome(self, record: ReplicationRecord, expectation: Expectation | None) -> Outcome:
        encrypted = _replica_encrypted(record) if record.replica_arn and record.status.value == "SUCCEEDED" else None
        outcome = Outcome(
            snapshot=record.source_arn.split(":", 6)[-1] if record.source_arn else record.replication_id,
            kind=record.snapshot_kind,
            source_region=record.source_region,
            target_account=record.target_account_id,
            target_region=record.target_region,
            status=record.status.value,
            reason=record.reason,
            replica_arn=record.replica_arn,
            replica_encrypted=encrypted,
            snapshot_type=record.plan.source.snapshot_type if record.plan else self._snapshot_type(record),
            path=record.carried_out.shape.path if record.carried_out else None,
        )
        if expectation is None:
            return outcome
        met = record.status.value == expectation.status
        if expectation.reason_contains is not None:
            met = met and expectation.reason_contains.lower() in record.reason.lower()
        if expectation.replica_encrypted is not None:
            met = met and encrypted == expectation.replica_encrypted
        return outcome.model_copy(update={"expected": expectation.status, "met": met})

    # ---- restore tests ----

    def run_restore_tests(self, result: ScenarioResult) -> ScenarioResult:
        """The restore-test scheduler's run (as its daily schedule would start it), once the replications ended;
        then, when every test's execution ended, the tests' outcomes checked against the expectations."""
        if not self.scenario.tests_restores:
            return result
        dispatcher = self.cloud.doubles.lambda_dispatcher
        scheduler = self.cloud.stack.function("ScheduleRestoreTestsFunction").name
        answer, error = dispatcher.invoke(scheduler, {})
        errors = [f"{scheduler}: {answer}"] if error else []
        sfn = boto3.client("stepfunctions")
        arn = self.cloud.stack.state_machine_arns["RestoreTestStateMachine"]
        deadline = time.monotonic() + self.scenario.timeout_seconds
        while time.monotonic() < deadline:
            if not sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
                break
            time.sleep(0.5)
        since = datetime.now(UTC) - timedelta(days=1)
        records = restore_test_records.started_since(self.cloud.stack.history_table, since)
        outcomes: list[RestoreOutcome] = []
        missing: list[RestoreExpectation] = []
        answered: set[str] = set()
        for expectation in self.scenario.expect_restore_tests:
            record = next((r for r in records if _answers(expectation, r) and r.test_id not in answered), None)
            if record is None:
                missing.append(expectation)
                continue
            answered.add(record.test_id)
            outcomes.append(_restore_outcome(record, expectation))
        outcomes += [_restore_outcome(r, None) for r in records if r.test_id not in answered]
        return result.model_copy(
            update={
                "restore_tests": outcomes,
                "missing_restore_tests": missing,
                "restore_leftovers": _restore_leftovers(),
                "async_errors": [*result.async_errors, *errors],
            }
        )


def _answers(expectation: RestoreExpectation, record: RestoreTestRecord) -> bool:
    return (
        record.status.final
        and record.database == expectation.database
        and record.target_region == expectation.target_region
        and (expectation.target_account is None or record.target_account == expectation.target_account)
    )


def _restore_outcome(record: RestoreTestRecord, expectation: RestoreExpectation | None) -> RestoreOutcome:
    outcome = RestoreOutcome(
        database=record.database,
        target_account=record.target_account,
        target_region=record.target_region,
        status=record.status.value,
        reason=record.reason,
        restore_seconds=record.restore_seconds,
        instance_class=record.instance_class,
        kind=record.plan.kind.value if record.plan else None,
    )
    if expectation is None:
        return outcome
    met = record.status.value == expectation.status
    if expectation.reason_contains is not None:
        met = met and expectation.reason_contains.lower() in record.reason.lower()
    return outcome.model_copy(update={"expected": expectation.status, "met": met})


def _restore_leftovers() -> list[str]:
    """snaptest-* DB instances and clusters, in every account and region of the emulation, not being deleted."""
    found = []
    for account, regions in rds_backends.items():
        for region, backend in regions.items():
            for name, resource in [*backend.databases.items(), *backend.clusters.items()]:
                status = getattr(resource, "_status", None) or getattr(resource, "status", "")
                if name.startswith(RESTORE_PREFIX) and status != "deleting":
                    found.append(f"{name} in {account} {region} ({status})")
    return found


def snapshot_event(arn: str, snapshot_type: str, region: str, account: str) -> dict[str, Any]:
    """The EventBridge event AWS raises when this snapshot completes (RDS event, or AWS Backup job event)."""
    kind, _, _, identifier = parse_snapshot_arn(arn)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    common = {"version": "0", "id": str(uuid.uuid4()), "account": account, "time": now, "region": region}
    if snapshot_type == "awsbackup":
        return {
            **common,
            "detail-type": "Backup Job State Change",
            "source": "aws.backup",
            "resources": [arn],
            "detail": {
                "backupJobId": str(uuid.uuid4()).upper(),
                "state": "COMPLETED",
                "resourceType": "Aurora" if kind.value == "cluster" else "RDS",
                "percentDone": "100.0",
                "backupVaultName": "Default",
            },
        }
    cluster = kind.value == "cluster"
    event_id = {
        (False, "manual"): "RDS-EVENT-0042",
        (False, "automated"): "RDS-EVENT-0091",
        (True, "manual"): "RDS-EVENT-0075",
        (True, "automated"): "RDS-EVENT-0169",
    }[(cluster, snapshot_type)]
    return {
        **common,
        "detail-type": "RDS DB Cluster Snapshot Event" if cluster else "RDS DB Snapshot Event",
        "source": "aws.rds",
        "resources": [arn],
        "detail": {
            "EventCategories": ["creation"],
            "SourceType": "CLUSTER_SNAPSHOT" if cluster else "SNAPSHOT",
            "SourceArn": arn,
            "Date": now,
            "Message": "Manual cluster snapshot created" if cluster else "Manual snapshot created",
            "SourceIdentifier": identifier,
            "EventID": event_id,
        },
    }


def _replica_encrypted(record: ReplicationRecord) -> bool | None:
    """Read the replica itself (in its account and region): is it really there, and encrypted?"""
    if record.replica_arn is None:
        return None
    kind, region, account, identifier = parse_snapshot_arn(record.replica_arn)
    backend = rds_backends[account][region]
    if kind.value == "cluster":
        cluster_snapshot = backend.cluster_snapshots.get(identifier)
        return None if cluster_snapshot is None else bool(cluster_snapshot.storage_encrypted)
    snapshot = backend.database_snapshots.get(identifier)
    return None if snapshot is None else bool(snapshot.encrypted)


def _leftover_intermediates() -> list[str]:
    """Intermediate (-share) and staging (-stage) copies still present in any account or region."""
    found = []
    for account, regions in rds_backends.items():
        for region, backend in regions.items():
            for kind, snapshots in (
                ("snapshot", backend.database_snapshots),
                ("cluster-snapshot", backend.cluster_snapshots),
            ):
                for identifier in snapshots:
                    if identifier.startswith(REPLICA_PREFIX) and identifier.endswith(("-share", "-stage")):
                        found.append(f"arn:aws:rds:{region}:{account}:{kind}:{identifier}")
    return found


def coordinator_parameters(scenario: Scenario) -> dict[str, str]:
    """coordinator.yaml's parameters for the scenario's shared pool."""
    return {
        "InstanceCopyQuota": str(scenario.shared_pool_instance_quota),
        "PerAccountCap": str(scenario.shared_pool_per_account_cap),
    }


def stack_parameters(scenario: Scenario) -> dict[str, str]:
    return {
        "InstanceCopyQuota": str(scenario.instance_copy_quota),
        "ClusterCopyQuota": str(scenario.cluster_copy_quota),
        "SlotRecheckSeconds": str(scenario.slot_recheck_seconds),
        # the scenario's target accounts are the ones its stack allows replicas to go to
        "AllowedTargetAccounts": ",".join(
            scenario.target_accounts if scenario.allowed_target_accounts is None else scenario.allowed_target_accounts
        ),
    }


def run_scenario(path: Path, log_level: str = "WARNING") -> ScenarioResult:
    """Start the emulation, provision the stack, seed the scenario, send its events and collect the outcomes."""
    from .emulation import emulation  # it builds on this module

    with emulation(path, restore_tests=True, log_level=log_level) as run:
        return run.result


__all__ = ["Scenario", "ScenarioResult", "run_scenario", "snapshot_arn", "snapshot_event"]
