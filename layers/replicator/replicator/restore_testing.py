"""Restore tests (pure): prove that replicas restore, as AWS Backup's restore testing does.

A mapping target's optional `restore_test` asks for one test per source database every `every_days` days: the
newest SUCCEEDED replica of the database on that target is restored in the target account and region (a DB instance
from a DB snapshot; an Aurora cluster from a cluster snapshot, plus one instance), checked without connecting
(available, engine and version as the replica's, encrypted with the replica's key, the replica's storage), and
deleted, whatever happened. The record of the test says how long the restore took (the RTO evidence) or why it
failed.

This module decides, without AWS: which tests are due, what each test restores and under which names, what the
checks expect, which status ends a restore, how long to wait, when to give up, and what a test costs.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .clock import utc_now
from .snapshots import SnapshotKind, sanitize_identifier, short_hash
from .waiting import EXPECTED_SECONDS_PER_GB

RESTORE_PREFIX = "snaptest-"  # every database a restore test creates; the target role may only make these
TAG_RESTORE_TEST = "replicator:restore-test"  # the test id, on everything a test creates
RECORD_TYPE = "restore-test"  # history items that are restore tests, not replications (and the index's key)
RESTORE_TESTS_INDEX = "restore-tests"  # the history's sparse index of restore tests: (record_type, started_at)

# the smallest burstable classes, most preferred first: one offered for the engine version in the target region is
# used when the target names none (Aurora's smallest provisioned classes are the medium ones)
INSTANCE_CLASSES = ("db.t4g.micro", "db.t3.micro", "db.t4g.small", "db.t3.small", "db.t4g.medium", "db.t3.medium")
AURORA_CLASSES = ("db.t4g.medium", "db.t3.medium", "db.r6g.large", "db.r5.large")

# what a restored database becomes when its restore cannot end `available` (RDS's DB instance and cluster statuses)
FAILED_STATES = frozenset(
    {
        "failed",
        "incompatible-restore",
        "incompatible-parameters",
        "incompatible-network",
        "incompatible-option-group",
        "incompatible-credentials",
        "inaccessible-encryption-credentials",
        "inaccessible-encryption-credentials-recoverable",
        "storage-full",
        "insufficient-capacity",
        "restore-error",
    }
)
# a restore's first looks: RDS restores take minutes whatever the size (the size adds to it, as for a copy)
EXPECTED_RESTORE_MINIMUM_SECONDS = 600.0
LATE_LOOK_SHARE = 0.1  # past the expectation, look again after a tenth of the time elapsed...
LATE_LOOK_MINIMUM_SECONDS = 60.0  # ... and a minute at least


class RestoreTest(BaseModel):
    """A mapping target's restore tests: which source databases, how often, on what, for how long at most."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every_days: int = Field(ge=1, le=365, description="Test each database's newest replica once per this many days")
    instance_class: str | None = Field(
        default=None,
        pattern=r"^db\.[a-z0-9-]+(\.[a-z0-9]+)+$",  # also Oracle's db.m5.large.tpc2.mem2x
        description="DB instance class of the restored database (absent: the smallest burstable class offered)",
    )
    subnet_group: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9 ._-]+$",
        description="DB subnet group in the target account and region (absent: the default VPC's)",
    )
    security_group_ids: list[str] = Field(
        default_factory=list, max_length=5, description="VPC security groups of the restored database"
    )
    max_minutes: float = Field(
        default=120, gt=0, le=1440, description="Give up (FAILED, timed out) and delete after this many minutes"
    )
    databases: list[str] = Field(
        default_factory=lambda: ["*"],
        min_length=1,
        description="Source DB instance or cluster identifier patterns (shell-style) to test; default all",
    )

    def model_post_init(self, _: Any) -> None:
        for group in self.security_group_ids:
            if not (group.startswith("sg-") and len(group) in (11, 20) and _hex(group[3:])):
                raise ValueError(
                    f"security_group_ids: '{group}' is not a security group id such as sg-0123456789abcdef0"
                )

    def tests(self, database: str) -> bool:
        return any(fnmatchcase(database, pattern) for pattern in self.databases)


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


class RestoreTestStatus(StrEnum):
    PENDING = "PENDING"  # planned and recorded; its execution restores
    RESTORING = "RESTORING"  # the restore runs (instance, or cluster then its instance)
    CLEANING_UP = "CLEANING_UP"  # its verdict is known; what it created is being deleted
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # nothing to test (no replica on the target)

    @property
    def final(self) -> bool:
        return self in (RestoreTestStatus.SUCCEEDED, RestoreTestStatus.FAILED, RestoreTestStatus.SKIPPED)


