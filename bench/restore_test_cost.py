"""What one restore test costs: measured on the emulation, then modelled at real restore durations.

1. On the embedded emulation (template.yaml provisioned on moto at 127.0.0.1, the real handlers, the restore-test
   state machine's real ASL in moto's engine), for each emulated restore duration (--emulated-seconds): one source
   account with a PostgreSQL DB instance and an Aurora PostgreSQL cluster, both replicated to us-west-2 (same account,
   `restore_test` on the target), then the scheduler's real handler (ScheduleRestoreTestsFunction) starts one test of
   each. Measured per test, from the real executions: Lambda invocations of RunRestoreTestFunction (the emulation's
   dispatcher; attributed to their test by the stage each invocation loaded: `usecases.restore_test._load` is traced),
   state transitions (the *StateEntered events of the execution's history), wait checks (invocations in the
   wait_restored / wait_instance stages), the recorded restore_seconds, the database's lifetime (the record's
   restore_started_at to finished_at: the cleanup that started the deletion) and the DynamoDB requests of the test's
   record (restore_test_records.get / put / create are traced and sized by ReadUsage's size rule). The
   emulation's stack polls every second (PollFloorSeconds = PollCeilingSeconds = 1) and a restore lasts seconds: its
   timeline is compressed, so it gives the counts per check and the fixed part of a test, not the real number of
   checks.
2. The model: restores of --durations minutes (an Aurora restore: the cluster, then its instance, --cluster-share of
   the duration for the cluster), each replayed at 21 durations spread evenly over +-10 % (their mean is reported:
   what a month of tests averages), through the project's own wait: `restore_testing.wait_seconds` at the stack's
   defaults (PollFloorSeconds 30, PollCeilingSeconds 7200, max_minutes 120), with the task's stages as
   `usecases.restore_test` runs them (restore, looks until available, for Aurora add_instance then looks at its
   instance from its creation, verify, cleanup; every invocation takes --lambda-seconds). Invocations and transitions
   follow from the checks with the per-check and fixed counts measured in 1. One test's cost is
   `restore_testing.restore_test_cost_usd` (instance-hours with RDS's 10-minute minimum, storage, Lambda,
   transitions) at --instance-price (db.t4g.micro, RDS for PostgreSQL, Single-AZ) and --aurora-price (db.t4g.medium,
   Aurora PostgreSQL): the DB instance (Aurora: the cluster's instance) from when it is available to its deletion
   (the RDS user guide: "Billing starts for a DB instance as soon as the DB instance is available"), and for Aurora
   the cluster's storage from the restore's start (a cluster has no instance-hours of its own). Also shown: the test
   record's DynamoDB requests, which restore_test_cost_usd leaves out.
3. A month of --databases databases tested every --every-days days, with the scheduler's daily runs (one Lambda
   invocation each; its reads counted from usecases.restore_schedule: two Scans of the mapping table, one
   by-database-target index Query per (database, target) in the coverage audit, one restore-tests index Query of the
   tests started within every_days) and the reconciler's restore-test read every 15 minutes (one Scan of the mapping
   table, one restore-tests Query over 8 days: usecases.restore_leftovers).

Prices: us-east-1, on-demand, as the developer recorded them on 2026-12-01 from
https://aws.amazon.com/rds/postgresql/pricing/ and https://aws.amazon.com/rds/aurora/pricing/ (their price tables
could not be read here): flags. Lambda, Step Functions and storage prices are restore_testing's constants;
DynamoDB's are bench/wait_bench.py's.

    python bench/restore_test_cost.py [--emulated-seconds 2,3,4,5,6] [--durations 10,20,40,90]
        [--instance-price 0.016] [--aurora-price 0.073] [--storage-gb 20] [--databases 100] [--every-days 7]
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import wait_bench
from moto.rds.models import rds_backends

from replicator.aws.dynamodb import replication_records, restore_test_records
from replicator.restore_testing import (
    AURORA_CLASSES,
    INSTANCE_CLASSES,
    LAMBDA_GB_SECOND_USD,
    LAMBDA_REQUEST_USD,
    STATE_TRANSITION_USD,
    STORAGE_GB_MONTH_USD,
    RestoreTestRecord,
    Stage,
    restore_test_cost_usd,
    wait_seconds,
)
from replicator.usecases import restore_test as restore_task
from replicator_cli.local.cloud import SOURCE_ACCOUNT
from replicator_cli.local.emulation import emulation, states_entered
from replicator_cli.local.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
TARGET_REGION = "us-west-2"
# the stack's defaults (template.yaml: PollFloorSeconds, PollCeilingSeconds; RestoreTest.max_minutes)
POLL_FLOOR, POLL_CEILING, MAX_MINUTES = 30, 7200, 120.0
RUN_FUNCTION_GB = 0.25  # RunRestoreTestFunction: the template's global MemorySize 256
SCHEDULER_GB = 0.5  # ScheduleRestoreTestsFunction: MemorySize 512
PRICE_READ = wait_bench.PRICE_READ  # DynamoDB on-demand, per read request unit
PRICE_WRITE = wait_bench.PRICE_WRITE  # per write request unit
DAYS_A_MONTH = 365 / 12  # 30.42: AWS prices a month as 730 hours
RECONCILES_A_DAY = 96  # ReconcileSchedule: rate(15 minutes)
RECONCILER_LOOK_BACK_DAYS = 8  # usecases.restore_leftovers.LOOK_BACK
SPREAD = [0.9 + 0.01 * i for i in range(21)]  # each modelled duration, +-10 %
T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
WAIT_STAGES = (Stage.WAIT_RESTORED, Stage.WAIT_INSTANCE)
KINDS = {"instance": "DB instance (RDS for PostgreSQL)", "cluster": "Aurora PostgreSQL cluster"}


# --- 1. the emulation ------------------------------------------------------------------------------------------------


def scenario(restore_seconds: float) -> Scenario:
    restore_test = {"every_days": 7, "max_minutes": 5}
    return Scenario.model_validate(
        {
            "name": "restore-test-cost",
            "copy_seconds": 1.0,
            "poll_seconds": 1,
            "timeout_seconds": 120,
            "restore_seconds": restore_seconds,
            "keys": [{"name": "dr-west", "region": TARGET_REGION}],
            "databases": [
                {"id": "orders", "engine": "postgres", "engine_version": "16.3", "encrypted": True},
                {
                    "id": "ledger",
                    "kind": "cluster",
                    "engine": "aurora-postgresql",
                    "engine_version": "15.4",
                    "encrypted": True,
                },
            ],
            "snapshots": [{"id": "orders-snap-1", "database": "orders"}, {"id": "ledger-snap-1", "database": "ledger"}],
            "mappings": [
                {
                    "source_region": "us-east-1",
                    "targets": [
                        {
                            "target_region": TARGET_REGION,
                            "encryption": {"enabled": True, "kms_key_arn": "{{key:dr-west}}", "key_usage": "all"},
                            "restore_test": restore_test,
                        }
                    ],
                }
            ],
            "events": [{"snapshot": "orders-snap-1"}, {"snapshot": "ledger-snap-1"}],
        }
    )


@dataclass
class Trace:
    """Per test id: the stage and time of each invocation of its task, and its record's DynamoDB requests."""

    stages: dict[str, list[tuple[Stage, datetime]]] = field(default_factory=dict)
    read_units: Counter[str] = field(default_factory=Counter)
    write_units: Counter[str] = field(default_factory=Counter)
    reads: Counter[str] = field(default_factory=Counter)
    writes: Counter[str] = field(default_factory=Counter)


