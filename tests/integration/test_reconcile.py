"""The reconciler repairs what broke, without hands: the real ReconcileFunction on the emulation."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import boto3
import yaml
from support import CROSS_ACCOUNT, OTHER_WORKLOAD, SOURCE_ACCOUNT, TARGET_ACCOUNT, base_scenario, burst, failing
from typer.testing import CliRunner

from replicator.aws.dynamodb import replication_records, slot_pools
from replicator.clock import utc_now
from replicator.snapshots import (
    MANAGED_BY,
    TAG_MANAGED_BY,
    TAG_REPLICATION_ID,
    TAG_SOURCE_ACCOUNT,
    TAG_SOURCE_ARN,
)
from replicator_cli.local.provision import account_client
from replicator_cli.main import app

NAMES = ["orders-a", "orders-b"]


def _reconcile(cloud) -> tuple[Any, str | None]:
    """One scheduled run of the reconciler (as EventBridge Scheduler invokes it)."""
    function = cloud.stack.function("ReconcileFunction").name
    return cloud.doubles.lambda_dispatcher.invoke(function, {"source": "aws.events"})


def _slot_items(cloud) -> list[dict[str, Any]]:
    return slot_pools.all_items(cloud.stack.resources["CopySlotsTable"])


def _nothing_held(cloud) -> None:
    items = _slot_items(cloud)
    assert [i for i in items if i["entry"] == "slots" and i["holders"]] == []
    assert [i for i in items if str(i["entry"]).startswith("wait#")] == []


def test_an_execution_stopped_by_hand_is_failed_its_slot_goes_to_the_waiter_and_its_copies_are_removed(run_scenario):
    stopped: list[str] = []

    def stop_the_first_while_the_second_waits(cloud, runner):
        def watch() -> None:
            sfn = boto3.client("stepfunctions")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                records = replication_records.scan_records(cloud.stack.history_table)
                copying = [r for r in records if r.status.value == "COPYING"]
                waiting = [r for r in records if r.status.value == "QUEUED"]
                if copying and waiting:
                    name = copying[0].execution_name
                    arn = cloud.stack.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
                    sfn.stop_execution(executionArn=arn, cause="stopped by hand")
                    stopped.append(copying[0].replication_id)
                    time.sleep(1)
                    result, error = _reconcile(cloud)
                    assert error is None, result
                    return
                time.sleep(0.2)

        threading.Thread(target=watch, daemon=True).start()

    spec = base_scenario(
        snapshots=[{"id": n, "database": "orders"} for n in NAMES],
        events=[{"snapshot": n} for n in NAMES],
        mappings=[CROSS_ACCOUNT],
        instance_copy_quota=1,
        copy_seconds=4,
        timeout_seconds=90,
    )
    run = run_scenario(spec, before_events=stop_the_first_while_the_second_waits)

    assert stopped, "no replication was copying while another waited"
    by_id = {r.replication_id: r for r in run.records}
    repaired = by_id.pop(stopped[0])
    assert repaired.status.value == "FAILED"
    assert "ended ABORTED" in repaired.reason
    assert "replicator retry" in repaired.reason
    (other,) = by_id.values()
    assert other.status.value == "SUCCEEDED", other.reason  # it was handed the slot
    _nothing_held(run.cloud)
    assert run.result.leftovers == []  # the stopped one's intermediate copies are gone
    assert run.cloud.doubles.metrics.count("RecordsRepaired") == 1


def test_a_slot_held_by_a_replication_that_no_longer_runs_is_reclaimed(run_scenario):
    # a slot taken long ago by a replication whose execution is gone (the pool's quota is 1): nothing could copy
    pool = f"{SOURCE_ACCOUNT}#us-west-2#instance"

    def ghost_holds_the_only_slot(cloud, runner):
        lease = f"{(utc_now() - timedelta(hours=2)).isoformat()}#dead"
        boto3.resource("dynamodb").Table(cloud.stack.resources["CopySlotsTable"]).put_item(
            Item={"pool": pool, "entry": "slots", "holders": {"orders-lost-us-west-2-000000000000": lease}}
        )

        def reconcile_once_queued() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if any(str(i["entry"]).startswith("wait#") for i in _slot_items(cloud)):
                    _reconcile(cloud)
                    return
                time.sleep(0.2)

        threading.Thread(target=reconcile_once_queued, daemon=True).start()

    run = run_scenario(
        base_scenario(instance_copy_quota=1, timeout_seconds=60), before_events=ghost_holds_the_only_slot
    )

    record = run.record("rds:orders-2026-11-24-03-10", "us-west-2")
    assert record.status.value == "SUCCEEDED", record.reason
    _nothing_held(run.cloud)
    assert run.cloud.doubles.metrics.count("SlotsReclaimed") == 1
    # the pool as the run left it (read again after the reclaimed slot went to the waiter)
    label = f"{SOURCE_ACCOUNT}/us-west-2/instance"
    assert run.cloud.doubles.metrics.values("CopiesInFlight", pool=label) == [1]
    assert run.cloud.doubles.metrics.values("CopiesWaiting", pool=label) == [0]


def test_a_replication_recorded_but_never_started_is_started(run_scenario):
    def lose_the_start(cloud, runner):
        # the start function records the plan, then dies before starting the execution, on every retry: the event
        # ends in the dead-letter queue
        cloud.doubles.lambda_dispatcher.crash_before("before-call.sfn.StartExecution", times=3)

    run = run_scenario(base_scenario(timeout_seconds=15), before_events=lose_the_start)
    (record,) = run.records
    assert record.status.value == "PENDING"
    assert run.executions() == []
    # ten minutes later (the reconciler leaves what was just recorded to its start function)
    table = boto3.resource("dynamodb").Table(run.cloud.stack.history_table)
    table.update_item(
        Key={"replication_id": record.replication_id},
        UpdateExpression="SET updated_at = :then",
        ExpressionAttributeValues={":then": (utc_now() - timedelta(minutes=11)).isoformat()},
    )

    result, error = _reconcile(run.cloud)

    assert error is None, result
    assert len(result["executions_started"]) == 1
    done = run.runner.wait()
    assert [r.status.value for r in done] == ["SUCCEEDED"], [r.reason for r in done]


def test_a_cleanup_that_fails_is_counted_and_finished_by_the_reconciler(run_scenario):
    refuse_one_deletion = failing("rds", "delete_db_snapshot", "InvalidDBSnapshotState", times=1)

    run = run_scenario(base_scenario(mappings=[CROSS_ACCOUNT]), before_events=refuse_one_deletion)
    record = run.record("rds:orders-2026-11-24-03-10", "eu-west-1")
    assert record.status.value == "SUCCEEDED", record.reason
    assert len(record.cleanup_errors) == 1
    assert len(run.result.leftovers) == 1
    assert run.cloud.doubles.metrics.count("CleanupFailed") == 1

    result, error = _reconcile(run.cloud)

    assert error is None, result
    after = replication_records.get_record(run.cloud.stack.history_table, record.replication_id)
    assert after.cleanup_errors == []
    assert (after.status.value, after.replica_arn) == ("SUCCEEDED", record.replica_arn)
    assert run.runner.result(run.runner.wait()).leftovers == []
    again, _ = _reconcile(run.cloud)  # idempotent: nothing left to repair
    assert {k: v for k, v in again.items() if v} == {}


def test_in_a_vault_shared_by_many_workload_accounts_only_this_accounts_orphan_copies_are_removed(run_scenario):
    """A vault receives replicas from many workload accounts, each with its own reconciler: an intermediate copy of
    another account's replication (whose id this stack does not know) is that account's to judge, never this one's;
    this account's own orphan there is removed."""
    run = run_scenario(base_scenario(mappings=[CROSS_ACCOUNT]))
    vault = account_client("rds", "us-east-1", TARGET_ACCOUNT)
    create_instance_in = {"DBInstanceClass": "db.t3.micro", "Engine": "postgres", "AllocatedStorage": 20}
    vault.create_db_instance(
        DBInstanceIdentifier="vault-scratch", MasterUsername="admin", MasterUserPassword="local-only-password",
        **create_instance_in,
    )  # fmt: skip
    vault.create_db_snapshot(DBInstanceIdentifier="vault-scratch", DBSnapshotIdentifier="vault-scratch-1")

    def intermediate(name: str, account: str) -> None:
        source = f"arn:aws:rds:us-east-1:{account}:snapshot:{name}"
        tags = {
            TAG_MANAGED_BY: MANAGED_BY,
            TAG_REPLICATION_ID: f"{name}-gone",  # no running replication of this stack
            TAG_SOURCE_ARN: source,
            TAG_SOURCE_ACCOUNT: account,
        }
        vault.copy_db_snapshot(
            SourceDBSnapshotIdentifier="vault-scratch-1",
            TargetDBSnapshotIdentifier=f"snaprep-{name}-share",
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )

    intermediate("billing", OTHER_WORKLOAD)  # another workload account's copy, in flight there
    intermediate("orders-old", SOURCE_ACCOUNT)  # this account's orphan

    result, error = _reconcile(run.cloud)

    assert error is None, result
    names = {s["DBSnapshotIdentifier"] for s in vault.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]}
    assert "snaprep-billing-share" in names  # not this stack's to judge
    assert "snaprep-orders-old-share" not in names
    assert [o for o in result["orphans_removed"] if "billing" in o] == []