class Stage(StrEnum):
    """Where a test is: each invocation of the test's task does its stage's work and says how long to wait."""

    RESTORE = "restore"  # start the restore (a DB instance, or the cluster)
    WAIT_RESTORED = "wait_restored"  # until the instance (or the cluster) is available
    ADD_INSTANCE = "add_instance"  # a cluster: create its one instance
    WAIT_INSTANCE = "wait_instance"  # until the cluster's instance is available
    VERIFY = "verify"  # check the restored database against the replica
    CLEANUP = "cleanup"  # delete everything the test created, verify the deletion started
    DONE = "done"


class Expected(BaseModel):
    """What the restored database must show: the replica's engine, version, encryption and storage."""

    model_config = ConfigDict(frozen=True)

    engine: str
    engine_version: str
    encrypted: bool
    kms_key_id: str | None = None
    allocated_storage_gb: int | None = None  # DB instances only (Aurora's storage grows with the data)


class Observed(BaseModel):
    """A restored DB instance or cluster as RDS describes it."""

    model_config = ConfigDict(frozen=True)

    identifier: str
    status: str
    engine: str = ""
    engine_version: str = ""
    encrypted: bool = False
    kms_key_id: str | None = None
    allocated_storage_gb: int | None = None
    publicly_accessible: bool = False


class RestoreTestPlan(BaseModel):
    """What one test restores, where, under which names, and what it expects: made by the scheduler only, stored
    with the test's record; the test's task reads it from there, never from its input."""

    model_config = ConfigDict(frozen=True)

    source_account: str
    source_region: str
    database: str
    kind: SnapshotKind
    target_account: str
    target_region: str
    role_arn: str | None = None  # the mapping target's role (absent: this account)
    replica_arn: str
    replica_taken_at: datetime  # when the replica's source snapshot was taken
    replica_age_seconds: float  # at planning: the age of the data the test proves restorable
    rpo_hours: float | None = None
    instance_class: str | None = None  # the target's; absent: chosen at restore (the smallest offered)
    subnet_group: str | None = None
    security_group_ids: list[str] = Field(default_factory=list)
    max_minutes: float = 120
    restore_identifier: str  # the DB instance (or the Aurora cluster) the test creates
    instance_identifier: str | None = None  # a cluster's one instance

    @property
    def replica_identifier(self) -> str:
        return self.replica_arn.split(":", 6)[6]

    @property
    def target(self) -> str:
        return f"{self.target_account}/{self.target_region}"

    @property
    def age_note(self) -> str:
        """The tested replica's age, and whether it is older than the target's RPO."""
        hours = self.replica_age_seconds / 3600
        note = f"replica taken {duration_text(self.replica_age_seconds)} before the test"
        if self.rpo_hours is not None and hours > self.rpo_hours:
            note += f", older than the target's RPO of {self.rpo_hours:g} h"
        return note


class RestoreTestRecord(BaseModel):
    """A restore test as the history table keeps it (key `replication_id`: the test id; `record_type` marks it)."""

    model_config = ConfigDict(populate_by_name=True)

    test_id: str = Field(alias="replication_id")
    record_type: str = RECORD_TYPE
    status: RestoreTestStatus
    reason: str = ""
    # what is tested where (also without a plan: a SKIPPED test)
    source_region: str
    database: str
    target_account: str
    target_region: str
    plan: RestoreTestPlan | None = None
    stage: Stage = Stage.RESTORE
    execution_name: str | None = None
    started_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    finished_at: datetime | None = None
    restore_started_at: datetime | None = None
    available_at: datetime | None = None
    restore_seconds: float | None = None  # restore started to seen available (the cluster's instance, for Aurora)
    restore_seconds_at_least: float | None = None  # restore started to the last look that saw it not available yet
    seen_unavailable_at: datetime | None = None  # the last look that saw it not available yet
    instance_started_at: datetime | None = None  # Aurora: when the cluster's instance was created
    instance_class: str | None = None  # the class the database was restored with
    expected: Expected | None = None  # the replica as RDS described it when the restore started
    verdict: RestoreTestStatus | None = None  # decided before the cleanup: SUCCEEDED or FAILED
    checks: list[str] = Field(default_factory=list)  # what was checked of the restored database
    cleanup_attempts: int = 0
    cleanup_errors: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)  # what the cleanup deleted (or found deleting or gone)

    def to_item(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        data = {k: v for k, v in data.items() if v not in ("", [])}
        return json.loads(json.dumps(data), parse_float=Decimal)

    @property
    def target(self) -> str:
        return f"{self.target_account}/{self.target_region}"

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(source region, database, target account, target region): what one test per period is counted by."""
        return (self.source_region, self.database, self.target_account, self.target_region)


def duration_text(seconds: float) -> str:
    """A duration as people read it: 42 s, 12.6 min, 5.0 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def started_key(moment: datetime) -> str:
    """A time as the restore-tests index's sort key: as the record's `started_at` is stored."""
    return str(TypeAdapter(datetime).dump_python(moment, mode="json"))


# --- names ---------------------------------------------------------------------------------------------------------


def restore_test_id(
    source_account: str, source_region: str, kind: SnapshotKind, database: str, target: str, day: str
) -> str:
    """One test per database, target and day: its record's key and its execution's name (letters, digits and
    hyphens, at most 80 characters), so that a schedule that runs twice starts nothing twice."""
    digest = short_hash(source_account, source_region, kind.value, database, target, day, length=10)
    return f"restoretest-{sanitize_identifier(database)[:40].strip('-')}-{day.replace('-', '')}-{digest}"


def restore_identifiers(test: str, database: str, kind: SnapshotKind) -> tuple[str, str | None]:
    """The DB instance (or Aurora cluster, and its one instance) a test creates: `snaptest-`, the database, a hash of
    the test; within RDS's 63 characters, letters, digits and single hyphens."""
    base = f"{RESTORE_PREFIX}{sanitize_identifier(database)[:40].strip('-')}-{short_hash(test, length=8)}"
    return (base, f"{base}-1") if kind is SnapshotKind.CLUSTER else (base, None)


# --- which tests are due -------------------------------------------------------------------------------------------


class Candidate(BaseModel):
    """A selected source database on a target with restore tests, and its newest replica there (if any)."""

    model_config = ConfigDict(frozen=True)

    source_region: str
    database: str
    kind: SnapshotKind
    target_account: str
    target_region: str
    replica_arn: str | None = None
    replica_taken_at: datetime | None = None
    rpo_hours: float | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.source_region, self.database, self.target_account, self.target_region)


