"""Each Lambda task has one name across the ASL, the template and the code: the Task state `RunStep` invokes
`RunStepFunction`, built from functions/run_step/, whose handler calls the use case `run_step`. The only Task states
named otherwise run a function for a second purpose and say which (FinishSucceeded / FinishFailed of
FinishReplication, AbortRestoreTest of RunRestoreTest)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from iam_policies import template

ROOT = Path(__file__).resolve().parents[2]
MACHINES = ("replication.asl.json", "restore_test.asl.json")
SECOND_PURPOSE = {
    "FinishSucceeded": "FinishReplication",
    "FinishFailed": "FinishReplication",
    "AbortRestoreTest": "RunRestoreTest",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _tasks() -> list[tuple[str, str, str]]:
    """(file, state, the function's logical id without `Function`) for every Lambda Task state."""
    rows = []
    for machine in MACHINES:
        for name, state in json.loads((ROOT / "statemachine" / machine).read_text())["States"].items():
            if state["Type"] != "Task":
                continue
            resource = state.get("Parameters", {}).get("FunctionName") or state["Resource"]
            found = re.fullmatch(r"\$\{(\w+)FunctionArn\}", resource)
            assert found, f"{machine} {name}: a Lambda task names its function as ${{XFunctionArn}}: {resource}"
            rows.append((machine, name, found.group(1)))
    return rows


def test_every_lambda_task_is_found():
    assert {task for _, _, task in _tasks()} == {
        "AcquireSlot",
        "CheckCopy",
        "RunStep",
        "FinishReplication",
        "RunRestoreTest",
    }


@pytest.mark.parametrize(("machine", "state", "task"), _tasks())
def test_a_task_state_is_named_as_its_function(machine: str, state: str, task: str) -> None:
    assert SECOND_PURPOSE.get(state, state) == task, f"{machine}: {state} invokes {task}Function"


@pytest.mark.parametrize("task", sorted({task for _, _, task in _tasks()}))
def test_a_task_function_its_code_and_its_use_case_share_the_name(task: str) -> None:
    function = template()["Resources"][f"{task}Function"]["Properties"]
    assert function["CodeUri"] == f"functions/{_snake(task)}"
    handler = ast.parse((ROOT / function["CodeUri"] / "app.py").read_text())
    called = {
        node.func.id for node in ast.walk(handler) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    imported = {
        (node.module, alias.name)
        for node in ast.walk(handler)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("replicator.usecases.")
        for alias in node.names
    }
    use_case = _snake(task)
    assert use_case in called, f"functions/{_snake(task)}/app.py calls no use case named {use_case}"
    assert any(name == use_case for _, name in imported)
