"""`replicator restore-test run / list`, the restore-test options of `mappings put`, and what `mappings check` says
of a target's restore tests, against the provisioned stack on the embedded emulation (the real scheduler use case,
the real restore-test state machine and task; databases replicated first by the real pipeline)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import yaml
from support import (
    KEYS,
    ROOT,
    SOURCE_ACCOUNT,
    TARGET_ACCOUNT,
    base_scenario,
    mapping,
    restore_test_executions,
    restore_tests_ended,
    seed,
    vault_target,
)
from typer.testing import CliRunner

from replicator.aws.dynamodb import region_mappings, restore_test_records
from replicator.restore_testing import RestoreTestRecord
from replicator_cli.local.cloud import LOCAL_EXTERNAL_ID, LocalCloud
from replicator_cli.local.scenario import ScenarioRunner
from replicator_cli.main import app

runner = CliRunner()

RESTORE_TEST = {"every_days": 7, "max_minutes": 5}
WEST = f"{SOURCE_ACCOUNT}/us-west-2"
VAULT = f"{TARGET_ACCOUNT}/eu-west-1"
TARGET_ROLE = f"arn:aws:iam::{TARGET_ACCOUNT}:role/rds-snapshot-replicator-target"
SG = "sg-0123456789abcdef0"
PUT_WEST = ["mappings", "put", "us-east-1", "--target-region", "us-west-2"]
STORED = {"every_days": 7, "security_group_ids": [], "databases": ["*"]}  # as the model writes it, with defaults


def cli(*args: str) -> Any:
    """`replicator --stack-name replicator ARGS`, wide (no line folded); stdout and stderr apart."""
    return runner.invoke(app, ["--stack-name", "replicator", *args], env={"COLUMNS": "300"})


def ok(result: Any, exit_code: int = 0) -> Any:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    return result


def flat(result: Any) -> str:
    """stdout and stderr as one line of words: without rich's boxes and line breaks."""
    return " ".join(re.sub(r"[│╭╮╰╯─┃┏┓┗┛━┡┩╇┳┻╋└┘┴┬┼┌┐├┤]", " ", result.output).split())


def _scenario(**overrides: Any) -> dict[str, Any]:
    """orders (PostgreSQL) in us-east-1, replicated to us-west-2 in this account and to eu-west-1 in the target
    account, both targets testing restores."""
    west = {
        "target_region": "us-west-2",
        "encryption": {"enabled": True, "kms_key_arn": "{{key:dr-west}}", "key_usage": "all"},
        "restore_test": RESTORE_TEST,
    }
    return base_scenario(
        snapshots=[{"id": "orders-2026-11-30", "database": "orders"}],
        mappings=[mapping(west, vault_target(restore_test=RESTORE_TEST))],
        events=[{"snapshot": "orders-2026-11-30"}],
        **overrides,
    )


def _recorded(cloud: LocalCloud) -> list[RestoreTestRecord]:
    return restore_test_records.started_since(cloud.stack.history_table, datetime.now(UTC) - timedelta(days=1))


# --- restore-test run / list ---------------------------------------------------------------------------------------


def test_run_dry_run_lists_what_would_start_and_starts_nothing(run_scenario):
    run = run_scenario(_scenario())
    assert {r.status.value for r in run.records} == {"SUCCEEDED"}

    data = json.loads(ok(cli("restore-test", "run", "--dry-run", "-o", "json")).stdout)

    assert data["dry_run"] is True
    assert (data["would_start"], data["started"], data["skipped"]) == (2, 0, 0)
    assert {(t["database"], t["target"], t["action"]) for t in data["tests"]} == {
        ("orders", WEST, "would start"),
        ("orders", VAULT, "would start"),
    }
    replicas = {r.target_region: r.replica_arn for r in run.records}
    assert {t["replica_arn"] for t in data["tests"]} == set(replicas.values())
    assert all(t["replica_age_hours"] is not None for t in data["tests"])

    table = ok(cli("restore-test", "run", "--dry-run", "--target", "eu-west-1"))
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert any(line.split()[:3] == ["orders", VAULT, "would"] for line in lines)
    assert not any(WEST in line for line in lines)  # --target eu-west-1: the vault only
    assert "dry run: 1 restore test(s) would start" in table.stdout

    assert restore_test_executions(run) == []  # nothing started ...
    assert _recorded(run.cloud) == []  # ... and nothing recorded


