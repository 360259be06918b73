"""Attacks on the replicator, tried as someone with ordinary rights in the source account would (docs/security.md).

Each test is one row of the threat model: what the attacker does, through the real template, handlers and state
machine on the emulation, and what must (not) happen. The forged payloads are in the format the replicator's tasks
took before the plan moved into the replication's record, so these tests also fail on that older code.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
from factories import source_snapshot
from moto.rds.models import rds_backends
from support import SOURCE_ACCOUNT, TARGET_ACCOUNT, base_scenario, create_instance, mapping, vault_target

from replicator.aws.dynamodb.replication_records import scan_records
from replicator.mapping import MappingTarget
from replicator.planning import StepAction, plan_replication
from replicator.snapshots import SnapshotKind, SourceSnapshot, replica_identifier, snapshot_arn

OTHER_ACCOUNT = "444455556666"
LEDGER_DB = {"id": "ledger", "engine": "postgres", "engine_version": "16.3", "encrypted": False}
LEDGER = "ledger-manual-1"
LEDGER_ARN = snapshot_arn(SnapshotKind.INSTANCE, "us-east-1", SOURCE_ACCOUNT, LEDGER)
TO_WEST = {"source_region": "us-east-1", "targets": [{"target_region": "us-west-2"}]}


def _ledger_scenario(**overrides: Any) -> dict[str, Any]:
    spec = {
        "databases": [LEDGER_DB],
        "snapshots": [{"id": LEDGER, "database": "ledger"}],
        "mappings": [TO_WEST],
        "events": [],
    }
    spec.update(overrides)
    return base_scenario(**spec)


def _restore_attribute(account: str, region: str, identifier: str, cluster: bool = False) -> list[str]:
    backend = rds_backends[account][region]
    snapshot = (backend.cluster_snapshots if cluster else backend.database_snapshots)[identifier]
    return list(snapshot.attributes.get("restore", []))


def _ledger_source() -> SourceSnapshot:
    return source_snapshot(
        LEDGER, "manual", arn=LEDGER_ARN, encrypted=False, engine_version="16.3", database_identifier="ledger"
    )


def forged_state(share_with: str, phase: str = "step_done") -> dict[str, Any]:
    """A replication state carrying its own plan: share the ledger snapshot with `share_with`."""
    plan = plan_replication(_ledger_source(), MappingTarget(target_region="us-west-2", role_arn=None))
    share = plan.steps[0].model_copy(
        update={
            "action": StepAction.SHARE,
            "region": "us-east-1",
            "snapshot_identifier": LEDGER,
            "share_with": share_with,
            "source_arn": None,
            "purpose": f"share with account {share_with}",
        }
    )
    forged = plan.model_copy(update={"steps": [share], "cleanup": []})
    return {
        "plan": forged.model_dump(mode="json"),
        "event_id": "forged",
        "step_index": 0,
        "phase": phase,
        "slot_recheck_seconds": 5,
    }


def _tampering_records(run) -> list[Any]:
    return [r for r in scan_records(run.cloud.stack.history_table) if r.replication_id.startswith("tampering-")]


def _wait_for_execution(execution_arn: str, timeout: float = 60) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        execution = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING" or time.monotonic() > deadline:
            return execution
        time.sleep(0.3)


def test_a_forged_run_step_invocation_shares_nothing_and_is_recorded(run_scenario):
    run = run_scenario(_ledger_scenario())
    function = run.cloud.stack.function("RunStepFunction").name
    for account in ("all", OTHER_ACCOUNT):
        response = boto3.client("lambda").invoke(FunctionName=function, Payload=json.dumps(forged_state(account)))
        assert response.get("FunctionError"), "the forged invocation was carried out"
        assert "PlanTampering" in response["Payload"].read().decode()

    assert _restore_attribute(SOURCE_ACCOUNT, "us-east-1", LEDGER) == []
    assert run.cloud.doubles.copy_clock.started == []
    refused = _tampering_records(run)
    assert len(refused) == 2
    assert {r.status.value for r in refused} == {"FAILED"}
    assert all("RunStep refused an input the replicator did not make" in r.reason for r in refused)
    assert run.cloud.doubles.metrics.count("PlanTampering") == 2


def test_a_forged_task_input_in_the_replicators_own_format_is_refused_unless_it_comes_from_the_owning_execution(
    run_scenario,
):
    run = run_scenario(_ledger_scenario(events=[{"snapshot": LEDGER}]))
    record = run.record(LEDGER, "us-west-2")
    assert record.status.value == "SUCCEEDED", record.reason
    function = run.cloud.stack.function("FinishReplicationFunction").name
    state = {"replication_id": record.replication_id, "phase": "failed", "error": {"Error": "Forged"}}

    forged = boto3.client("lambda").invoke(
        FunctionName=function, Payload=json.dumps({"state": state, "execution_name": "someone-else"})
    )

    assert forged.get("FunctionError")
    assert "does not own replication" in forged["Payload"].read().decode()
    after = run.record(LEDGER, "us-west-2")
    assert (after.status.value, after.replica_arn) == ("SUCCEEDED", record.replica_arn)  # never downgraded
    replica = rds_backends[SOURCE_ACCOUNT]["us-west-2"].database_snapshots.get(record.replica_arn.rsplit(":", 1)[1])
    assert replica is not None  # and its replica is still there
    assert run.cloud.doubles.metrics.count("PlanTampering") == 1


def test_a_forged_execution_shares_nothing_and_fails(run_scenario):
    run = run_scenario(_ledger_scenario())
    sfn = boto3.client("stepfunctions")
    arns = [
        sfn.start_execution(
            stateMachineArn=run.cloud.stack.state_machine_arn,
            name=f"forged-{n}",
            input=json.dumps(forged_state(account, phase="queued")),
        )["executionArn"]
        for n, account in enumerate(("all", OTHER_ACCOUNT))
    ]

    executions = [_wait_for_execution(arn) for arn in arns]

    assert [e["status"] for e in executions] == ["FAILED", "FAILED"]
    assert _restore_attribute(SOURCE_ACCOUNT, "us-east-1", LEDGER) == []
    refused = _tampering_records(run)
    assert {r.execution_name for r in refused} == {"forged-0", "forged-1"}  # one record per forged execution
    assert run.cloud.doubles.metrics.count("PlanTampering") >= 2


def test_a_waiters_state_edited_in_the_copy_slots_table_changes_nothing(run_scenario):
    snapshots = [{"id": f"ledger-manual-{n}", "database": "ledger"} for n in (1, 2)]
    edited: list[str] = []

    def edit_the_waiter(cloud, runner):
        table = boto3.resource("dynamodb").Table(cloud.stack.resources["CopySlotsTable"])

        def watch() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                items = table.scan(ConsistentRead=True)["Items"]
                waiters = [i for i in items if str(i["entry"]).startswith("wait#")]
                if waiters:
                    for waiter in waiters:
                        table.update_item(
                            Key={"pool": waiter["pool"], "entry": waiter["entry"]},
                            UpdateExpression="SET #s = :forged",
                            ExpressionAttributeNames={"#s": "state"},
                            ExpressionAttributeValues={":forged": json.dumps(forged_state("all"))},
                        )
                        edited.append(str(waiter["replication_id"]))
                    return
                time.sleep(0.05)

        threading.Thread(target=watch, daemon=True).start()

    spec = _ledger_scenario(
        snapshots=snapshots, events=[{"snapshot": s["id"]} for s in snapshots], instance_copy_quota=1, copy_seconds=3
    )
    run = run_scenario(spec, before_events=edit_the_waiter)

    assert edited, "no replication waited for a slot: the attack was not tried"
    assert [r.status.value for r in run.records] == ["SUCCEEDED", "SUCCEEDED"], [r.reason for r in run.records]
    for snapshot in snapshots:
        assert _restore_attribute(SOURCE_ACCOUNT, "us-east-1", snapshot["id"]) == []
    assert run.cloud.doubles.copy_clock.max_in_flight[(SOURCE_ACCOUNT, "us-west-2", False)] == 1


def _plant_snapshot(name: str, region: str, encrypted: bool, tags: dict[str, str], database: str = "planted") -> None:
    """Someone makes a snapshot under the name the replica will have (names are deterministic)."""
    create_instance(database, region, StorageEncrypted=encrypted)
    boto3.client("rds", region_name=region).create_db_snapshot(
        DBInstanceIdentifier=database,
        DBSnapshotIdentifier=name,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )


def _orders_replica_name() -> str:
    orders = source_snapshot("rds:orders-2026-11-24-03-10", account_id=SOURCE_ACCOUNT, engine_version="16.3")
    return replica_identifier(orders, SOURCE_ACCOUNT, "us-west-2")


def test_a_planted_unencrypted_snapshot_under_the_replicas_name_is_never_adopted(run_scenario):
    name = _orders_replica_name()

    def plant(cloud, runner):
        _plant_snapshot(name, "us-west-2", encrypted=False, tags={"team": "attacker"})

    run = run_scenario(base_scenario(), before_events=plant)  # an encrypted source, replicas encrypted in us-west-2

    record = run.record("rds:orders-2026-11-24-03-10", "us-west-2")
    assert record.status.value == "FAILED"
    assert f"a snapshot named {name} exists and was not made by this replication" in record.reason
    assert record.replica_arn is None
    planted = rds_backends[SOURCE_ACCOUNT]["us-west-2"].database_snapshots.get(name)
    assert planted is not None, "the planted snapshot was deleted"
    assert not planted.encrypted
    assert {t["Key"]: t["Value"] for t in planted.tags} == {"team": "attacker"}  # untouched


def test_a_planted_snapshot_carrying_forged_replicator_tags_is_not_adopted_when_unencrypted(run_scenario):
    name = _orders_replica_name()
    source_arn = snapshot_arn(SnapshotKind.INSTANCE, "us-east-1", SOURCE_ACCOUNT, "rds:orders-2026-11-24-03-10")

    def plant(cloud, runner):
        from replicator.snapshots import replication_id

        tags = {
            "replicator:replication-id": replication_id(source_arn, SOURCE_ACCOUNT, "us-west-2"),
            "replicator:source-arn": source_arn,
            "replicator:managed-by": "rds-snapshot-replicator",
        }
        # of a database named like the source's, in the target region: only the encryption gives it away
        _plant_snapshot(name, "us-west-2", encrypted=False, tags=tags, database="orders")

    run = run_scenario(base_scenario(), before_events=plant)

    record = run.record("rds:orders-2026-11-24-03-10", "us-west-2")
    assert record.status.value == "FAILED"
    assert f"snapshot {name} is unencrypted, which this replication's plan does not make" in record.reason
    planted = rds_backends[SOURCE_ACCOUNT]["us-west-2"].database_snapshots.get(name)
    assert planted is not None
    assert not planted.encrypted
    assert "replicator:complete" not in {t["Key"] for t in planted.tags}


INVENTORY_DB = {"id": "inventory", "engine": "postgres", "engine_version": "16.3", "encrypted": True}
CROSS_ACCOUNT_MANUAL = {
    "source_region": "us-east-1",
    "targets": [
        {
            "target_region": "eu-west-1",
            "role_arn": f"{{{{role:{TARGET_ACCOUNT}}}}}",
            "encryption": {"enabled": True, "kms_key_arn": "{{key:vault-eu}}"},
        }
    ],
}


def test_a_share_that_existed_before_the_replication_is_kept(run_scenario):
    def share_by_hand(cloud, runner):
        boto3.client("rds").modify_db_snapshot_attribute(
            DBSnapshotIdentifier="inventory-manual-1", AttributeName="restore", ValuesToAdd=[TARGET_ACCOUNT]
        )

    spec = base_scenario(
        databases=[{**INVENTORY_DB, "kms_key": "share-east"}],
        snapshots=[{"id": "inventory-manual-1", "database": "inventory"}],
        events=[{"snapshot": "inventory-manual-1"}],
        mappings=[CROSS_ACCOUNT_MANUAL],
    )
    run = run_scenario(spec, before_events=share_by_hand)

    record = run.record("inventory-manual-1", "eu-west-1")
    assert record.status.value == "SUCCEEDED", record.reason
    assert _restore_attribute(SOURCE_ACCOUNT, "us-east-1", "inventory-manual-1") == [TARGET_ACCOUNT]
    assert run.result.leftovers == []


def test_two_targets_in_one_account_share_one_source_and_both_copies_succeed(run_scenario):
    # both plans share the source with the same account: the first to finish must leave the share to the second,
    # which is still at work (AWS refuses the single step here, so it stages an in-region copy first, in the same
    # pool as the other one's copy: quota 1, it waits for that copy to end, then copies across regions)
    mapping = {
        "source_region": "us-east-1",
        "targets": [
            {"target_region": "us-east-1", "role_arn": f"{{{{role:{TARGET_ACCOUNT}}}}}"},
            {"target_region": "eu-west-1", "role_arn": f"{{{{role:{TARGET_ACCOUNT}}}}}"},
        ],
    }
    seen_while_the_other_runs: list[list[str]] = []

    def watch_the_share(cloud, runner):
        def watch() -> None:
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and not seen_while_the_other_runs:
                records = [r for r in scan_records(cloud.stack.history_table) if r.target_region]
                final = [r for r in records if r.status.final]
                if len(records) == 2 and len(final) == 1:
                    seen_while_the_other_runs.append(_restore_attribute(SOURCE_ACCOUNT, "us-east-1", LEDGER))
                time.sleep(0.1)

        threading.Thread(target=watch, daemon=True).start()

    spec = _ledger_scenario(
        events=[{"snapshot": LEDGER}],
        mappings=[mapping],
        instance_copy_quota=1,
        copy_seconds=2,
        refuse_single_step=True,
    )
    run = run_scenario(spec, before_events=watch_the_share)

    for region in ("us-east-1", "eu-west-1"):
        record = run.record(LEDGER, region)
        assert record.status.value == "SUCCEEDED", f"{region}: {record.reason}"
    assert seen_while_the_other_runs, "the two replications never ran one after the other"
    assert seen_while_the_other_runs[0] == [TARGET_ACCOUNT]  # still shared while the other one needed it
    # the replicator added the share, and the last replication that needed it removed it
    assert _restore_attribute(SOURCE_ACCOUNT, "us-east-1", LEDGER) == []
    assert run.result.leftovers == []


def test_an_event_for_a_snapshot_of_another_account_is_skipped(run_scenario):
    # the attacker's account has a snapshot named like one of ours: the replicator must not copy ours in its place
    foreign_arn = snapshot_arn(SnapshotKind.INSTANCE, "us-east-1", OTHER_ACCOUNT, LEDGER)
    event = {
        "version": "0",
        "id": "7f3c1a9e-2b4d-4e6f-8a0b-1c2d3e4f5a6b",
        "detail-type": "RDS DB Snapshot Event",
        "source": "aws.rds",
        "account": OTHER_ACCOUNT,
        "time": "2026-11-24T03:15:00Z",
        "region": "us-east-1",
        "resources": [foreign_arn],
        "detail": {
            "EventCategories": ["creation"],
            "SourceType": "SNAPSHOT",
            "SourceArn": foreign_arn,
            "SourceIdentifier": LEDGER,
            "EventID": "RDS-EVENT-0042",
        },
    }

    def deliver_directly(cloud, runner):
        name = cloud.stack.function("StartReplicationFunction").name
        boto3.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())

    run = run_scenario(_ledger_scenario(), before_events=deliver_directly)

    (record,) = run.records
    assert record.status.value == "SKIPPED"
    assert f"{foreign_arn} (event from account {OTHER_ACCOUNT}) is not a snapshot of this account" in record.reason
    assert run.executions() == []
    assert run.cloud.doubles.copy_clock.started == []


def test_a_mapping_naming_an_account_the_stack_does_not_allow_is_refused(run_scenario):
    mapping = {
        "source_region": "us-east-1",
        "targets": [
            {"target_region": "us-west-2"},
            {"target_region": "eu-west-1", "role_arn": f"arn:aws:iam::{OTHER_ACCOUNT}:role/rds-snapshot-replicator-x"},
        ],
    }
    run = run_scenario(_ledger_scenario(events=[{"snapshot": LEDGER}], mappings=[mapping]))

    refused = run.record(LEDGER, "eu-west-1")
    assert refused.status.value == "FAILED"
    assert f"account {OTHER_ACCOUNT} is not allowed by the stack parameter AllowedTargetAccounts" in refused.reason
    assert run.record(LEDGER, "us-west-2").status.value == "SUCCEEDED"  # the allowed target is replicated
    assert [e["name"] for e in run.executions()] == [run.record(LEDGER, "us-west-2").replication_id]


VAULT = mapping(vault_target(keep_last=1))
NIGHTLY = ["orders-a", "orders-b"]


def _vault_run(run_scenario, mode: str):
    spec = base_scenario(
        snapshots=[{"id": n, "database": "orders"} for n in NIGHTLY],
        events=[{"snapshot": n} for n in NIGHTLY],
        mappings=[VAULT],
        replica_deletion=mode,
    )
    run = run_scenario(spec)
    assert [r.status.value for r in run.records] == ["SUCCEEDED", "SUCCEEDED"], [r.reason for r in run.records]
    return run


def _as_the_target_role(run) -> Any:
    """What someone holding the source account (and so the replicator's rights) can do in the vault account."""
    credentials = boto3.client("sts").assume_role(
        RoleArn=run.runner.role_arns[TARGET_ACCOUNT], RoleSessionName="attacker", ExternalId="replicator-local"
    )["Credentials"]
    return boto3.client(
        "rds",
        region_name="eu-west-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _vault_replica(run, snapshot: str):
    identifier = run.record(snapshot, "eu-west-1").replica_arn.rsplit(":", 1)[1]
    return rds_backends[TARGET_ACCOUNT]["eu-west-1"].database_snapshots.get(identifier)


def test_a_finished_replica_is_tagged_complete(run_scenario):
    run = _vault_run(run_scenario, "retention")
    for snapshot in NIGHTLY:
        tags = {t["Key"]: t["Value"] for t in _vault_replica(run, snapshot).tags}
        assert tags["replicator:complete"] == "true"
    assert run.result.leftovers == []  # staging copies (never complete) were deleted


def test_in_never_mode_the_source_account_cannot_destroy_or_retag_a_finished_replica(run_scenario):
    import pytest
    from botocore.exceptions import ClientError

    run = _vault_run(run_scenario, "never")
    replica = _vault_replica(run, NIGHTLY[0])
    rds = _as_the_target_role(run)
    name = replica.snapshot_id if hasattr(replica, "snapshot_id") else replica.db_snapshot_identifier
    arn = run.record(NIGHTLY[0], "eu-west-1").replica_arn

    for attempt in (
        lambda: rds.delete_db_snapshot(DBSnapshotIdentifier=name),
        lambda: rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "replicator:complete", "Value": "false"}]),
        lambda: rds.remove_tags_from_resource(ResourceName=arn, TagKeys=["replicator:complete"]),
    ):
        with pytest.raises(ClientError, match="AccessDenied"):
            attempt()
    assert _vault_replica(run, NIGHTLY[0]) is not None

    # and the prune says so instead of trying (keep_last 1 would let the older replica go)
    function = run.cloud.stack.function("PruneReplicasFunction").name
    result, error = run.cloud.doubles.lambda_dispatcher.invoke(function, {})
    assert error == "PruneIncomplete"
    assert f"retention is not allowed by account {TARGET_ACCOUNT}" in result["errorMessage"]
    assert all(_vault_replica(run, n) is not None for n in NIGHTLY)


def test_in_retention_mode_the_replicator_may_delete_its_finished_replicas(run_scenario):
    run = _vault_run(run_scenario, "retention")

    function = run.cloud.stack.function("PruneReplicasFunction").name
    result, error = run.cloud.doubles.lambda_dispatcher.invoke(function, {})

    assert error is None, result
    assert [r["deleted"] for r in result["results"]] == [True]
    assert sum(_vault_replica(run, n) is not None for n in NIGHTLY) == 1
