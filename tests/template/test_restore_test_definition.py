"""The restore-test ASL file: valid per the Step Functions schema (cfn-lint E3601), well connected, every error
caught and retried as it should be, given nothing but the test's id, and wired to the template."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

import pytest
from asl_checks import graph_problems, schema_errors
from iam_policies import as_list, role_statements
from pydantic import ValidationError

from replicator.aws.errors import TransientAwsError
from replicator.settings import Settings
from replicator.usecases.restore_test import (
    RestoreTestInput,
    RestoreTestRefused,
    StepResult,
    abort_restore_test,
    run_restore_test,
)
from replicator_cli.local.provision import load_template

ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = ROOT / "statemachine" / "restore_test.asl.json"
TASKS = {"RunRestoreTest", "AbortRestoreTest"}
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return json.loads(ASL_PATH.read_text())


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def machine(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["RestoreTestStateMachine"]


# --- the schema ------------------------------------------------------------------------------------------------------


def test_definition_passes_the_step_functions_schema(definition: dict[str, Any]) -> None:
    assert schema_errors(definition) == []


def _broken_backoff(d: dict[str, Any]) -> None:
    d["States"]["RunRestoreTest"]["Retry"][0]["BackoffRate"] = "fast"


def _broken_wait(d: dict[str, Any]) -> None:
    del d["States"]["WaitBeforeNextStage"]["Next"]  # neither continues nor ends


def _broken_choice(d: dict[str, Any]) -> None:
    d["States"]["IsOutcomeRecorded"]["Choices"][0]["BooleanEquals"] = "yes"


def _broken_type(d: dict[str, Any]) -> None:
    d["States"]["TestAbandoned"]["Type"] = "Abandon"


@pytest.mark.parametrize("breaks", [_broken_backoff, _broken_wait, _broken_choice, _broken_type])
def test_schema_check_catches_a_broken_definition(definition: dict[str, Any], breaks: Any) -> None:
    broken = json.loads(json.dumps(definition))
    breaks(broken)
    assert any("E3601" in error for error in schema_errors(broken))


# --- the graph -------------------------------------------------------------------------------------------------------


def test_the_states_are_the_documented_ones(definition: dict[str, Any]) -> None:
    assert definition["StartAt"] == "RunRestoreTest"
    types = {name: state["Type"] for name, state in definition["States"].items()}
    assert types == {
        "RunRestoreTest": "Task",
        "IsOutcomeRecorded": "Choice",
        "WaitBeforeNextStage": "Wait",
        "AbortRestoreTest": "Task",
        "TestRecorded": "Succeed",
        "TestAbandoned": "Fail",
    }


def test_every_state_is_reachable_and_every_path_can_end(definition: dict[str, Any]) -> None:
    # every transition names a state, every state is reached, and from each a terminal state can be reached
    assert graph_problems(definition) == []


def test_the_graph_check_sees_a_closed_loop_and_a_dangling_transition(definition: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(definition))
    broken["States"]["WaitBeforeNextStage"]["Next"] = "Nowhere"
    broken["States"]["IsOutcomeRecorded"]["Choices"][0]["Next"] = "WaitBeforeNextStage"
    problems = graph_problems(broken)
    assert "WaitBeforeNextStage -> Nowhere: no such state" in problems
    assert "TestRecorded: unreachable" in problems


def test_the_loop_runs_a_stage_waits_and_runs_the_next(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert states["RunRestoreTest"]["Next"] == "IsOutcomeRecorded"
    assert states["AbortRestoreTest"]["Next"] == "IsOutcomeRecorded"  # after an abort: the cleanup, as any stage
    choice = states["IsOutcomeRecorded"]
    assert choice["Choices"] == [{"Variable": "$.done", "BooleanEquals": True, "Next": "TestRecorded"}]
    assert choice["Default"] == "WaitBeforeNextStage"
    assert states["WaitBeforeNextStage"]["Next"] == "RunRestoreTest"
    assert "done" in StepResult.model_fields


def test_wait_reads_the_wait_seconds_the_task_returns(definition: dict[str, Any]) -> None:
    wait = definition["States"]["WaitBeforeNextStage"]
    assert wait["SecondsPath"] == "$.wait_seconds"
    assert not {"Seconds", "Timestamp", "TimestampPath"} & set(wait)
    assert "wait_seconds" in StepResult.model_fields


def test_each_tasks_output_is_the_next_states_input(definition: dict[str, Any]) -> None:
    # the Choice, the Wait and the next task read the StepResult as it is: its test_id names the test again
    for name in TASKS:
        state = definition["States"][name]
        assert not {"ResultPath", "ResultSelector", "OutputPath", "InputPath"} & set(state), name
    assert {"test_id", "done", "wait_seconds"} <= set(StepResult.model_fields)


# --- errors ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "handler", "handler_type"),
    [("RunRestoreTest", "AbortRestoreTest", "Task"), ("AbortRestoreTest", "TestAbandoned", "Fail")],
)
def test_every_task_catches_every_error(definition: dict[str, Any], task: str, handler: str, handler_type: str) -> None:
    states = definition["States"]
    catches = states[task]["Catch"]
    every = [c for c in catches if "States.ALL" in c["ErrorEquals"]]
    assert len(every) == 1, task
    assert every[0] is catches[-1]  # nothing after it could be reached
    assert every[0]["Next"] == handler
    assert every[0]["ResultPath"] == "$.error"  # the input (its test_id) is kept; the abort reads the error
    assert states[handler]["Type"] == handler_type
    assert {n for n, s in states.items() if s["Type"] == "Task"} == TASKS


def _retrier(state: dict[str, Any], error: str) -> dict[str, Any]:
    found = [r for r in state.get("Retry", []) if error in r["ErrorEquals"]]
    assert len(found) == 1, f"{error}: {len(found)} retriers"
    return found[0]


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("error", [TransientAwsError.__name__, *sorted(LAMBDA_ERRORS)])
def test_both_tasks_retry_transient_errors_with_backoff(definition: dict[str, Any], task: str, error: str) -> None:
    retrier = _retrier(definition["States"][task], error)
    assert retrier["MaxAttempts"] >= 3
    assert retrier["BackoffRate"] > 1
    assert retrier["IntervalSeconds"] >= 1
    assert retrier.get("JitterStrategy") == "FULL"


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_refusal_or_a_bug_is_not_retried(definition: dict[str, Any], task: str) -> None:
    retried = {e for r in definition["States"][task]["Retry"] for e in r["ErrorEquals"]}
    assert not retried & {"States.ALL", "States.TaskFailed", RestoreTestRefused.__name__}


def test_the_transient_error_retry_is_capped(definition: dict[str, Any]) -> None:
    for task in TASKS:
        retrier = _retrier(definition["States"][task], TransientAwsError.__name__)
        assert retrier["MaxDelaySeconds"] <= 900, task


# --- what the tasks are given ----------------------------------------------------------------------------------------

PARAMETERS = {
    "RunRestoreTest": {"test_id.$": "$.test_id", "execution_name.$": "$$.Execution.Name"},
    "AbortRestoreTest": {"test_id.$": "$.test_id", "execution_name.$": "$$.Execution.Name", "error.$": "$.error"},
}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_the_tasks_are_given_the_test_id_and_the_execution_name_only(definition: dict[str, Any], task: str) -> None:
    state = definition["States"][task]
    assert state["Resource"] == "${RunRestoreTestFunctionArn}"  # the function itself: Parameters are its event
    assert state["Parameters"] == PARAMETERS[task]
    assert {key.removesuffix(".$") for key in state["Parameters"]} <= set(RestoreTestInput.model_fields)


def test_only_the_abort_carries_an_error(definition: dict[str, Any]) -> None:
    # the function aborts the test when its event has an `error`: a stage must never carry one
    assert "error.$" not in definition["States"]["RunRestoreTest"]["Parameters"]
    assert "error" not in definition["States"]["RunRestoreTest"]["Parameters"]
    assert definition["States"]["AbortRestoreTest"]["Parameters"]["error.$"] == "$.error"


def _resolve(parameters: dict[str, Any], data: dict[str, Any], execution: str) -> dict[str, Any]:
    """Parameters as Step Functions applies them (the simple paths used here: `$.field` and `$$.Execution.Name`)."""
    resolved: dict[str, Any] = {}
    for key, value in parameters.items():
        if not key.endswith(".$"):
            resolved[key] = value
        elif value == "$$.Execution.Name":
            resolved[key[:-2]] = execution
        else:
            assert re.fullmatch(r"\$\.\w+", value), value
            resolved[key[:-2]] = data[value[2:]]
    return resolved


FORGED_INPUT = {
    "test_id": "restoretest-orders-20240510-0123456789",
    "execution_name": "someone-elses-execution",
    "plan": {"restore_identifier": "production-db", "role_arn": "arn:aws:iam::999999999999:role/x"},
    "role_arn": "arn:aws:iam::999999999999:role/x",
    "restore_identifier": "production-db",
    "stage": "cleanup",
}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_forged_execution_input_reaches_the_task_as_the_test_id_only(definition: dict[str, Any], task: str) -> None:
    data = {**FORGED_INPUT, "error": {"Error": "States.TaskFailed", "Cause": "x"}}
    event = _resolve(definition["States"][task]["Parameters"], data, "restoretest-orders-20240510-0123456789")
    task_input = RestoreTestInput.model_validate(event)
    assert task_input.test_id == FORGED_INPUT["test_id"]
    assert task_input.execution_name == "restoretest-orders-20240510-0123456789"  # the context's, not the input's
    assert set(event) <= {"test_id", "execution_name", "error"}


@pytest.mark.parametrize(
    "extra",
    [
        {"plan": FORGED_INPUT["plan"]},
        {"role_arn": "arn:aws:iam::999999999999:role/x"},
        {"restore_identifier": "production-db"},
        {"instance_identifier": "production-db-1"},
        {"stage": "cleanup"},
        {"status": "SUCCEEDED"},
        {"state": {}},
    ],
    ids=lambda extra: next(iter(extra)),
)
def test_the_task_input_refuses_extra_fields(extra: dict[str, Any]) -> None:
    payload = {"test_id": "restoretest-x", "execution_name": "restoretest-x", **extra}
    with pytest.raises(ValidationError, match=next(iter(extra))):
        RestoreTestInput.model_validate(payload)
    # the task refuses it before reading anything (no settings, no table needed)
    nothing = cast(Settings, None)
    with pytest.raises(RestoreTestRefused, match="not a restore test task input"):
        run_restore_test(nothing, payload)
    with pytest.raises(RestoreTestRefused, match="not a restore test task input"):
        abort_restore_test(nothing, {**payload, "error": {"Error": "x"}})


@pytest.mark.parametrize(
    "payload",
    [
        {"test_id": "restoretest-x", "execution_name": "restoretest-x"},
        {"test_id": "restoretest-x", "execution_name": "restoretest-x", "error": {"Error": "E", "Cause": "c"}},
    ],
)
def test_the_task_input_accepts_what_the_states_pass(payload: dict[str, Any]) -> None:
    assert RestoreTestInput.model_validate(payload).model_dump(exclude_none=True) == payload


@pytest.mark.parametrize("missing", ["test_id", "execution_name"])
def test_the_task_input_needs_the_test_and_the_execution(missing: str) -> None:
    payload = {"test_id": "restoretest-x", "execution_name": "restoretest-x"}
    del payload[missing]
    with pytest.raises(ValidationError, match=missing):
        RestoreTestInput.model_validate(payload)


# --- the template ----------------------------------------------------------------------------------------------------


def test_the_template_uses_this_definition(machine: dict[str, Any]) -> None:
    assert machine["Type"] == "AWS::Serverless::StateMachine"
    props = machine["Properties"]
    assert props["DefinitionUri"] == "statemachine/restore_test.asl.json"
    assert (ROOT / props["DefinitionUri"]).resolve() == ASL_PATH
    assert "Definition" not in props
    assert props["Type"] == "STANDARD"  # a restore takes far longer than an Express workflow's 5 minutes


def test_the_substitution_resolves_to_the_task_function(machine: dict[str, Any], template: dict[str, Any]) -> None:
    used = set(re.findall(r"\$\{(\w+)\}", ASL_PATH.read_text()))
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    assert used == set(substitutions) == {"RunRestoreTestFunctionArn"}
    assert substitutions["RunRestoreTestFunctionArn"] == {"Fn::GetAtt": ["RunRestoreTestFunction", "Arn"]}
    function = template["Resources"]["RunRestoreTestFunction"]
    assert function["Type"] == "AWS::Serverless::Function"
    assert function["Properties"]["CodeUri"] == "functions/run_restore_test"


def test_the_machine_uses_its_own_role(machine: dict[str, Any], template: dict[str, Any]) -> None:
    assert machine["Properties"]["Role"] == {"Fn::GetAtt": ["RestoreTestStateMachineRole", "Arn"]}
    assert "Policies" not in machine["Properties"]  # no SAM-made policy beside the role
    role = template["Resources"]["RestoreTestStateMachineRole"]
    assert role["Type"] == "AWS::IAM::Role"
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "states.amazonaws.com"}]
    assert "ManagedPolicyArns" not in role["Properties"]
    users = [
        name
        for name, resource in template["Resources"].items()
        if json.dumps(resource).count('"RestoreTestStateMachineRole"') and name != "RestoreTestStateMachineRole"
    ]
    assert users == ["RestoreTestStateMachine"]  # the role serves this state machine only


@pytest.mark.parametrize("tracing", [False, True], ids=["tracing-off", "tracing-on"])
def test_the_role_may_only_invoke_the_task_function(template: dict[str, Any], tracing: bool) -> None:
    found = role_statements(template, "RestoreTestStateMachineRole", condition_true=tracing)
    assert all(s["Effect"] == "Allow" for s in found)
    invoke = [s for s in found if "lambda:InvokeFunction" in as_list(s["Action"])]
    assert len(invoke) == 1
    assert as_list(invoke[0]["Action"]) == ["lambda:InvokeFunction"]
    assert as_list(invoke[0]["Resource"]) == [{"Fn::GetAtt": ["RunRestoreTestFunction", "Arn"]}]
    others = [s for s in found if s is not invoke[0]]
    if tracing:
        assert len(others) == 1
        assert set(as_list(others[0]["Action"])) == XRAY_ACTIONS
        assert others[0]["Resource"] == "*"  # X-Ray has no resource-level permissions
    else:
        assert others == []


def test_the_roles_tracing_follows_the_machines(template: dict[str, Any], machine: dict[str, Any]) -> None:
    # the X-Ray statement is granted exactly when the state machine traces
    statements = template["Resources"]["RestoreTestStateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    conditional = [s["Fn::If"] for s in statements["Statement"] if "Fn::If" in s]
    assert [c[0] for c in conditional] == ["TracingOn"]
    assert conditional[0][2] == {"Ref": "AWS::NoValue"}
    assert machine["Properties"]["Tracing"] == {"Enabled": {"Fn::If": ["TracingOff", False, True]}}
    assert template["Conditions"]["TracingOn"] == {"Fn::Not": [{"Condition": "TracingOff"}]}
