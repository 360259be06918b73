"""Selection and RPO coverage end to end on the emulation: a target replicates only what its selection takes (the
rest is SKIPPED with the rule), min_interval_hours keeps one replica per interval, and the scheduled coverage audit
publishes per target which selected databases have a fresh replica."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto.rds.models import rds_backends
from support import SOURCE_ACCOUNT, base_scenario
from typer.testing import CliRunner

from replicator.usecases.coverage import audit_coverage
from replicator.usecases.reindex import reindex_history
from replicator_cli.main import app

WEST = "us-west-2"
WEST_TARGET = f"{SOURCE_ACCOUNT}/{WEST}"  # coverage.target_label


def _target(**extra: Any) -> dict[str, Any]:
    return {"target_region": WEST, "encryption": {"enabled": True, "kms_key_arn": "{{key:dr-west}}"}, **extra}


def _db(identifier: str, **extra: Any) -> dict[str, Any]:
    return {"id": identifier, "engine": "postgres", "engine_version": "16.3", "encrypted": True, **extra}


def _scenario(target: dict[str, Any], databases: list[dict[str, Any]], snapshots: list[str], **extra: Any) -> dict:
    return base_scenario(
        databases=databases,
        snapshots=[{"id": s, "database": s.rsplit("-", 1)[0]} for s in snapshots],
        events=[{"snapshot": s} for s in snapshots],
        mappings=[{"source_region": "us-east-1", "targets": [target]}],
        **extra,
    )


def _copies(run) -> list[str]:
    return run.cloud.doubles.copy_clock.started


def test_a_target_selecting_prod_replicates_the_prod_database_and_skips_the_dev_one_with_the_rule(run_scenario):
    selection = {"include": [{"databases": ["prod-*"]}]}
    run = run_scenario(
        _scenario(
            _target(selection=selection), [_db("prod-orders"), _db("dev-orders")], ["prod-orders-1", "dev-orders-1"]
        )
    )

    prod, dev = run.record("prod-orders-1", WEST), run.record("dev-orders-1", WEST)
    assert prod.status.value == "SUCCEEDED", prod.reason
    assert dev.status.value == "SKIPPED"
    assert dev.reason == "not selected: matches no selection.include rule (databases prod-*)"
    assert dev.not_selected is True
    assert dev.plan is None  # nothing planned, nothing copied
    assert _copies(run) == [prod.replica_arn]
    assert run.cloud.doubles.metrics.count("ReplicationsSkipped") == 1


def test_a_selection_by_tag_reads_the_database_tags_not_the_snapshot_tags(run_scenario):
    # the snapshot carries env=prod, the database env=dev: the database's tags decide
    selection = {"exclude": [{"tags": [{"key": "env", "values": ["dev"]}]}]}
    spec = _scenario(
        _target(selection=selection),
        [_db("billing", tags={"env": "dev"}), _db("ledger", tags={"env": "prod"})],
        ["billing-1", "ledger-1"],
    )
    spec["snapshots"][0]["tags"] = {"env": "prod"}
    run = run_scenario(spec)

    assert run.record("ledger-1", WEST).status.value == "SUCCEEDED"
    billing = run.record("billing-1", WEST)
    assert billing.status.value == "SKIPPED"
    assert billing.reason == "not selected: excluded by selection.exclude[0] (tag env=dev)"


def test_min_interval_keeps_one_replica_per_interval_and_the_first_snapshot_wins(run_scenario):
    spec = _scenario(
        _target(selection={"min_interval_hours": 24}), [_db("orders")], ["orders-1", "orders-2", "orders-3"]
    )
    spec["events"] = [{"snapshot": "orders-1"}]
    run = run_scenario(spec)
    first = run.record("orders-1", WEST)
    assert first.status.value == "SUCCEEDED", first.reason
    # the hourly manual snapshots after it: one at a time, as they come
    for later in ("orders-2", "orders-3"):
        run.send(later)
        skipped = {r.source_arn.split(":", 6)[-1]: r for r in run.runner.wait() if r.source_arn}[later]
        assert skipped.status.value == "SKIPPED"
        assert "skipped by selection.min_interval_hours (24 h)" in skipped.reason
        assert "taken 0.0 h before it is replicated already" in skipped.reason
    assert _copies(run) == [first.replica_arn]


def test_the_coverage_audit_publishes_covered_and_uncovered_databases_per_target(run_scenario):
    """fresh: a replica of today; stale: a replica of a snapshot taken 3 days ago; never: a database without any
    snapshot, created 3 days ago; newborn: created an hour ago, no replica yet; dev: not selected."""
    selection = {"exclude": [{"databases": ["dev-*"]}]}
    names = ["fresh", "stale", "never", "newborn", "dev-box"]
    spec = _scenario(_target(selection=selection, rpo_hours=24), [_db(n) for n in names], ["fresh-1", "stale-1"])
    long_ago = datetime.now(UTC) - timedelta(days=3)

    def backdate(cloud, runner) -> None:
        backend = rds_backends[SOURCE_ACCOUNT]["us-east-1"]
        backend.database_snapshots["stale-1"].original_snapshot_create_time = long_ago
        for name in ("never", "fresh", "stale", "dev-box"):
            backend.databases[name].instance_create_time = long_ago
        backend.databases["newborn"].instance_create_time = datetime.now(UTC) - timedelta(hours=1)

    run = run_scenario(spec, before_events=backdate)
    assert {run.record(s, WEST).status.value for s in ("fresh-1", "stale-1")} == {"SUCCEEDED"}

    audit = run.cloud.stack.function("AuditCoverageFunction").name
    result, error = run.cloud.doubles.lambda_dispatcher.invoke(audit, {})
    assert error is None, result
    assert result["breaches"] == 2  # stale and never
    metrics = run.cloud.doubles.metrics
    assert metrics.values("CoveredDatabases", target=WEST_TARGET) == [2]  # fresh, newborn
    assert metrics.values("UncoveredDatabases", target=WEST_TARGET) == [2]  # stale, never
    (oldest,) = metrics.values("OldestReplicaAgeSeconds", target=WEST_TARGET)
    assert 3 * 86400 - 600 < oldest < 3 * 86400 + 600  # the stale replica's data is 3 days old
    # the alarm's metric: the total over every target, with the service dimension only
    assert metrics.values("UncoveredDatabases") == [2]


def test_records_from_before_the_index_are_reindexed_from_their_plan_and_then_cover_their_database(run_scenario):
    def created_last_week(cloud, runner) -> None:
        backend = rds_backends[SOURCE_ACCOUNT]["us-east-1"]
        backend.databases["orders"].instance_create_time = datetime.now(UTC) - timedelta(days=7)

    run = run_scenario(_scenario(_target(rpo_hours=24), [_db("orders")], ["orders-1"]), before_events=created_last_week)
    record = run.record("orders-1", WEST)
    assert record.status.value == "SUCCEEDED", record.reason
    history = run.cloud.stack.history_table
    # as a record written by the version before the index: no index attributes
    boto3.resource("dynamodb").Table(history).update_item(
        Key={"replication_id": record.replication_id},
        UpdateExpression="REMOVE source_database, source_taken_at, database_target",
    )
    assert [r.verdict.value for r in audit_coverage(run.cloud.stack.mapping_table, history, SOURCE_ACCOUNT).rows] == [
        "BREACH"
    ]

    assert reindex_history(history, dry_run=True).indexed == 1
    tables = ["--mapping-table", run.cloud.stack.mapping_table, "--history-table", history]
    done = CliRunner().invoke(app, [*tables, "reindex"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "indexed 1 record(s) by database (0 already were" in done.output
    assert reindex_history(history).indexed == 0  # idempotent
    (row,) = audit_coverage(run.cloud.stack.mapping_table, history, SOURCE_ACCOUNT).rows
    assert (row.verdict.value, row.newest_replica_arn) == ("ok", record.replica_arn)
