"""`replicator status` (and the global options and help) against the provisioned stack on the embedded emulation."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
import yaml
from support import ROOT, SOURCE_ACCOUNT, TARGET_ACCOUNT, base_scenario
from typer.testing import CliRunner

from replicator.aws.dynamodb.replication_records import put_record
from replicator.history import ReplicationRecord, ReplicationStatus, utc_now
from replicator_cli.local.cloud import LocalCloud
from replicator_cli.main import app

runner = CliRunner()

FAILURE_REASON = "KMS key arn:aws:kms:us-west-2:123456789012:key/0000 does not exist in us-west-2"
SKIP_REASON = "no region mapping for ap-south-1 and no '*' mapping: nothing to replicate"
REPLICA = f"arn:aws:rds:us-west-2:{SOURCE_ACCOUNT}:snapshot:snaprep-billing-manual-1-3f2a"

FAILED = "rds:orders-2026-11-24-03-10"
SUCCEEDED = "billing-manual-1"
SKIPPED = "rds:ledger-2026-11-24-01-00"
COPYING = "inventory-manual-1"
OLD_SUCCEEDED = "rds:orders-2026-11-22-03-10"
OLD_COPYING = "archive-manual-7"


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(ROOT) as local:
        yield local


def cli(*args: str) -> Any:
    return runner.invoke(app, ["--stack-name", "replicator", *args], env={"COLUMNS": "300"})


def flat(result: Any) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─┃┏┓┗┛━┡┩╇┳┻╋└┘┴┬┼┌┐├┤]", " ", result.output).split())


def _record(
    status: ReplicationStatus,
    snapshot: str,
    source_region: str = "us-east-1",
    target_region: str | None = "us-west-2",
    started: timedelta = timedelta(minutes=30),
    finished: timedelta | None = None,
    **extra: Any,
) -> ReplicationRecord:
    now = utc_now()
    fields: dict[str, Any] = {
        "replication_id": f"{snapshot}-{target_region}".replace(":", "-"),
        "status": status,
        "source_arn": f"arn:aws:rds:{source_region}:{SOURCE_ACCOUNT}:snapshot:{snapshot}",
        "source_region": source_region,
        "snapshot_kind": "instance",
        "target_account_id": SOURCE_ACCOUNT if target_region else None,
        "target_region": target_region,
        "started_at": now - started,
        "updated_at": now - (finished or timedelta(0)),
        "finished_at": now - finished if finished is not None else None,
    }
    return ReplicationRecord(**{**fields, **extra})


@pytest.fixture
def history(cloud: LocalCloud) -> dict[str, ReplicationRecord]:
    """Recent outcomes of every kind, one copy in flight, and two records last updated two days ago."""
    table = cloud.stack.history_table
    recent = {
        FAILED: _record(ReplicationStatus.FAILED, FAILED, finished=timedelta(minutes=20), reason=FAILURE_REASON),
        # finished after the failure: listed after it all the same, failures come first
        SUCCEEDED: _record(
            ReplicationStatus.SUCCEEDED,
            SUCCEEDED,
            "eu-west-1",
            finished=timedelta(minutes=5),
            replica_arn=REPLICA,
            percent_progress=100,
        ),
        SKIPPED: _record(
            ReplicationStatus.SKIPPED, SKIPPED, "ap-south-1", None, finished=timedelta(minutes=10), reason=SKIP_REASON
        ),
        COPYING: _record(
            ReplicationStatus.COPYING,
            COPYING,
            target_region="eu-west-1",
            percent_progress=40,
            step="2/3 copy into the target account",
            target_account_id=TARGET_ACCOUNT,
        ),
    }
    for record in recent.values():
        put_record(table, record)  # as the handlers write them (updated_at: now)
    old = {
        OLD_SUCCEEDED: _record(
            ReplicationStatus.SUCCEEDED,
            OLD_SUCCEEDED,
            started=timedelta(days=2, hours=1),
            finished=timedelta(days=2),
            replica_arn=REPLICA + "-old",
        ),
        OLD_COPYING: _record(
            ReplicationStatus.COPYING,
            OLD_COPYING,
            started=timedelta(days=3),
            finished=None,
            percent_progress=75,
            step="1/1 copy to us-west-2",
        ),
    }
    old[OLD_COPYING] = old[OLD_COPYING].model_copy(update={"updated_at": utc_now() - timedelta(days=2)})
    dynamodb = boto3.resource("dynamodb").Table(table)
    for record in old.values():
        dynamodb.put_item(Item=record.to_item())  # written raw: put_record would stamp updated_at with now
    return {**recent, **old}


def _line_of(result: Any, snapshot: str) -> int:
    (index,) = [i for i, line in enumerate(result.stdout.splitlines()) if snapshot in line]
    return index


def _row(result: Any, snapshot: str) -> tuple[str, str]:
    """A table row's first line (snapshot, status, ...) and its second (the target under the snapshot), flattened."""
    lines = result.stdout.splitlines()
    index = _line_of(result, snapshot)
    return flat_line(lines[index]), flat_line(lines[index + 1])


def _json_lines(result: Any) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return [json.loads(line) for line in result.stdout.splitlines()]