def _units(record: RestoreTestRecord, per_kb: int) -> int:
    """Request units of one read (4 KB, strongly consistent) or write (1 KB) of the record, by ReadUsage's size rule."""
    return max(1, math.ceil(replication_records._item_size(record.to_item()) / per_kb))


class Tracing:
    """Wraps the task's _load and the record's get / put / create for the duration of a `with`."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self._saved: list[tuple[Any, str, Callable]] = []

    def _wrap(self, owner: Any, name: str, make: Callable[[Callable], Callable]) -> None:
        original = getattr(owner, name)
        self._saved.append((owner, name, original))
        setattr(owner, name, make(original))

    def __enter__(self) -> Tracing:
        trace = self.trace

        def load(original: Callable) -> Callable:
            def traced(settings: Any, payload: Any) -> Any:
                task, test = original(settings, payload)
                trace.stages.setdefault(test.record.test_id, []).append((test.record.stage, datetime.now(UTC)))
                return task, test

            return traced

        def get(original: Callable) -> Callable:
            def traced(table: str, test_id: str) -> Any:
                record = original(table, test_id)
                trace.reads[test_id] += 1
                trace.read_units[test_id] += _units(record, 4096) if record else 1
                return record

            return traced

        def write(original: Callable) -> Callable:
            def traced(table: str, record: RestoreTestRecord) -> Any:
                trace.writes[record.test_id] += 1
                trace.write_units[record.test_id] += _units(record, 1024)
                return original(table, record)

            return traced

        self._wrap(restore_task, "_load", load)
        self._wrap(restore_test_records, "get", get)
        self._wrap(restore_test_records, "put", write)
        self._wrap(restore_test_records, "create", write)
        return self

    def __exit__(self, *_: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)


@dataclass
class Measured:
    kind: str
    emulated_seconds: float
    instance_class: str
    invocations: int
    transitions: int
    checks: int
    restore_seconds: float  # as recorded
    lifetime: float  # restore started to the cleanup that started the deletion
    instance_lifetime: float  # Aurora: the cluster's instance, add_instance to the cleanup
    read_units: int
    write_units: int
    reads: int
    writes: int
    record_bytes: int  # the final record, by ReadUsage's size rule


@dataclass
class SchedulerRun:
    requests: Counter[tuple[str, str]]
    pairs: int
    tests: int


def emulate(restore_seconds: float) -> tuple[list[Measured], SchedulerRun, int]:
    """One round: replicate, schedule, run both tests to their end; (tests, the scheduler's requests, invocations of
    RunRestoreTestFunction the dispatcher saw)."""
    spec = scenario(restore_seconds)
    trace = Trace()
    with emulation(spec, root=ROOT) as up:
        cloud, replicated = up.cloud, up.records
        assert all(r.status.value == "SUCCEEDED" for r in replicated), [r.reason for r in replicated]
        dispatcher = cloud.doubles.lambda_dispatcher
        calls_before = len(dispatcher.invocations)
        with Tracing(trace):
            before = Counter(cloud.doubles.faults.requests)
            result, error = dispatcher.invoke(cloud.stack.function("ScheduleRestoreTestsFunction").name, {})
            scheduled = cloud.doubles.faults.requests - before
            assert error is None, result
            histories = _ended(cloud.stack.state_machine_arns["RestoreTestStateMachine"])
        calls = [outcome for name, outcome in dispatcher.invocations[calls_before:] if name == "RunRestoreTestFunction"]
        assert all(outcome == "ok" for outcome in calls), calls
        records = restore_test_records.started_since(cloud.stack.history_table, datetime.now(UTC) - timedelta(days=1))
        left = _left_over()
        assert not left, f"left over: {left}"
    measured = []
    for record in records:
        assert record.status.value == "SUCCEEDED", record.reason
        assert record.plan is not None, record.test_id
        assert record.restore_started_at is not None, record.test_id
        assert record.finished_at is not None, record.test_id
        assert record.restore_seconds is not None, record.test_id
        stages = trace.stages[record.test_id]
        history = histories[record.execution_name or ""]
        entered = len(states_entered(history))
        tasks = sum(1 for e in history if e["type"] == "TaskStateEntered")
        assert tasks == len(stages), (tasks, len(stages))  # no Lambda retry: one invocation per task state entered
        added = [when for stage, when in stages if stage is Stage.ADD_INSTANCE]
        kind = record.plan.kind.value
        measured.append(
            Measured(
                kind=kind,
                emulated_seconds=restore_seconds,
                instance_class=record.instance_class or "",
                invocations=len(stages),
                transitions=entered,
                checks=sum(1 for stage, _ in stages if stage in WAIT_STAGES),
                restore_seconds=record.restore_seconds,
                lifetime=(record.finished_at - record.restore_started_at).total_seconds(),
                instance_lifetime=(
                    record.finished_at - (added[0] if added else record.restore_started_at)
                ).total_seconds(),
                read_units=trace.read_units[record.test_id],
                write_units=trace.write_units[record.test_id],
                reads=trace.reads[record.test_id],
                writes=trace.writes[record.test_id],
                record_bytes=replication_records._item_size(record.to_item()),
            )
        )
    assert sorted(m.kind for m in measured) == ["cluster", "instance"], measured
    run = SchedulerRun(scheduled, pairs=len(spec.databases), tests=len(measured))
    return sorted(measured, key=lambda m: m.kind != "instance"), run, len(calls)


def _ended(state_machine_arn: str, timeout: float = 180) -> dict[str, list[dict[str, Any]]]:
    """Each execution's history, once every execution has ended (SUCCEEDED)."""
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        executions = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
        if executions and all(e["status"] != "RUNNING" for e in executions):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"restore tests still running after {timeout} s")
        time.sleep(0.3)
    assert all(e["status"] == "SUCCEEDED" for e in executions), executions
    return {
        e["name"]: sfn.get_execution_history(executionArn=e["executionArn"], maxResults=1000)["events"]
        for e in executions
    }


