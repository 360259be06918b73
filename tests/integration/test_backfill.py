"""`replicator backfill` on the emulation: snapshots that exist already go through the same path as new ones."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from support import ROOT, SOURCE_ACCOUNT, base_scenario
from typer.testing import CliRunner

from replicator.aws.dynamodb.replication_records import scan_records
from replicator.history import ReplicationRecord
from replicator.snapshots import parse_snapshot_arn
from replicator_cli.local.cloud import LocalCloud
from replicator_cli.local.emulation import emulation
from replicator_cli.local.scenario import ScenarioRunner
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
    assert f"{n} snapshot(s) in us-east-1; 0 already replicated or on their way; {n} to replicate" in dry.stdout
    assert BILLING not in dry.output
    assert clock.started == []

    # the same as one JSON document (the counts, the snapshots per target), and as CSV rows: stdout alone
    as_json = cli.invoke(
        app, [*tables, "backfill", "--source-region", "us-east-1", "--db", "orders", "--dry-run", "-o", "json"]
    )
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert (document["dry_run"], document["snapshots"], document["to_replicate"], document["sent"]) == (True, n, n, 0)
    target = f"{SOURCE_ACCOUNT}/us-west-2"
    (per_target,) = document["targets"]
    assert per_target["target"] == target
    assert sorted(parse_snapshot_arn(a)[3] for a in per_target["snapshots"]) == orders
    assert [row["targets"] for row in document["to_send"]] == [[target]] * n
    assert {row["database"] for row in document["to_send"]} == {"orders"}
    assert f"{n} snapshot(s) in us-east-1" in as_json.stderr
    as_csv = cli.invoke(
        app, [*tables, "--output", "csv", "backfill", "--source-region", "us-east-1", "--db", "orders", "--dry-run"]
    )
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert sorted(parse_snapshot_arn(r["snapshot"])[3] for r in rows) == orders
    assert clock.started == []

    # a database with no snapshot: said, with the databases that have some
    missing = cli.invoke(app, [*tables, "backfill", "--source-region", "us-east-1", "--db", "ordres", "--dry-run"])
    assert missing.exit_code == 1
    assert missing.stdout == ""
    assert "Traceback" not in missing.output
    assert missing.stderr.strip() == (
        "error: no snapshot of ordres in us-east-1: --db takes a DB instance or Aurora cluster identifier; the "
        "databases with snapshots there: orders, billing"
    )

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

    rest = cli.invoke(app, [*tables, "backfill", "--source-region", "us-east-1", "--output", "json"])
    assert rest.exit_code == 0, rest.output
    # billing has its own automated snapshot too
    document = json.loads(rest.stdout)
    assert (document["already_replicated"], document["to_replicate"], document["sent"]) == (n, 2, 2)
    assert {row["database"] for row in document["to_send"]} == {"billing"}
    assert f"{n} already replicated or on their way; 2 to replicate" in rest.stderr
    assert "follow them with `replicator status --watch --source us-east-1`" in rest.stderr
    records = run.runner.wait()
    assert {parse_snapshot_arn(r.source_arn)[3]: r.status.value for r in records if r.source_arn}[
        BILLING
    ] == "SUCCEEDED"


def test_backfill_refuses_a_misspelt_region_at_the_door():
    result = CliRunner().invoke(
        app, ["--mapping-table", "m", "--history-table", "h", "backfill", "--source-region", "us-eest-1"]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.output
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stderr).split())
    assert "Invalid value for '--source-region': 'us-eest-1' is not an AWS region with RDS: did you mean" in text
    assert "us-east-1" in text


def test_backfill_refuses_a_region_without_a_mapping(run_scenario):
    run = run_scenario(base_scenario(events=[]))
    tables = ["--mapping-table", run.cloud.stack.mapping_table, "--history-table", run.cloud.stack.history_table]
    result = CliRunner().invoke(app, [*tables, "backfill", "--source-region", "ap-south-1"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no region mapping for ap-south-1 and no '*' mapping" in result.stderr


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


# --- the targets' selections ---------------------------------------------------------------------------------------

DEV_MANUAL = "dev-orders-manual-1"


def _selected_spec(selection: dict[str, Any]) -> dict[str, Any]:
    """Two prod databases and a dev one in us-east-1, one target in us-west-2 selecting `selection`; the dev
    database's manual snapshot was announced (a new snapshot event) and left out by the selection."""
    return {
        "name": "selection",
        "copy_seconds": 1.0,
        "poll_seconds": 1,
        "timeout_seconds": 60,
        "databases": [
            {"id": "prod-orders", "engine": "postgres", "engine_version": "16.3"},
            {"id": "prod-billing", "engine": "postgres", "engine_version": "16.3"},
            {"id": "dev-orders", "engine": "postgres", "engine_version": "16.3"},
        ],
        "snapshots": [
            {"id": "prod-orders-manual-1", "database": "prod-orders"},
            {"id": DEV_MANUAL, "database": "dev-orders"},
        ],
        "mappings": [
            {"source_region": "us-east-1", "targets": [{"target_region": "us-west-2", "selection": selection}]}
        ],
        "events": [{"snapshot": DEV_MANUAL}],
    }


@contextmanager
def uncached_cloud(spec: dict[str, Any]) -> Iterator[tuple[LocalCloud, ScenarioRunner]]:
    """The emulation with MappingCacheSeconds 0, the scenario seeded and its events sent: the start function reads a
    changed selection at once (on AWS, within MappingCacheSeconds)."""
    with emulation(spec, root=ROOT, mapping_cache_seconds=0) as up:
        yield up.cloud, up.runner


def _snapshots_of(database: str) -> list[str]:
    listed = boto3.client("rds", region_name="us-east-1").describe_db_snapshots(DBInstanceIdentifier=database)
    return sorted(s["DBSnapshotIdentifier"] for s in listed["DBSnapshots"])


