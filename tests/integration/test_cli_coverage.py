"""`replicator coverage` against the provisioned stack on the embedded emulation: databases made with boto3, their
replications written to the history table as the start and finish functions write them."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.rds.models import rds_backends
from support import ROOT, SOURCE_ACCOUNT, TARGET_ACCOUNT, create_instance
from typer.testing import CliRunner

from replicator.aws.dynamodb import replication_records
from replicator.history import ReplicationRecord, ReplicationStatus, database_target_key, taken_key
from replicator_cli.coverage import FIELDS
from replicator_cli.local.cloud import LocalCloud
from replicator_cli.main import app

runner = CliRunner()

WEST = f"{SOURCE_ACCOUNT}/us-west-2"  # the target with an RPO
VAULT = f"{TARGET_ACCOUNT}/eu-west-1"  # a target without one
TARGET_ROLE = f"arn:aws:iam::{TARGET_ACCOUNT}:role/rds-snapshot-replicator-target"
FAILURE = (
    "refused: encryption.kms_key_arn arn:aws:kms:us-west-2:123456789012:key/1111aaaa-2222-3333-4444-555566667777 "
    "is disabled: enable it, or set the mapping target's encryption to another key"
)
DATABASES = ["broken", "fresh", "never", "scratch", "stale"]


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(ROOT, parameters={"AllowedTargetAccounts": TARGET_ACCOUNT}) as local:
        yield local


def cli(*args: str) -> Any:
    return runner.invoke(app, ["--stack-name", "replicator", *args], env={"COLUMNS": "300"})


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def flat_line(line: str) -> str:
    return " ".join(line.split())


def _database(identifier: str, age: timedelta = timedelta(days=10)) -> None:
    """A DB instance in us-east-1, created `age` ago (RDS says when; the emulation's database is made older)."""
    create_instance(identifier)
    created = datetime.now(UTC).replace(tzinfo=None) - age  # moto keeps naive UTC times
    rds_backends[SOURCE_ACCOUNT]["us-east-1"].databases[identifier].instance_create_time = created


def _replication(
    cloud: LocalCloud, database: str, taken: timedelta, status: ReplicationStatus, reason: str = ""
) -> datetime:
    """A replication of one of `database`'s snapshots, taken `taken` ago, to us-west-2 (this account)."""
    taken_at = datetime.now(UTC) - taken
    snapshot = f"{database}-{taken_at:%Y%m%d%H%M%S}"
    succeeded = status is ReplicationStatus.SUCCEEDED
    record = ReplicationRecord(
        replication_id=f"{snapshot}-us-west-2",
        status=status,
        reason=reason,
        source_arn=f"arn:aws:rds:us-east-1:{SOURCE_ACCOUNT}:snapshot:{snapshot}",
        source_region="us-east-1",
        snapshot_kind="instance",
        target_account_id=SOURCE_ACCOUNT,
        target_region="us-west-2",
        replica_arn=f"arn:aws:rds:us-west-2:{SOURCE_ACCOUNT}:snapshot:snaprep-{snapshot}" if succeeded else None,
        finished_at=datetime.now(UTC),
        source_database=database,
        source_taken_at=taken_key(taken_at),
        database_target=database_target_key(
            SOURCE_ACCOUNT, "us-east-1", "instance", database, SOURCE_ACCOUNT, "us-west-2"
        ),
    )
    replication_records.put_record(cloud.stack.history_table, record)
    return taken_at.replace(microsecond=0)


@pytest.fixture
def estate(cloud: LocalCloud) -> dict[str, datetime]:
    """Five databases, two targets; on us-west-2 (RPO 24h, scratch excluded): fresh has a replica of 2 hours ago,
    stale one of 3 days ago, never none, broken's last attempt FAILED (its replica of 5 hours ago stands).
    Returns when each newest replica's snapshot was taken."""
    for database in DATABASES:
        _database(database)
    ok(
        cli(
            "mappings",
            "put",
            "us-east-1",
            "--target-region",
            "us-west-2",
            "--rpo-hours",
            "24",
            "--exclude-db",
            "scratch",
        )
    )
    ok(cli("mappings", "put", "us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE))
    newest = {
        "fresh": _replication(cloud, "fresh", timedelta(hours=2), ReplicationStatus.SUCCEEDED),
        "stale": _replication(cloud, "stale", timedelta(days=3), ReplicationStatus.SUCCEEDED),
        "broken": _replication(cloud, "broken", timedelta(hours=5), ReplicationStatus.SUCCEEDED),
    }
    _replication(cloud, "fresh", timedelta(days=1, hours=2), ReplicationStatus.SUCCEEDED)  # older: not the newest
    _replication(cloud, "broken", timedelta(hours=1), ReplicationStatus.FAILED, FAILURE)
    _replication(cloud, "scratch", timedelta(days=9), ReplicationStatus.SUCCEEDED)  # before it was excluded
    return newest


def _rows(result: Any, target: str = WEST) -> dict[str, dict[str, Any]]:
    return {row["database"]: row for row in json.loads(result.stdout) if row["target"] == target}


def test_the_table_shows_each_database_on_each_target_with_its_verdict_and_exits_1_on_a_breach(cloud, estate):
    result = cli("coverage")

    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    *tables, summary_line = lines
    assert all(len(line) <= 120 for line in tables), "the tables fit 120 columns"
    assert summary_line.startswith("coverage: ")  # one line, after the tables
    rows = [flat_line(line) for line in lines]
    assert f"us-east-1 -> {WEST} (RPO 24h)" in rows
    assert f"us-east-1 -> {VAULT} (RPO not set)" in rows
    when = {database: f"{taken:%Y-%m-%d %H:%M}" for database, taken in estate.items()}
    assert f"fresh instance postgres yes {when['fresh']} 2h 0m ok" in rows
    assert f"stale instance postgres yes {when['stale']} 3d 0h BREACH" in rows
    assert "never instance postgres yes - - BREACH" in rows
    (broken,) = [r for r in rows if r.startswith(f"broken instance postgres yes {when['broken']} 5h 0m ok ")]
    # the reason, cut to fit the table, with an ellipsis
    assert broken.startswith(f"broken instance postgres yes {when['broken']} 5h 0m ok last attempt FAILED: refused:")
    assert broken.endswith("…")
    (scratch,) = [r for r in rows if r.startswith("scratch instance postgres no - - not selected excluded by")]
    assert scratch.endswith("…")
    # without an RPO, a database without a replica has no verdict to alarm on
    assert "fresh instance postgres yes - - none" in rows
    summary = f"coverage: {WEST}: 2 covered, 2 uncovered, oldest replica 3d 0h; {VAULT}: 0 covered, 0 uncovered, "
    assert summary + "oldest replica none" in rows
    assert result.stderr == ""


def test_json_prints_only_the_rows_on_stdout_with_full_values(cloud, estate):
    result = cli("coverage", "--output", "json")

    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)  # nothing else on stdout
    assert len(document) == 10  # five databases, two targets
    assert all(list(row) == list(FIELDS) for row in document)
    west = _rows(result)
    assert {d: r["verdict"] for d, r in west.items()} == {
        "broken": "ok",
        "fresh": "ok",
        "never": "BREACH",
        "scratch": "not selected",
        "stale": "BREACH",
    }
    fresh = west["fresh"]
    assert fresh["selected"] is True
    assert fresh["rpo_hours"] == 24
    assert fresh["kind"] == "instance"
    assert fresh["engine"] == "postgres"
    assert fresh["target_account"] == SOURCE_ACCOUNT
    assert datetime.fromisoformat(fresh["newest_replica_taken_at"]) == estate["fresh"]
    assert 2 * 3600 <= fresh["age_seconds"] < 2 * 3600 + 120
    assert fresh["age"] == "2h 0m"
    assert fresh["newest_replica_arn"].endswith(f":snapshot:snaprep-fresh-{estate['fresh']:%Y%m%d%H%M%S}")
    assert west["broken"]["last_failure"] == FAILURE  # in full
    assert west["stale"]["age"] == "3d 0h"
    assert (west["never"]["newest_replica_taken_at"], west["never"]["age_seconds"]) == (None, None)
    scratch = west["scratch"]
    assert scratch["selected"] is False
    assert scratch["not_selected_reason"] == "excluded by selection.exclude[0] (databases scratch)"
    assert {r["verdict"] for r in _rows(result, VAULT).values()} == {"none"}
    assert result.stderr.strip() == (
        f"coverage: {WEST}: 2 covered, 2 uncovered, oldest replica 3d 0h; {VAULT}: 0 covered, 0 uncovered, "
        "oldest replica none"
    )


def test_csv_prints_a_header_and_one_line_per_row(cloud, estate):
    result = cli("coverage", "--output", "csv", "--target", WEST)

    assert result.exit_code == 1, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert tuple(reader.fieldnames or ()) == FIELDS
    rows = {row["database"]: row for row in reader}
    assert sorted(rows) == DATABASES
    assert {row["target"] for row in rows.values()} == {WEST}
    assert rows["stale"]["verdict"] == "BREACH"
    assert rows["scratch"]["selected"] == "false"
    assert rows["scratch"]["not_selected_reason"] == "excluded by selection.exclude[0] (databases scratch)"
    assert rows["broken"]["last_failure"] == FAILURE
    assert rows["never"]["newest_replica_taken_at"] == ""
    assert float(rows["fresh"]["age_seconds"]) >= 7200
    assert datetime.fromisoformat(rows["fresh"]["newest_replica_taken_at"]) == estate["fresh"]
    assert result.stderr.startswith(f"coverage: {WEST}: 2 covered, 2 uncovered")


def test_the_filters_choose_targets_regions_and_breaches(cloud, estate):
    by_region = cli("coverage", "--output", "json", "--target", "eu-west-1")
    assert by_region.exit_code == 0, by_region.output  # no RPO there: nothing breaches
    assert {(r["target"], r["verdict"]) for r in json.loads(by_region.stdout)} == {(VAULT, "none")}

    breaches = cli("coverage", "--output", "json", "--breaches-only")
    assert breaches.exit_code == 1
    assert sorted((r["database"], r["target"]) for r in json.loads(breaches.stdout)) == [
        ("never", WEST),
        ("stale", WEST),
    ]

    elsewhere = cli("coverage", "--output", "json", "--source-region", "eu-central-1")
    assert elsewhere.exit_code == 0, elsewhere.output
    assert json.loads(elsewhere.stdout) == []


def test_excluding_the_breaching_databases_makes_the_exit_status_0(cloud, estate):
    west = ["mappings", "put", "us-east-1", "--target-region", "us-west-2", "--rpo-hours", "24", "--yes"]
    ok(cli(*west, "--exclude-db", "scratch", "--exclude-db", "stale", "--exclude-db", "never"))

    result = cli("coverage", "--output", "json")

    assert result.exit_code == 0, result.output
    verdicts = {d: r["verdict"] for d, r in _rows(result).items()}
    assert verdicts == {
        "broken": "ok",
        "fresh": "ok",
        "never": "not selected",
        "scratch": "not selected",
        "stale": "not selected",
    }
    table = ok(cli("coverage"))
    assert f"{WEST}: 2 covered, 0 uncovered, oldest replica 5h 0m" in table.stdout.splitlines()[-1]


def test_problems_go_to_stderr_and_stdout_stays_parseable(cloud, estate):
    raw = {"source_region": "eu-west-1", "targets": [{"target_region": "us-west-2", "rpo_hours": 0}]}
    boto3.resource("dynamodb").Table(cloud.stack.mapping_table).put_item(Item=raw)

    result = cli("coverage", "--output", "json")

    assert result.exit_code == 1, result.output
    assert len(json.loads(result.stdout)) == 10
    assert "problem: mapping eu-west-1 is invalid: targets.0.rpo_hours: Input should be greater than 0" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output", "xml"], "Invalid value for '--output'"),
        (["--target", "somewhere"], "Invalid value for '--target': 'somewhere' is not ACCOUNT/REGION"),
        (["--target", "2109/eu-west-1"], "Invalid value for '--target'"),
        (["--source-region", "Europe"], "Invalid value for '--source-region'"),
    ],
)
def test_a_usage_error_exits_2(cloud, args, message):
    result = cli("coverage", *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