def _left_over() -> list[str]:
    """snaptest-* DB instances and clusters not deleting (the cleanup must have started every deletion)."""
    backend = rds_backends[SOURCE_ACCOUNT][TARGET_REGION]
    found = []
    for name, resource in [*backend.databases.items(), *backend.clusters.items()]:
        status = str(getattr(resource, "_status", None) or getattr(resource, "status", ""))
        if name.startswith("snaptest-") and status != "deleting":
            found.append(f"{name} ({status})")
    return found


@dataclass(frozen=True)
class PerCheck:
    """invocations = fixed_invocations + per_check_invocations x checks, and the same for transitions (a least-squares
    line through the tests of one kind)."""

    invocations: float
    transitions: float
    fixed_invocations: float
    fixed_transitions: float


def _line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        raise SystemExit("every emulated test of a kind took as many checks: give --emulated-seconds that differ more")
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var
    return slope, my - slope * mx


def per_check(tests: list[Measured]) -> PerCheck:
    checks = [float(t.checks) for t in tests]
    inv_slope, inv_fixed = _line(checks, [float(t.invocations) for t in tests])
    tr_slope, tr_fixed = _line(checks, [float(t.transitions) for t in tests])
    return PerCheck(inv_slope, tr_slope, inv_fixed, tr_fixed)


