"""`replicator backfill` on the emulation: snapshots that exist already go through the same path as new ones."""

from __future__ import annotations

import boto3
from support import base_scenario
from typer.testing import CliRunner

from replicator.snapshots import parse_snapshot_arn
from replicator_cli.main import app

ORDERS = ["rds:orders-2026-11-24-03-10", "orders-manual-1", "orders-manual-2"]
BILLING = "billing-manual-1"


def test_backfill_replicates_existing_snapshots_once_and_a_rerun_sends_nothing(run_scenario):
    spec = base_scenario(
        databases=[
            {"id": "orders", "engine": "postgres", "engine_version": "16.3", "encrypted": True},
            {"id": "billing", "engine": "postgres", "engine_version": "16.3", "encrypted": False},
        ],
        snapshots=[
            {"id": ORDERS[0], "database": "orders", "type": "automated"},
            {"id": ORDERS[1], "database": "orders"},
            {"id": ORDERS[2], "database": "orders"},
            {"id": BILLING, "database": "billing"},
        ],
        events=[],  # the snapshots were taken before the replicator was deployed: no event will come
    )
    run = run_scenario(spec)
    assert run.records == []
    # RDS also took an automated snapshot when each database was created (moto does too): those count as well
    listed = boto3.client("rds", region_name="us-east-1").describe_db_snapshots(DBInstanceIdentifier="orders")
    orders = sorted(s["DBSnapshotIdentifier"] for s in listed["DBSnapshots"])
    assert set(ORDERS) < set(orders)
    n = len(orders)
    clock = run.cloud.doubles.copy_clock
    cli = CliRunner()
    tables = ["--mapping-table", run.cloud.stack.mapping_table, "--history-table", run.cloud.stack.history_table]

    dry = cli.invoke(app, [*tables, "backfill", "--source-region", "us-east-1", "--db", "orders", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"{n} snapshot(s) in us-east-1; 0 already replicated or on their way; {n} to replicate" in dry.output
    assert BILLING not in dry.output
    assert clock.started == []

    first = cli.invoke(app, [*tables, "backfill", "--source-region", "us-east-1", "--db", "orders", "--since", "1d"])
    assert first.exit_code == 0, first.output
    assert f"sent {n}" in first.output
    records = run.runner.wait()
    assert sorted(parse_snapshot_arn(r.source_arn)[3] for r in records if r.source_arn) == orders
    assert {r.status.value for r in records} == {"SUCCEEDED"}, [r.reason for r in records]
    assert all(r.target_region == "us-west-2" for r in records)
    assert len(clock.started) >= n  # an automated snapshot's plan may make an intermediate copy too
    copies = list(clock.started)

    again = cli.invoke(app, [*tables, "backfill", "--source-region", "us-east-1", "--db", "orders"])
    assert again.exit_code == 0, again.output
    assert f"{n} already replicated or on their way; 0 to replicate" in again.output
    assert "sent" not in again.output
    assert len(run.runner.wait()) == n
    assert clock.started == copies  # nothing copied again

    rest = cli.invoke(app, [*tables, "backfill", "--source-region", "us-east-1"])
    # billing has its own automated snapshot too
    assert f"{n} already replicated or on their way; 2 to replicate" in rest.output
    records = run.runner.wait()
    assert {parse_snapshot_arn(r.source_arn)[3]: r.status.value for r in records if r.source_arn}[
        BILLING
    ] == "SUCCEEDED"


def test_backfill_refuses_a_region_without_a_mapping(run_scenario):
    run = run_scenario(base_scenario(events=[]))
    tables = ["--mapping-table", run.cloud.stack.mapping_table, "--history-table", run.cloud.stack.history_table]
    result = CliRunner().invoke(app, [*tables, "backfill", "--source-region", "ap-south-1"])
    assert result.exit_code == 1
    assert "no region mapping for ap-south-1 and no '*' mapping" in result.output


def test_backfill_include_failed_runs_the_failed_replications_again(run_scenario):
    run = run_scenario(base_scenario(failing_copies=[ORDERS[0]]))
    (failed,) = [r for r in run.records if r.source_arn and r.source_arn.endswith(ORDERS[0])]
    assert failed.status.value == "FAILED"
    run.cloud.doubles.copy_clock.fail_identifiers.clear()
    tables = ["--mapping-table", run.cloud.stack.mapping_table, "--history-table", run.cloud.stack.history_table]
    cli = CliRunner()

    plain = cli.invoke(app, [*tables, "backfill", "--source-region", "us-east-1", "--db", "orders", "--dry-run"])
    assert "1 earlier replication(s) of these snapshots FAILED and are not retried here" in plain.output
    assert f"would send {failed.source_arn}" not in plain.output

    result = cli.invoke(
        app, [*tables, "backfill", "--source-region", "us-east-1", "--db", "orders", "--include-failed"]
    )
    assert result.exit_code == 0, result.output
    assert "1 earlier replication(s) of these snapshots FAILED: they run again" in result.output
    records = {r.replication_id: r for r in run.runner.wait()}
    again = records[failed.replication_id]
    assert (again.status.value, again.attempt) == ("SUCCEEDED", 2), again.reason
