"""Retention of replicas on the emulation: the scheduled prune function and `replicator prune [--dry-run]`."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import boto3
from support import ROOT, SOURCE_ACCOUNT, base_scenario
from typer.testing import CliRunner

from replicator.aws.dynamodb.replication_records import get_record
from replicator.snapshots import TAG_REPLICATION_ID, TAG_SOURCE_DATABASE
from replicator_cli.local.cloud import LocalCloud
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
    assert "would delete 1 replica(s)" in dry.stdout
    # what it looked at: the two replicas and the unrecorded snapshot named and tagged like one (kept: no record)
    assert (
        f"examined 3 replica(s) in 1 account/region(s): {SOURCE_ACCOUNT}/us-west-2, 3 replica(s) by keep_last 1 "
        "(mapping us-east-1)"
    ) in dry.stdout
    assert replicas[older] in dry.stdout
    assert replicas[newer] not in dry.output
    assert max(len(line) for line in dry.stdout.splitlines()) <= 120
    assert dry.stderr == "unused bases not looked at: give --slots-table (or the stack) to prune them too\n"

    as_json = cli.invoke(app, [*tables, "prune", "--dry-run", "--output", "json"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert (document["dry_run"], document["examined_replicas"], document["pruned_replicas"]) == (True, 3, 1)
    (place,) = document["examined"]
    assert (place["account"], place["region"], place["replicas"]) == (SOURCE_ACCOUNT, "us-west-2", 3)
    assert place["rules"] == [{"source_region": "us-east-1", "keep_last": 1, "rule": "keep_last 1"}]
    (would,) = document["results"]
    assert would["replica_arn"].endswith(":" + replicas[older])
    assert (would["deleted"], would["done"]) == (False, "would delete")
    assert "beyond keep_last 1" in would["reason"]
    assert "examined 3 replica(s)" in as_json.stderr  # the sentence, for people, on stderr
    as_csv = cli.invoke(app, [*tables, "prune", "--dry-run", "-o", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    (row,) = csv.DictReader(io.StringIO(as_csv.stdout))
    assert row["replica_arn"] == would["replica_arn"]
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
    tables = ["--mapping-table", run.cloud.stack.mapping_table, "--history-table", run.cloud.stack.history_table]
    dry = CliRunner().invoke(app, [*tables, "prune", "--dry-run", "-o", "json"])
    assert dry.exit_code == 1  # refused: said on stderr, after the result
    assert "Traceback" not in dry.output
    document = json.loads(dry.stdout)
    assert document["examined"] == []  # nothing is examined under an invalid mapping
    (problem,) = document["problems"]
    assert "the mapping for us-east-1 is invalid" in problem
    assert "error: the mapping for us-east-1 is invalid" in dry.stderr
    assert set(_west_snapshots()) == before
    assert SOURCE_ACCOUNT in run.record(NAMES[0]).replica_arn


def test_prune_says_when_no_target_sets_a_retention():
    stack = ["--stack-name", "replicator"]
    with LocalCloud(ROOT):
        put = CliRunner().invoke(app, [*stack, "mappings", "put", "us-east-1", "--target-region", "us-west-2"])
        assert put.exit_code == 0, put.output

        result = CliRunner().invoke(app, [*stack, "prune", "--dry-run"])

        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [
            "no mapping target sets a retention (retention_days, keep_last): no replica examined",
            "would delete 0 replica(s)",
        ]
        assert result.stderr == ""  # the stack names the copy-slots table: the bases were looked at too
        as_json = CliRunner().invoke(app, [*stack, "prune", "-o", "json"])
        assert as_json.exit_code == 0, as_json.output
        document = json.loads(as_json.stdout)
        assert (document["examined"], document["results"], document["bases_examined"]) == ([], [], True)
        assert (document["dry_run"], document["pruned_replicas"]) == (False, 0)
