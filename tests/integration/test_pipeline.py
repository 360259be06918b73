"""End to end: event -> real trigger rule -> start handler -> real state machine (moto) -> check/run/finish handlers."""

import boto3
from moto.rds.models import rds_backends
from support import (
    SOURCE_ACCOUNT,
    TARGET_ACCOUNT,
    aurora,
    base_scenario,
    mapping,
    shareable_vault_target,
    vault_target,
)

ORDERS = "rds:orders-2026-11-24-03-10"
ORDERS_ARN = f"arn:aws:rds:us-east-1:{SOURCE_ACCOUNT}:snapshot:{ORDERS}"


def _snapshot(account: str, region: str, identifier: str, cluster: bool = False):
    backend = rds_backends[account][region]
    return (backend.cluster_snapshots if cluster else backend.database_snapshots).get(identifier)


def test_automated_snapshot_is_copied_to_another_region_encrypted_with_the_mapping_key(run_scenario):
    run = run_scenario(base_scenario())
    record = run.record(ORDERS, "us-west-2")
    assert record.status.value == "SUCCEEDED", record.reason
    assert record.percent_progress == 100
    assert record.finished_at is not None
    assert record.finished_at >= record.started_at

    identifier = record.replica_arn.rsplit(":", 1)[1]
    replica = _snapshot(SOURCE_ACCOUNT, "us-west-2", identifier)
    assert replica is not None
    assert replica.encrypted
    assert replica.kms_key_id == run.runner.key_arns["dr-west"]
    assert replica.snapshot_type == "manual"
    tags = {t["Key"]: t["Value"] for t in replica.tags}
    assert tags["replicator:source-arn"] == ORDERS_ARN
    assert identifier.startswith("snaprep-orders-2026-11-24-03-10-")
    # one copy, one execution, and it succeeded
    assert run.cloud.doubles.copy_clock.started == [record.replica_arn]
    (execution,) = run.executions()
    assert execution["name"] == record.replication_id
    assert execution["status"] == "SUCCEEDED"
    # the outcome is published for alerting
    (event,) = run.outcome_events()
    assert event["detail-type"] == "Snapshot Replication Succeeded"
    assert event["detail"]["replica_arn"] == record.replica_arn


def test_state_machine_polls_while_the_copy_is_in_progress_and_records_progress(run_scenario):
    progress: list[tuple[str, int]] = []

    def watch(cloud, runner):
        # a slow copy: record what the history table shows while it runs
        import threading
        import time

        from replicator.aws.dynamodb.replication_records import scan_records

        def poll():
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                for r in scan_records(cloud.stack.history_table):
                    progress.append((r.status.value, r.percent_progress))
                    if r.status.final:
                        return
                time.sleep(0.3)

        threading.Thread(target=poll, daemon=True).start()

    run = run_scenario(base_scenario(copy_seconds=5.0), before_events=watch)
    record = run.record(ORDERS, "us-west-2")
    assert record.status.value == "SUCCEEDED", record.reason
    in_flight = [p for s, p in progress if s == "COPYING"]
    assert in_flight, "no in-flight state was recorded"
    assert any(0 < p < 100 for p in in_flight), f"no partial progress recorded: {in_flight}"
    assert in_flight == sorted(in_flight)  # progress never goes back

    entered = run.states_entered()
    assert entered.count("CheckCopy") >= 3  # Wait -> CheckCopy -> Choice looped while the copy was creating
    assert entered[-1] == "FinishSucceeded"


def test_a_copy_that_ends_failed_is_recorded_failed_and_its_remains_removed(run_scenario):
    run = run_scenario(base_scenario(failing_copies=[ORDERS]))
    record = run.record(ORDERS, "us-west-2")
    assert record.status.value == "FAILED"
    assert "ended in status 'failed'" in record.reason
    assert record.replica_arn is None
    (execution,) = run.executions()
    assert execution["status"] == "FAILED"
    # the failed copy is deleted, so that a later retry does not adopt it
    (copied,) = run.cloud.doubles.copy_clock.started
    assert _snapshot(SOURCE_ACCOUNT, "us-west-2", copied.rsplit(":", 1)[1]) is None
    (event,) = run.outcome_events()
    assert event["detail-type"] == "Snapshot Replication Failed"
    assert "failed" in event["detail"]["reason"]


def test_refused_replication_starts_nothing_and_says_why(run_scenario):
    spec = base_scenario(
        databases=[{"id": "reports", "kind": "cluster", "engine": "aurora-postgresql", "engine_version": "15.4"}],
        snapshots=[{"id": "reports-manual-1", "database": "reports"}],
        events=[{"snapshot": "reports-manual-1"}],
    )
    run = run_scenario(spec)
    record = run.record("reports-manual-1", "us-west-2")
    assert record.status.value == "FAILED"
    assert "cannot encrypt a cluster snapshot" in record.reason
    assert "encryption.key_usage" in record.reason
    assert run.executions() == []
    assert run.cloud.doubles.copy_clock.started == []
    (event,) = run.outcome_events()
    assert event["detail-type"] == "Snapshot Replication Failed"


