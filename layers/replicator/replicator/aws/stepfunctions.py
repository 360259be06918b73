"""Step Functions: starting a replication's execution, and resuming one that waits for a copy slot."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from .sessions import error_code, home_client


def start_execution(state_machine_arn: str, name: str, payload: dict) -> bool:
    """Start the replication's execution; False when one with this name already exists (a repeated event)."""
    try:
        home_client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
        )
    except ClientError as error:
        if error_code(error) == "ExecutionAlreadyExists":
            return False
        raise
    return True


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def execution_exists(state_machine_arn: str, name: str) -> bool:
    try:
        home_client("stepfunctions").describe_execution(executionArn=execution_arn(state_machine_arn, name))
    except ClientError as error:
        if error_code(error) == "ExecutionDoesNotExist":
            return False
        raise
    return True


def execution_status(state_machine_arn: str, name: str) -> str | None:
    """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED...; None when no execution has this name."""
    try:
        described = home_client("stepfunctions").describe_execution(executionArn=execution_arn(state_machine_arn, name))
    except ClientError as error:
        if error_code(error) == "ExecutionDoesNotExist":
            return None
        raise
    return str(described["status"])


def send_task_success(task_token: str, output: dict) -> bool:
    """Resume a waiting execution; False when it is no longer waiting (stopped, timed out, already resumed)."""
    try:
        home_client("stepfunctions").send_task_success(taskToken=task_token, output=json.dumps(output))
    except ClientError as error:
        if error_code(error) in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
            return False
        raise
    return True