# --- 2. the model ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    checks: int
    detected: float  # restore started to the check that saw the (cluster's) instance available: restore_seconds
    available: float  # when it became available
    lifetime: float  # restore started to the deletion (the end of the cleanup's invocation)
    instance_seconds: float  # the billed DB instance time: from available to the deletion (Aurora: its instance)
    timed_out: bool


def replay(cluster: bool, duration: float, lambda_seconds: float, cluster_share: float, size_gb: int | None) -> Replay:
    """The task's course for one restore of `duration` seconds, on a simulated clock (seconds since the restore's
    invocation started, which is the record's restore_started_at): the looks wait from the start of what they await
    (the restore; for Aurora then the cluster's instance), within max_minutes of the restore's start."""

    def wait_after(now: float, since: float) -> int:
        return wait_seconds(
            T0 + timedelta(seconds=since),
            size_gb,
            T0 + timedelta(seconds=now),
            POLL_FLOOR,
            POLL_CEILING,
            MAX_MINUTES,
            deadline_from=T0,
        )

    checks = 0
    timed_out = False

    def until(available: float, first_check: float, since: float) -> float:
        nonlocal checks, timed_out
        now = first_check
        while True:
            checks += 1
            if now >= available:
                return now
            if now > MAX_MINUTES * 60:  # restore_testing.timed_out: FAILED, then the cleanup
                timed_out = True
                return now
            now += lambda_seconds + wait_after(now, since)

    cluster_available = duration * cluster_share if cluster else duration
    seen = until(cluster_available, lambda_seconds + wait_after(0.0, 0.0), 0.0)  # the restore says when to look
    created = 0.0
    available = cluster_available
    if cluster and not timed_out:
        created = seen + lambda_seconds  # add_instance, at once (wait 0)
        available = created + duration * (1 - cluster_share)
        seen = until(available, created + lambda_seconds + wait_after(created, created), created)
    lifetime = seen + 3 * lambda_seconds  # the seeing check, verify (wait 0), cleanup (wait 0): deletion started
    # RDS bills a DB instance from when it is available until its deletion (10 minutes at least)
    return Replay(checks, seen, available, lifetime, lifetime - available, timed_out)


