"""The ASL file: valid per the Step Functions schema (cfn-lint E3601), well connected, and wired to the template."""

import json
import re
from pathlib import Path

import pytest
from asl_checks import graph_problems, schema_errors

from replicator.execution import ExecutionState, Phase, TaskInput
from replicator_cli.local.provision import load_template

ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = ROOT / "statemachine" / "replication.asl.json"


@pytest.fixture(scope="module")
def definition() -> dict:
    return json.loads(ASL_PATH.read_text())


@pytest.fixture(scope="module")
def state_machine_resource() -> dict:
    return load_template(ROOT / "template.yaml")["Resources"]["ReplicationStateMachine"]


def test_definition_passes_the_step_functions_schema(definition):
    assert schema_errors(definition) == []


def test_schema_check_catches_a_broken_definition(definition):
    broken = json.loads(json.dumps(definition))
    broken["States"]["CheckCopy"]["Retry"][0]["BackoffRate"] = "fast"
    assert any("E3601" in error for error in schema_errors(broken))


def test_every_state_is_reachable_and_every_path_ends_in_a_terminal_state(definition):
    assert graph_problems(definition) == []


def test_every_task_catches_every_error_so_failures_are_recorded(definition):
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            catches = [e for c in state.get("Catch", []) for e in c["ErrorEquals"]]
            assert "States.ALL" in catches, f"{name} lets an error stop the execution without an outcome"


def test_choice_reads_the_phase_of_the_replication_state(definition):
    choice = definition["States"]["RouteByReplicationPhase"]
    assert {c["Variable"] for c in choice["Choices"]} == {"$.phase"}
    assert "phase" in ExecutionState.model_fields
    values = {c["StringEquals"] for c in choice["Choices"]}
    assert values <= {p.value for p in Phase}
    assert Phase.FAILED.value not in values  # failed is the Default branch
    assert choice["Default"] == "FinishFailed"


def test_wait_reads_the_wait_seconds_of_the_replication_state(definition):
    assert definition["States"]["WaitForCopy"]["SecondsPath"] == "$.wait_seconds"
    assert "wait_seconds" in ExecutionState.model_fields


def _lambda_payload(state: dict) -> dict:
    return state["Parameters"].get("Payload", state["Parameters"])


def test_every_task_is_given_its_state_and_execution_name_and_nothing_else(definition):
    # the tasks read the plan from the replication's record; the execution's name proves which execution asks
    tasks = {n: s for n, s in definition["States"].items() if s["Type"] == "Task"}
    assert set(tasks) == {"AcquireSlot", "CheckCopy", "RunStep", "FinishSucceeded", "FinishFailed"}
    for name, state in tasks.items():
        payload = _lambda_payload(state)
        expected = {"state.$": "$", "execution_name.$": "$$.Execution.Name"}
        if name == "AcquireSlot":
            expected["task_token.$"] = "$$.Task.Token"
        assert payload == expected, name
        assert set(payload) == {f"{field}.$" for field in TaskInput.model_fields if f"{field}.$" in payload}


def test_the_slot_wait_keeps_the_executions_own_state(definition):
    # a hand-over's output (written by whoever can resume the task) never replaces the execution's state
    assert definition["States"]["AcquireSlot"]["ResultPath"] is None


def test_every_phase_has_a_way_forward(definition):
    choice = definition["States"]["RouteByReplicationPhase"]
    handled = {c["StringEquals"] for c in choice["Choices"]} | {Phase.FAILED.value}
    assert handled == {p.value for p in Phase}


def test_substitutions_match_the_template(definition, state_machine_resource):
    used = set(re.findall(r"\$\{(\w+)\}", ASL_PATH.read_text()))
    props = state_machine_resource["Properties"]
    assert used == set(props["DefinitionSubstitutions"])
    assert props["DefinitionUri"] == "statemachine/replication.asl.json"
    assert props["Type"] == "STANDARD"  # copies take hours: Express workflows stop after 5 minutes
