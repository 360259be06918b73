"""One source for each default: the stack's parameters feed the functions' settings, and where a parameter has a
default it is the one `Settings` falls back to (a local run, or a variable left empty, behaves as a deployed stack)."""

from __future__ import annotations

from typing import Any

import pytest
from iam_policies import template

from replicator.copy_slots import CopyQuotas
from replicator.settings import ENVIRONMENT, QUOTAS_ENVIRONMENT, REQUIRED, Settings


def _variables() -> dict[str, Any]:
    """Every environment variable the template gives a function: Globals first, each function's own over them."""
    cfn = template()
    found: dict[str, Any] = dict(cfn["Globals"]["Function"]["Environment"]["Variables"])
    for resource in cfn["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            found |= resource["Properties"].get("Environment", {}).get("Variables", {})
    return found


def _parameter_defaults() -> list[tuple[str, str, Any, Any]]:
    """(variable, parameter, parameter's default, the settings' default) for each variable set from a parameter."""
    cfn = template()
    rows = []
    defaults = {ENVIRONMENT[f]: Settings.model_fields[f].default for f in ENVIRONMENT if f not in REQUIRED}
    defaults |= {QUOTAS_ENVIRONMENT[f]: CopyQuotas.model_fields[f].default for f in QUOTAS_ENVIRONMENT}
    for variable, value in _variables().items():
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in cfn["Parameters"]:
            parameter = cfn["Parameters"][value["Ref"]]
            if variable in defaults and "Default" in parameter:
                rows.append((variable, value["Ref"], parameter["Default"], defaults[variable]))
    return rows


def test_every_setting_with_a_stack_parameter_is_compared():
    compared = {row[0] for row in _parameter_defaults()}
    assert {"POLL_FLOOR_SECONDS", "POLL_CEILING_SECONDS", "MAPPING_CACHE_SECONDS", "SLOT_RECHECK_SECONDS"} <= compared
    assert {"INSTANCE_COPY_QUOTA", "CLUSTER_COPY_QUOTA"} <= compared


@pytest.mark.parametrize(("variable", "parameter", "stack_default", "settings_default"), _parameter_defaults())
def test_a_parameter_default_is_the_settings_default(
    variable: str, parameter: str, stack_default: Any, settings_default: Any
) -> None:
    if isinstance(settings_default, frozenset):
        assert str(stack_default) == ",".join(sorted(settings_default)), parameter
    elif settings_default is None:
        assert stack_default in ("", None), parameter
    else:
        assert type(settings_default)(stack_default) == settings_default, f"{parameter} vs Settings for {variable}"


def test_every_variable_the_settings_read_is_set_by_the_template():
    variables = _variables()
    for name in [*ENVIRONMENT.values(), *QUOTAS_ENVIRONMENT.values()]:
        if name != "MAX_SLOT_WAIT_HOURS":  # not a stack parameter: a fixed week (the reconciler's horizon too)
            assert name in variables, name
