"""Reading the templates' IAM policies: the statements each role gets (inline and managed, under either value of
a condition), and the same statements with CloudFormation's intrinsics replaced by sample values, for linting."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from replicator_cli.local.provision import load_template

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION, STACK = "123456789012", "us-east-1", "rds-snapshot-replicator"


def template(name: str = "template.yaml") -> dict[str, Any]:
    return load_template(ROOT / name)


# entries of tests/aws_calls.yaml that are no Lambda function: only the calls they make through the target role
NOT_FUNCTIONS = frozenset({"ReplicatorCli"})


def all_calls() -> dict[str, dict[str, list[str]]]:
    """Every entry of tests/aws_calls.yaml: the functions', and those of NOT_FUNCTIONS."""
    return yaml.safe_load((ROOT / "tests" / "aws_calls.yaml").read_text())


def aws_calls() -> dict[str, dict[str, list[str]]]:
    """The functions' entries of tests/aws_calls.yaml (home, implied, target), by function."""
    return {name: calls for name, calls in all_calls().items() if name not in NOT_FUNCTIONS}


def target_calls() -> set[str]:
    """Every action called through the target role: by the functions, and by the CLI (NOT_FUNCTIONS)."""
    return {action for calls in all_calls().values() for action in calls.get("target", [])}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(
    document: dict[str, Any], condition_true: bool = True, conditions: dict[str, bool] | None = None
) -> list[dict[str, Any]]:
    """A policy document's statements, a `Fn::If` one taken as its condition says (AWS::NoValue dropped): the
    condition's value in `conditions`, else `condition_true`."""
    found = []
    for statement in as_list(document.get("Statement", [])):
        if "Fn::If" in statement:
            name, when_true, when_false = statement["Fn::If"]
            statement = when_true if (conditions or {}).get(name, condition_true) else when_false
            if statement == {"Ref": "AWS::NoValue"}:
                continue
        found.append(statement)
    return found


def _managed_policy_names(role: dict[str, Any], condition_true: bool = True) -> list[str]:
    names = []
    for entry in role["Properties"].get("ManagedPolicyArns", []):
        if "Ref" in entry:
            names.append(entry["Ref"])
        elif "Fn::If" in entry:
            chosen = entry["Fn::If"][1 if condition_true else 2]
            if "Ref" in chosen and chosen["Ref"] != "AWS::NoValue":
                names.append(chosen["Ref"])
    return names


def role_statements(cfn: dict[str, Any], role_name: str, condition_true: bool = True) -> list[dict[str, Any]]:
    """Every statement a role gets: its inline policies and the managed policies attached to it."""
    resources = cfn["Resources"]
    role = resources[role_name]
    found = []
    for policy in role["Properties"].get("Policies", []):
        found += statements(policy["PolicyDocument"], condition_true)
    for name in _managed_policy_names(role, condition_true):
        found += statements(resources[name]["Properties"]["PolicyDocument"], condition_true)
    return found


def allowed_actions(found: list[dict[str, Any]]) -> set[str]:
    return {a for s in found if s["Effect"] == "Allow" for a in as_list(s["Action"])}


def policy_documents(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every IAM policy document of a template (inline, managed, trust), by where it is."""
    documents = {}
    for name, resource in cfn["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            documents[name] = props["PolicyDocument"]
        for policy in props.get("Policies", []) if resource["Type"] == "AWS::IAM::Role" else []:
            documents[f"{name}/{policy['PolicyName']}"] = policy["PolicyDocument"]
    return documents


# --- intrinsics replaced by sample values (for linting) ---------------------------------------------------------------

_ARN_OF = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{name}:*",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::Serverless::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::IAM::ManagedPolicy": "arn:aws:iam::{account}:policy/{name}",
}


def resolve(value: Any, cfn: dict[str, Any], overrides: dict[str, str] | None = None) -> Any:
    """`value` with Ref, Sub, GetAtt, If (true branch), Split, Select and Join replaced by sample values."""
    parameters = {k: str(v.get("Default", "")) for k, v in cfn.get("Parameters", {}).items()}
    parameters.update(overrides or {})
    pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK}

    def ref(name: str) -> str:
        if name in pseudo:
            return pseudo[name]
        if name in parameters:
            return parameters[name]
        return name  # a resource's name or id

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node if v != {"Ref": "AWS::NoValue"}]
        if not isinstance(node, dict):
            return node
        if "Ref" in node and len(node) == 1:
            return ref(node["Ref"])
        if "Fn::GetAtt" in node:
            logical, attribute = node["Fn::GetAtt"]
            kind = cfn["Resources"][logical]["Type"]
            arn = _ARN_OF.get(kind, "arn:aws:{name}").format(region=REGION, account=ACCOUNT, name=logical)
            if attribute == "StreamArn":  # a table's stream
                return f"{arn}/stream/2026-12-01T000000.000"  # (a real label has colons, which parliament splits on)
            return arn
        if "Fn::Sub" in node:
            text, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
            values = {k: walk(v) for k, v in variables.items()}

            def variable(name: str) -> str:
                if name in values:
                    return str(values[name])
                if "." in name:  # ${Resource.Attribute}, as GetAtt
                    return str(walk({"Fn::GetAtt": name.split(".", 1)}))
                return ref(name)

            return re.sub(r"\$\{([\w:.]+)\}", lambda m: variable(m.group(1)), text)
        if "Fn::If" in node:
            return walk(node["Fn::If"][1])
        if "Fn::Split" in node:
            separator, text = node["Fn::Split"]
            return walk(text).split(separator)
        if "Fn::Select" in node:
            index, items = node["Fn::Select"]
            return walk(items)[int(index)]
        if "Fn::Join" in node:
            separator, items = node["Fn::Join"]
            return separator.join(walk(items))
        return {k: walk(v) for k, v in node.items()}

    return walk(value)


def as_json(document: dict[str, Any], cfn: dict[str, Any], overrides: dict[str, str] | None = None) -> str:
    return json.dumps(resolve(document, cfn, overrides))
