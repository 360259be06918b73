"""Provision the application on the emulation from template.yaml itself (not a hand-kept copy).

SAM template -> samtranslator -> CloudFormation -> moto's CloudFormation. Two of moto's gaps are closed here:
it ignores `DefinitionSubstitutions`, and it registers the state machine where executions do not run, so the
state machine is created again through the API from the resolved definition.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from samtranslator.translator.transform import transform

CODE_BUCKET = "replicator-local-code"
INTRINSICS = ["Ref", "Condition", "GetAtt", "Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or",
              "FindInMap", "ImportValue", "GetAZs", "Base64", "Cidr"]  # fmt: skip


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that understands CloudFormation's short intrinsic tags (!Ref, !Sub, !GetAtt...)."""


def _intrinsic(name: str):
    def construct(loader: yaml.Loader, node: yaml.Node) -> dict[str, Any]:
        key = name if name in ("Ref", "Condition") else f"Fn::{name}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {key: value}

    return construct


for _name in INTRINSICS:
    _CfnLoader.add_constructor(f"!{_name}", _intrinsic(_name))


def load_template(path: Path) -> dict[str, Any]:
    # _CfnLoader is a SafeLoader subclass (it only adds CloudFormation's intrinsic tags)
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506  # nosec B506


class NoManagedPolicies:
    """samtranslator's policy loader: the template names no AWS managed policies by name."""

    def load(self) -> dict[str, str]:
        return {}


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    environment: dict[str, str] = field(default_factory=dict)
    account: str = ""  # the account it is deployed in ("" = the emulation's own, its default credentials')
    # its settings come from `environment`, not from the process's (a second stack: the process has the first's)
    own_settings: bool = False


@dataclass
class LocalStack:
    """What provisioning made: names the tests, the demo and the doubles need."""

    name: str
    region: str
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id -> physical id
    functions: dict[str, LocalFunction]  # function name -> function
    state_machine_arn: str  # the replication state machine
    definition: dict[str, Any]
    state_machine_arns: dict[str, str] = field(default_factory=dict)  # logical id -> ARN, every state machine

    @property
    def mapping_table(self) -> str:
        return self.outputs["MappingTableName"]

    @property
    def history_table(self) -> str:
        return self.outputs["HistoryTableName"]

    def function(self, logical_id: str) -> LocalFunction:
        return next(f for f in self.functions.values() if f.logical_id == logical_id)


@dataclass
class LocalForwarder:
    """A forwarder stack (forwarder.yaml) in one source region."""

    name: str
    region: str
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id -> physical id


def account_client(service: str, region: str, account: str = "") -> Any:
    """A client of the emulation acting in `account` ("" = its own): moto's account header on each request, which
    stands for credentials of that account."""
    client = boto3.client(service, region_name=region)
    if account:

        def in_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        client.meta.events.register("before-send", in_account)
    return client


def _create_stack(
    cfn_template: dict[str, Any], stack_name: str, region: str, parameters: dict[str, str], account: str = ""
) -> tuple[dict[str, str], dict[str, str]]:
    """(outputs, logical id -> physical id) of a stack made on the emulation; an error if it was not made."""
    cfn = account_client("cloudformation", region, account)
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(cfn_template),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason')}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
        if "PhysicalResourceId" in r
    }
    return outputs, resources


def provision_forwarder(
    root: Path, region: str, home_event_bus_arn: str, stack_name: str = "rds-snapshot-replicator-forwarder"
) -> LocalForwarder:
    """Deploy forwarder.yaml itself (plain CloudFormation, no transform) to `region` of the emulation."""
    template = load_template(root / "forwarder.yaml")
    outputs, resources = _create_stack(template, stack_name, region, {"HomeEventBusArn": home_event_bus_arn})
    return LocalForwarder(name=stack_name, region=region, outputs=outputs, resources=resources)


