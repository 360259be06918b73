"""Fault injection: each fault ends in a recorded outcome with a reason, and never in a second copy."""

import threading
import time

import boto3
from moto.rds.models import rds_backends
from support import CROSS_ACCOUNT, ROOT, SOURCE_ACCOUNT, TARGET_ACCOUNT, base_scenario, burst, failing, vault_target

ORDERS = "rds:orders-2026-11-24-03-10"


# every AWS call the replicator makes on the way of a cross-account replication
CALLS = [
    ("rds", "describe_db_snapshots"),
    ("rds", "list_tags_for_resource"),
    ("rds", "describe_db_engine_versions"),
    ("rds", "copy_db_snapshot"),
    ("rds", "modify_db_snapshot_attribute"),
    ("rds", "delete_db_snapshot"),
    ("kms", "describe_key"),
    ("sts", "assume_role"),
    ("dynamodb", "get_item"),
    ("dynamodb", "put_item"),
    ("dynamodb", "update_item"),
    ("dynamodb", "query"),
    ("stepfunctions", "start_execution"),
    ("events", "put_events"),
]


def _no_copy_twice(run) -> None:
    started = run.cloud.doubles.copy_clock.started
    assert len(started) == len(set(started)), f"a copy was made twice: {started}"


def test_throttling_on_every_aws_call_is_survived(run_scenario):
    def throttle_everything(cloud, runner):
        for service, action in CALLS:
            code = "ThrottlingException" if service in ("dynamodb", "stepfunctions", "events", "kms") else "Throttling"
            cloud.doubles.faults.fail(service, action, code, times=2)

    run = run_scenario(base_scenario(mappings=[CROSS_ACCOUNT]), before_events=throttle_everything)
    record = run.record(ORDERS, "eu-west-1")
    assert record.status.value == "SUCCEEDED", record.reason
    throttled = {(s, a) for s, a, _ in run.cloud.doubles.faults.injected}
    assert throttled == set(CALLS), f"calls never made (so never throttled): {set(CALLS) - throttled}"
    _no_copy_twice(run)
    assert run.result.leftovers == []


def test_throttling_that_outlives_botocores_retries_is_retried_by_the_state_machine(run_scenario):
    # the copy's status check is throttled 12 times in a row: botocore's 6 attempts, twice over; the task
    # raises TransientAwsError and the state machine retries it (backoff, jitter) until the check goes through
    throttle_the_check = failing("rds", "describe_db_snapshots", "Throttling", times=12, skip=1)  # not the start's

    run = run_scenario(base_scenario(timeout_seconds=90), before_events=throttle_the_check)

    record = run.record(ORDERS, "us-west-2")
    assert record.status.value == "SUCCEEDED", record.reason
    assert len(run.cloud.doubles.faults.injected) == 12
    checks = [r for f, r in run.cloud.doubles.lambda_dispatcher.invocations if f == "CheckCopyFunction"]
    assert checks.count("TransientAwsError") == 2
    assert checks[-1] == "ok"
    _no_copy_twice(run)


def test_an_access_denied_on_the_copy_fails_at_once_without_retries(run_scenario):
    refuse_the_copy = failing("rds", "copy_db_snapshot", "AccessDenied", times=1)

    run = run_scenario(base_scenario(), before_events=refuse_the_copy)

    record = run.record(ORDERS, "us-west-2")
    assert record.status.value == "FAILED"
    assert "AccessDenied" in record.reason
    runs = [r for f, r in run.cloud.doubles.lambda_dispatcher.invocations if f == "RunStepFunction"]
    assert len(runs) == 1  # refused: not retried
    assert run.cloud.doubles.copy_clock.started == []
    assert run.slot_holders() == {}  # its slot was given back


def test_a_passing_fault_in_the_start_function_is_retried_and_starts_one_replication(run_scenario):
    # botocore's attempts: the first and 5 retries (retries={"max_attempts": 5} counts retries)
    throttle_the_start = failing("rds", "describe_db_snapshots", "Throttling", times=6)

    run = run_scenario(base_scenario(), before_events=throttle_the_start)

    record = run.record(ORDERS, "us-west-2")
    assert record.status.value == "SUCCEEDED", record.reason
    starts = [r for f, r in run.cloud.doubles.lambda_dispatcher.invocations if f == "StartReplicationFunction"]
    assert starts == ["TransientAwsError", "ok"]  # re-raised, retried by Lambda (then EventBridge)
    assert len(run.executions()) == 1


def test_snapshot_quota_exceeded_is_retried_with_backoff_never_failed(run_scenario):
    quota_full = failing("rds", "copy_db_snapshot", "SnapshotQuotaExceeded", times=2)

    run = run_scenario(base_scenario(timeout_seconds=90), before_events=quota_full)
    record = run.record(ORDERS, "us-west-2")
    assert record.status.value == "SUCCEEDED", record.reason
    assert [c for _, _, c in run.cloud.doubles.faults.injected] == ["SnapshotQuotaExceeded"] * 2
    names = run.states_entered()
    assert names[:2] == ["AcquireSlot", "RunStep"]  # the execution takes the slot and starts the copy
    assert len(run.cloud.doubles.copy_clock.started) == 1


