"""Helpers of the integration tests: the whole application on the embedded emulation (template.yaml provisioned
on moto at 127.0.0.1, real handlers, the real ASL run by moto's Step Functions engine, documented doubles)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from replicator.aws import restore_test_records
from replicator.history import ReplicationRecord
from replicator.restore_testing import RestoreTestRecord
from replicator_cli.local.cloud import SOURCE_ACCOUNT, LocalCloud
from replicator_cli.local.scenario import Scenario, ScenarioResult, ScenarioRunner, stack_parameters

ROOT = Path(__file__).resolve().parents[2]
TARGET_ACCOUNT = "210987654321"
OUTCOME_QUEUE = "replication-outcomes"


@dataclass
class Run:
    cloud: LocalCloud
    runner: ScenarioRunner
    result: ScenarioResult
    records: list[ReplicationRecord]

    def record(self, snapshot: str, target_region: str | None = None) -> ReplicationRecord:
        found = [
            r
            for r in self.records
            if r.source_arn
            and r.source_arn.endswith(":" + snapshot)
            and (target_region is None or r.target_region == target_region)
        ]
        assert len(found) == 1, f"expected one record for {snapshot} -> {target_region}, got {found}"
        return found[0]

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

    def executions(self) -> list[dict[str, Any]]:
        sfn = boto3.client("stepfunctions")
        return sfn.list_executions(stateMachineArn=self.cloud.stack.state_machine_arn)["executions"]

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = boto3.client("stepfunctions")
        return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


def restore_test_executions(run: Run) -> list[dict[str, Any]]:
    """The executions of the restore-test state machine."""
    arn = run.cloud.stack.state_machine_arns["RestoreTestStateMachine"]
    executions: list[dict[str, Any]] = boto3.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]
    return executions


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


def mapping(*targets: dict[str, Any], source_region: str = "us-east-1") -> dict[str, Any]:
    return {"source_region": source_region, "targets": list(targets)}


CROSS_ACCOUNT = mapping(vault_target())


def base_scenario(**overrides: Any) -> dict[str, Any]:
    """A source account with one encrypted PostgreSQL database in us-east-1 and a target account."""
    scenario: dict[str, Any] = {
        "name": "test",
        "copy_seconds": 1.0,
        "poll_seconds": 1,
        "timeout_seconds": 60,
        "target_accounts": [TARGET_ACCOUNT],
        "keys": [
            {"name": "dr-west", "region": "us-west-2"},
            {"name": "share-east", "region": "us-east-1"},
            {"name": "vault-eu", "region": "eu-west-1", "account": TARGET_ACCOUNT},
        ],
        "databases": [{"id": "orders", "engine": "postgres", "engine_version": "16.3", "encrypted": True}],
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


def run_in_cloud(spec: dict[str, Any], clouds: list[LocalCloud], before_events: Any = None) -> Run:
    scenario = Scenario.model_validate(spec)
    cloud = LocalCloud(
        ROOT,
        copy_seconds=scenario.copy_seconds,
        poll_seconds=scenario.poll_seconds,
        parameters=stack_parameters(scenario),
    )
    cloud.__enter__()
    clouds.append(cloud)
    capture_outcome_events()
    runner = ScenarioRunner(scenario, cloud, ROOT)
    runner.seed()
    if before_events:
        before_events(cloud, runner)
    runner.send(runner.events())
    records = runner.wait()
    return Run(cloud, runner, runner.result(records), records)


__all__ = [
    "CROSS_ACCOUNT",
    "ROOT",
    "SOURCE_ACCOUNT",
    "TARGET_ACCOUNT",
    "Run",
    "base_scenario",
    "mapping",
    "restore_test_executions",
    "restore_tests_ended",
    "run_in_cloud",
    "vault_target",
]
