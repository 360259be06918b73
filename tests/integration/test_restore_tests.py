"""Restore tests end to end on the emulation: the scheduler (its real handler) plans and starts the due tests, the
restore-test state machine (the real ASL in moto's engine) restores each replica in its target account and region,
checks it, deletes it and records the outcome; nothing `snaptest-*` is left, whatever happened."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto.rds.models import rds_backends
from support import (
    OTHER_WORKLOAD,
    TARGET_ACCOUNT,
    aurora,
    base_scenario,
    database,
    mapping,
    restore_tests_ended,
    vault_target,
)
from typer.testing import CliRunner

from replicator.aws.dynamodb import restore_test_records
from replicator.restore_testing import TAG_RESTORE_TEST
from replicator.snapshots import MANAGED_BY, TAG_MANAGED_BY, TAG_SOURCE_ACCOUNT
from replicator_cli.local.cloud import SOURCE_ACCOUNT
from replicator_cli.local.provision import account_client
from replicator_cli.main import app

RESTORE_TEST = {"every_days": 7, "max_minutes": 5}


def _scenario(**overrides: Any) -> dict[str, Any]:
    """orders (a PostgreSQL instance) and ledger (an Aurora cluster), each replicated to us-west-2 in this account
    and to eu-west-1 in the target account, both targets testing restores."""
    west = {
        "target_region": "us-west-2",
        "encryption": {"enabled": True, "kms_key_arn": "{{key:dr-west}}", "key_usage": "all"},
        "restore_test": RESTORE_TEST,
    }
    return base_scenario(
        databases=[
            database(),
            aurora("ledger"),
        ],
        snapshots=[
            {"id": "orders-2026-11-30", "database": "orders"},
            {"id": "ledger-2026-11-30", "database": "ledger"},
        ],
        mappings=[mapping(west, vault_target(restore_test=RESTORE_TEST))],
        events=[{"snapshot": "orders-2026-11-30"}, {"snapshot": "ledger-2026-11-30"}],
        **overrides,
    )


def _schedule(run: Any, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    function = run.cloud.stack.function("ScheduleRestoreTestsFunction").name
    result, error = run.cloud.doubles.lambda_dispatcher.invoke(function, payload or {})
    assert error is None, result
    return result


def _left_over(account: str, region: str) -> list[str]:
    """Every snaptest-* DB instance and cluster in one account and region, whatever its status (deleting: the
    cleanup started its deletion, which is all a test must do)."""
    backend = rds_backends[account][region]
    found = [*backend.databases, *backend.clusters]
    return [name for name in found if name.startswith("snaptest-") and _status(backend, name) != "deleting"]


def _status(backend: Any, name: str) -> str:
    resource = backend.databases.get(name) or backend.clusters.get(name)
    return str(getattr(resource, "_status", None) or getattr(resource, "status", ""))


def test_an_instance_and_a_cluster_replica_are_restored_checked_and_deleted_on_each_target(run_scenario):
    run = run_scenario(_scenario())
    assert all(r.status.value == "SUCCEEDED" for r in run.records), [(r.replication_id, r.reason) for r in run.records]

    summary = _schedule(run)
    assert summary["started"] == 4  # two databases on two targets
    tests = restore_tests_ended(run)

    assert len(tests) == 4
    for test in tests:
        assert test.status.value == "SUCCEEDED", test.reason
        assert (test.restore_seconds or 0) > 0
        assert test.reason.startswith("restored and checked in ")
        assert "available" in test.checks
        assert any(check.startswith("encrypted with arn:aws:kms:") for check in test.checks)
        assert test.plan is not None
        assert test.plan.replica_arn == next(
            r.replica_arn
            for r in run.records
            if r.source_database == test.database and r.target_region == test.target_region
        )
        assert len(test.deleted) == (2 if test.plan.kind.value == "cluster" else 1)
    assert {(t.database, t.target_account) for t in tests} == {
        ("orders", SOURCE_ACCOUNT),
        ("orders", TARGET_ACCOUNT),
        ("ledger", SOURCE_ACCOUNT),
        ("ledger", TARGET_ACCOUNT),
    }
    clusters = [t for t in tests if t.plan and t.plan.kind.value == "cluster"]
    assert all(t.instance_class == "db.t4g.medium" for t in clusters)  # Aurora's smallest burstable
    assert all(t.instance_class == "db.t4g.micro" for t in tests if t not in clusters)
    assert _left_over(SOURCE_ACCOUNT, "us-west-2") == []
    assert _left_over(TARGET_ACCOUNT, "eu-west-1") == []
    restored = run.cloud.doubles.restore_clock.restored
    assert len(restored) == 6  # two instances, two clusters and their two instances
    assert run.cloud.doubles.metrics.count("RestoreTestsSucceeded") == 8  # per target, and in total
    assert run.cloud.doubles.metrics.values("RestoreSeconds", target=f"{TARGET_ACCOUNT}/eu-west-1")

    # the same day again: nothing is due (one test per database and target per every_days)
    again = _schedule(run)
    assert again["started"] == 0
    assert again["not_due"] == 4


def test_in_an_organization_mode_vault_each_account_restores_tests_and_deletes_its_own_databases(run_scenario):
    """The vault's role in organization mode (target-account-role.yaml's TrustedOrganizationId) lets a workload
    account restore only its own replicas and delete only test databases tagged with its account: the replicator
    tags what it restores with its account, so its tests pass and leave nothing (IAM evaluated by the emulation's
    AssumedRoleTagConditions: an untagged test database could not be deleted)."""
    run = run_scenario(_scenario(organization_id="o-a1b2c3d4e5"))
    assert all(r.status.value == "SUCCEEDED" for r in run.records), [(r.replication_id, r.reason) for r in run.records]

    assert _schedule(run)["started"] == 4
    tests = restore_tests_ended(run)
    in_vault = [t for t in tests if t.target_account == TARGET_ACCOUNT]
    assert len(in_vault) == 2  # the instance and the cluster
    assert all(t.status.value == "SUCCEEDED" for t in tests), [(t.database, t.reason) for t in tests]
    assert _left_over(TARGET_ACCOUNT, "eu-west-1") == []


def test_a_failed_restore_is_recorded_failed_and_everything_it_made_is_deleted(run_scenario):
    run = run_scenario(_scenario(failing_restores=["orders"]))
    _schedule(run)
    tests = {(t.database, t.target_region): t for t in restore_tests_ended(run)}

    failed = tests[("orders", "us-west-2")]
    assert failed.status.value == "FAILED"
    assert "ended failed" in failed.reason
    assert tests[("ledger", "us-west-2")].status.value == "SUCCEEDED"
    assert _left_over(SOURCE_ACCOUNT, "us-west-2") == []
    assert _left_over(TARGET_ACCOUNT, "eu-west-1") == []
    assert run.cloud.doubles.metrics.count("RestoreTestsFailed") == 4  # orders on both targets, twice each


def test_a_restore_that_outlives_max_minutes_times_out_and_is_deleted(run_scenario):
    quick = {"every_days": 7, "max_minutes": 0.05}  # 3 seconds on the emulation's timeline
    spec = _scenario(stuck_restores=["ledger"])
    for target in spec["mappings"][0]["targets"]:
        target["restore_test"] = quick
    run = run_scenario(spec)
    _schedule(run)
    tests = {(t.database, t.target_region): t for t in restore_tests_ended(run)}

    stuck = tests[("ledger", "eu-west-1")]
    assert stuck.status.value == "FAILED"
    assert "timed out" in stuck.reason
    assert "after 0.05 minutes (restore_test.max_minutes)" in stuck.reason
    assert _left_over(SOURCE_ACCOUNT, "us-west-2") == []
    assert _left_over(TARGET_ACCOUNT, "eu-west-1") == []


@pytest.mark.parametrize("rpo_hours", [0.0001])
def test_a_replica_older_than_the_rpo_is_tested_and_the_record_says_its_age(run_scenario, rpo_hours):
    spec = _scenario()
    spec["mappings"][0]["targets"] = [{**spec["mappings"][0]["targets"][0], "rpo_hours": rpo_hours}]
    run = run_scenario(spec)
    _schedule(run)
    tests = restore_tests_ended(run)
    assert tests
    for test in tests:
        assert test.status.value == "SUCCEEDED", test.reason
        # the replicas' snapshots were taken seconds before the test: older than an RPO of a third of a second
        assert f"older than the target's RPO of {rpo_hours} h" in test.reason


def test_a_database_without_a_replica_is_skipped_with_the_reason(run_scenario):
    spec = _scenario()
    spec["events"] = [{"snapshot": "orders-2026-11-30"}]  # ledger's snapshot is never replicated
    run = run_scenario(spec)
    summary = _schedule(run)
    skipped = {(s["database"], s["target"]) for s in summary["skipped"]}
    assert skipped == {("ledger", f"{SOURCE_ACCOUNT}/us-west-2"), ("ledger", f"{TARGET_ACCOUNT}/eu-west-1")}
    tests = restore_tests_ended(run)
    ledger = [t for t in tests if t.database == "ledger"]
    assert {t.status.value for t in ledger} == {"SKIPPED"}
    assert all(t.reason.startswith("no replica of ledger on ") for t in ledger)


def test_a_passing_throttle_is_retried_and_an_error_mid_way_fails_the_test_and_deletes_what_it_made(run_scenario):
    def faults(cloud: Any, _runner: Any) -> None:
        # the first restore call is throttled (retried by the state machine); the cluster's instance cannot be
        # created (a final error after the cluster was restored: the cluster must still be deleted)
        cloud.doubles.faults.fail("rds", "restore_db_instance_from_db_snapshot", "Throttling", times=1)
        cloud.doubles.faults.fail("rds", "create_db_instance", "InsufficientDBInstanceCapacity", times=1)

    spec = _scenario()
    spec["mappings"][0]["targets"] = spec["mappings"][0]["targets"][:1]  # us-west-2 only: one test of each kind
    run = run_scenario(spec, before_events=None)
    faults(run.cloud, run.runner)
    _schedule(run)
    tests = {t.database: t for t in restore_tests_ended(run)}

    assert tests["orders"].status.value == "SUCCEEDED", tests["orders"].reason  # the throttle was passing
    ledger = tests["ledger"]
    assert ledger.status.value == "FAILED"
    assert ledger.reason.startswith("add_instance failed: ")
    assert "InsufficientDBInstanceCapacity" in ledger.reason
    # the cluster's instance was never made (gone), the cluster was: its deletion started (moto: at once)
    assert [entry.split(" ")[0] for entry in ledger.deleted] == [
        ledger.plan.instance_identifier,
        ledger.plan.restore_identifier,
    ]
    assert _left_over(SOURCE_ACCOUNT, "us-west-2") == []


def _reconcile(run: Any) -> dict[str, Any]:
    function = run.cloud.stack.function("ReconcileFunction").name
    result, error = run.cloud.doubles.lambda_dispatcher.invoke(function, {})
    assert error is None, result
    return result


def test_a_test_whose_execution_is_stopped_is_failed_and_its_databases_deleted_by_the_reconciler(run_scenario):
    spec = _scenario(stuck_restores=["orders"])
    spec["mappings"][0]["targets"] = [{**spec["mappings"][0]["targets"][1], "restore_test": {"every_days": 7}}]
    spec["mappings"][0]["targets"][0]["restore_test"]["databases"] = ["orders"]
    run = run_scenario(spec)
    _schedule(run)
    sfn = boto3.client("stepfunctions")
    arn = run.cloud.stack.state_machine_arns["RestoreTestStateMachine"]
    deadline = time.monotonic() + 30
    while not run.cloud.doubles.restore_clock.restored and time.monotonic() < deadline:
        time.sleep(0.2)
    (execution,) = sfn.list_executions(stateMachineArn=arn)["executions"]
    sfn.stop_execution(executionArn=execution["executionArn"], cause="stopped by an operator")
    assert len(_left_over(TARGET_ACCOUNT, "eu-west-1")) == 1  # restoring, in the target account

    # what `replicator reconcile --dry-run` says first (the stack's outputs name the restore-test state machine)
    said = CliRunner().invoke(app, ["--stack-name", run.cloud.stack.name, "reconcile", "--dry-run", "-o", "json"])
    assert said.exit_code == 0, said.output
    assert len(json.loads(said.stdout)["restore_tests_failed"]) == 1
    # max_minutes (120) has not passed: the database stays, but the test is FAILED at once
    report = _reconcile(run)
    assert len(report["restore_tests_failed"]) == 1
    assert "its execution ended (ABORTED)" in report["restore_tests_failed"][0]
    assert report["restore_test_databases_deleted"] == []
    (test,) = restore_test_records.started_since(run.cloud.stack.history_table, datetime.now(UTC) - timedelta(days=1))
    assert test.status.value == "FAILED"
    assert "its execution ended (ABORTED) before the test recorded an outcome" in test.reason

    # later than max_minutes: deleted
    later = {"every_days": 7, "max_minutes": 0.01, "databases": ["orders"]}
    table = boto3.resource("dynamodb").Table(run.cloud.stack.mapping_table)
    item = table.get_item(Key={"source_region": "us-east-1"})["Item"]
    item["targets"][0]["restore_test"] = json.loads(json.dumps(later), parse_float=Decimal)
    table.put_item(Item=item)
    time.sleep(1)
    with _no_grace():
        report = _reconcile(run)
    assert len(report["restore_test_databases_deleted"]) == 1
    assert report["restore_test_databases_deleted"][0].startswith("snaptest-orders-")
    assert _left_over(TARGET_ACCOUNT, "eu-west-1") == []
    assert run.cloud.doubles.metrics.count("RestoreTestLeftoversRemoved") == 1


def test_in_a_vault_shared_by_many_workload_accounts_the_reconciler_deletes_only_its_own_test_databases(run_scenario):
    """Another workload account's restore test in the same vault may run longer than this account's max_minutes:
    its databases are that account's reconciler's to judge, never this one's."""
    spec = _scenario()
    spec["mappings"][0]["targets"] = [{**spec["mappings"][0]["targets"][1], "restore_test": dict(RESTORE_TEST)}]
    run = run_scenario(spec)
    vault = account_client("rds", "eu-west-1", TARGET_ACCOUNT)
    for name, account in (("snaptest-billing-1", OTHER_WORKLOAD), ("snaptest-orders-gone", SOURCE_ACCOUNT)):
        tags = {TAG_RESTORE_TEST: f"restoretest-{name}", TAG_MANAGED_BY: MANAGED_BY, TAG_SOURCE_ACCOUNT: account}
        vault.create_db_instance(
            DBInstanceIdentifier=name,
            DBInstanceClass="db.t4g.micro",
            Engine="postgres",
            AllocatedStorage=20,
            MasterUsername="admin",
            MasterUserPassword="local-only-password",
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
    later = {"every_days": 7, "max_minutes": 0.01}
    table = boto3.resource("dynamodb").Table(run.cloud.stack.mapping_table)
    item = table.get_item(Key={"source_region": "us-east-1"})["Item"]
    item["targets"][0]["restore_test"] = json.loads(json.dumps(later), parse_float=Decimal)
    table.put_item(Item=item)
    time.sleep(1)
    with _no_grace():
        report = _reconcile(run)
    assert [d.split()[0] for d in report["restore_test_databases_deleted"]] == ["snaptest-orders-gone"]
    assert _left_over(TARGET_ACCOUNT, "eu-west-1") == ["snaptest-billing-1"]  # another account's test


class _no_grace:
    """The reconciler's grace for a just-made database, off (the emulation's minutes are seconds)."""

    def __enter__(self) -> None:
        from replicator.usecases import restore_leftovers

        self._saved = restore_leftovers.GRACE
        restore_leftovers.GRACE = timedelta(0)

    def __exit__(self, *_: Any) -> None:
        from replicator.usecases import restore_leftovers

        restore_leftovers.GRACE = self._saved


@pytest.mark.parametrize(
    "forged",
    [
        "another execution",  # a real test id, from an execution that does not run it
        "a replication id",  # a replication's record is no restore test
        "a plan in the input",  # anything beyond the test id and the execution name
    ],
)
def test_a_forged_task_input_is_refused_and_restores_nothing(run_scenario, forged):
    spec = _scenario()
    spec["mappings"][0]["targets"] = spec["mappings"][0]["targets"][:1]
    spec["mappings"][0]["targets"][0]["restore_test"]["databases"] = ["orders"]
    run = run_scenario(spec)
    _schedule(run)
    (test,) = restore_tests_ended(run)
    restored = list(run.cloud.doubles.restore_clock.restored)
    payload: dict[str, Any] = {"test_id": test.test_id, "execution_name": "forged-execution"}
    if forged == "a replication id":
        payload = {"test_id": run.records[0].replication_id, "execution_name": run.records[0].execution_name}
    elif forged == "a plan in the input":
        payload = {"test_id": test.test_id, "execution_name": test.execution_name, "plan": test.plan.model_dump()}
    function = run.cloud.stack.function("RunRestoreTestFunction").name
    result, error = run.cloud.doubles.lambda_dispatcher.invoke(function, payload)
    assert error == "RestoreTestRefused", result
    assert run.cloud.doubles.restore_clock.restored == restored  # nothing restored
    assert restore_test_records.get(run.cloud.stack.history_table, test.test_id) == test  # nothing recorded


def test_a_target_role_that_does_not_allow_restore_tests_fails_the_test_with_the_fix(run_scenario):
    spec = _scenario()
    spec["mappings"][0]["targets"] = spec["mappings"][0]["targets"][1:]  # the target account only
    spec["mappings"][0]["targets"][0]["restore_test"] = {**RESTORE_TEST, "databases": ["orders"]}
    run = run_scenario(spec)
    # what AWS answers when the role lacks the RestoreTests statements (moto evaluates no IAM policy)
    run.cloud.doubles.faults.fail("rds", "restore_db_instance_from_db_snapshot", "AccessDenied", times=1)
    _schedule(run)
    (test,) = restore_tests_ended(run)
    assert test.status.value == "FAILED"
    assert "AccessDenied" in test.reason
    assert "deploy target-account-role.yaml there with RestoreTests=allowed" in test.reason
    assert _left_over(TARGET_ACCOUNT, "eu-west-1") == []
