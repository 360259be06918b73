"""Restore tests, the pure part: names, what is due, the plan, the course of a test, the checks, the record and the
cost, as tables of cases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from replicator.restore_testing import (
    AURORA_CLASSES,
    FAILED_STATES,
    INSTANCE_CLASSES,
    RECORD_TYPE,
    RESTORE_PREFIX,
    Candidate,
    Expected,
    Observed,
    RestoreTest,
    RestoreTestPlan,
    RestoreTestRecord,
    RestoreTestStatus,
    Stage,
    checks_done,
    choose_instance_class,
    is_due,
    mismatches,
    plan_test,
    restore_identifiers,
    restore_state,
    restore_test_cost_usd,
    restore_test_id,
    started_key,
    timed_out,
    wait_seconds,
)
from replicator.snapshots import SnapshotKind

INSTANCE, CLUSTER = SnapshotKind.INSTANCE, SnapshotKind.CLUSTER
NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
SOURCE_ACCOUNT, TARGET_ACCOUNT = "111111111111", "222222222222"
TARGET = f"{TARGET_ACCOUNT}/eu-west-1"
KEY = "arn:aws:kms:eu-west-1:222222222222:key/11111111-2222-3333-4444-555555555555"
OTHER_KEY = "arn:aws:kms:eu-west-1:222222222222:key/99999999-2222-3333-4444-555555555555"
REPLICA_ARN = "arn:aws:rds:eu-west-1:222222222222:snapshot:snaprep-orders-0123abcd"
ROLE_ARN = "arn:aws:iam::222222222222:role/replicator-target"

RDS_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
EXECUTION_NAME = re.compile(r"^[A-Za-z0-9-]+$")

ODD_DATABASES = [
    pytest.param("orders", id="plain"),
    pytest.param("rds:Orders_DB--prod-", id="prefix-underscore-double-and-trailing-hyphen"),
    pytest.param("a" * 63, id="63-characters"),
    pytest.param("b" * 300, id="300-characters"),
    pytest.param("a" * 39 + "-b" * 20, id="hyphen-at-the-cut"),
    pytest.param("2024-orders", id="starts-with-a-digit"),
    pytest.param("---", id="only-hyphens"),
    pytest.param("Ünïcødé  db", id="non-ascii"),
    pytest.param("awsbackup:job-1234", id="awsbackup-prefix"),
]


# --- ids -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("database", ODD_DATABASES)
@pytest.mark.parametrize("day", ["2024-05-10", "2024-05-10T2359"], ids=["scheduled", "on-demand"])
def test_restore_test_id_is_a_valid_execution_name(database: str, day: str) -> None:
    test = restore_test_id(SOURCE_ACCOUNT, "eu-central-1", INSTANCE, database, TARGET, day)
    assert len(test) <= 80
    assert EXECUTION_NAME.match(test), test
    assert test.startswith("restoretest-")
    assert "--" not in test
    assert day.replace("-", "") in test
    assert test == restore_test_id(SOURCE_ACCOUNT, "eu-central-1", INSTANCE, database, TARGET, day)  # deterministic


ID_ARGS: dict[str, Any] = {
    "source_account": SOURCE_ACCOUNT,
    "source_region": "eu-central-1",
    "kind": INSTANCE,
    "database": "orders",
    "target": TARGET,
    "day": "2024-05-10",
}


@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("source_account", "333333333333"),
        ("source_region", "us-east-1"),
        ("kind", CLUSTER),
        ("database", "billing"),
        ("database", "Orders"),  # sanitized alike: the hash still tells them apart
        ("target", "222222222222/us-west-2"),
        ("target", "444444444444/eu-west-1"),
        ("day", "2024-05-11"),
        ("day", "2024-05-10T1200"),
    ],
)
def test_restore_test_id_differs_per_day_target_and_database(field: str, other: Any) -> None:
    assert restore_test_id(**ID_ARGS) != restore_test_id(**{**ID_ARGS, field: other})


@pytest.mark.parametrize("database", ODD_DATABASES)
@pytest.mark.parametrize("kind", [INSTANCE, CLUSTER])
def test_restore_identifiers_are_valid_rds_identifiers(database: str, kind: SnapshotKind) -> None:
    test = restore_test_id(SOURCE_ACCOUNT, "eu-central-1", kind, database, TARGET, "2024-05-10")
    restore, instance = restore_identifiers(test, database, kind)
    names = [restore] if instance is None else [restore, instance]
    for name in names:
        assert len(name) <= 63, name
        assert RDS_IDENTIFIER.match(name), name
        assert "--" not in name, name
        assert not name.endswith("-"), name
        assert name.startswith(RESTORE_PREFIX), name
    assert restore_identifiers(test, database, kind) == (restore, instance)  # deterministic


def test_a_cluster_gets_an_instance_identifier_and_an_instance_none() -> None:
    restore, instance = restore_identifiers("restoretest-x", "ledger", CLUSTER)
    assert instance is not None
    assert instance.startswith(restore)
    assert instance != restore
    assert restore_identifiers("restoretest-x", "ledger", INSTANCE) == (restore, None)


@pytest.mark.parametrize(
    ("database", "body"),
    [
        ("rds:Orders_DB--prod-", "orders-db-prod"),
        ("a" * 63, "a" * 40),
        ("a" * 39 + "-b" * 20, "a" * 39),  # the cut falls on a hyphen: dropped, no double hyphen before the hash
        ("---", "snapshot"),
    ],
)
def test_restore_identifier_keeps_a_readable_database_name(database: str, body: str) -> None:
    restore, _ = restore_identifiers("restoretest-x", database, INSTANCE)
    assert re.fullmatch(rf"{RESTORE_PREFIX}{body}-[0-9a-f]{{8}}", restore), restore


def test_restore_identifiers_differ_per_test() -> None:
    names = {restore_identifiers(f"restoretest-orders-2024051{d}-x", "orders", CLUSTER) for d in range(5)}
    assert len(names) == 5


# --- which tests are due -------------------------------------------------------------------------------------------

DAY, HOUR, SECOND = timedelta(days=1), timedelta(hours=1), timedelta(seconds=1)


@pytest.mark.parametrize(
    ("last_started", "every_days", "due"),
    [
        pytest.param(None, 7, True, id="never-tested"),
        pytest.param(NOW - DAY, 7, False, id="within-the-period"),
        pytest.param(NOW - 7 * DAY + 2 * HOUR, 7, False, id="two-hours-short"),
        pytest.param(NOW - 7 * DAY + HOUR + SECOND, 7, False, id="just-outside-the-slack"),
        pytest.param(NOW - 7 * DAY + HOUR, 7, True, id="one-hour-slack"),
        pytest.param(NOW - 7 * DAY + 30 * timedelta(minutes=1), 7, True, id="within-the-slack"),
        pytest.param(NOW - 7 * DAY, 7, True, id="exactly-every-days"),
        pytest.param(NOW - 7 * DAY - SECOND, 7, True, id="just-over-every-days"),
        pytest.param(NOW - 30 * DAY, 7, True, id="long-ago"),
        pytest.param(NOW - DAY + HOUR, 1, True, id="daily-yesterday-an-hour-later"),
        pytest.param(NOW - 20 * HOUR, 1, False, id="daily-twenty-hours-ago"),
        pytest.param(NOW + HOUR, 1, False, id="started-in-the-future"),
    ],
)
def test_is_due(last_started: datetime | None, every_days: int, due: bool) -> None:
    assert is_due(last_started, every_days, NOW) is due


# --- the target's configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"instance_class": "db.t4g.micro"}, id="class"),
        pytest.param({"instance_class": "db.x2iedn.16xlarge"}, id="large-class"),
        pytest.param({"security_group_ids": ["sg-01234567"]}, id="short-sg"),
        pytest.param({"security_group_ids": ["sg-0123456789abcdef0", "sg-89abcdef"]}, id="long-and-short-sg"),
        pytest.param({"security_group_ids": ["sg-0123456789abcdef0"] * 5}, id="five-sgs"),
        pytest.param({"max_minutes": 1440}, id="max-minutes-a-day"),
        pytest.param({"max_minutes": 0.5}, id="max-minutes-fraction"),
        pytest.param({"every_days": 365}, id="yearly"),
        pytest.param({"subnet_group": "default-vpc-0abc_1.2 x"}, id="subnet-group"),
        pytest.param({"databases": ["orders-*", "billing"]}, id="patterns"),
    ],
)
def test_restore_test_accepts(fields: dict[str, Any]) -> None:
    config = RestoreTest(**{"every_days": 7, **fields})
    for name, value in fields.items():
        assert getattr(config, name) == value


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        pytest.param({"instance_class": "t3.micro"}, "instance_class", id="class-without-db"),
        pytest.param({"instance_class": "db.T3.micro"}, "instance_class", id="class-upper-case"),
        pytest.param({"instance_class": "db.t3"}, "instance_class", id="class-without-size"),
        pytest.param({"instance_class": "db.t3.micro "}, "instance_class", id="class-trailing-space"),
        pytest.param({"security_group_ids": ["sg-123"]}, "sg-123", id="sg-too-short"),
        pytest.param({"security_group_ids": ["sg-0123456789ABCDEF0"]}, "sg-0123456789ABCDEF0", id="sg-upper-case"),
        pytest.param({"security_group_ids": ["0123456789abcdef0"]}, "0123456789abcdef0", id="sg-without-prefix"),
        pytest.param({"security_group_ids": ["sg-0123456789abcdef"]}, "sg-0123456789abcdef", id="sg-16-digits"),
        pytest.param({"security_group_ids": ["sg-0123456g"]}, "sg-0123456g", id="sg-not-hex"),
        pytest.param(
            {"security_group_ids": ["sg-01234567", "subnet-01234567"]}, "subnet-01234567", id="sg-second-is-bad"
        ),
        pytest.param({"security_group_ids": ["sg-01234567"] * 6}, "security_group_ids", id="six-sgs"),
        pytest.param({"max_minutes": 0}, "max_minutes", id="max-minutes-0"),
        pytest.param({"max_minutes": -5}, "max_minutes", id="max-minutes-negative"),
        pytest.param({"max_minutes": 1441}, "max_minutes", id="max-minutes-over-a-day"),
        pytest.param({"every_days": 0}, "every_days", id="every-days-0"),
        pytest.param({"every_days": 366}, "every_days", id="every-days-over-a-year"),
        pytest.param({"databases": []}, "databases", id="no-patterns"),
        pytest.param({"subnet_group": ""}, "subnet_group", id="subnet-group-empty"),
        pytest.param({"subnet_group": "a/b"}, "subnet_group", id="subnet-group-slash"),
        pytest.param({"instance_type": "db.t3.micro"}, "instance_type", id="unknown-field"),
    ],
)
def test_restore_test_refuses(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RestoreTest(**{"every_days": 7, **fields})
    assert fragment in str(caught.value)


def test_restore_test_needs_every_days() -> None:
    with pytest.raises(ValidationError, match="every_days"):
        RestoreTest.model_validate({})


@pytest.mark.parametrize(
    ("patterns", "database", "tested"),
    [
        (None, "anything-at-all", True),  # the default: every database
        (["orders-*", "billing"], "orders-eu", True),
        (["orders-*", "billing"], "billing", True),
        (["orders-*", "billing"], "billing-2", False),  # whole names
        (["orders-*", "billing"], "Orders-eu", False),  # case-sensitive
        (["orders-*", "billing"], "legacy-orders-eu", False),
        (["db-?"], "db-1", True),
        (["db-?"], "db-10", False),
        (["db-[ab]"], "db-b", True),
    ],
)
def test_which_databases_a_target_tests(patterns: list[str] | None, database: str, tested: bool) -> None:
    config = RestoreTest(every_days=1) if patterns is None else RestoreTest(every_days=1, databases=patterns)
    assert config.tests(database) is tested


# --- the plan ------------------------------------------------------------------------------------------------------

CONFIG = RestoreTest(
    every_days=7,
    instance_class="db.t4g.small",
    subnet_group="restore-tests",
    security_group_ids=["sg-0123456789abcdef0"],
    max_minutes=90,
)


def candidate(**changes: Any) -> Candidate:
    fields: dict[str, Any] = {
        "source_region": "eu-central-1",
        "database": "orders",
        "kind": INSTANCE,
        "target_account": TARGET_ACCOUNT,
        "target_region": "eu-west-1",
        "replica_arn": REPLICA_ARN,
        "replica_taken_at": NOW - timedelta(hours=5),
        "rpo_hours": 24,
    }
    return Candidate(**{**fields, **changes})


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"replica_arn": None, "replica_taken_at": None}, id="no-replica"),
        pytest.param({"replica_arn": None}, id="no-replica-arn"),
        pytest.param({"replica_taken_at": None}, id="replica-time-unknown"),
    ],
)
def test_plan_test_skips_a_database_without_replica(changes: dict[str, Any]) -> None:
    test, plan, reason = plan_test(candidate(**changes), CONFIG, SOURCE_ACCOUNT, None, NOW)
    assert plan is None
    assert reason == f"no replica of orders on {TARGET} to test"
    assert test == restore_test_id(SOURCE_ACCOUNT, "eu-central-1", INSTANCE, "orders", TARGET, "2024-05-10")


@pytest.mark.parametrize(("kind", "role_arn"), [(INSTANCE, None), (CLUSTER, ROLE_ARN)])
def test_plan_test_plans_the_newest_replica(kind: SnapshotKind, role_arn: str | None) -> None:
    test, plan, reason = plan_test(candidate(kind=kind), CONFIG, SOURCE_ACCOUNT, role_arn, NOW)
    assert reason == ""
    assert test == restore_test_id(SOURCE_ACCOUNT, "eu-central-1", kind, "orders", TARGET, "2024-05-10")
    assert plan is not None
    restore, instance = restore_identifiers(test, "orders", kind)
    assert plan.model_dump() == {
        "source_account": SOURCE_ACCOUNT,
        "source_region": "eu-central-1",
        "database": "orders",
        "kind": kind,
        "target_account": TARGET_ACCOUNT,
        "target_region": "eu-west-1",
        "role_arn": role_arn,
        "replica_arn": REPLICA_ARN,
        "replica_taken_at": NOW - timedelta(hours=5),
        "replica_age_seconds": 5 * 3600.0,
        "rpo_hours": 24,
        "instance_class": "db.t4g.small",
        "subnet_group": "restore-tests",
        "security_group_ids": ["sg-0123456789abcdef0"],
        "max_minutes": 90,
        "restore_identifier": restore,
        "instance_identifier": instance,
    }
    assert (plan.instance_identifier is not None) is (kind is CLUSTER)
    assert plan.replica_identifier == "snaprep-orders-0123abcd"
    assert plan.target == TARGET


def test_plan_test_without_a_class_leaves_the_choice_to_the_restore() -> None:
    _, plan, _ = plan_test(candidate(), RestoreTest(every_days=1), SOURCE_ACCOUNT, None, NOW)
    assert plan is not None
    assert (plan.instance_class, plan.subnet_group, plan.security_group_ids, plan.max_minutes) == (None, None, [], 120)


def test_a_replica_from_the_future_is_zero_seconds_old() -> None:
    _, plan, _ = plan_test(candidate(replica_taken_at=NOW + timedelta(minutes=3)), CONFIG, SOURCE_ACCOUNT, None, NOW)
    assert plan is not None
    assert plan.replica_age_seconds == 0.0


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        pytest.param((NOW, False), (NOW + 11 * HOUR, False), True, id="scheduled-once-per-day"),
        pytest.param((NOW, False), (NOW + DAY, False), False, id="scheduled-next-day"),
        pytest.param((NOW, False), (NOW, True), False, id="on-demand-is-not-the-scheduled-one"),
        pytest.param((NOW, True), (NOW + 30 * SECOND, True), True, id="on-demand-once-per-minute"),
        pytest.param((NOW, True), (NOW + timedelta(minutes=1), True), False, id="on-demand-next-minute"),
    ],
)
def test_test_ids_per_day_or_per_minute(
    first: tuple[datetime, bool], second: tuple[datetime, bool], same: bool
) -> None:
    ids = [plan_test(candidate(), CONFIG, SOURCE_ACCOUNT, None, now, on_demand=od)[0] for now, od in (first, second)]
    assert (ids[0] == ids[1]) is same
    _, plan_a, _ = plan_test(candidate(), CONFIG, SOURCE_ACCOUNT, None, first[0], on_demand=first[1])
    _, plan_b, _ = plan_test(candidate(), CONFIG, SOURCE_ACCOUNT, None, second[0], on_demand=second[1])
    assert plan_a is not None
    assert plan_b is not None
    assert (plan_a.restore_identifier == plan_b.restore_identifier) is same


def _plan(age_hours: float, rpo_hours: float | None) -> RestoreTestPlan:
    _, plan, _ = plan_test(
        candidate(replica_taken_at=NOW - timedelta(hours=age_hours), rpo_hours=rpo_hours),
        CONFIG,
        SOURCE_ACCOUNT,
        None,
        NOW,
    )
    assert plan is not None
    return plan


@pytest.mark.parametrize(
    ("age_hours", "rpo_hours", "note"),
    [
        (2, None, "replica taken 2.0 h before the test"),
        (30, None, "replica taken 30.0 h before the test"),
        (2, 24, "replica taken 2.0 h before the test"),
        (24, 24, "replica taken 24.0 h before the test"),  # as old as the RPO allows: not older
        (26, 24, "replica taken 26.0 h before the test, older than the target's RPO of 24 h"),
        (2, 1.5, "replica taken 2.0 h before the test, older than the target's RPO of 1.5 h"),
    ],
)
def test_age_note(age_hours: float, rpo_hours: float | None, note: str) -> None:
    assert _plan(age_hours, rpo_hours).age_note == note


# --- the test's course -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "engine", "offered", "chosen"),
    [
        (INSTANCE, "postgres", {"db.t3.micro", "db.t4g.micro", "db.t4g.small"}, "db.t4g.micro"),
        (INSTANCE, "postgres", {"db.t3.micro", "db.t4g.small"}, "db.t3.micro"),
        (INSTANCE, "mysql", {"db.t4g.small", "db.t3.small"}, "db.t4g.small"),
        (INSTANCE, "sqlserver-ex", {"db.t3.medium", "db.r5.large", "db.t3.small"}, "db.t3.small"),
        (INSTANCE, "mariadb", {"db.t3.medium", "db.r5.large"}, "db.t3.medium"),
        (INSTANCE, "aurora-postgresql", {"db.t4g.micro", "db.t3.medium"}, "db.t3.medium"),  # Aurora, by engine
        (CLUSTER, "aurora-mysql", {"db.t4g.micro", "db.r5.large", "db.r6g.large"}, "db.r6g.large"),
        (CLUSTER, "aurora-postgresql", {"db.t3.medium", "db.t4g.medium"}, "db.t4g.medium"),
        (CLUSTER, "aurora-postgresql", {"db.t4g.micro", "db.t3.small"}, None),  # no Aurora class
        (INSTANCE, "postgres", {"db.r5.large", "db.m5.large"}, None),  # no small class
        (INSTANCE, "postgres", set(), None),
        (CLUSTER, "aurora-mysql", set(), None),
    ],
)
def test_choose_instance_class(kind: SnapshotKind, engine: str, offered: set[str], chosen: str | None) -> None:
    assert choose_instance_class(kind, engine, offered) == chosen


@pytest.mark.parametrize(
    ("kind", "engine", "order"), [(INSTANCE, "postgres", INSTANCE_CLASSES), (CLUSTER, "aurora-mysql", AURORA_CLASSES)]
)
def test_choose_instance_class_follows_the_preference_order(kind: SnapshotKind, engine: str, order: tuple) -> None:
    # offering the classes from the least preferred, each one added becomes the choice
    offered: set[str] = set()
    for name in reversed(order):
        offered.add(name)
        assert choose_instance_class(kind, engine, offered) == name


@pytest.mark.parametrize("status", sorted(FAILED_STATES))
def test_restore_state_failed(status: str) -> None:
    assert restore_state(status) == "failed"


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("available", "available"),
        (None, "gone"),
        ("creating", "waiting"),
        ("modifying", "waiting"),
        ("backing-up", "waiting"),
        ("configuring-enhanced-monitoring", "waiting"),
        ("rebooting", "waiting"),
        ("", "waiting"),
    ],
)
def test_restore_state(status: str | None, state: str) -> None:
    assert restore_state(status) == state


def test_failed_states_are_rds_statuses() -> None:
    assert "available" not in FAILED_STATES
    assert "creating" not in FAILED_STATES
    assert {"failed", "incompatible-restore", "restore-error", "storage-full"} <= FAILED_STATES


@pytest.mark.parametrize(
    ("started", "max_minutes", "out"),
    [
        pytest.param(None, 120, False, id="not-started"),
        pytest.param(NOW, 120, False, id="just-started"),
        pytest.param(NOW - timedelta(minutes=119), 120, False, id="within"),
        pytest.param(NOW - timedelta(minutes=120), 120, False, id="at-the-deadline"),
        pytest.param(NOW - timedelta(minutes=120, seconds=1), 120, True, id="a-second-past"),
        pytest.param(NOW - timedelta(minutes=200), 120, True, id="long-past"),
        pytest.param(NOW - timedelta(seconds=31), 0.5, True, id="half-a-minute-limit"),
        pytest.param(NOW - timedelta(seconds=29), 0.5, False, id="within-half-a-minute"),
        pytest.param(NOW + timedelta(minutes=5), 1, False, id="started-in-the-future"),
    ],
)
def test_timed_out(started: datetime | None, max_minutes: float, out: bool) -> None:
    assert timed_out(started, max_minutes, NOW) is out


FLOOR, CEILING = 30, 3600


@pytest.mark.parametrize(
    ("elapsed", "size_gb", "max_minutes", "expected"),
    [
        # the first look: half the expectation (at least 10 minutes of restore, more for a large replica)
        pytest.param(None, None, 120, 300, id="not-started-minimum-expectation"),
        pytest.param(0, None, 120, 300, id="just-started-minimum-expectation"),
        pytest.param(0, 20, 120, 300, id="small-replica-minimum-expectation"),
        pytest.param(0, 400, 120, 1500, id="large-replica-half-its-expectation"),
        pytest.param(0, 10_000, 1440, CEILING, id="huge-replica-ceiling"),
        pytest.param(-60, None, 120, 300, id="started-in-the-future-as-just-started"),
        # until the expectation's end, then a look every tenth of the time elapsed (a minute at least)
        pytest.param(10, None, 120, 290, id="early-until-half-the-expectation"),
        pytest.param(450, None, 120, 150, id="between-half-and-the-end-of-the-expectation"),
        pytest.param(600, None, 120, 60, id="at-the-expectation-a-minute"),
        pytest.param(1000, None, 120, 100, id="past-expectation-a-tenth-of-elapsed"),
        pytest.param(5000, None, 1440, 500, id="long-a-tenth-of-elapsed"),
        pytest.param(40_000, None, 1440, CEILING, id="very-long-ceiling"),
        # never past the deadline (+1 s: the next look finds it timed out)
        pytest.param(7000, None, 120, 201, id="capped-by-the-deadline"),
        pytest.param(0, 10_000, 30, 1801, id="first-look-capped-by-the-deadline"),
        pytest.param(7100, None, 120, 101, id="deadline-near"),
        # but never below the floor
        pytest.param(7190, None, 120, FLOOR, id="deadline-nearer-than-the-floor"),
        pytest.param(8000, None, 120, FLOOR, id="past-the-deadline-floor"),
    ],
)
def test_wait_seconds(elapsed: float | None, size_gb: int | None, max_minutes: float, expected: int) -> None:
    started = None if elapsed is None else NOW - timedelta(seconds=elapsed)
    assert wait_seconds(started, size_gb, NOW, FLOOR, CEILING, max_minutes) == expected


@pytest.mark.parametrize(("floor", "ceiling"), [(30, 3600), (60, 900), (5, 5), (1, 86400)])
@pytest.mark.parametrize("size_gb", [None, 1, 80, 400, 5000])
@pytest.mark.parametrize("max_minutes", [1, 30, 120, 1440])
def test_wait_seconds_bounds(floor: int, ceiling: int, size_gb: int | None, max_minutes: float) -> None:
    deadline = max_minutes * 60
    for elapsed in [0, 1, 59, 300, 599, 600, 1800, 3599, 7200, 20000, 86399, 86400, 100000]:
        wait = wait_seconds(NOW - timedelta(seconds=elapsed), size_gb, NOW, floor, ceiling, max_minutes)
        assert isinstance(wait, int)
        assert wait >= floor, (elapsed, wait)
        assert wait <= max(floor, ceiling), (elapsed, wait)
        assert elapsed + wait <= max(deadline + 1, elapsed + floor), (elapsed, wait)


def test_wait_seconds_grows_with_elapsed_time_up_to_the_ceiling() -> None:
    # past the restore's expectation (10 minutes), each wait is at least the one before, until the ceiling
    waits = [
        wait_seconds(NOW - timedelta(seconds=elapsed), None, NOW, FLOOR, CEILING, 1440)
        for elapsed in range(600, 60_000, 300)
    ]
    assert waits == sorted(waits)
    assert waits[0] < waits[-1] == CEILING
    assert len(set(waits)) > 10


@pytest.mark.parametrize("max_minutes", [0.5, 10, 45, 120])
@pytest.mark.parametrize("size_gb", [None, 400])
def test_waiting_finds_the_timeout_soon_after_the_deadline(max_minutes: float, size_gb: int | None) -> None:
    # the task waits as told until timed_out says so: found within the floor (or 1 s) after the deadline
    started, now, looks = NOW, NOW, 0
    while not timed_out(started, max_minutes, now):
        now += timedelta(seconds=wait_seconds(started, size_gb, now, FLOOR, CEILING, max_minutes))
        looks += 1
        assert looks < 100
    overshoot = (now - started).total_seconds() - max_minutes * 60
    assert 0 < overshoot <= FLOOR


# --- the checks ------------------------------------------------------------------------------------------------------

EXPECTED = Expected(engine="postgres", engine_version="16.3", encrypted=True, kms_key_id=KEY, allocated_storage_gb=100)
GOOD = Observed(
    identifier="snaptest-orders-0123abcd",
    status="available",
    engine="postgres",
    engine_version="16.3",
    encrypted=True,
    kms_key_id=KEY,
    allocated_storage_gb=100,
    publicly_accessible=False,
)
UNENCRYPTED = EXPECTED.model_copy(update={"encrypted": False, "kms_key_id": None})


@pytest.mark.parametrize(
    ("expected", "observed", "kind", "found"),
    [
        pytest.param(EXPECTED, {}, INSTANCE, [], id="all-good"),
        pytest.param(EXPECTED, {}, CLUSTER, [], id="all-good-cluster"),
        pytest.param(EXPECTED, {"status": "modifying"}, INSTANCE, ["status modifying, not available"], id="status"),
        pytest.param(EXPECTED, {"engine": "mysql"}, INSTANCE, ["engine mysql, the replica's is postgres"], id="engine"),
        pytest.param(EXPECTED, {"engine": ""}, INSTANCE, ["engine -, the replica's is postgres"], id="no-engine"),
        pytest.param(
            EXPECTED,
            {"engine_version": "16.4"},
            INSTANCE,
            ["engine version 16.4, the replica's is 16.3"],
            id="version",
        ),
        pytest.param(
            EXPECTED,
            {"encrypted": False, "kms_key_id": None},
            INSTANCE,
            ["unencrypted, the replica is encrypted"],  # the key is not compared as well
            id="unencrypted",
        ),
        pytest.param(
            UNENCRYPTED,
            {"encrypted": True},
            INSTANCE,
            ["encrypted, the replica is unencrypted"],
            id="encrypted-unlike-the-replica",
        ),
        pytest.param(
            EXPECTED,
            {"kms_key_id": OTHER_KEY},
            INSTANCE,
            [f"encrypted with {OTHER_KEY}, the replica with {KEY}"],
            id="other-key",
        ),
        pytest.param(
            EXPECTED, {"kms_key_id": None}, CLUSTER, [f"encrypted with -, the replica with {KEY}"], id="no-key"
        ),
        pytest.param(
            UNENCRYPTED,
            {"encrypted": False, "kms_key_id": OTHER_KEY},
            INSTANCE,
            [],
            id="key-not-compared-when-unencrypted",
        ),
        pytest.param(
            EXPECTED,
            {"allocated_storage_gb": 50},
            INSTANCE,
            ["50 GB of storage, the replica holds 100 GB"],
            id="less-storage",
        ),
        pytest.param(
            EXPECTED,
            {"allocated_storage_gb": None},
            INSTANCE,
            ["0 GB of storage, the replica holds 100 GB"],
            id="storage-unknown",
        ),
        pytest.param(EXPECTED, {"allocated_storage_gb": 200}, INSTANCE, [], id="more-storage-is-fine"),
        pytest.param(EXPECTED, {"allocated_storage_gb": 1}, CLUSTER, [], id="storage-not-compared-for-aurora"),
        pytest.param(
            EXPECTED.model_copy(update={"allocated_storage_gb": None}),
            {"allocated_storage_gb": 1},
            INSTANCE,
            [],
            id="storage-not-expected",
        ),
        pytest.param(
            EXPECTED,
            {"publicly_accessible": True},
            INSTANCE,
            ["publicly accessible (a restore test never is)"],
            id="public",
        ),
        pytest.param(
            EXPECTED,
            {"publicly_accessible": True},
            CLUSTER,
            ["publicly accessible (a restore test never is)"],
            id="public-cluster",
        ),
        pytest.param(
            EXPECTED,
            {
                "status": "incompatible-restore",
                "engine": "mysql",
                "engine_version": "8.0.36",
                "kms_key_id": OTHER_KEY,
                "allocated_storage_gb": 20,
                "publicly_accessible": True,
            },
            INSTANCE,
            [
                "status incompatible-restore, not available",
                "engine mysql, the replica's is postgres",
                "engine version 8.0.36, the replica's is 16.3",
                f"encrypted with {OTHER_KEY}, the replica with {KEY}",
                "20 GB of storage, the replica holds 100 GB",
                "publicly accessible (a restore test never is)",
            ],
            id="everything-wrong",
        ),
        pytest.param(
            EXPECTED,
            {"engine_version": "16.4", "publicly_accessible": True},
            CLUSTER,
            ["engine version 16.4, the replica's is 16.3", "publicly accessible (a restore test never is)"],
            id="two-wrong",
        ),
    ],
)
def test_mismatches(expected: Expected, observed: dict[str, Any], kind: SnapshotKind, found: list[str]) -> None:
    assert mismatches(expected, GOOD.model_copy(update=observed), kind) == found


@pytest.mark.parametrize(
    ("expected", "kind", "done"),
    [
        (
            EXPECTED,
            INSTANCE,
            [
                "available",
                "engine postgres 16.3",
                f"encrypted with {KEY}",
                "storage 100 GB",
                "not publicly accessible",
            ],
        ),
        (EXPECTED, CLUSTER, ["available", "engine postgres 16.3", f"encrypted with {KEY}", "not publicly accessible"]),
        (
            UNENCRYPTED,
            INSTANCE,
            [
                "available",
                "engine postgres 16.3",
                "unencrypted, as the replica",
                "storage 100 GB",
                "not publicly accessible",
            ],
        ),
        (
            UNENCRYPTED.model_copy(update={"allocated_storage_gb": None}),
            INSTANCE,
            ["available", "engine postgres 16.3", "unencrypted, as the replica", "not publicly accessible"],
        ),
    ],
)
def test_checks_done(expected: Expected, kind: SnapshotKind, done: list[str]) -> None:
    assert checks_done(expected, kind) == done


# --- the record ------------------------------------------------------------------------------------------------------


def _walk(value: Any) -> list[Any]:
    """Every value in a nested item."""
    if isinstance(value, dict):
        return [value, *(x for v in value.values() for x in _walk(v))]
    if isinstance(value, list):
        return [value, *(x for v in value for x in _walk(v))]
    return [value]


def _record(kind: SnapshotKind) -> RestoreTestRecord:
    _, plan, _ = plan_test(candidate(kind=kind), CONFIG, SOURCE_ACCOUNT, ROLE_ARN, NOW)
    return RestoreTestRecord(
        test_id="restoretest-orders-20240510-0123456789",
        status=RestoreTestStatus.SUCCEEDED,
        reason="restored and checked in 12.6 min on db.t4g.small; replica taken 5.0 h before the test",
        source_region="eu-central-1",
        database="orders",
        target_account=TARGET_ACCOUNT,
        target_region="eu-west-1",
        plan=plan,
        stage=Stage.DONE,
        execution_name="restoretest-orders-20240510-0123456789",
        started_at=NOW,
        updated_at=NOW + timedelta(minutes=20),
        finished_at=NOW + timedelta(minutes=20),
        restore_started_at=NOW + timedelta(seconds=5),
        available_at=NOW + timedelta(seconds=759.25),
        restore_seconds=754.25,
        instance_class="db.t4g.small",
        expected=EXPECTED,
        verdict=RestoreTestStatus.SUCCEEDED,
        checks=checks_done(EXPECTED, kind),
        deleted=["snaptest-orders-0123abcd (deleting)"],
    )


SKIPPED = RestoreTestRecord(
    test_id="restoretest-legacy-20240510-0123456789",
    status=RestoreTestStatus.SKIPPED,
    reason=f"no replica of legacy on {TARGET} to test",
    source_region="eu-central-1",
    database="legacy",
    target_account=TARGET_ACCOUNT,
    target_region="eu-west-1",
    started_at=NOW,
    updated_at=NOW,
    finished_at=NOW,
)
PENDING = SKIPPED.model_copy(update={"status": RestoreTestStatus.PENDING, "reason": "", "finished_at": None})
RECORDS = [
    pytest.param(_record(INSTANCE), id="instance-succeeded"),
    pytest.param(_record(CLUSTER), id="cluster-succeeded"),
    pytest.param(SKIPPED, id="skipped"),
    pytest.param(PENDING, id="pending-empty-reason"),
]


@pytest.mark.parametrize("record", RECORDS)
def test_to_item_is_a_dynamodb_item(record: RestoreTestRecord) -> None:
    item = record.to_item()
    assert item["replication_id"] == record.test_id
    assert "test_id" not in item
    assert item["record_type"] == RECORD_TYPE == "restore-test"
    assert item["status"] == record.status.value
    for key, value in item.items():
        assert value not in (None, "", []), key
    values = _walk(item)
    assert not any(v is None for v in values)
    assert not any(isinstance(v, float) for v in values)  # DynamoDB takes numbers as Decimal
    assert item["started_at"] == started_key(record.started_at)
    assert "cleanup_attempts" in item
    assert item["cleanup_attempts"] == 0


def test_to_item_keeps_floats_as_exact_decimals() -> None:
    item = _record(INSTANCE).to_item()
    assert isinstance(item["restore_seconds"], Decimal)
    assert item["restore_seconds"] == Decimal("754.25")
    assert item["plan"]["replica_age_seconds"] == Decimal("18000.0")
    assert item["plan"]["max_minutes"] == Decimal("90.0")
    assert item["expected"]["allocated_storage_gb"] == 100
    assert isinstance(item["expected"]["allocated_storage_gb"], int)


def test_to_item_drops_what_is_empty() -> None:
    item = PENDING.to_item()
    for absent in ("reason", "plan", "finished_at", "checks", "deleted", "cleanup_errors", "expected", "verdict"):
        assert absent not in item, absent


@pytest.mark.parametrize("record", RECORDS)
def test_to_item_round_trips(record: RestoreTestRecord) -> None:
    again = RestoreTestRecord.model_validate(record.to_item())
    assert again == record
    assert again.to_item() == record.to_item()


def test_a_record_reads_its_key_by_either_name() -> None:
    stored = SKIPPED.model_dump(by_alias=True)
    assert "replication_id" in stored
    assert "test_id" not in stored
    assert RestoreTestRecord.model_validate(stored) == SKIPPED
    assert RestoreTestRecord.model_validate(SKIPPED.model_dump()) == SKIPPED  # test_id: populate_by_name


@pytest.mark.parametrize("record", RECORDS)
def test_record_key(record: RestoreTestRecord) -> None:
    assert record.key == ("eu-central-1", record.database, TARGET_ACCOUNT, "eu-west-1")
    assert record.target == TARGET


@pytest.mark.parametrize(
    ("moment", "key"),
    [
        (NOW, "2024-05-10T12:00:00Z"),
        (NOW + timedelta(microseconds=250_000), "2024-05-10T12:00:00.250000Z"),
    ],
)
def test_started_key_sorts_as_the_stored_started_at(moment: datetime, key: str) -> None:
    assert started_key(moment) == key
    assert started_key(moment) == SKIPPED.model_copy(update={"started_at": moment}).to_item()["started_at"]


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (RestoreTestStatus.PENDING, False),
        (RestoreTestStatus.RESTORING, False),
        (RestoreTestStatus.CLEANING_UP, False),
        (RestoreTestStatus.SUCCEEDED, True),
        (RestoreTestStatus.FAILED, True),
        (RestoreTestStatus.SKIPPED, True),
    ],
)
def test_final_statuses(status: RestoreTestStatus, final: bool) -> None:
    assert status.final is final


# --- the cost --------------------------------------------------------------------------------------------------------

NO_ORCHESTRATION: dict[str, Any] = {"storage_gb": 0, "invocations": 0, "transitions": 0}


@pytest.mark.parametrize(
    ("existed_seconds", "hourly", "cost"),
    [
        pytest.param(0, 0.6, 0.1, id="nothing-billed-as-10-minutes"),
        pytest.param(60, 0.6, 0.1, id="a-minute-billed-as-10"),
        pytest.param(599, 0.6, 0.1, id="just-under-10-minutes"),
        pytest.param(600, 0.6, 0.1, id="10-minutes"),
        pytest.param(1200, 0.6, 0.2, id="20-minutes"),
        pytest.param(3600, 0.6, 0.6, id="an-hour"),
        pytest.param(7200, 0.5, 1.0, id="two-hours"),
        pytest.param(7200, 0.0, 0.0, id="free"),
    ],
)
def test_database_hours_with_a_10_minute_minimum(existed_seconds: float, hourly: float, cost: float) -> None:
    assert restore_test_cost_usd(existed_seconds, hourly, **NO_ORCHESTRATION) == pytest.approx(cost)


@pytest.mark.parametrize("hours", [1, 2, 3.5, 10])
@pytest.mark.parametrize("price", [0.016, 0.073, 0.29])
def test_cost_is_linear_in_hours_and_price(hours: float, price: float) -> None:
    one = restore_test_cost_usd(3600, price, **NO_ORCHESTRATION)
    assert restore_test_cost_usd(hours * 3600, price, **NO_ORCHESTRATION) == pytest.approx(hours * one)
    assert restore_test_cost_usd(hours * 3600, 2 * price, **NO_ORCHESTRATION) == pytest.approx(
        2 * restore_test_cost_usd(hours * 3600, price, **NO_ORCHESTRATION)
    )


@pytest.mark.parametrize(
    ("change", "more"),
    [
        ({"storage_gb": 100}, 100 * 0.115 / 730),  # an hour of 100 GB at $0.115 per GB-month (730 h)
        ({"invocations": 1000}, 1000 * (0.20 / 1e6 + 0.25 * 0.0000166667)),  # requests and 0.25 GB-seconds each
        ({"transitions": 1000}, 0.025),
        ({"invocations": 10, "lambda_seconds": 2.0, "lambda_gb": 1.0}, 10 * (0.2e-6 + 2 * 0.0000166667)),
    ],
)
def test_each_cost_adds(change: dict[str, Any], more: float) -> None:
    base = restore_test_cost_usd(3600, 0.016, **NO_ORCHESTRATION)
    assert restore_test_cost_usd(3600, 0.016, **{**NO_ORCHESTRATION, **change}) - base == pytest.approx(more)


def test_one_test_cost_computed_by_hand() -> None:
    # a db.t4g.micro ($0.016/h) with 20 GB, existing 30 minutes; 12 invocations of 1 s at 0.25 GB; 40 transitions:
    #   instance      0.5 h * 0.016                          = 0.008
    #   storage       20 GB * 0.115 $/GB-month * 0.5 h / 730  = 0.001575342...
    #   requests      12 * 0.20 / 1e6                         = 0.0000024
    #   GB-seconds    12 * 1 s * 0.25 GB * 0.0000166667       = 0.0000500001
    #   transitions   40 * 0.025 / 1000                       = 0.001
    #   total                                                 = 0.010627742...
    cost = restore_test_cost_usd(1800, 0.016, storage_gb=20, invocations=12, transitions=40)
    assert cost == pytest.approx(0.0106277, abs=1e-7)


@pytest.mark.parametrize("minutes", [12, 20, 40, 90, 180])
def test_a_restore_past_its_expectation_is_seen_available_at_most_a_tenth_late(minutes: int) -> None:
    # a restore's lateness is billed and counted in its measured time: past the expectation, a look every tenth
    started, now, duration = NOW, NOW, minutes * 60
    while (now - started).total_seconds() < duration:
        now += timedelta(seconds=wait_seconds(started, None, now, FLOOR, CEILING, 1440))
    seen = (now - started).total_seconds()
    assert seen - duration <= max(60, 0.1 * seen) + 1


def test_the_deadline_counts_from_the_restore_while_the_wait_counts_from_what_is_awaited() -> None:
    # an Aurora cluster's instance created 100 s before the test's deadline: the wait stops at the deadline
    restore_started = NOW - timedelta(seconds=7100)
    instance_started = NOW - timedelta(seconds=10)
    wait = wait_seconds(instance_started, None, NOW, FLOOR, CEILING, 120, deadline_from=restore_started)
    assert wait == 101
    assert wait_seconds(instance_started, None, NOW, FLOOR, CEILING, 120) == 290  # without it: the instance's own
