"""CloudFormation, read: a stack's outputs and parameters (where the CLI finds the replicator's tables, state
machines and settings), and the environments of its functions (the local cloud's, for `sam local invoke`)."""

from __future__ import annotations

from dataclasses import dataclass

from .sessions import default_client, endpoint_client


@dataclass(frozen=True)
class Stack:
    """What the CLI reads of a deployed stack: its outputs and its parameters, by key."""

    outputs: dict[str, str]
    parameters: dict[str, str]


def describe_stack(stack_name: str) -> Stack:
    """The stack, in the default session's account and region. Raises botocore's ClientError (no such stack,
    refused) or BotoCoreError (no region, no credentials, unreachable)."""
    stack = default_client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return Stack(
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        parameters={
            p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", []) if "ParameterKey" in p
        },
    )


def function_environments(
    stack_name: str, region: str, credentials: dict[str, str], endpoint_url: str
) -> dict[str, dict[str, str]]:
    """Each Lambda function of the stack at `endpoint_url` (by logical id, sorted): its environment variables as the
    stack resolved them."""
    cloudformation = endpoint_client("cloudformation", region, credentials, endpoint_url)
    lambdas = endpoint_client("lambda", region, credentials, endpoint_url)
    found: dict[str, dict[str, str]] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::Lambda::Function":
                config = lambdas.get_function_configuration(FunctionName=resource["PhysicalResourceId"])
                found[resource["LogicalResourceId"]] = config.get("Environment", {}).get("Variables", {})
    return dict(sorted(found.items()))
