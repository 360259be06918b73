"""Starting state machine executions and publishing outcome events."""

from __future__ import annotations

import json

from ..events import DETAIL_TYPE_FAILED, DETAIL_TYPE_SUCCEEDED, EVENT_SOURCE
from ..history import ReplicationRecord, ReplicationStatus
from .sessions import error_code, home_client


def start_execution(state_machine_arn: str, name: str, payload: dict) -> bool:
    """Start the replication's execution; False when one with this name already exists (a repeated event)."""
    try:
        home_client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
        )
    except Exception as error:
        if error_code(error) == "ExecutionAlreadyExists":
            return False
        raise
    return True


def execution_exists(state_machine_arn: str, name: str) -> bool:
    execution_arn = state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
    try:
        home_client("stepfunctions").describe_execution(executionArn=execution_arn)
    except Exception as error:
        if error_code(error) == "ExecutionDoesNotExist":
            return False
        raise
    return True


def send_task_success(task_token: str, output: dict) -> bool:
    """Resume a waiting execution; False when it is no longer waiting (stopped, timed out, already resumed)."""
    try:
        home_client("stepfunctions").send_task_success(taskToken=task_token, output=json.dumps(output))
    except Exception as error:
        if error_code(error) in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
            return False
        raise
    return True


def publish_outcome(event_bus_name: str, record: ReplicationRecord) -> None:
    """A `Snapshot Replication Succeeded` / `Failed` event, for alerting rules (skipped outcomes publish nothing)."""
    if record.status is ReplicationStatus.SKIPPED:
        return
    detail_type = DETAIL_TYPE_SUCCEEDED if record.status is ReplicationStatus.SUCCEEDED else DETAIL_TYPE_FAILED
    response = home_client("events").put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": detail_type,
                "Detail": record.model_dump_json(exclude_none=True),
                "EventBusName": event_bus_name,
                "Resources": [arn for arn in (record.source_arn, record.replica_arn) if arn],
            }
        ]
    )
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge refused the outcome event: {response['Entries']}")
