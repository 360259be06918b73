"""Retries that work: a FAILED replication runs again, as its next attempt, through the normal path."""

from __future__ import annotations

import json
import time

import boto3
import yaml
from moto.rds.models import rds_backends
from support import CROSS_ACCOUNT, SOURCE_ACCOUNT, TARGET_ACCOUNT, base_scenario
from typer.testing import CliRunner

from replicator.aws.dynamodb import replication_records
from replicator.history import ReplicationRecord
from replicator_cli.main import app

ORDERS = "rds:orders-2026-11-24-03-10"


def _cli(run, *args: str):
    tables_ = ["--mapping-table", run.cloud.stack.mapping_table, "--history-table", run.cloud.stack.history_table]
    return CliRunner().invoke(app, [*tables_, *args], env={"COLUMNS": "300"})


def _wait_for(run, rid: str, attempt: int, timeout: float = 60) -> ReplicationRecord:
    deadline = time.monotonic() + timeout
    while True:
        record = replication_records.get_record(run.cloud.stack.history_table, rid)
        if record is not None and record.attempt == attempt and record.status.final:
            return record
        assert time.monotonic() < deadline, f"attempt {attempt} of {rid} did not finish: {record}"
        time.sleep(0.5)


def _no_slot_held(run) -> None:
    table = boto3.resource("dynamodb").Table(run.cloud.stack.resources["CopySlotsTable"])
    items = table.scan(ConsistentRead=True)["Items"]
    assert [i for i in items if i["entry"] == "slots" and i["holders"]] == []
    assert [i for i in items if str(i["entry"]).startswith("wait#")] == []


def test_a_failed_replication_retried_succeeds_as_attempt_2_with_one_replica_and_nothing_left(run_scenario):
    run = run_scenario(base_scenario(mappings=[CROSS_ACCOUNT], failing_copies=[ORDERS]))
    first = run.record(ORDERS, "eu-west-1")
    assert first.status.value == "FAILED"
    run.cloud.doubles.copy_clock.fail_identifiers.clear()  # the cause is fixed

    result = _cli(run, "retry", first.replication_id)

    assert result.exit_code == 0, result.output
    assert f"{first.replication_id}: attempt 1 FAILED" in result.output
    assert "runs again as attempt 2" in result.output
    second = _wait_for(run, first.replication_id, attempt=2)
    assert second.status.value == "SUCCEEDED", second.reason
    assert [(a.attempt, a.status.value) for a in second.previous_attempts] == [(1, "FAILED")]
    assert second.previous_attempts[0].reason == first.reason  # the earlier attempt stays readable
    executions = sorted(e["name"] for e in run.executions())
    assert executions == [first.replication_id, f"{first.replication_id}-a2"]
    replicas = [
        s
        for s in rds_backends[TARGET_ACCOUNT]["eu-west-1"].database_snapshots
        if s == second.replica_arn.rsplit(":", 1)[1]
    ]
    assert len(replicas) == 1
    _no_slot_held(run)
    assert run.runner.result(replication_records.scan_records(run.cloud.stack.history_table)).leftovers == []
    status = _cli(run, "status", "--since", "1h")
    assert "SUCCEEDED (attempt 2)" in status.output


def test_a_replication_that_succeeded_or_is_unknown_is_not_retried(run_scenario):
    run = run_scenario(base_scenario())
    done = run.record(ORDERS, "us-west-2")
    assert done.status.value == "SUCCEEDED"

    result = _cli(run, "retry", done.replication_id, "orders-nothing-us-west-2-000000000000")

    assert result.exit_code == 1
    assert f"{done.replication_id}: not retried: it SUCCEEDED" in result.stdout
    assert "orders-nothing-us-west-2-000000000000: no such replication" in result.stdout
    assert "nothing to retry" in result.stdout

    as_json = _cli(run, "retry", done.replication_id, "orders-nothing-us-west-2-000000000000", "-o", "json")
    assert as_json.exit_code == 1  # what was not retried, and why: in the document, and the exit status
    assert "Traceback" not in as_json.output
    document = json.loads(as_json.stdout)
    assert document["retried"] == []
    assert [(r["replication_id"], r["why"].split(" (")[0]) for r in document["not_retried"]] == [
        (done.replication_id, "it SUCCEEDED"),
        ("orders-nothing-us-west-2-000000000000", "no such replication"),
    ]
    assert as_json.stderr == "nothing to retry\n"
    time.sleep(1)
    assert len(run.executions()) == 1  # nothing was started


def test_retry_failed_runs_every_failed_replication_of_a_region_again(run_scenario):
    names = ["orders-a", "orders-b"]
    spec = base_scenario(
        snapshots=[{"id": n, "database": "orders"} for n in names],
        events=[{"snapshot": n} for n in names],
        failing_copies=names,
    )
    run = run_scenario(spec)
    assert [r.status.value for r in run.records] == ["FAILED", "FAILED"]
    run.cloud.doubles.copy_clock.fail_identifiers.clear()

    dry = _cli(run, "retry", "--failed", "--since", "1h", "--source-region", "us-east-1", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.count("would run again as attempt 2") == 2
    as_yaml = _cli(run, "retry", "--failed", "--since", "1h", "--source-region", "us-east-1", "--dry-run", "-o", "yaml")
    assert as_yaml.exit_code == 0, as_yaml.output
    document = yaml.safe_load(as_yaml.stdout)
    assert (document["dry_run"], document["snapshots_sent"], document["not_retried"]) == (True, 0, [])
    assert sorted(r["replication_id"] for r in document["retried"]) == sorted(r.replication_id for r in run.records)
    assert {(r["failed_attempt"], r["next_attempt"]) for r in document["retried"]} == {(1, 2)}
    assert all(r["reason"] for r in document["retried"])
    assert len(run.executions()) == 2  # a dry run sends nothing

    result = _cli(run, "retry", "--failed", "--since", "1h", "--source-region", "us-east-1", "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["snapshots_sent"] == 2
    assert "follow them with `replicator status --watch`" in result.stderr
    for record in run.records:
        assert _wait_for(run, record.replication_id, attempt=2).status.value == "SUCCEEDED"
    assert SOURCE_ACCOUNT in run.records[0].source_arn


def test_retry_refuses_a_misspelt_region_at_the_door():
    result = CliRunner().invoke(
        app, ["--history-table", "h", "retry", "--failed", "--source-region", "eu-wset-1"], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert "'eu-wset-1' is not an AWS region with RDS: did you mean" in result.stderr
    assert "eu-west-1" in result.stderr