@dataclass(frozen=True)
class Modelled:
    kind: str
    minutes: float
    instance_class: str
    checks: float
    invocations: float
    transitions: float
    detected: float
    beyond: float  # lifetime beyond the restore: from available to the deletion
    lifetime: float
    instance_seconds: float
    usd: float  # restore_test_cost_usd (Aurora: the instance's, plus the cluster's storage)
    usd_instance_hours: float
    usd_dynamodb: float
    billed_seconds: float  # the instance-hours billed: from available to the deletion, 10 minutes at least
    at_minimum: int  # restores of the spread billed the 10-minute minimum
    timed_out: int


def model(
    kind: str,
    minutes: float,
    counts: PerCheck,
    hourly: float,
    storage_gb: int,
    lambda_seconds: float,
    cluster_share: float,
    reads_per_invocation: float,
    writes_per_test: float,
) -> Modelled:
    cluster = kind == "cluster"
    rows = []
    for factor in SPREAD:
        r = replay(cluster, minutes * 60 * factor, lambda_seconds, cluster_share, None if cluster else storage_gb)
        invocations = counts.fixed_invocations + counts.invocations * r.checks
        transitions = counts.fixed_transitions + counts.transitions * r.checks
        instance_hours = restore_test_cost_usd(r.instance_seconds, hourly, 0, 0, 0)
        usd = restore_test_cost_usd(
            r.instance_seconds,
            hourly,
            0 if cluster else storage_gb,
            round(invocations),
            round(transitions),
            lambda_seconds=lambda_seconds,
            lambda_gb=RUN_FUNCTION_GB,
        )
        if cluster:  # the cluster's storage, from the restore's start (no instance-hours of its own)
            usd += restore_test_cost_usd(r.lifetime, 0.0, storage_gb, 0, 0)
        dynamodb = invocations * reads_per_invocation * PRICE_READ + writes_per_test * PRICE_WRITE
        rows.append((r, invocations, transitions, usd, instance_hours, dynamodb))

    def mean(pick: Callable[[Any], float]) -> float:
        return statistics.fmean(pick(row) for row in rows)

    return Modelled(
        kind=kind,
        minutes=minutes,
        instance_class=AURORA_CLASSES[0] if cluster else INSTANCE_CLASSES[0],
        checks=mean(lambda row: row[0].checks),
        invocations=mean(lambda row: row[1]),
        transitions=mean(lambda row: row[2]),
        detected=mean(lambda row: row[0].detected),
        beyond=mean(lambda row: row[0].lifetime - row[0].available),
        lifetime=mean(lambda row: row[0].lifetime),
        instance_seconds=mean(lambda row: row[0].instance_seconds),
        usd=mean(lambda row: row[3]),
        usd_instance_hours=mean(lambda row: row[4]),
        usd_dynamodb=mean(lambda row: row[5]),
        billed_seconds=mean(lambda row: max(row[0].instance_seconds, 600.0)),
        at_minimum=sum(1 for row in rows if row[0].instance_seconds < 600),
        timed_out=sum(1 for row in rows if row[0].timed_out),
    )


