"""Expand the packaged SAM template into plain CloudFormation, for StackSets with service-managed permissions.

StackSets refuse service-managed stack sets whose template uses a macro, and `Transform: AWS::Serverless-2016-10-31`
is one. So `make organization-templates` runs `sam build` and `sam package` (the code and the state machine
definitions go to S3) and then this module, which translates the packaged template with SAM's translator (the one
provision.py uses for the emulation): no Transform and no AWS::Serverless::* resource are left; the Parameters,
Conditions and Outputs stay, and so do the S3 locations `sam package` wrote (Lambda code, the layer's content, each
state machine's DefinitionS3Location with its DefinitionSubstitutions).

    python -m replicator_cli.local.expand PACKAGED.yaml OUT.yaml

A template whose CodeUri, ContentUri or DefinitionUri is still a local path was not packaged: refused, exit status 2
(CloudFormation in the workload accounts cannot read the machine's files).

    python -m replicator_cli.local.expand --forwarder forwarder.yaml OUT.yaml

writes forwarder.yaml for a stack set: a stack set gives every account the same parameter values, but the bus a
forwarder sends to (HomeEventBusArn) is each account's own; so the parameter becomes HomeRegion and every use of
the bus ARN is built in the account (arn:...:events:<HomeRegion>:<AWS::AccountId>:event-bus/default). Nothing else
changes.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import yaml
from samtranslator.translator.transform import transform

from replicator_cli.local.provision import NoManagedPolicies, load_template

# the property of each SAM resource that names local files until `sam package` puts them in S3
PACKAGED_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}
# the property that may replace it with the content itself (no file to package)
INLINE_PROPERTIES = {"AWS::Serverless::Function": "InlineCode", "AWS::Serverless::StateMachine": "Definition"}


class NotPackaged(ValueError):
    """The template still names local files: run `sam build` and `sam package` first."""


def _in_s3(location: Any) -> bool:
    """`sam package` writes s3://bucket/key, or {Bucket, Key} (state machines; Lambda's S3Bucket / S3Key)."""
    if isinstance(location, str):
        return location.startswith("s3://")
    if isinstance(location, dict):
        return {"Bucket", "Key"} <= location.keys() or {"S3Bucket", "S3Key"} <= location.keys()
    return False


def local_paths(template: dict[str, Any]) -> list[str]:
    """'Resource.Property = value' for every code or definition location that is not in S3."""
    global_function = template.get("Globals", {}).get("Function", {})
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource.get("Type", "")
        prop = PACKAGED_PROPERTIES.get(kind)
        if prop is None:
            continue
        props = resource.get("Properties", {})
        if INLINE_PROPERTIES.get(kind) in props:
            continue
        location = props.get(prop, global_function.get(prop) if kind == "AWS::Serverless::Function" else None)
        if not _in_s3(location):
            found.append(f"{logical_id}.{prop} = {location!r}")
    return found


@contextlib.contextmanager
def _some_region() -> Iterator[None]:
    """SAM's translator wants a region (for its pseudo parameters) even where it resolves none: give it one if the
    environment has none. The expansion does not depend on it (tests/template/test_organization.py)."""
    if boto3.session.Session().region_name:
        yield
        return
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    try:
        yield
    finally:
        del os.environ["AWS_DEFAULT_REGION"]


def expand(packaged: dict[str, Any]) -> dict[str, Any]:
    """The packaged SAM template as plain CloudFormation (refused with NotPackaged if it names local files)."""
    unpackaged = local_paths(packaged)
    if unpackaged:
        raise NotPackaged("not packaged (run sam build and sam package first): " + "; ".join(unpackaged))
    # no parameter values: every Ref of a parameter stays a Ref, resolved by CloudFormation in each account
    with _some_region():
        expanded = transform(copy.deepcopy(packaged), {}, NoManagedPolicies())
    expanded.pop("Transform", None)
    resources = expanded.get("Resources", {})
    left = [name for name, r in resources.items() if r.get("Type", "").startswith("AWS::Serverless::")]
    if left:
        raise ValueError(f"SAM resources left after the translation: {', '.join(left)}")
    return expanded


HOME_BUS = "arn:${AWS::Partition}:events:${HomeRegion}:${AWS::AccountId}:event-bus/default"


def _replace_ref(node: Any, name: str, replacement: Any) -> Any:
    if node == {"Ref": name}:
        return copy.deepcopy(replacement)
    if isinstance(node, dict):
        return {key: _replace_ref(value, name, replacement) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_ref(value, name, replacement) for value in node]
    return node


def forwarder_for_stack_sets(forwarder: dict[str, Any]) -> dict[str, Any]:
    """forwarder.yaml with HomeEventBusArn (one account's bus) replaced by HomeRegion (the same in every account)."""
    parameters = dict(forwarder["Parameters"])
    if "HomeEventBusArn" not in parameters:
        raise ValueError("forwarder.yaml has no HomeEventBusArn parameter: nothing to derive")
    if "HomeRegion" in parameters:
        raise ValueError("forwarder.yaml has a HomeRegion parameter already: deploy it as it is")
    derived = copy.deepcopy(forwarder)
    derived["Parameters"] = {
        ("HomeRegion" if name == "HomeEventBusArn" else name): (
            {
                "Type": "String",
                "AllowedPattern": "[a-z]{2}(-[a-z]+)+-\\d",
                "Description": "The replicator's region: its stack in this account is on this region's default bus.",
            }
            if name == "HomeEventBusArn"
            else value
        )
        for name, value in parameters.items()
    }
    for section in ("Conditions", "Resources", "Outputs"):
        if section in derived:
            derived[section] = _replace_ref(derived[section], "HomeEventBusArn", {"Fn::Sub": HOME_BUS})
    left = [s for s in ("Conditions", "Resources", "Outputs") if "HomeEventBusArn" in json.dumps(derived.get(s, {}))]
    if left:
        raise ValueError(f"HomeEventBusArn is still used in {', '.join(left)} (not as a Ref): derive it by hand")
    return derived


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m replicator_cli.local.expand",
        description="Expand the packaged SAM template (sam package's output) into plain CloudFormation for StackSets.",
    )
    parser.add_argument("packaged", type=Path, help="the template sam package wrote (with --forwarder: forwarder.yaml)")
    parser.add_argument("out", type=Path, help="where to write the expanded template (YAML)")
    parser.add_argument(
        "--forwarder", action="store_true", help="forwarder.yaml for a stack set (HomeRegion, not HomeEventBusArn)"
    )
    args = parser.parse_args(argv)
    if args.forwarder:
        args.out.write_text(yaml.safe_dump(forwarder_for_stack_sets(load_template(args.packaged)), sort_keys=False))
        print(f"{args.out}: {args.packaged} for stack sets (parameter HomeRegion instead of HomeEventBusArn)")
        return 0
    try:
        expanded = expand(load_template(args.packaged))
    except NotPackaged as refused:
        print(f"{args.packaged}: {refused}", file=sys.stderr)
        return 2
    args.out.write_text(yaml.safe_dump(expanded, sort_keys=False, width=120))
    resources = expanded["Resources"]
    print(f"{args.out}: {len(resources)} resources, no transform ({args.packaged} expanded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
