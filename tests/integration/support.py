"""Helpers of the integration tests: the whole application on the embedded emulation (template.yaml provisioned
on moto at 127.0.0.1, real handlers, the real ASL run by moto's Step Functions engine, documented doubles)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from moto.cloudformation.models import cloudformation_backends

from replicator.aws.dynamodb import restore_test_records, slot_pools
from replicator.restore_testing import RestoreTestRecord
from replicator_cli.local.cloud import HOME_REGION, LOCAL_EXTERNAL_ID, SOURCE_ACCOUNT, LocalCloud
from replicator_cli.local.emulation import BeforeEvents, Emulation, emulation, states_entered
from replicator_cli.local.provision import LocalStack, account_client, load_template
from replicator_cli.local.scenario import Scenario, ScenarioRunner, snapshot_event

ROOT = Path(__file__).resolve().parents[2]
TARGET_ACCOUNT = "210987654321"
OUTCOME_QUEUE = "replication-outcomes"


class Run(Emulation):
    """The emulation after the scenario's run, as the tests read it (records, executions, histories, events)."""

    def outcome_events(self) -> list[dict[str, Any]]:
        """The Snapshot Replication Succeeded / Failed events published on the default bus."""
        sqs = boto3.client("sqs")
        url = sqs.get_queue_url(QueueName=OUTCOME_QUEUE)["QueueUrl"]
        events = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return events
            for message in messages:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def states_entered(self, execution: dict[str, Any] | None = None) -> list[str]:
        """The states the execution (default: the only one) entered, in order."""
        if execution is None:
            (execution,) = self.executions()
        return states_entered(self.history(execution["executionArn"]))

    def slot_holders(self, region: str = "us-west-2", kind: str = "instance") -> dict[str, Any]:
        """Who holds a copy slot of the pool of the source account's copies to `region` ({} once all are given back)."""
        table = self.cloud.stack.resources["CopySlotsTable"]
        return slot_pools.holders(table, f"{SOURCE_ACCOUNT}#{region}#{kind}")


@contextmanager
def scenario_run(spec: dict[str, Any], before_events: BeforeEvents | None = None) -> Iterator[Run]:
    """The emulation up with the scenario `spec` seeded, the outcome events captured, `before_events(cloud, runner)`
    called, the events sent and every replication ended (replicator_cli.local.emulation)."""
    with emulation(spec, run=False, root=ROOT) as up:
        capture_outcome_events()
        run = Run(up.cloud, up.runner)
        run.run(before_events)
        yield run


def failing(service: str, action: str, code: str, times: int = 1, skip: int = 0) -> BeforeEvents:
    """A before_events fault: `action` of `service` fails with `code`, `times` times, after `skip` calls that pass."""
    return lambda cloud, runner: cloud.doubles.faults.fail(service, action, code, times=times, skip=skip)


def restore_test_executions(run: Run) -> list[dict[str, Any]]:
    """The executions of the restore-test state machine."""
    return run.executions("RestoreTestStateMachine")


def restore_tests_ended(run: Run, timeout: float = 60) -> list[RestoreTestRecord]:
    """The restore tests' records once every execution of the restore-test state machine has ended; each execution
    must have succeeded (a test records its own failures as its outcome)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        executions = restore_test_executions(run)
        if executions and all(e["status"] != "RUNNING" for e in executions):
            break
        time.sleep(0.5)
    executions = restore_test_executions(run)
    assert executions, "no restore test was started"
    assert all(e["status"] == "SUCCEEDED" for e in executions), executions
    return restore_test_records.started_since(run.cloud.stack.history_table, datetime.now(UTC) - timedelta(days=1))


def capture_outcome_events() -> None:
    """An EventBridge rule sending the replicator's outcome events to an SQS queue, as an alerting rule would."""
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=OUTCOME_QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events")
    events.put_rule(Name="outcomes", EventPattern=json.dumps({"source": ["rds-snapshot-replicator"]}))
    events.put_targets(Rule="outcomes", Targets=[{"Id": "queue", "Arn": queue_arn}])


def vault_target(**extra: Any) -> dict[str, Any]:
    """A mapping target in the target account, eu-west-1, through its role: the usual cross-account destination."""
    return {
        "target_region": "eu-west-1",
        "role_arn": f"{{{{role:{TARGET_ACCOUNT}}}}}",
        "encryption": {"enabled": True, "kms_key_arn": "{{key:vault-eu}}"},
        "share_kms_key_arn": "{{key:share-east}}",
        **extra,
    }