# --- 3. a month ------------------------------------------------------------------------------------------------------


def query_units(records: float, record_bytes: float) -> float:
    """An eventually consistent Query of `records` whole items: their size rounded up to 4 KB, half a unit each."""
    return max(1, math.ceil(records * record_bytes / 4096)) * 0.5


def scheduler_run_units(databases: int, targets: int, every_days: int, record_bytes: float) -> dict[str, float]:
    """Read units of one scheduler run, from usecases.restore_schedule: _tested_targets and audit_coverage each Scan
    the (small) mapping table; the audit Queries the by-database-target index once per (database, target), a page of
    at most 5 entries (usecases.coverage.HISTORY_PAGE: under 4 KB); the restore-tests index is read for the tests
    started within the longest every_days (one per database and target)."""
    return {
        "mapping scans": 2 * 0.5,
        "coverage queries": databases * targets * 0.5,
        "restore-tests query": query_units(databases * targets, record_bytes),
    }


def reconciler_run_units(databases: int, targets: int, every_days: int, record_bytes: float) -> float:
    """usecases.restore_leftovers, every 15 minutes: one Scan of the mapping table, the restore-tests index over 8
    days."""
    return 0.5 + query_units(databases * targets * RECONCILER_LOOK_BACK_DAYS / every_days, record_bytes)


