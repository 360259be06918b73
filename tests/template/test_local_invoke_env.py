"""events/env.json, the environment `sam local invoke --env-vars` gives the functions: it sets every variable whose
template value SAM cannot resolve locally (table names, the account, the external id: anything but a parameter with
a default), so that a function does not fail at its first line, and it agrees with the template's defaults."""

import json
import re

from iam_policies import ROOT, template

CFN = template()
ENV = json.loads((ROOT / "events" / "env.json").read_text())
PARAMETERS = CFN["Parameters"]
LOCAL_CHOICES = {"POWERTOOLS_LOG_LEVEL"}  # DEBUG when trying a handler by hand


def _resolved_locally(value: object) -> bool:
    """SAM resolves a Ref to a parameter with a default (AWS::NoValue included) and an If of such values; anything
    else it leaves to env.json."""
    if isinstance(value, dict) and "Fn::If" in value:
        return all(_resolved_locally(branch) for branch in value["Fn::If"][1:])
    return isinstance(value, str) or (
        isinstance(value, dict)
        and "Ref" in value
        and (value["Ref"] == "AWS::NoValue" or "Default" in PARAMETERS.get(value["Ref"], {}))
    )


def test_a_local_endpoint_reaches_the_functions_only_when_given():
    """`sam local invoke --parameter-overrides LocalEndpointUrl=...` gives the functions AWS_ENDPOINT_URL (SAM passes
    only the variables the template declares); deployed with the default, the variable does not exist."""
    variable = CFN["Globals"]["Function"]["Environment"]["Variables"]["AWS_ENDPOINT_URL"]
    assert variable == {"Fn::If": ["HasLocalEndpoint", {"Ref": "LocalEndpointUrl"}, {"Ref": "AWS::NoValue"}]}
    assert CFN["Parameters"]["LocalEndpointUrl"]["Default"] == ""
    assert CFN["Conditions"]["HasLocalEndpoint"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "LocalEndpointUrl"}, ""]}]}
    pattern = re.compile(CFN["Parameters"]["LocalEndpointUrl"]["AllowedPattern"])
    assert pattern.fullmatch("http://127.0.0.1:5000")
    assert pattern.fullmatch("")
    assert not pattern.fullmatch("http://0.0.0.0:5000")  # never an address open to the network
    assert not pattern.fullmatch("https://evil.example.com")


def test_env_json_sets_every_variable_sam_cannot_resolve_locally():
    declared = CFN["Globals"]["Function"]["Environment"]["Variables"]
    needed = {name for name, value in declared.items() if not _resolved_locally(value)}
    assert needed - set(ENV["Parameters"]) == set()
    for name, resource in CFN["Resources"].items():
        own = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        assert {n for n, v in own.items() if not _resolved_locally(v)} - set(ENV.get(name, {})) == set(), name


def test_env_json_agrees_with_the_templates_defaults():
    for variable, value in CFN["Globals"]["Function"]["Environment"]["Variables"].items():
        is_default = isinstance(value, str) or (isinstance(value, dict) and "Ref" in value)
        if variable in ENV["Parameters"] and variable not in LOCAL_CHOICES and is_default and _resolved_locally(value):
            expected = value if isinstance(value, str) else str(PARAMETERS[value["Ref"]]["Default"])
            assert ENV["Parameters"][variable] == expected, variable