def test_run_starts_the_tests_and_list_shows_them_succeeded_with_their_restore_time(run_scenario):
    run = run_scenario(_scenario())

    result = ok(cli("restore-test", "run", "-o", "json"))

    data = json.loads(result.stdout)
    assert data["dry_run"] is False
    assert data["started"] == 2
    assert {t["action"] for t in data["tests"]} == {"started"}
    assert "2 restore test(s) started" in result.stderr  # the summary on stderr: stdout holds the document alone
    ended = restore_tests_ended(run)
    assert len(ended) == 2
    assert len(restore_test_executions(run)) == 2

    rows = json.loads(ok(cli("restore-test", "list", "-o", "json")).stdout)
    assert [r["status"] for r in rows] == ["SUCCEEDED", "SUCCEEDED"]
    assert {r["target"] for r in rows} == {WEST, VAULT}
    for row in rows:
        assert row["restore_seconds"] > 0
        assert row["restore_minutes"] == round(row["restore_seconds"] / 60, 1)
        # the restore time's bounds: the last look that saw it not available yet, and the look that saw it
        assert row["restore_seconds_at_least"] is None or row["restore_seconds_at_least"] <= row["restore_seconds"]
        assert row["replica_age_hours"] is not None
        assert row["instance_class"] == "db.t4g.micro"
        assert row["reason"].startswith("restored and checked in ")
        assert "available" in row["checks"]
        assert row["replica_arn"] in {r.replica_arn for r in run.records}
    assert rows == sorted(rows, key=lambda r: r["started_at"], reverse=True)  # newest first

    table = ok(cli("restore-test", "list"))
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 120
    body = [line.split() for line in lines if "orders" in line]
    assert len(body) == 2
    for cells in body:  # started (day, time), database, target, status, restore (min), replica age (h), class...
        assert cells[4] == "SUCCEEDED"
        assert float(cells[5]) >= 0
        assert cells[7] == "db.t4g.micro"
    assert "2 restore test(s) started within 30d: 2 SUCCEEDED" in table.stdout

    vault = json.loads(ok(cli("restore-test", "list", "--target", VAULT, "-o", "json")).stdout)
    assert [r["target"] for r in vault] == [VAULT]
    assert json.loads(ok(cli("restore-test", "list", "--status", "failed", "-o", "json")).stdout) == []
    csv_lines = ok(cli("restore-test", "list", "-o", "csv")).stdout.splitlines()
    assert csv_lines[0].startswith("test_id,started_at,finished_at,source_region,database")
    assert len(csv_lines) == 3


def test_run_only_the_named_database_and_target(run_scenario):
    spec = _scenario()
    spec["databases"] = [
        *spec["databases"],
        {"id": "ledger", "engine": "postgres", "engine_version": "16.3", "encrypted": True},
    ]
    run = run_scenario(spec)  # ledger has no replica: tested, it would be SKIPPED

    data = json.loads(ok(cli("restore-test", "run", "--db", "orders", "--target", VAULT, "-o", "json")).stdout)

    assert [(t["database"], t["target"], t["action"]) for t in data["tests"]] == [("orders", VAULT, "started")]
    assert [(t.database, t.target) for t in restore_tests_ended(run)] == [("orders", VAULT)]

    # without a stack to read: the tables and the state machine given by name (the option, or its variable)
    stack = run.cloud.stack
    tables_by_name = ["--mapping-table", stack.mapping_table, "--history-table", stack.history_table]
    named = runner.invoke(
        app,
        ["--stack-name", "no-such-stack", *tables_by_name, "restore-test", "run", "--target", WEST, "-o", "json"],
        env={"REPLICATOR_RESTORE_TEST_STATE_MACHINE_ARN": stack.state_machine_arns["RestoreTestStateMachine"]},
    )
    started = json.loads(ok(named).stdout)["tests"]
    assert {(t["database"], t["action"]) for t in started} == {("orders", "started"), ("ledger", "skipped")}
    assert len(restore_test_executions(run)) == 2

    skipped = json.loads(ok(cli("restore-test", "run", "--db", "ledger", "-o", "json")).stdout)
    assert {(t["database"], t["action"]) for t in skipped["tests"]} == {("ledger", "skipped")}
    assert all(t["reason"].startswith("no replica of ledger on ") for t in skipped["tests"])