# --- output ----------------------------------------------------------------------------------------------------------


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emulated-seconds", default="2,3,4,5,6", help="emulated restore durations, one round each")
    parser.add_argument("--durations", default="10,20,40,90", help="modelled restore durations, minutes")
    parser.add_argument("--instance-price", type=float, default=0.016, help="db.t4g.micro RDS PostgreSQL, USD/h")
    parser.add_argument("--aurora-price", type=float, default=0.073, help="db.t4g.medium Aurora PostgreSQL, USD/h")
    parser.add_argument("--storage-gb", type=int, default=20)
    parser.add_argument("--cluster-share", type=float, default=0.5, help="share of an Aurora restore for the cluster")
    parser.add_argument("--lambda-seconds", type=float, default=1.0, help="billed duration of one task invocation")
    parser.add_argument("--scheduler-seconds", type=float, default=5.0, help="billed duration of a scheduler run")
    parser.add_argument("--databases", type=int, default=100)
    parser.add_argument("--targets", type=int, default=1, help="mapping targets testing each database")
    parser.add_argument("--every-days", type=int, default=7)
    args = parser.parse_args()
    logging.getLogger("moto").setLevel(logging.ERROR)  # moto's notes on template resources it does not emulate
    warnings.simplefilter("ignore")

    started = time.monotonic()
    tests: list[Measured] = []
    scheduler: SchedulerRun | None = None
    dispatched = 0
    for seconds in [float(s) for s in args.emulated_seconds.split(",")]:
        measured, run, calls = emulate(seconds)
        tests += measured
        dispatched += calls
        scheduler = scheduler or run
    assert scheduler is not None
    assert dispatched == sum(t.invocations for t in tests), (dispatched, sum(t.invocations for t in tests))
    wall = time.monotonic() - started

    print(
        f"On the emulation ({len(tests) // 2} rounds, {wall:.0f} s; PollFloorSeconds = PollCeilingSeconds = 1 s; "
        "an Aurora restore is its cluster's, then its instance's, each the emulated duration); every test SUCCEEDED "
        "and left nothing but databases deleting:\n"
    )
    print(
        "| database | emulated restore | class | invocations | transitions | wait checks | recorded restore_seconds "
        "| lifetime (restore start to the cleanup) | Aurora instance's lifetime | record reads (units) | record writes "
        "(units) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    counts: dict[str, PerCheck] = {}
    for kind, label in KINDS.items():
        mine = [t for t in tests if t.kind == kind]
        for t in mine:
            print(
                f"| {label} | {t.emulated_seconds:g} s | {t.instance_class} | {t.invocations} | {t.transitions} | "
                f"{t.checks} | {t.restore_seconds:.1f} s | {t.lifetime:.1f} s | "
                f"{f'{t.instance_lifetime:.1f} s' if kind == 'cluster' else '-'} | {t.reads} ({t.read_units}) | "
                f"{t.writes} ({t.write_units}) |"
            )

        def med(pick: Callable[[Measured], float], group: list[Measured] = mine) -> float:
            return statistics.median(pick(t) for t in group)

        print(
            f"| **{label}, median** | {med(lambda t: t.emulated_seconds):g} s | | {med(lambda t: t.invocations):g} | "
            f"{med(lambda t: t.transitions):g} | {med(lambda t: t.checks):g} | {med(lambda t: t.restore_seconds):.1f} s"
            f" | {med(lambda t: t.lifetime):.1f} s | "
            f"{f'{med(lambda t: t.instance_lifetime):.1f} s' if kind == 'cluster' else '-'} | "
            f"{med(lambda t: t.reads):g} ({med(lambda t: t.read_units):g}) | "
            f"{med(lambda t: t.writes):g} ({med(lambda t: t.write_units):g}) |"
        )
        counts[kind] = per_check(mine)
    print()
    for kind, label in KINDS.items():
        c = counts[kind]
        print(
            f"{label}: per wait check {c.invocations:.2f} invocation and {c.transitions:.2f} transitions "
            f"(RunRestoreTest, IsOutcomeRecorded, WaitBeforeNextStage); besides the checks {c.fixed_invocations:.2f} "
            f"invocations and {c.fixed_transitions:.2f} transitions (least squares over its {len(tests) // 2} tests)"
        )
    req = scheduler.requests
    print(
        f"\nThe scheduler's run on the emulation ({scheduler.pairs} databases x 1 target, {scheduler.tests} tests "
        f"started): {req[('dynamodb', 'scan')]} Scan, {req[('dynamodb', 'query')]} Query "
        f"({scheduler.pairs} by-database-target + 1 restore-tests), {req[('dynamodb', 'put_item')]} PutItem "
        f"(a record per test), {req[('stepfunctions', 'start_execution')]} StartExecution: as counted from the code."
    )

    record_bytes = statistics.median(t.record_bytes for t in tests)
    reads_per_invocation = {
        k: statistics.median(t.read_units / t.invocations for t in tests if t.kind == k) for k in KINDS
    }
    writes_per_test = {k: statistics.median(t.write_units for t in tests if t.kind == k) for k in KINDS}
    prices = {"instance": args.instance_price, "cluster": args.aurora_price}
    rows = [
        model(
            kind,
            float(m),
            counts[kind],
            prices[kind],
            args.storage_gb,
            args.lambda_seconds,
            args.cluster_share,
            reads_per_invocation[kind],
            writes_per_test[kind],
        )
        for m in args.durations.split(",")
        for kind in KINDS
    ]
    print(
        f"\nOne test on AWS, modelled: restore_testing.wait_seconds at PollFloorSeconds {POLL_FLOOR}, "
        f"PollCeilingSeconds {POLL_CEILING}, max_minutes {MAX_MINUTES:g}; {args.lambda_seconds:g} s per invocation; "
        f"{args.storage_gb} GB; Aurora's cluster {args.cluster_share:.0%} of the restore; mean of {len(SPREAD)} "
        f"restores spread over +-10 % of each duration; prices db.t4g.micro ${args.instance_price}/h, db.t4g.medium "
        f"${args.aurora_price}/h:\n"
    )
    print(
        "| restore | database | class | wait checks | invocations | transitions | restore_seconds recorded "
        "| beyond the restore (to deletion) | billed instance time | USD per test (restore_test_cost_usd) "
        "| of which instance-hours | + DynamoDB USD (record) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        note = f" ({r.at_minimum} of {len(SPREAD)} at the 10-min minimum)" if r.at_minimum else ""
        print(
            f"| {r.minutes:g} min | {KINDS[r.kind]} | {r.instance_class} | {r.checks:.1f} | {r.invocations:.1f} | "
            f"{r.transitions:.1f} | {minutes(r.detected)} | {minutes(r.beyond)} | {minutes(r.billed_seconds)}{note} | "
            f"{r.usd:.4f} | {r.usd_instance_hours:.4f} ({r.usd_instance_hours / r.usd:.0%}) | "
            f"{r.usd_dynamodb:.6f} |"
        )
    if any(r.timed_out for r in rows):
        print(
            "\nsome modelled restores timed out (max_minutes): " + str({(r.kind, r.minutes): r.timed_out for r in rows})
        )

    tests_a_month = args.databases * args.targets * DAYS_A_MONTH / args.every_days
    sched_units = scheduler_run_units(args.databases, args.targets, args.every_days, record_bytes)
    sched_usd = DAYS_A_MONTH * (
        LAMBDA_REQUEST_USD
        + args.scheduler_seconds * SCHEDULER_GB * LAMBDA_GB_SECOND_USD
        + sum(sched_units.values()) * PRICE_READ
    )
    reconcile_units = reconciler_run_units(args.databases, args.targets, args.every_days, record_bytes)
    reconcile_usd = DAYS_A_MONTH * RECONCILES_A_DAY * reconcile_units * PRICE_READ
    print(
        f"\nA month: {args.databases} databases x {args.targets} target tested every {args.every_days} days = "
        f"{tests_a_month:.1f} tests ({tests_a_month / args.databases / args.targets:.2f} per database); the "
        f"scheduler {DAYS_A_MONTH:.2f} runs of {args.scheduler_seconds:g} s at 512 MB, each reading "
        + ", ".join(f"{name} {units:g}" for name, units in sched_units.items())
        + f" read units ({sum(sched_units.values()):g}; a record of {record_bytes:,.0f} bytes by ReadUsage's rule); "
        f"the reconciler's restore-test read {reconcile_units:g} units x {RECONCILES_A_DAY} a day:\n"
    )
    print(
        "| restore | class | tests (restore_test_cost_usd) | their records (DynamoDB) | scheduler | "
        "reconciler's read | USD a month | of which instance-hours |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        fixed = sched_usd + reconcile_usd
        total = tests_a_month * (r.usd + r.usd_dynamodb) + fixed
        print(
            f"| {r.minutes:g} min | {r.instance_class} | {tests_a_month * r.usd:.2f} | "
            f"{tests_a_month * r.usd_dynamodb:.4f} | {sched_usd:.4f} | {reconcile_usd:.4f} | {total:.2f} | "
            f"{tests_a_month * r.usd_instance_hours:.2f} ({tests_a_month * r.usd_instance_hours / total:.0%}) |"
        )
    print(
        f"\nPrices: Step Functions ${STATE_TRANSITION_USD * 1000:g} per 1,000 transitions, Lambda "
        f"${LAMBDA_REQUEST_USD * 1e6:g} per million requests and ${LAMBDA_GB_SECOND_USD} per GB-second, storage "
        f"${STORAGE_GB_MONTH_USD} per GB-month (restore_testing's constants); DynamoDB ${PRICE_READ * 1e6:g} per "
        f"million read and ${PRICE_WRITE * 1e6:g} per million write request units (wait_bench's)."
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
