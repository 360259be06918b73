"""What the ASL tests check of each state machine file: the Step Functions schema (cfn-lint E3601, through a
minimal template) and the states each state can go to next."""

from __future__ import annotations

import json
import re
from typing import Any

from cfnlint.api import ManualArgs, lint


def schema_errors(definition: dict[str, Any]) -> list[str]:
    """cfn-lint's findings for the definition (its ${...} substitutions as Lambda ARNs), as in a template."""
    text = re.sub(r"\$\{(\w+)\}", r"arn:aws:lambda:us-east-1:123456789012:function:\1", json.dumps(definition))
    cfn = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"RoleArn": "arn:aws:iam::123456789012:role/machine", "Definition": json.loads(text)},
            }
        },
    }
    return [str(m) for m in lint(json.dumps(cfn), config=ManualArgs(regions=["us-east-1"]))]


def next_states(state: dict[str, Any]) -> list[str]:
    """The states `state` can go to: Next, Default, each Choice's and each Catch's."""
    targets = [state.get("Next"), state.get("Default")]
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    targets += [catch["Next"] for catch in state.get("Catch", [])]
    return [t for t in targets if t]


def _terminal(state: dict[str, Any]) -> bool:
    return bool(state.get("End")) or state["Type"] in ("Succeed", "Fail")


def graph_problems(definition: dict[str, Any]) -> list[str]:
    """What is wrong with the states' connections: a transition to no state, a state no path reaches, a state that
    neither ends nor continues (or both), a state from which no terminal state can be reached (a closed loop)."""
    states = definition["States"]
    problems = [] if definition["StartAt"] in states else [f"StartAt {definition['StartAt']}: no such state"]
    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        for target in next_states(states[name]):
            if target not in states:
                problems.append(f"{name} -> {target}: no such state")
            todo.append(target)
    problems += [f"{name}: unreachable" for name in states if name not in seen]
    for name, state in states.items():
        if not _terminal(state) and not next_states(state):
            problems.append(f"{name} neither ends nor continues")
        if _terminal(state) and (state.get("Next") or state.get("Choices")):  # a Catch may leave an End state
            problems.append(f"{name} both ends and continues")
    ending = {name for name, state in states.items() if _terminal(state)}
    grew = True
    while grew:
        more = {name for name, state in states.items() if set(next_states(state)) & ending} - ending
        ending |= more
        grew = bool(more)
    problems += [f"{name}: no path from it ends" for name in states if name not in ending]
    return problems