def is_due(last_started: datetime | None, every_days: int, now: datetime) -> bool:
    """A database is due when no test of it on the target started within the last `every_days` days (a test that
    failed counts too: it alarmed, and a test per day would cost a restore per day)."""
    return last_started is None or now - last_started >= timedelta(days=every_days) - timedelta(hours=1)


def plan_test(
    candidate: Candidate,
    config: RestoreTest,
    source_account: str,
    role_arn: str | None,
    now: datetime,
    on_demand: bool = False,
) -> tuple[str, RestoreTestPlan | None, str]:
    """(test id, plan, why not) for a due candidate: no plan (SKIPPED, with the reason) when it has no replica.
    A scheduled test's id is its day's (one per day); one asked for on demand, its minute's."""
    target = f"{candidate.target_account}/{candidate.target_region}"
    when = now.strftime("%Y-%m-%dT%H%M") if on_demand else now.date().isoformat()
    test = restore_test_id(source_account, candidate.source_region, candidate.kind, candidate.database, target, when)
    if candidate.replica_arn is None or candidate.replica_taken_at is None:
        return test, None, f"no replica of {candidate.database} on {target} to test"
    restore, instance = restore_identifiers(test, candidate.database, candidate.kind)
    plan = RestoreTestPlan(
        source_account=source_account,
        source_region=candidate.source_region,
        database=candidate.database,
        kind=candidate.kind,
        target_account=candidate.target_account,
        target_region=candidate.target_region,
        role_arn=role_arn,
        replica_arn=candidate.replica_arn,
        replica_taken_at=candidate.replica_taken_at,
        replica_age_seconds=max(0.0, (now - candidate.replica_taken_at).total_seconds()),
        rpo_hours=candidate.rpo_hours,
        instance_class=config.instance_class,
        subnet_group=config.subnet_group,
        security_group_ids=list(config.security_group_ids),
        max_minutes=config.max_minutes,
        restore_identifier=restore,
        instance_identifier=instance,
    )
    return test, plan, ""


# --- the test's course ---------------------------------------------------------------------------------------------


def choose_instance_class(kind: SnapshotKind, engine: str, offered: set[str]) -> str | None:
    """The most preferred small class offered for the engine version (None: none of them is)."""
    preferred = AURORA_CLASSES if kind is SnapshotKind.CLUSTER or engine.startswith("aurora") else INSTANCE_CLASSES
    return next((c for c in preferred if c in offered), None)


def restore_state(status: str | None) -> str:
    """`available`, `failed` (the restore cannot end well), `gone` (it vanished) or `waiting`."""
    if status is None:
        return "gone"
    if status == "available":
        return "available"
    if status in FAILED_STATES:
        return "failed"
    return "waiting"


def timed_out(restore_started_at: datetime | None, max_minutes: float, now: datetime) -> bool:
    return restore_started_at is not None and (now - restore_started_at).total_seconds() > max_minutes * 60