def _by_snapshot(records: list[ReplicationRecord]) -> dict[str, ReplicationRecord]:
    return {parse_snapshot_arn(r.source_arn)[3]: r for r in records if r.source_arn}


def test_backfill_sends_only_what_a_selection_selects_and_a_widened_selection_replicates_what_it_skipped():
    with uncached_cloud(_selected_spec({"include": [{"databases": ["prod-*"]}]})) as (cloud, runner):
        (skipped,) = scan_records(cloud.stack.history_table)
        assert (skipped.status.value, skipped.not_selected) == ("SKIPPED", True)
        assert skipped.reason == "not selected: matches no selection.include rule (databases prod-*)"
        prod = _snapshots_of("prod-orders") + _snapshots_of("prod-billing")  # with their automated snapshots
        dev = _snapshots_of("dev-orders")
        assert DEV_MANUAL in dev
        assert len(dev) >= 2  # moto takes an automated snapshot of a new database too
        total = len(prod) + len(dev)
        tables = ["--mapping-table", cloud.stack.mapping_table, "--history-table", cloud.stack.history_table]
        cli = CliRunner()

        first = cli.invoke(app, [*tables, "backfill", "--source-region", "us-east-1"], env={"COLUMNS": "300"})

        assert first.exit_code == 0, first.output
        assert (
            f"{total} snapshot(s) in us-east-1; 0 already replicated or on their way; {len(dev)} selected by no "
            f"target; {len(prod)} to replicate to 1 target(s)"
        ) in first.output
        assert f"the targets' selections leave out {len(dev)} snapshot-target pair(s)" in first.output
        assert f"sent {len(prod)}" in first.output
        records = _by_snapshot(runner.wait())
        assert {s: r.status.value for s, r in records.items() if s in prod} == dict.fromkeys(prod, "SUCCEEDED")
        assert set(records) == {*prod, DEV_MANUAL}  # nothing of dev was sent: no other record
        assert records[DEV_MANUAL].status.value == "SKIPPED"

        # the selection widened to every database: what it left out is sent, and replicated
        changed = cli.invoke(
            app,
            [*tables, "mappings", "put", "us-east-1", "--target-region", "us-west-2", "--include-db", "*", "--yes"],
        )
        assert changed.exit_code == 0, changed.output
        dry = cli.invoke(
            app, [*tables, "backfill", "--source-region", "us-east-1", "--dry-run"], env={"COLUMNS": "300"}
        )
        assert dry.exit_code == 0, dry.output
        assert f"{len(prod)} already replicated or on their way; {len(dev)} to replicate" in dry.output
        assert "the targets' selections leave out 0 snapshot-target pair(s)" in dry.output
        assert "1 replication(s) SKIPPED before as not selected are selected now: sent again" in dry.output
        assert f"would send {skipped.source_arn} (for {SOURCE_ACCOUNT}/us-west-2)" in dry.output

        second = cli.invoke(app, [*tables, "backfill", "--source-region", "us-east-1"], env={"COLUMNS": "300"})

        assert second.exit_code == 0, second.output
        assert f"sent {len(dev)}" in second.output
        records = _by_snapshot(runner.wait())
        assert {s: r.status.value for s, r in records.items()} == dict.fromkeys([*prod, *dev], "SUCCEEDED")
        again = records[DEV_MANUAL]
        assert again.replication_id == skipped.replication_id
        assert again.attempt == 2  # the SKIPPED record was its first attempt
        assert again.not_selected is None or again.not_selected is False

        third = cli.invoke(app, [*tables, "backfill", "--source-region", "us-east-1"], env={"COLUMNS": "300"})
        assert f"{total} already replicated or on their way; 0 to replicate" in third.output
        assert "sent" not in third.output


def test_backfill_selects_by_the_database_tags_and_by_the_snapshot_tags_of_a_deleted_database(run_scenario):
    spec = _selected_spec({"include": [{"tags": [{"key": "team", "values": ["core"]}]}]})
    spec["databases"].append({"id": "gone", "engine": "postgres", "engine_version": "16.3"})
    spec["snapshots"].append({"id": "gone-manual-1", "database": "gone", "tags": {"team": "core"}})
    spec["events"] = []
    run = run_scenario(spec)
    rds = boto3.client("rds", region_name="us-east-1")
    arn = f"arn:aws:rds:us-east-1:{SOURCE_ACCOUNT}:db:prod-billing"
    rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "team", "Value": "core"}])
    # prod-orders' snapshots carry the tag, its database does not: the database's tags decide
    for snapshot in _snapshots_of("prod-orders"):
        snapshot_arn = f"arn:aws:rds:us-east-1:{SOURCE_ACCOUNT}:snapshot:{snapshot}"
        rds.add_tags_to_resource(ResourceName=snapshot_arn, Tags=[{"Key": "team", "Value": "core"}])
    rds.delete_db_instance(DBInstanceIdentifier="gone", SkipFinalSnapshot=True)
    tables = ["--mapping-table", run.cloud.stack.mapping_table, "--history-table", run.cloud.stack.history_table]

    result = CliRunner().invoke(
        app, [*tables, "backfill", "--source-region", "us-east-1", "--dry-run"], env={"COLUMNS": "300"}
    )

    assert result.exit_code == 0, result.output
    sent = sorted(re.findall(r"would send arn:aws:rds:us-east-1:\d+:snapshot:(\S+)", result.output))
    assert sent == sorted([*_snapshots_of("prod-billing"), "gone-manual-1"])
    left_out = len(_snapshots_of("prod-orders")) + len(_snapshots_of("dev-orders"))
    assert f"the targets' selections leave out {left_out} snapshot-target pair(s)" in result.output