def test_run_with_only_an_invalid_mapping_starts_nothing_says_why_and_exits_1(cloud):
    boto3.resource("dynamodb").Table(cloud.stack.mapping_table).put_item(
        Item={
            "source_region": "us-east-1",
            "targets": [{"target_region": "us-west-2", "restore_test": {"every_days": 0}}],
        }
    )

    result = ok(cli("restore-test", "run", "-o", "json"), exit_code=1)

    data = json.loads(result.stdout)
    assert data["tests"] == []
    assert len(data["problems"]) == 1
    assert "mapping us-east-1 is invalid" in data["problems"][0]
    assert "problem: mapping us-east-1 is invalid" in " ".join(result.stderr.split())
    assert _recorded(cloud) == []


def test_run_without_any_restore_test_says_how_to_set_one_up(cloud):
    ok(cli("mappings", "put", "us-east-1", "--target-region", "us-west-2"))

    result = ok(cli("restore-test", "run", "--db", "orders"))

    text = " ".join(result.stderr.split())
    assert "note: no database to test matches --db orders" in text
    assert "--restore-test-every-days 7" in text
    assert "0 restore test(s) started" in result.stdout


# --- refusals: one message, the documented exit code, nothing written -----------------------------------------------


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(ROOT, parameters={"AllowedTargetAccounts": TARGET_ACCOUNT}) as local:
        yield local