def test_kms_key_not_accessible_mid_plan_fails_and_cleans_up(run_scenario):
    second_copy_refused = failing("rds", "copy_db_snapshot", "KMSKeyNotAccessibleFault", times=1, skip=1)

    run = run_scenario(base_scenario(mappings=[CROSS_ACCOUNT]), before_events=second_copy_refused)
    record = run.record(ORDERS, "eu-west-1")
    assert record.status.value == "FAILED"
    assert "KMSKeyNotAccessibleFault" in record.reason
    assert "2/4" in record.reason  # names the step that failed
    assert run.result.leftovers == []  # the intermediate copy (and its share) are gone
    (execution,) = run.executions()
    assert execution["status"] == "FAILED"


def test_target_role_that_cannot_be_assumed_fails_before_any_copy(run_scenario):
    target = vault_target(role_arn="arn:aws:iam::333333333333:role/rds-snapshot-replicator-target")
    mapping = {"source_region": "us-east-1", "targets": [target]}
    spec = base_scenario(mappings=[mapping], allowed_target_accounts=[TARGET_ACCOUNT, "333333333333"])
    spec["keys"] = [*spec["keys"], {"name": "other", "region": "eu-west-1", "account": TARGET_ACCOUNT}]
    run = run_scenario(spec)
    record = run.record(ORDERS, "eu-west-1")
    assert record.status.value == "FAILED"
    assert "cannot assume role arn:aws:iam::333333333333:role/rds-snapshot-replicator-target" in record.reason
    assert run.cloud.doubles.copy_clock.started == []


def test_source_deleted_while_being_copied_fails_the_replication(run_scenario):
    def delete_source_when_copying(cloud, runner):
        def watch():
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not cloud.doubles.copy_clock.started:
                time.sleep(0.05)
            rds_backends[SOURCE_ACCOUNT]["us-east-1"].database_snapshots.pop(ORDERS, None)

        threading.Thread(target=watch, daemon=True).start()

    run = run_scenario(base_scenario(copy_seconds=3.0), before_events=delete_source_when_copying)
    record = run.record(ORDERS, "us-west-2")
    assert record.status.value == "FAILED"
    assert "ended in status 'failed'" in record.reason
    _no_copy_twice(run)


def test_event_of_a_kind_not_handled_is_skipped_with_the_reason(run_scenario):
    import json

    event = json.loads((ROOT / "events" / "rds-db-snapshot-manual.json").read_text())
    event["detail"]["EventID"] = "RDS-EVENT-0040"  # creation started: delivered by hand (sam local invoke)

    def invoke_directly(cloud, runner):
        name = cloud.stack.function("StartReplicationFunction").name
        boto3.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())

    run = run_scenario(base_scenario(events=[]), before_events=invoke_directly)
    (record,) = run.records
    assert record.status.value == "SKIPPED"
    assert "RDS-EVENT-0040 is not a snapshot-completed event" in record.reason


def test_lambda_timeout_in_the_middle_of_a_step_is_retried_without_a_second_copy(run_scenario):
    def time_out_once(cloud, runner):
        # the run-step function starts the staging copy, then times out before returning: Step Functions retries
        cloud.doubles.lambda_dispatcher.timeouts["RunStepFunction"] = 1

    run = run_scenario(base_scenario(mappings=[CROSS_ACCOUNT]), before_events=time_out_once)
    record = run.record(ORDERS, "eu-west-1")
    assert record.status.value == "SUCCEEDED", record.reason
    assert ("RunStepFunction", "Sandbox.Timedout") in run.cloud.doubles.lambda_dispatcher.invocations
    assert len(run.cloud.doubles.copy_clock.started) == 3
    _no_copy_twice(run)


def test_crash_between_starting_the_copy_and_the_execution_adopts_the_copy(run_scenario):
    def crash_before_execution_start(cloud, runner):
        # the start function dies after starting the copy, before starting the execution: Lambda retries the event,
        # and the retry adopts the copy already under way
        cloud.doubles.lambda_dispatcher.crash_before("before-call.sfn.StartExecution", times=1)

    run = run_scenario(base_scenario(), before_events=crash_before_execution_start)
    record = run.record(ORDERS, "us-west-2")
    assert record.status.value == "SUCCEEDED", record.reason
    assert len(run.cloud.doubles.copy_clock.started) == 1
    assert len(run.executions()) == 1
    start_attempts = [r for f, r in run.cloud.doubles.lambda_dispatcher.invocations if f == "StartReplicationFunction"]
    assert start_attempts == ["Runtime.ExitError", "ok"]


