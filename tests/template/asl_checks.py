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