BAD_INPUTS = {
    "unknown source region": (
        ["restore-test", "run", "--source-region", "us-eest-1"],
        2,
        [
            "Invalid value for '--source-region'",
            "'us-eest-1' is not an AWS region with RDS: did you mean",
            "us-east-1?",
        ],
    ),
    "unknown target region": (
        ["restore-test", "run", "--target", f"{TARGET_ACCOUNT}/eu-wst-1"],
        2,
        ["Invalid value for '--target'", "did you mean eu-west-1"],
    ),
    "a target whose account is not one": (
        ["restore-test", "list", "--target", "2109/eu-west-1"],
        2,
        ["Invalid value for '--target'", "'2109/eu-west-1' is not ACCOUNT/REGION: the account is 12 digits"],
    ),
    "an unknown status": (
        ["restore-test", "list", "--status", "DONE"],
        2,
        ["Invalid value for '--status'", "'DONE' is not a restore test status: one of PENDING"],
    ),
    "a since without a unit": (
        ["restore-test", "list", "--since", "30"],
        1,
        ["error: --since '30': use a number and a unit, e.g. 30m, 24h, 7d"],
    ),
    "max minutes 0": (
        [*PUT_WEST, "--restore-test-every-days", "7", "--restore-test-max-minutes", "0"],
        2,
        [
            "Invalid value for '--restore-test-max-minutes'",
            "0.0: Input should be greater than 0 (restore_test.max_minutes)",
        ],
    ),
    "every days 0": (
        [*PUT_WEST, "--restore-test-every-days", "0"],
        2,
        ["Invalid value for '--restore-test-every-days'", "0: Input should be greater than or equal to 1"],
    ),
    "a malformed security group id": (
        [
            *PUT_WEST,
            "--restore-test-every-days",
            "7",
            "--restore-test-security-group",
            SG,
            "--restore-test-security-group",
            "sg-12345",
        ],
        2,
        [
            "Invalid value for '--restore-test-security-group'",
            "'sg-12345' is not a security group id such as sg-0123456789abcdef0",
        ],
    ),
    "an instance class without db.": (
        [*PUT_WEST, "--restore-test-every-days", "7", "--restore-test-instance-class", "t4g.micro"],
        2,
        ["Invalid value for '--restore-test-instance-class'", "'t4g.micro' is not a DB instance class such as"],
    ),
    "restore options without every-days": (
        [*PUT_WEST, "--restore-test-max-minutes", "30", "--restore-test-subnet-group", "restore-tests"],
        2,
        [
            "Invalid value for '--restore-test-every-days'",
            "target this account / us-west-2 has no restore test to change with --restore-test-subnet-group, "
            "--restore-test-max-minutes: add --restore-test-every-days N",
        ],
    ),
    "no restore test with a restore option": (
        [*PUT_WEST, "--no-restore-test", "--restore-test-every-days", "7"],
        2,
        ["Invalid value for '--no-restore-test'", "cannot be combined with --restore-test-every-days"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_a_bad_input_is_one_message_with_its_exit_code_and_writes_nothing(cloud, case):
    ok(cli("mappings", "put", "us-east-1", "--target-region", "us-west-2"))
    before = region_mappings.mapping_items(cloud.stack.mapping_table)
    args, exit_code, fragments = BAD_INPUTS[case]

    result = cli(*args)

    assert result.exit_code == exit_code, result.output
    text = flat(result)
    for fragment in fragments:
        assert fragment in text
    assert "Traceback" not in result.output
    assert result.stdout == ""  # the message is on stderr
    if exit_code == 1:
        assert len(result.stderr.strip().splitlines()) == 1
    assert region_mappings.mapping_items(cloud.stack.mapping_table) == before
    assert _recorded(cloud) == []


# --- mappings put / list / show: restore_test ----------------------------------------------------------------------


def _item(cloud: LocalCloud) -> dict[str, Any]:
    found = region_mappings.mapping_item(cloud.stack.mapping_table, "us-east-1")
    assert found is not None
    return json.loads(json.dumps(found, default=lambda v: int(v) if float(v).is_integer() else float(v)))


def test_put_sets_a_restore_test_that_show_and_list_print(cloud):
    result = ok(
        cli(
            "mappings",
            "put",
            "us-east-1",
            "--target-region",
            "eu-west-1",
            "--role-arn",
            TARGET_ROLE,
            "--restore-test-every-days",
            "7",
            "--restore-test-instance-class",
            "db.t4g.small",
            "--restore-test-subnet-group",
            "restore-tests",
            "--restore-test-security-group",
            SG,
            "--restore-test-max-minutes",
            "90",
            "--restore-test-database",
            "prod-*",
            "--restore-test-database",
            "orders",
        )
    )
    assert "added target" in result.stderr
    (target,) = _item(cloud)["targets"]
    assert target["restore_test"] == {
        "every_days": 7,
        "instance_class": "db.t4g.small",
        "subnet_group": "restore-tests",
        "security_group_ids": [SG],
        "max_minutes": 90,
        "databases": ["prod-*", "orders"],
    }

    shown = yaml.safe_load(ok(cli("mappings", "show", "us-east-1", "-o", "yaml")).stdout)
    assert shown["targets"][0]["restore_test"] == target["restore_test"]
    (row,) = json.loads(ok(cli("mappings", "list", "-o", "json")).stdout)
    assert row["restore_test"] == target["restore_test"]
    lines = ok(cli("mappings", "list")).stdout.splitlines()
    assert lines[2].split()[-1] == "restore"  # the last column's header, on two lines
    assert lines[3].split()[-1] == "test"
    (listed,) = [line for line in lines if line.split()[:1] == ["us-east-1"]]
    assert listed.split()[-2:] == ["-", "7d"]  # no RPO; tests every 7 days
    assert max(len(line) for line in lines[: lines.index("") if "" in lines else len(lines)]) <= 120


def test_a_restore_option_changes_only_its_field_after_showing_the_change_and_no_option_keeps_it(cloud):
    ok(cli("mappings", "put", "us-east-1", "--target-region", "us-west-2", "--restore-test-every-days", "7"))

    refused = cli("mappings", "put", "us-east-1", "--target-region", "us-west-2", "--restore-test-max-minutes", "30")
    assert refused.exit_code == 1, refused.output  # a change to the target: asked, and no one can answer here
    assert "~ restore_test: every 7 days, at most 120 minutes -> every 7 days, at most 30 minutes" in refused.stderr
    assert "pass --yes" in refused.stderr
    assert _item(cloud)["targets"][0]["restore_test"] == {**STORED, "max_minutes": 120}

    changed = ok(
        cli("mappings", "put", "us-east-1", "--target-region", "us-west-2", "--restore-test-max-minutes", "30", "-y")
    )
    assert "replaced target this account / us-west-2" in changed.stderr
    assert _item(cloud)["targets"][0]["restore_test"] == {**STORED, "max_minutes": 30}

    # the target put again without any restore-test option: its restore test is kept, nothing to confirm
    again = ok(cli("mappings", "put", "us-east-1", "--target-region", "us-west-2", "--rpo-hours", "26", "-y"))
    assert "restore_test" not in again.stderr
    assert _item(cloud)["targets"][0]["restore_test"]["max_minutes"] == 30

    data = json.loads(
        ok(
            cli("mappings", "put", "us-east-1", "--target-region", "us-west-2", "--no-restore-test", "-y", "-o", "json")
        ).stdout
    )
    assert data["dropped"]["restore_test"] == {**STORED, "max_minutes": 30}
    assert "restore_test" not in _item(cloud)["targets"][0]


# --- mappings check: where the restore tests would run ------------------------------------------------------------


def _seed(cloud: LocalCloud, restore_test: dict[str, Any], **spec: Any) -> ScenarioRunner:
    """orders in us-east-1; one target, the vault (the target account, eu-west-1, through its role), testing
    restores as `restore_test` says."""
    keys = [k for k in KEYS if k["name"] != "dr-west"]
    return seed(cloud, **{"keys": keys, "mappings": [mapping(vault_target(restore_test=restore_test))], **spec})


def _network(seeded: ScenarioRunner) -> tuple[str, str]:
    """A DB subnet group and a security group in the target account's eu-west-1 (one VPC): (group name, sg id)."""
    credentials = boto3.client("sts").assume_role(
        RoleArn=seeded.role_arns[TARGET_ACCOUNT], RoleSessionName="test", ExternalId=LOCAL_EXTERNAL_ID
    )["Credentials"]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="eu-west-1",
    )
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"eu-west-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    session.client("rds").create_db_subnet_group(
        DBSubnetGroupName="restore-tests", DBSubnetGroupDescription="restore tests", SubnetIds=subnets
    )
    group = ec2.create_security_group(GroupName="restore-tests", Description="restore tests", VpcId=vpc)["GroupId"]
    return "restore-tests", group


def check_rows(exit_code: int) -> list[dict[str, Any]]:
    result = ok(cli("mappings", "check", "-o", "json"), exit_code)
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def _restore_checks(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["check"]: r for r in rows if r["check"].startswith("restore test")}


def test_check_passes_when_the_restore_tests_could_run(cloud):
    seeded = _seed(cloud, RESTORE_TEST)
    subnet_group, group = _network(seeded)
    item = region_mappings.mapping_item(cloud.stack.mapping_table, "us-east-1")
    assert item is not None
    item["targets"][0]["restore_test"] = {**RESTORE_TEST, "subnet_group": subnet_group, "security_group_ids": [group]}
    boto3.resource("dynamodb").Table(cloud.stack.mapping_table).put_item(Item=item)

    checks = _restore_checks(check_rows(exit_code=0))

    assert set(checks) == {
        "restore test: role",
        "restore test: subnet group",
        "restore test: security groups",
        "restore test: instance orders (postgres 16.3)",
    }
    assert all(c["ok"] for c in checks.values())
    assert all((c["target_account"], c["target_region"]) == (TARGET_ACCOUNT, "eu-west-1") for c in checks.values())
    assert "allows restore tests" in checks["restore test: role"]["detail"]
    assert checks["restore test: instance orders (postgres 16.3)"]["detail"] == (
        f"would restore as db.t4g.micro in {TARGET_ACCOUNT} / eu-west-1 (the smallest offered)"
    )


def _failed(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The one failed check (exactly the failure the test is about)."""
    (failed,) = [r for r in rows if not r["ok"]]
    assert (failed["target_account"], failed["target_region"]) == (TARGET_ACCOUNT, "eu-west-1")
    return failed


def test_check_fails_for_a_subnet_group_that_does_not_exist(cloud):
    _seed(cloud, {**RESTORE_TEST, "subnet_group": "no-such-group"})

    failed = _failed(check_rows(exit_code=1))

    assert failed["check"] == "restore test: subnet group"
    assert failed["detail"] == (
        f"DB subnet group no-such-group does not exist in {TARGET_ACCOUNT} / eu-west-1: create it there, or set "
        "another in restore_test.subnet_group (mappings put option --restore-test-subnet-group)"
    )


def test_check_fails_for_a_security_group_that_does_not_exist(cloud):
    seeded = _seed(cloud, RESTORE_TEST)
    _, group = _network(seeded)
    item = region_mappings.mapping_item(cloud.stack.mapping_table, "us-east-1")
    assert item is not None
    item["targets"][0]["restore_test"] = {**RESTORE_TEST, "security_group_ids": [group, SG]}
    boto3.resource("dynamodb").Table(cloud.stack.mapping_table).put_item(Item=item)

    failed = _failed(check_rows(exit_code=1))

    assert failed["check"] == "restore test: security groups"
    assert failed["detail"].startswith(f"security group(s) {SG} do not exist in {TARGET_ACCOUNT} / eu-west-1: ")
    assert group not in failed["detail"]  # the one that exists is not named
    assert "--restore-test-security-group" in failed["detail"]


def test_check_fails_when_no_instance_class_is_offered_for_the_engine(cloud):
    _seed(cloud, RESTORE_TEST)
    cloud.doubles.instance_classes.unavailable.add(("eu-west-1", "postgres"))

    failed = _failed(check_rows(exit_code=1))

    assert failed["check"] == "restore test: instance orders (postgres 16.3)"
    assert failed["detail"].startswith(
        f"no small instance class is offered for postgres 16.3 in {TARGET_ACCOUNT} / eu-west-1"
    )
    assert "(mappings put option --restore-test-instance-class)" in failed["detail"]


def test_check_fails_when_the_given_instance_class_is_not_offered(cloud):
    _seed(cloud, {**RESTORE_TEST, "instance_class": "db.x2iedn.32xlarge"})

    failed = _failed(check_rows(exit_code=1))

    assert failed["check"] == "restore test: instance orders (postgres 16.3)"
    assert failed["detail"].startswith(
        f"db.x2iedn.32xlarge is not offered for postgres 16.3 in {TARGET_ACCOUNT} / eu-west-1: set one that is in "
        "restore_test.instance_class"
    )


def test_check_fails_when_the_target_role_denies_restore_tests(cloud):
    seeded = _seed(cloud, {**RESTORE_TEST, "subnet_group": "no-such-group"}, restore_tests="denied")

    rows = check_rows(exit_code=1)

    failed = _failed(rows)  # one line: the checks the role would refuse are not made
    assert failed["check"] == "restore test: role"
    assert failed["detail"].startswith(
        f"{seeded.role_arns[TARGET_ACCOUNT]} denies restore tests (replicator:restore-tests = denied): every restore "
        f"test on {TARGET_ACCOUNT} / eu-west-1 would fail; update the target-account-role.yaml stack in account "
        f"{TARGET_ACCOUNT} with RestoreTests=allowed"
    )
    assert not any(r["check"] == "restore test: subnet group" for r in rows)

    table = ok(cli("mappings", "check"), exit_code=1)
    assert "1 check(s) would fail" in table.stderr
    assert "RestoreTests=allowed" in flat(table)
