"""Retention of replicas on the emulation: the scheduled prune function and `replicator prune [--dry-run]`."""

from __future__ import annotations

import re
from typing import Any

import boto3
from support import SOURCE_ACCOUNT, base_scenario
from typer.testing import CliRunner

from replicator.aws.tables import get_record
from replicator.snapshots import TAG_REPLICATION_ID, TAG_SOURCE_DATABASE
from replicator_cli.main import app

NAMES = ["orders-a", "orders-b"]


def _west_snapshots() -> dict[str, dict[str, Any]]:
    rds = boto3.client("rds", region_name="us-west-2")
    return {s["DBSnapshotIdentifier"]: s for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]}


def _plant_foreign_snapshots(replica_tags: dict[str, str]) -> list[str]:
    """Snapshots in the replicas' account and region that the replicator did not make (or has no record of)."""
    rds = boto3.client("rds", region_name="us-west-2")
    rds.create_db_instance(
        DBInstanceIdentifier="west-local", DBInstanceClass="db.t3.micro", Engine="postgres", AllocatedStorage=20
    )
    tagged = [{"Key": k, "Value": v} for k, v in replica_tags.items()]
    foreign = {
        "snaprep-made-by-hand": [],  # named like a replica, no tags
        "hand-copy-with-replicator-tags": tagged,  # the tags, but not the name
        # name and every tag (same source database, the newest of all), but no history record names it: neither
        # deleted nor counted by keep_last
        "snaprep-orders-unrecorded": [
            *(t for t in tagged if t["Key"] != TAG_REPLICATION_ID),
            {"Key": TAG_REPLICATION_ID, "Value": "orders-unknown-us-west-2-000000000000"},
        ],
    }
    for name, tags in foreign.items():
        rds.create_db_snapshot(DBSnapshotIdentifier=name, DBInstanceIdentifier="west-local", Tags=tags)
    return list(foreign)


def test_prune_keeps_the_newest_replica_per_database_and_never_touches_other_snapshots(run_scenario):
    mapping = base_scenario()["mappings"][0]
    mapping["targets"][0]["keep_last"] = 1
    spec = base_scenario(
        snapshots=[{"id": n, "database": "orders"} for n in NAMES],
        events=[{"snapshot": n} for n in NAMES],
        mappings=[mapping],
    )
    run = run_scenario(spec)
    assert [r.status.value for r in run.records] == ["SUCCEEDED", "SUCCEEDED"]
    replicas = {n: run.record(n).replica_arn.rsplit(":", 1)[1] for n in NAMES}
    west = _west_snapshots()
    # retention counts from when the source's data was taken (the original snapshot), as the prune does
    taken = {
        n: west[replicas[n]].get("OriginalSnapshotCreateTime") or west[replicas[n]]["SnapshotCreateTime"] for n in NAMES
    }
    older, newer = sorted(NAMES, key=lambda n: taken[n])
    replica_tags = {t["Key"]: t["Value"] for t in west[replicas[older]]["TagList"]}
    assert replica_tags[TAG_SOURCE_DATABASE] == "orders"
    foreign = _plant_foreign_snapshots(replica_tags)
    cli = CliRunner()
    tables = ["--mapping-table", run.cloud.stack.mapping_table, "--history-table", run.cloud.stack.history_table]

    dry = cli.invoke(app, [*tables, "prune", "--dry-run"], env={"COLUMNS": "400"})
    assert dry.exit_code == 0, dry.output
    assert "would delete 1 replica(s)" in dry.output
    assert replicas[older] in dry.output
    assert replicas[newer] not in dry.output
    assert set(_west_snapshots()) >= {*replicas.values(), *foreign}  # nothing deleted by a dry run

    # the scheduled function, as EventBridge Scheduler would invoke it
    function = run.cloud.stack.function("PruneReplicasFunction").name
    result, error = run.cloud.doubles.lambda_dispatcher.invoke(function, {"source": "aws.events"})
    assert error is None, result
    assert [r["replica_arn"].rsplit(":", 1)[1] for r in result["results"]] == [replicas[older]]
    remaining = set(_west_snapshots())
    assert replicas[older] not in remaining
    assert replicas[newer] in remaining
    assert set(foreign) <= remaining  # never a snapshot the replicator did not make and record
    record = get_record(run.cloud.stack.history_table, run.record(older).replication_id)
    assert record is not None
    assert record.replica_deleted_at is not None
    assert "beyond keep_last 1" in (record.replica_deleted_reason or "")
    assert get_record(run.cloud.stack.history_table, run.record(newer).replication_id).replica_deleted_at is None

    again = cli.invoke(app, [*tables, "prune"], env={"COLUMNS": "400"})
    assert again.exit_code == 0, again.output
    assert re.search(r"deleted 0 replica\(s\)", again.output)


def test_prune_reports_an_invalid_mapping_and_deletes_none_of_its_replicas(run_scenario):
    mapping = base_scenario()["mappings"][0]
    mapping["targets"][0]["keep_last"] = 1
    spec = base_scenario(
        snapshots=[{"id": n, "database": "orders"} for n in NAMES], events=[{"snapshot": n} for n in NAMES],
        mappings=[mapping],
    )  # fmt: skip
    run = run_scenario(spec)
    assert [r.status.value for r in run.records] == ["SUCCEEDED", "SUCCEEDED"]
    table = boto3.resource("dynamodb").Table(run.cloud.stack.mapping_table)
    table.put_item(Item={"source_region": "us-east-1", "targets": [{"target_region": "us-west-2", "keep_last": 0}]})
    before = set(_west_snapshots())
    function = run.cloud.stack.function("PruneReplicasFunction").name
    result, error = run.cloud.doubles.lambda_dispatcher.invoke(function, {})
    assert error == "PruneIncomplete"
    assert "the mapping for us-east-1 is invalid" in result["errorMessage"]
    assert "keep_last" in result["errorMessage"]
    assert set(_west_snapshots()) == before
    assert SOURCE_ACCOUNT in run.record(NAMES[0]).replica_arn