def _document(result: Any) -> Any:
    """--output json: one JSON document on stdout, nothing else."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_status_lists_in_flight_then_recent_outcomes_failures_first(history):
    result = cli("status")

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    text = flat(result)
    assert "In flight (2)" in text
    assert "Recent outcomes (3)" in text
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 120  # not a terminal: within 120 columns
    in_flight = next(i for i, line in enumerate(lines) if "In flight" in line)
    recent = next(i for i, line in enumerate(lines) if "Recent outcomes" in line)
    assert in_flight < _line_of(result, OLD_COPYING) < _line_of(result, COPYING) < recent  # oldest in flight first
    assert recent < _line_of(result, FAILED) < _line_of(result, SKIPPED) < _line_of(result, SUCCEEDED)

    copying, copying_target = _row(result, COPYING)
    assert "COPYING 2/3 copy into the target account" in copying
    assert " 40% " in copying
    assert copying_target.startswith(f"{TARGET_ACCOUNT} / eu-west-1")
    assert " 75% " in _row(result, OLD_COPYING)[0]
    failed, failed_target = _row(result, FAILED)
    assert "FAILED" in failed
    assert "KMS key arn:aws:kms:us-west-2" in failed  # the reason, folded within the room left
    assert failed_target.startswith(f"{SOURCE_ACCOUNT} / us-west-2")
    assert "no region mapping for ap-south-1" in _row(result, SKIPPED)[0]
    assert "arn:aws:rds:us-west-2" in _row(result, SUCCEEDED)[0]
    assert OLD_SUCCEEDED not in result.output  # finished two days ago: outside the default 24h


def test_output_json_is_the_records_in_flight_then_recent_as_one_list(history):
    records = _document(cli("status", "--output", "json"))

    assert [r["source_arn"].rsplit(":", 1)[-1] for r in records] == [
        OLD_COPYING,
        COPYING,  # in flight, oldest first
        FAILED.split(":")[1],
        SKIPPED.split(":")[1],
        SUCCEEDED,  # then the recent outcomes, failures first
    ]
    by_status = {r["status"]: r for r in records}
    assert by_status["FAILED"]["reason"] == FAILURE_REASON
    assert by_status["SKIPPED"]["reason"] == SKIP_REASON
    assert by_status["SUCCEEDED"]["replica_arn"] == REPLICA
    for raw in records:
        assert None not in raw.values()
        ReplicationRecord.model_validate(raw)


def test_output_yaml_and_csv(history):
    as_yaml = cli("-o", "yaml", "status", "--status", "FAILED")
    assert as_yaml.exit_code == 0, as_yaml.output
    (record,) = yaml.safe_load(as_yaml.stdout)
    assert (record["status"], record["reason"]) == ("FAILED", FAILURE_REASON)

    as_csv = cli("status", "--output", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 5
    assert {"replication_id", "status", "source_arn", "reason"} <= set(rows[0])
    assert [r["status"] for r in rows][2:] == ["FAILED", "SKIPPED", "SUCCEEDED"]


@pytest.mark.parametrize("machine", [["--json"], ["--output", "json"], ["-o", "csv"]])
def test_watch_is_for_the_tables_only(cloud, machine):
    result = cli("status", "--watch", *machine)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "--watch refreshes the tables" in flat(result)
    assert result.stdout == ""


def test_a_source_that_looks_like_a_region_is_checked(cloud):
    result = cli("status", "--source", "us-eest-1")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.output
    text = flat(result)
    assert "Invalid value for '--source': 'us-eest-1' is not an AWS region with RDS: did you mean" in text
    assert "us-east-1" in text


def flat_line(line: str) -> str:
    return " ".join(re.sub(r"[│┃]", " ", line).split())


def test_status_filter_by_status(history):
    result = cli("status", "--status", "FAILED")
    assert result.exit_code == 0, result.output
    text = flat(result)
    assert "In flight (0)" in text
    assert "Recent outcomes (1)" in text
    assert "KMS key" in text
    assert SUCCEEDED not in text
    assert COPYING not in text

    records = _json_lines(cli("status", "--status", "FAILED", "--status", "COPYING", "--json"))
    assert sorted(r["status"] for r in records) == ["COPYING", "COPYING", "FAILED"]

    result = cli("status", "--status", "BROKEN")
    assert result.exit_code == 2
    assert "Invalid value for '--status'" in flat(result)


def test_status_filter_by_source_region_or_snapshot(history):
    result = cli("status", "--source", "eu-west-1")
    assert result.exit_code == 0, result.output
    assert "In flight (0)" in flat(result)
    assert "Recent outcomes (1)" in flat(result)
    assert SUCCEEDED in result.output
    assert FAILED not in result.output
    assert COPYING not in result.output

    by_region = _json_lines(cli("status", "--source", "us-east-1", "--json"))
    assert sorted(r["source_arn"].rsplit(":", 1)[-1] for r in by_region) == sorted(
        [FAILED.split(":")[1], COPYING, OLD_COPYING]
    )

    by_snapshot = _json_lines(cli("status", "--source", "inventory", "--json"))
    assert [(r["status"], r["percent_progress"]) for r in by_snapshot] == [("COPYING", 40)]

    assert _json_lines(cli("status", "--source", "sa-east-1", "--json")) == []


def test_since_hides_old_outcomes_but_never_a_replication_in_flight(history):
    within_an_hour = cli("status", "--since", "1h")
    assert within_an_hour.exit_code == 0, within_an_hour.output
    assert OLD_SUCCEEDED not in within_an_hour.output
    assert OLD_COPYING in within_an_hour.output  # last updated two days ago, but still in flight
    assert "In flight (2)" in flat(within_an_hour)
    assert "Recent outcomes (3)" in flat(within_an_hour)

    records = _json_lines(cli("status", "--since", "3d", "--json"))
    assert any(r["source_arn"].endswith(OLD_SUCCEEDED) for r in records)
    assert len(records) == 6

    records = _json_lines(cli("status", "--since", "90s", "--json"))
    assert len(records) == 5  # every record written just now (put_record stamps updated_at), and the old copy


def test_json_prints_one_parseable_record_per_line(history):
    result = cli("status", "--json", "--since", "7d")
    records = _json_lines(result)
    assert len(result.stdout.splitlines()) == len(history) == len(records)
    assert {r["replication_id"] for r in records} == {r.replication_id for r in history.values()}
    for raw in records:
        assert None not in raw.values()
        parsed = ReplicationRecord.model_validate(raw)
        expected = history[next(k for k in history if parsed.source_arn.endswith(":" + k))]
        assert parsed.status == expected.status
        assert parsed.reason == expected.reason
        assert parsed.percent_progress == expected.percent_progress


@pytest.mark.parametrize("since", ["yesterday", "10x", "1.5h", "-2d"])
def test_a_bad_since_value_is_refused(cloud, since):
    result = cli("status", "--since", since)
    assert result.exit_code == 1, result.output
    text = flat(result)
    assert f"--since '{since}': use a number and a unit, e.g. 30m, 24h, 7d" in text
    assert "Traceback" not in result.output


def test_watch_refreshes_then_returns(history):
    result = cli("status", "--watch", "--interval", "0.1", "--refreshes", "2")
    assert result.exit_code == 0, result.output
    assert "In flight (2)" in flat(result)
    assert "KMS key" in flat(result)


def test_status_of_a_real_replication(run_scenario):
    run = run_scenario(base_scenario())
    (record,) = run.records
    assert record.status is ReplicationStatus.SUCCEEDED, record.reason

    (line,) = _json_lines(cli("status", "--json"))
    assert line["replication_id"] == record.replication_id
    assert line["status"] == "SUCCEEDED"
    assert line["replica_arn"] == record.replica_arn

    result = cli("status", "--source", "rds:orders-2026-11-24-03-10")
    assert result.exit_code == 0, result.output
    assert "Recent outcomes (1)" in flat(result)
    assert record.replica_arn.rsplit(":", 1)[1][:20] in flat(result)
    (document,) = _document(cli("status", "--source", "rds:orders-2026-11-24-03-10", "-o", "json"))
    assert document["replica_arn"] == record.replica_arn


# --- where the tables are, and help --------------------------------------------------------------------------------


def test_without_the_stack_status_fails_suggesting_the_table_flags(cloud):
    result = runner.invoke(app, ["--stack-name", "nope", "status"], env={"COLUMNS": "300"})
    assert result.exit_code == 1, result.output
    text = flat(result)
    assert "cannot read the outputs of stack nope" in text
    assert "pass --stack-name, or the table names with --mapping-table / --history-table" in text
    assert "Traceback" not in result.output


def test_the_history_table_flag_works_without_the_stack(history, cloud):
    args = ["--stack-name", "nope", "--history-table", cloud.stack.history_table, "status"]
    result = runner.invoke(app, [*args, "--json"])
    assert len(_json_lines(result)) == 5
    result = runner.invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "KMS key" in flat(result)


def test_a_stack_without_the_replicators_outputs_is_named(cloud):
    boto3.client("cloudformation").create_stack(
        StackName="unrelated",
        TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
    )
    result = runner.invoke(app, ["--stack-name", "unrelated", "status"], env={"COLUMNS": "300"})
    assert result.exit_code == 1, result.output
    assert "stack unrelated has no output HistoryTableName: is it the replicator's stack?" in flat(result)


def test_help_lists_the_command_groups():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    commands = re.findall(r"^│ (\S+)\s", result.output.split("Commands")[1], flags=re.MULTILINE)
    assert sorted(commands) == [
        *("backfill", "coverage", "local", "mappings", "prune"),
        *("reconcile", "reindex", "restore-test", "retry", "status"),
    ]
    for option in (
        "--stack-name",
        "--mapping-table",
        "--history-table",
        "--slots-table",
        "--state-machine-arn",
        "--region",
        "--profile",
    ):
        assert option in result.output


def test_status_help_names_its_options():
    result = runner.invoke(app, ["status", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for option in ("--since", "--source", "--status", "--json", "--watch", "--interval"):
        assert option in result.output
    assert "--refreshes" not in result.output  # hidden: for tests