def shareable_vault_target(**extra: Any) -> dict[str, Any]:
    """vault_target without a share key: for a source shareable as it is (a customer managed key)."""
    return {k: v for k, v in vault_target(**extra).items() if k != "share_kms_key_arn"}


def mapping(*targets: dict[str, Any], source_region: str = "us-east-1") -> dict[str, Any]:
    return {"source_region": source_region, "targets": list(targets)}


CROSS_ACCOUNT = mapping(vault_target())
# the scenarios' keys: dr-west (us-west-2), share-east (us-east-1) and vault-eu (eu-west-1, in the target account)
KEYS = [
    {"name": "dr-west", "region": "us-west-2"},
    {"name": "share-east", "region": "us-east-1"},
    {"name": "vault-eu", "region": "eu-west-1", "account": TARGET_ACCOUNT},
]


def database(identifier: str = "orders", **fields: Any) -> dict[str, Any]:
    """A scenario's database: an encrypted PostgreSQL 16.3 instance in us-east-1, unless `fields` say otherwise."""
    return {"id": identifier, "engine": "postgres", "engine_version": "16.3", "encrypted": True, **fields}


def aurora(identifier: str, **fields: Any) -> dict[str, Any]:
    """A scenario's Aurora PostgreSQL 15.4 cluster, encrypted with the share-east key (shareable as it is)."""
    fields = {"engine": "aurora-postgresql", "engine_version": "15.4", "kms_key": "share-east", **fields}
    return database(identifier, kind="cluster", **fields)


def create_instance(identifier: str, region: str = "us-east-1", **fields: Any) -> None:
    """A PostgreSQL 16.3 DB instance made through the RDS API (outside a scenario), with any other parameter."""
    boto3.client("rds", region_name=region).create_db_instance(
        DBInstanceIdentifier=identifier,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        EngineVersion="16.3",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="local-only-password",
        **fields,
    )


def seed(cloud: LocalCloud, **spec: Any) -> ScenarioRunner:
    """Keys, databases (orders), a target account's role and whatever else `spec` declares, seeded into a running
    emulation as a scenario would (mapping placeholders resolved); no event sent."""
    scenario: dict[str, Any] = {
        "name": "check",
        "target_accounts": [TARGET_ACCOUNT],
        "keys": [dict(k) for k in KEYS],
        "databases": [database()],
        **spec,
    }
    runner = ScenarioRunner(Scenario.model_validate(scenario), cloud, ROOT)
    runner.seed()
    return runner


def burst(names: list[str], **overrides: Any) -> dict[str, Any]:
    """base_scenario with a manual snapshot of orders for each name, an event each, and a copy quota of 1."""
    defaults = {
        "snapshots": [{"id": n, "database": "orders"} for n in names],
        "events": [{"snapshot": n} for n in names],
        "instance_copy_quota": 1,
    }
    return base_scenario(**{**defaults, **overrides})


def base_scenario(**overrides: Any) -> dict[str, Any]:
    """A source account with one encrypted PostgreSQL database in us-east-1 and a target account."""
    scenario: dict[str, Any] = {
        "name": "test",
        "copy_seconds": 1.0,
        "poll_seconds": 1,
        "timeout_seconds": 60,
        "target_accounts": [TARGET_ACCOUNT],
        "keys": [dict(k) for k in KEYS],
        "databases": [database()],
        "snapshots": [{"id": "rds:orders-2026-11-24-03-10", "database": "orders", "type": "automated"}],
        "mappings": [
            {
                "source_region": "us-east-1",
                "targets": [
                    {
                        "target_region": "us-west-2",
                        "encryption": {"enabled": True, "kms_key_arn": "{{key:dr-west}}", "key_usage": "all"},
                    }
                ],
            }
        ],
        "events": [{"snapshot": "rds:orders-2026-11-24-03-10"}],
    }
    scenario.update(overrides)
    return scenario


__all__ = [
    "CROSS_ACCOUNT",
    "KEYS",
    "ROOT",
    "SOURCE_ACCOUNT",
    "TARGET_ACCOUNT",
    "Run",
    "aurora",
    "base_scenario",
    "burst",
    "create_instance",
    "database",
    "failing",
    "mapping",
    "restore_test_executions",
    "restore_tests_ended",
    "scenario_run",
    "seed",
    "shareable_vault_target",
    "vault_target",
]