def test_an_outcome_event_refused_once_is_published_by_the_reconciler(run_scenario):
    refuse_outcome_events = failing("events", "put_events", "AccessDeniedException", times=1000, skip=1)

    run = run_scenario(base_scenario(), before_events=refuse_outcome_events)
    record = run.record("rds:orders-2026-11-24-03-10", "us-west-2")
    assert (record.status.value, record.outcome_published) == ("SUCCEEDED", False)
    run.cloud.doubles.faults.faults.clear()  # EventBridge accepts events again

    tables_ = ["--mapping-table", run.cloud.stack.mapping_table, "--history-table", run.cloud.stack.history_table]
    stack = ["--slots-table", run.cloud.stack.resources["CopySlotsTable"]]
    stack += ["--state-machine-arn", run.cloud.stack.state_machine_arn]
    dry = CliRunner().invoke(app, [*tables_, *stack, "reconcile", "--dry-run"], env={"COLUMNS": "300"})
    assert dry.exit_code == 0, dry.output
    assert "would repair: outcome events not published yet: published (1)" in dry.stdout
    assert dry.stdout.rstrip().endswith("would make 1 repair(s)")
    assert dry.stderr == ""
    as_json = CliRunner().invoke(app, [*tables_, *stack, "reconcile", "--dry-run", "--output", "json"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert (report["dry_run"], report["repairs"], report["problems"]) == (True, 1, [])
    (published,) = report["outcomes_published"]
    assert record.replication_id in published
    assert report["records_repaired"] == report["slots_reclaimed"] == []
    assert as_json.stderr == "would make 1 repair(s)\n"
    assert run.outcome_events() == []

    done = CliRunner().invoke(app, [*tables_, *stack, "reconcile"], env={"COLUMNS": "300"})

    assert done.exit_code == 0, done.output
    (event,) = run.outcome_events()
    assert event["detail-type"] == "Snapshot Replication Succeeded"
    assert (
        replication_records.get_record(run.cloud.stack.history_table, record.replication_id).outcome_published is True
    )

    # the history's indexes: every record of this version has their attributes already
    reindexed = CliRunner().invoke(app, [*tables_, "-o", "yaml", "reindex", "--dry-run"])
    assert reindexed.exit_code == 0, reindexed.output
    assert yaml.safe_load(reindexed.stdout) == {
        "dry_run": True,
        "indexed": 0,
        "already": 1,
        "without_database": 0,
        "unsettled": 0,
    }
    assert reindexed.stderr == ""


def test_each_run_publishes_each_pools_copies_in_flight_and_waiting(run_scenario):
    # one copy slot, three replications: one copies while two wait when the reconciler runs
    pool = f"{SOURCE_ACCOUNT}#us-west-2#instance"
    label = f"{SOURCE_ACCOUNT}/us-west-2/instance"
    seen: list[tuple[int, int]] = []

    def reconcile_while_two_wait(cloud, runner):
        def watch() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                state = slot_pools.occupancy(_slot_items(cloud)).get(pool)
                if state == (1, 2):
                    result, error = _reconcile(cloud)
                    assert error is None, result
                    seen.append(state)
                    return
                time.sleep(0.1)

        threading.Thread(target=watch, daemon=True).start()

    names = ["orders-a", "orders-b", "orders-c"]
    spec = burst(names, copy_seconds=4, timeout_seconds=90)
    run = run_scenario(spec, before_events=reconcile_while_two_wait)

    assert seen == [(1, 2)], "the reconciler never ran while one copied and two waited"
    assert [r.status.value for r in run.records] == ["SUCCEEDED"] * 3, [r.reason for r in run.records]
    metrics = run.cloud.doubles.metrics
    assert metrics.values("CopiesInFlight", pool=label) == [1]
    assert metrics.values("CopiesWaiting", pool=label) == [2]

    result, error = _reconcile(run.cloud)  # all done: the pool is published empty (zeros, not missing data)

    assert error is None, result
    assert metrics.values("CopiesInFlight", pool=label) == [1, 0]
    assert metrics.values("CopiesWaiting", pool=label) == [2, 0]
    assert metrics.count("CopiesInFlight") == 1  # one pool only; nothing published without a dimension `pool`
    assert metrics.values("CopiesInFlight") == []