def _zip_dir(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in sorted(directory.rglob("*.py")):
            archive.write(file, file.relative_to(directory))
    return buffer.getvalue()


def to_cloudformation(root: Path, template: dict[str, Any], region: str, account: str = "") -> dict[str, Any]:
    """The SAM template with code in S3 (of the account it is deployed in) and the ASL file inlined, translated to
    CloudFormation."""
    s3 = account_client("s3", region, account)
    bucket = f"{CODE_BUCKET}-{account}" if account else CODE_BUCKET  # bucket names are global
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            key = f"{logical_id}.zip"
            s3.put_object(Bucket=bucket, Key=key, Body=_zip_dir(root / props["CodeUri"]))
            props["CodeUri"] = f"s3://{bucket}/{key}"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            key = f"{logical_id}.zip"
            s3.put_object(Bucket=bucket, Key=key, Body=_zip_dir(root / props["ContentUri"]))
            props["ContentUri"] = f"s3://{bucket}/{key}"
        elif resource["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            props["Definition"] = json.loads((root / props.pop("DefinitionUri")).read_text())
    return transform(template, {}, NoManagedPolicies())


def _substitute(definition: Any, substitutions: dict[str, str]) -> Any:
    text = json.dumps(definition)
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", value)
    return json.loads(text)


def _resolve(value: Any, resources: dict[str, str], functions_by_logical: dict[str, str], region: str) -> str:
    """The few intrinsics DefinitionSubstitutions use here: Ref and GetAtt <Function>.Arn."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        if attribute == "Arn" and logical in functions_by_logical:
            return functions_by_logical[logical]
    if "Ref" in value:
        return resources[value["Ref"]]
    raise ValueError(f"cannot resolve {value} in DefinitionSubstitutions")


@dataclass
class LocalCoordinator:
    """coordinator.yaml in a vault account: its shared copy-slot table and the function granting its slots."""

    name: str
    account: str
    region: str
    outputs: dict[str, str]
    functions: dict[str, LocalFunction]

    @property
    def table_arn(self) -> str:
        return self.outputs["SharedSlotPoolTableArn"]


def _local_functions(
    root: Path, sam_template: dict[str, Any], resources: dict[str, str], region: str, account: str = ""
) -> tuple[dict[str, LocalFunction], dict[str, str]]:
    """The stack's functions as the dispatcher runs them (by name), and their ARNs by logical id."""
    lambda_client = account_client("lambda", region, account)
    functions: dict[str, LocalFunction] = {}
    function_arns: dict[str, str] = {}
    for logical_id, resource in sam_template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        config = lambda_client.get_function(FunctionName=resources[logical_id])["Configuration"]
        function_arns[logical_id] = config["FunctionArn"]
        functions[config["FunctionName"]] = LocalFunction(
            logical_id=logical_id,
            name=config["FunctionName"],
            code_dir=root / resource["Properties"]["CodeUri"],
            handler=resource["Properties"].get("Handler", sam_template["Globals"]["Function"]["Handler"]),
            environment={k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()},
            account=account,
        )
    return functions, function_arns


def provision_coordinator(
    root: Path,
    account: str,
    region: str = "us-east-1",
    parameters: dict[str, str] | None = None,
    stack_name: str = "rds-snapshot-replicator-coordinator",
) -> LocalCoordinator:
    """Deploy coordinator.yaml in `account` (a vault) of the emulation."""
    sam_template = load_template(root / "coordinator.yaml")
    cfn_template = to_cloudformation(root, json.loads(json.dumps(sam_template)), region, account)
    outputs, resources = _create_stack(cfn_template, stack_name, region, parameters or {}, account)
    functions, _ = _local_functions(root, sam_template, resources, region, account)
    return LocalCoordinator(name=stack_name, account=account, region=region, outputs=outputs, functions=functions)


def provision(
    root: Path,
    stack_name: str = "replicator",
    region: str = "us-east-1",
    parameters: dict[str, str] | None = None,
    account: str = "",
) -> LocalStack:
    """Deploy template.yaml to the emulation (with these parameter overrides), in `account` ("" = the emulation's
    own), and return what was made."""
    sam_template = load_template(root / "template.yaml")
    state_machines = {
        logical_id: resource["Properties"]
        for logical_id, resource in sam_template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::StateMachine"
    }
    cfn_template = to_cloudformation(root, json.loads(json.dumps(sam_template)), region, account)

    outputs, resources = _create_stack(cfn_template, stack_name, region, parameters or {}, account)

    functions, function_arns = _local_functions(root, sam_template, resources, region, account)

    # moto's CloudFormation ignores DefinitionSubstitutions and makes a state machine that never runs: make it again.
    sfn = account_client("stepfunctions", region, account)
    arns: dict[str, str] = {}
    definitions: dict[str, dict[str, Any]] = {}
    for logical_id, props in state_machines.items():
        substitutions = {
            name: _resolve(value, resources, function_arns, region)
            for name, value in props.get("DefinitionSubstitutions", {}).items()
        }
        definition = _substitute(json.loads((root / props["DefinitionUri"]).read_text()), substitutions)
        name = resources[logical_id].rsplit(":", 1)[-1]
        role_arn = account_client("iam", region, account).get_role(RoleName=resources[f"{logical_id}Role"])["Role"][
            "Arn"
        ]
        created = sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=role_arn, type="STANDARD"
        )
        arns[logical_id] = created["stateMachineArn"]
        definitions[logical_id] = definition
    return LocalStack(
        name=stack_name,
        region=region,
        outputs=outputs,
        resources=resources,
        functions=functions,
        state_machine_arn=arns["ReplicationStateMachine"],
        definition=definitions["ReplicationStateMachine"],
        state_machine_arns=arns,
    )