# ---- a second workload account: its own replicator stack (LocalCloud.add_stack), database, mapping, events ----

OTHER_WORKLOAD = "333333333333"


def deploy_vault_role(
    cloud: LocalCloud,
    pattern: str,
    role_name: str,
    shared_pool: bool = True,
    organization_id: str | None = None,
) -> str:
    """target-account-role.yaml in the vault (TARGET_ACCOUNT) as `role_name`, trusting the replicator roles of
    `pattern`: with the coordinator's shared pool (`shared_pool`), in organization mode (`organization_id`: the
    pattern's account is then *); the role's ARN."""
    template = load_template(cloud.root / "target-account-role.yaml")
    parameters = {"ReplicatorRolePattern": pattern, "ExternalId": LOCAL_EXTERNAL_ID, "RoleName": role_name}
    if shared_pool and cloud.coordinator is not None:
        parameters["SharedSlotPoolTableArn"] = cloud.coordinator.table_arn
    if organization_id:
        parameters["TrustedOrganizationId"] = organization_id
    stack = cloudformation_backends[TARGET_ACCOUNT][HOME_REGION].create_stack(
        name=role_name, template=json.dumps(template), parameters=parameters
    )
    assert stack.status == "CREATE_COMPLETE", stack.status
    return f"arn:aws:iam::{TARGET_ACCOUNT}:role/{role_name}"


def seed_workload(
    stack: LocalStack, account: str, snapshots: list[str], role_arn: str, vault_key_arn: str, database: str = "billing"
) -> None:
    """A second workload account: an unencrypted PostgreSQL database with manual snapshots, and its stack's mapping
    into the vault (eu-west-1, encrypted there with the vault's key)."""
    rds = account_client("rds", HOME_REGION, account)
    rds.create_db_instance(
        DBInstanceIdentifier=database,
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        Engine="postgres",
        EngineVersion="16.3",
        MasterUsername="admin",
        MasterUserPassword="local-only-password",
    )
    for snapshot in snapshots:
        rds.create_db_snapshot(DBInstanceIdentifier=database, DBSnapshotIdentifier=snapshot)
    target = {
        "target_region": "eu-west-1",
        "role_arn": role_arn,
        "encryption": {"enabled": True, "kms_key_arn": vault_key_arn},
    }
    account_client("dynamodb", HOME_REGION, account).put_item(
        TableName=stack.mapping_table,
        Item={"source_region": {"S": HOME_REGION}, "targets": {"L": [{"M": _typed(target)}]}},
    )


def _typed(value: dict[str, Any]) -> dict[str, Any]:
    """A plain dict as DynamoDB's typed attribute values (strings, booleans, maps)."""
    typed: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            typed[key] = {"BOOL": item}
        elif isinstance(item, dict):
            typed[key] = {"M": _typed(item)}
        else:
            typed[key] = {"S": str(item)}
    return typed


def send_snapshot_events(account: str, snapshots: list[str]) -> None:
    """RDS's snapshot-created events of `account`'s manual snapshots, on its default bus."""
    events = account_client("events", HOME_REGION, account)
    for snapshot in snapshots:
        arn = f"arn:aws:rds:{HOME_REGION}:{account}:snapshot:{snapshot}"
        event = snapshot_event(arn, "manual", HOME_REGION, account)
        response = events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                }
            ]
        )
        assert not response.get("FailedEntryCount"), response


def wait_for_records(stack: LocalStack, account: str, count: int, timeout: float = 180.0) -> list[dict[str, Any]]:
    """The replication records of `stack` (in `account`) once `count` of them are final (plain values)."""
    client = account_client("dynamodb", HOME_REGION, account)
    final = {"SUCCEEDED", "FAILED", "SKIPPED"}
    deadline = time.monotonic() + timeout
    while True:
        items = client.scan(TableName=stack.history_table, ConsistentRead=True)["Items"]
        records = [{k: next(iter(v.values())) for k, v in i.items()} for i in items if "status" in i]
        if sum(1 for r in records if r["status"] in final) >= count or time.monotonic() > deadline:
            return sorted(records, key=lambda r: str(r.get("source_arn")))
        time.sleep(0.5)