def test_rds_and_backup_events_for_the_same_snapshot_make_one_copy(run_scenario):
    spec = base_scenario(
        snapshots=[{"id": "awsbackup:job-0001", "database": "orders", "type": "awsbackup"}],
        events=[{"snapshot": "awsbackup:job-0001"}],
    )

    def also_rds_event(cloud, runner):
        arn = f"arn:aws:rds:us-east-1:{SOURCE_ACCOUNT}:snapshot:awsbackup:job-0001"
        detail = {
            "EventCategories": ["creation"],
            "SourceType": "SNAPSHOT",
            "SourceArn": arn,
            "SourceIdentifier": "awsbackup:job-0001",
            "EventID": "RDS-EVENT-0042",
        }
        runner.send(
            [
                {
                    "source": "aws.rds",
                    "detail-type": "RDS DB Snapshot Event",
                    "detail": detail,
                    "resources": [arn],
                }
            ]
        )

    run = run_scenario(spec, before_events=also_rds_event)
    record = run.record("awsbackup:job-0001", "us-west-2")
    assert record.status.value == "SUCCEEDED", record.reason
    assert len(run.cloud.doubles.copy_clock.started) == 1
    assert len(run.executions()) == 1


def test_a_slot_taken_by_a_task_that_then_fails_is_given_back(run_scenario):
    # the cross-account plan's second copy: AcquireSlot takes a slot, then fails before its state says so (leaving
    # its place in the queue is refused): the failure path gives the slot back by replication id, so the pool does
    # not shrink for ever
    leaving_the_queue_fails = failing("dynamodb", "delete_item", "ValidationException", times=1)

    run = run_scenario(base_scenario(mappings=[CROSS_ACCOUNT]), before_events=leaving_the_queue_fails)
    record = run.record(ORDERS, "eu-west-1")
    assert record.status.value == "FAILED"
    assert "ValidationException" in record.reason
    assert ("dynamodb", "delete_item", "ValidationException") in run.cloud.doubles.faults.injected
    _no_slot_held_and_no_one_queued(run)


def test_a_resume_that_fails_is_taken_up_at_the_next_re_check(run_scenario):
    # AcquireSlot takes a slot but cannot resume its own execution (SendTaskSuccess fails): the replication does not
    # fail; the wait re-checks (SlotRecheckSeconds, 2 s here), finds the slot it holds and resumes
    resuming_fails = failing("stepfunctions", "send_task_success", "ServiceUnavailable", times=2)

    run = run_scenario(base_scenario(mappings=[CROSS_ACCOUNT], slot_recheck_seconds=2), before_events=resuming_fails)
    record = run.record(ORDERS, "eu-west-1")
    assert record.status.value == "SUCCEEDED", record.reason
    assert ("stepfunctions", "send_task_success", "ServiceUnavailable") in run.cloud.doubles.faults.injected
    _no_slot_held_and_no_one_queued(run)
    _no_copy_twice(run)


def _no_slot_held_and_no_one_queued(run) -> None:
    table = boto3.resource("dynamodb").Table(run.cloud.stack.resources["CopySlotsTable"])
    items = table.scan(ConsistentRead=True)["Items"]
    assert [i for i in items if i["entry"] == "slots" and i["holders"]] == []  # no slot held
    assert [i for i in items if i["entry"].startswith("wait#")] == []  # no one left queued
    assert any(i["entry"] == "slots" for i in items)  # slots were taken (and given back)


def test_transaction_conflicts_on_the_copy_slots_are_retried(run_scenario):
    # on DynamoDB, a write to the pool's item while a hand-over transaction changes it fails at once with
    # TransactionConflictException, which the SDK does not retry: the slot code does
    names = ["orders-x", "orders-y", "orders-z"]

    def conflicts(cloud, runner):
        cloud.doubles.faults.fail("dynamodb", "update_item", "TransactionConflictException", times=3)
        cloud.doubles.faults.fail("dynamodb", "transact_write_items", "TransactionConflictException", times=2)

    spec = burst(names, timeout_seconds=90)
    run = run_scenario(spec, before_events=conflicts)
    assert [r.status.value for r in run.records] == ["SUCCEEDED"] * 3, [r.reason for r in run.records]
    injected = {(s, a) for s, a, _ in run.cloud.doubles.faults.injected}
    assert injected == {("dynamodb", "update_item"), ("dynamodb", "transact_write_items")}
    assert run.cloud.doubles.copy_clock.max_in_flight[(SOURCE_ACCOUNT, "us-west-2", False)] == 1
    assert run.slot_holders() == {}


def test_a_refused_outcome_event_never_turns_a_success_into_a_failure(run_scenario):
    # every put_events after the scenario's own snapshot event: the replicator's outcome events
    refuse_outcome_events = failing("events", "put_events", "AccessDeniedException", times=1000, skip=1)

    run = run_scenario(base_scenario(), before_events=refuse_outcome_events)

    record = run.record(ORDERS, "us-west-2")
    assert record.status.value == "SUCCEEDED", record.reason
    assert record.replica_arn is not None  # the prune can find it
    assert record.outcome_published is False  # to be published again (the reconciler does)
    (execution,) = run.executions()
    assert execution["status"] == "FAILED"  # the ExecutionFailedAlarm says something needs a look
    assert run.outcome_events() == []