def wait_seconds(
    restore_started_at: datetime | None,
    size_gb: int | None,
    now: datetime,
    floor: int,
    ceiling: int,
    max_minutes: float,
    deadline_from: datetime | None = None,
) -> int:
    """How long to wait before looking at a restore (started at `restore_started_at`) again, never past the test's
    deadline (`max_minutes` from `deadline_from`, default the same start).

    RDS reports no progress for a restore, so the size's expectation (at least 10 minutes) sets the first looks: at
    half of it, then at its end. Past it, a look every tenth of the time elapsed (a minute at least): a restore is
    seen available at most about 10 % late. Unlike a copy's, a restore's lateness is billed (instance-hours, from
    the minute it is available) and counted in the measured restore time, and a look costs less than a minute of
    the smallest instance class (docs/performance.md, "Restore tests")."""
    elapsed = 0.0 if restore_started_at is None else max(0.0, (now - restore_started_at).total_seconds())
    expected = max(EXPECTED_RESTORE_MINIMUM_SECONDS, (size_gb or 0) * EXPECTED_SECONDS_PER_GB)
    if elapsed < expected / 2:
        wait = expected / 2 - elapsed
    elif elapsed < expected:
        wait = expected - elapsed
    else:
        wait = max(LATE_LOOK_MINIMUM_SECONDS, elapsed * LATE_LOOK_SHARE)
    wait = min(max(wait, floor), ceiling)
    since_deadline_start = elapsed
    if deadline_from is not None:
        since_deadline_start = max(0.0, (now - deadline_from).total_seconds())
    left = max_minutes * 60 - since_deadline_start
    return int(max(floor, min(wait, left + 1)))


def mismatches(expected: Expected, observed: Observed, kind: SnapshotKind) -> list[str]:
    """What the restored database shows that it should not (empty: every check passed)."""
    found: list[str] = []
    if observed.status != "available":
        found.append(f"status {observed.status}, not available")
    if observed.engine != expected.engine:
        found.append(f"engine {observed.engine or '-'}, the replica's is {expected.engine}")
    if observed.engine_version != expected.engine_version:
        found.append(f"engine version {observed.engine_version or '-'}, the replica's is {expected.engine_version}")
    if observed.encrypted != expected.encrypted:
        state = "encrypted" if observed.encrypted else "unencrypted"
        found.append(f"{state}, the replica is {'encrypted' if expected.encrypted else 'unencrypted'}")
    elif expected.encrypted and observed.kms_key_id != expected.kms_key_id:
        found.append(f"encrypted with {observed.kms_key_id or '-'}, the replica with {expected.kms_key_id}")
    storage = expected.allocated_storage_gb
    if kind is SnapshotKind.INSTANCE and storage is not None and (observed.allocated_storage_gb or 0) < storage:
        found.append(f"{observed.allocated_storage_gb or 0} GB of storage, the replica holds {storage} GB")
    if observed.publicly_accessible:
        found.append("publicly accessible (a restore test never is)")
    return found


def checks_done(expected: Expected, kind: SnapshotKind) -> list[str]:
    """What a passing verification checked, for the record."""
    done = ["available", f"engine {expected.engine} {expected.engine_version}"]
    done.append(f"encrypted with {expected.kms_key_id}" if expected.encrypted else "unencrypted, as the replica")
    if kind is SnapshotKind.INSTANCE and expected.allocated_storage_gb is not None:
        done.append(f"storage {expected.allocated_storage_gb} GB")
    done.append("not publicly accessible")
    return done


# --- what a test costs -----------------------------------------------------------------------------------------------


LAMBDA_REQUEST_USD = 0.20 / 1_000_000  # AWS Lambda pricing: $0.20 per million requests
LAMBDA_GB_SECOND_USD = 0.0000166667  # x86, per GB-second
STATE_TRANSITION_USD = 0.025 / 1000  # Step Functions Standard: $0.025 per 1,000 state transitions
STORAGE_GB_MONTH_USD = 0.115  # RDS gp2 storage, us-east-1, per GB-month (730 hours)


def restore_test_cost_usd(
    billed_seconds: float,
    hourly_price_usd: float,
    storage_gb: int,
    invocations: int,
    transitions: int,
    lambda_seconds: float = 1.0,
    lambda_gb: float = 0.25,
) -> float:
    """One test's cost from AWS's price rules: the restored database's instance-hours and storage for the time RDS
    bills (`billed_seconds`: from when the DB instance is available until its deletion, per second, 10 minutes at
    least; RDS User Guide, "Viewing instance status": creating and deleting are not billed), the task's Lambda
    invocations (requests and GB-seconds) and the state machine's transitions."""
    hours = max(billed_seconds, 600.0) / 3600
    database = hours * hourly_price_usd + storage_gb * STORAGE_GB_MONTH_USD * hours / 730
    orchestration = invocations * (LAMBDA_REQUEST_USD + lambda_seconds * lambda_gb * LAMBDA_GB_SECOND_USD)
    return database + orchestration + transitions * STATE_TRANSITION_USD