def test_cross_account_plan_copies_shares_copies_again_and_cleans_up(run_scenario):
    spec = base_scenario(mappings=[mapping(vault_target())])
    run = run_scenario(spec)
    record = run.record(ORDERS, "eu-west-1")
    assert record.status.value == "SUCCEEDED", record.reason
    assert record.target_account_id == TARGET_ACCOUNT
    started = run.cloud.doubles.copy_clock.started
    # 1. automated + aws/rds key: re-encrypted copy in the source account, 2. (share), 3. staging copy in the target
    # account in the source region, 4. cross-region copy there: each made once
    assert [(a.split(":")[4], a.split(":")[3], a.rsplit("-", 1)[1]) for a in started[:2]] == [
        (SOURCE_ACCOUNT, "us-east-1", "share"),
        (TARGET_ACCOUNT, "us-east-1", "stage"),
    ]
    assert started[2] == record.replica_arn
    assert len(started) == len(set(started)) == 3

    replica = _snapshot(TARGET_ACCOUNT, "eu-west-1", record.replica_arn.rsplit(":", 1)[1])
    assert replica is not None
    assert replica.encrypted
    assert replica.kms_key_id == run.runner.key_arns["vault-eu"]
    # intermediate and staging copies are gone
    assert _snapshot(SOURCE_ACCOUNT, "us-east-1", started[0].rsplit(":", 1)[1]) is None
    assert _snapshot(TARGET_ACCOUNT, "us-east-1", started[1].rsplit(":", 1)[1]) is None
    assert run.result.leftovers == []


def test_cross_account_with_a_shareable_snapshot_shares_the_source_then_unshares_it(run_scenario):
    spec = base_scenario(
        databases=[aurora("inventory", engine="aurora-mysql", engine_version="8.0.mysql_aurora.3.05.2")],
        snapshots=[{"id": "inventory-manual-1", "database": "inventory"}],
        events=[{"snapshot": "inventory-manual-1"}],
        mappings=[mapping(shareable_vault_target(), source_region="*")],
    )
    run = run_scenario(spec)
    record = run.record("inventory-manual-1", "eu-west-1")
    assert record.status.value == "SUCCEEDED", record.reason
    started = run.cloud.doubles.copy_clock.started
    assert started == [record.replica_arn]  # manual + customer key: shared, copied straight into the target region
    source = _snapshot(SOURCE_ACCOUNT, "us-east-1", "inventory-manual-1", cluster=True)
    assert TARGET_ACCOUNT not in source.attributes["restore"]  # the share is removed afterwards
    replica = _snapshot(TARGET_ACCOUNT, "eu-west-1", record.replica_arn.rsplit(":", 1)[1], cluster=True)
    assert replica is not None
    assert replica.storage_encrypted


def test_the_same_event_twice_makes_one_copy_and_one_execution(run_scenario):
    run = run_scenario(base_scenario(events=[{"file": "events/rds-db-snapshot-automated.json"}] * 2))
    record = run.record(ORDERS, "us-west-2")
    assert record.status.value == "SUCCEEDED"
    assert len(run.executions()) == 1
    assert len(run.cloud.doubles.copy_clock.started) == 1


def test_region_without_mapping_is_skipped_with_a_reason(run_scenario):
    run = run_scenario(base_scenario(mappings=[]))
    record = run.record(ORDERS)
    assert record.status.value == "SKIPPED"
    assert "no region mapping for us-east-1" in record.reason
    assert run.executions() == []


def test_invalid_mapping_item_fails_naming_the_field(run_scenario):
    bad = {"source_region": "us-east-1", "targets": [{"target_region": "us-west-2", "encryption": {"enabled": True}}]}
    run = run_scenario(base_scenario(mappings=[bad]))
    record = run.record(ORDERS)
    assert record.status.value == "FAILED"
    assert "targets.0.encryption" in record.reason
    assert "kms_key_arn is required" in record.reason


def test_two_targets_resolving_to_the_same_account_and_region_fail_the_mapping(run_scenario):
    encryption = {"enabled": True, "kms_key_arn": "{{key:dr-west}}"}
    own_role = f"arn:aws:iam::{SOURCE_ACCOUNT}:role/rds-snapshot-replicator-self"
    mapping = {
        "source_region": "us-east-1",
        "targets": [
            {"target_region": "us-west-2", "encryption": encryption},
            {"target_region": "us-west-2", "role_arn": own_role, "encryption": encryption},
        ],
    }
    run = run_scenario(base_scenario(mappings=[mapping]))
    record = run.record(ORDERS)
    assert record.status.value == "FAILED"
    assert f"two targets replicating to account {SOURCE_ACCOUNT} in us-west-2" in record.reason
    assert run.cloud.doubles.copy_clock.started == []


def test_malformed_event_is_recorded_failed(run_scenario):
    def send_malformed(cloud, runner):
        boto3.client("events").put_events(
            Entries=[
                {
                    "Source": "aws.rds",
                    "DetailType": "RDS DB Snapshot Event",
                    "Detail": '{"EventID": "RDS-EVENT-0042", "SourceIdentifier": "orders-x"}',
                }
            ]
        )

    run = run_scenario(base_scenario(events=[]), before_events=send_malformed)
    (record,) = run.records
    assert record.status.value == "FAILED"
    assert record.reason.startswith("malformed event")
    assert "SourceArn" in record.reason


def test_missing_kms_key_in_the_target_region_is_refused_before_any_copy(run_scenario):
    missing = "arn:aws:kms:us-west-2:123456789012:key/00000000-0000-0000-0000-000000000000"
    mapping = {
        "source_region": "us-east-1",
        "targets": [{"target_region": "us-west-2", "encryption": {"enabled": True, "kms_key_arn": missing}}],
    }
    run = run_scenario(base_scenario(mappings=[mapping]))
    record = run.record(ORDERS, "us-west-2")
    assert record.status.value == "FAILED"
    assert "does not exist in us-west-2" in record.reason
    assert run.cloud.doubles.copy_clock.started == []


def test_snapshot_deleted_before_the_event_is_handled(run_scenario):
    def delete_it(cloud, runner):
        rds_backends[SOURCE_ACCOUNT]["us-east-1"].database_snapshots.pop(ORDERS)

    run = run_scenario(base_scenario(), before_events=delete_it)
    record = run.record(ORDERS)
    assert record.status.value == "FAILED"
    assert "does not exist" in record.reason
