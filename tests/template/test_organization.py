"""organization.yaml rolls the application out with service-managed StackSets, and the replicator's template is
expanded into plain CloudFormation first (service-managed stack sets refuse the AWS::Serverless macro)."""

import copy
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from cfnlint.api import ManualArgs, lint

from replicator_cli.local.expand import NotPackaged, expand, forwarder_for_stack_sets, local_paths, main
from replicator_cli.local.provision import load_template

ROOT = Path(__file__).resolve().parents[2]
STACK_SET = "AWS::CloudFormation::StackSet"
# each stack set's TemplateURL parameter -> the template it deploys
TEMPLATE_OF = {
    "ReplicatorTemplateUrl": "replicator",
    "ForwarderTemplateUrl": "forwarder",
    "TargetRoleTemplateUrl": "role",
    "CoordinatorTemplateUrl": "coordinator",
}


def packaged(sam: dict) -> dict:
    """template.yaml as `sam package` leaves it: code in s3://..., state machine definitions as {Bucket, Key}."""
    sam = copy.deepcopy(sam)
    for logical_id, resource in sam["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = f"s3://artifacts/replicator/{logical_id}"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://artifacts/replicator/{logical_id}"
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            props["DefinitionUri"] = {"Bucket": "artifacts", "Key": f"replicator/{logical_id}"}
    return sam


@pytest.fixture(scope="module")
def sam() -> dict:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def expanded(sam) -> dict:
    return expand(packaged(sam))


@pytest.fixture(scope="module")
def organization() -> dict:
    return load_template(ROOT / "organization.yaml")


@pytest.fixture(scope="module")
def targets(expanded) -> dict[str, dict]:
    return {
        "replicator": expanded,
        "forwarder": forwarder_for_stack_sets(load_template(ROOT / "forwarder.yaml")),
        "role": load_template(ROOT / "target-account-role.yaml"),
        "coordinator": expand(packaged(load_template(ROOT / "coordinator.yaml"))),
    }


def _stack_sets(organization: dict) -> dict[str, dict]:
    return {name: r["Properties"] for name, r in organization["Resources"].items() if r["Type"] == STACK_SET}


def _target(stack_set: dict, targets: dict[str, dict]) -> dict:
    return targets[TEMPLATE_OF[stack_set["TemplateURL"]["Ref"]]]


def _lint(template: dict | str) -> list[str]:
    text = template if isinstance(template, str) else yaml.safe_dump(template, sort_keys=False)
    return [str(m) for m in lint(text, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))]


def _refs(node) -> set[str]:
    """Every name a Ref or a ${...} of a Sub uses."""
    if isinstance(node, dict):
        found = {node["Ref"]} if isinstance(node.get("Ref"), str) else set()
        sub = node.get("Fn::Sub")
        if sub is not None:
            found |= set(re.findall(r"\$\{([^}!.]+)", sub if isinstance(sub, str) else sub[0]))
        return found | {name for value in node.values() for name in _refs(value)}
    if isinstance(node, list):
        return {name for value in node for name in _refs(value)}
    return set()


# --- organization.yaml


def test_cfn_lint_passes():
    assert _lint((ROOT / "organization.yaml").read_text()) == []


def test_every_stack_set_is_service_managed_and_follows_the_organization(organization):
    stack_sets = _stack_sets(organization)
    assert set(stack_sets) == {"ReplicatorStackSet", "ForwarderStackSet", "VaultStackSet", "CoordinatorStackSet"}
    for name, props in stack_sets.items():
        assert props["PermissionModel"] == "SERVICE_MANAGED", name
        # accounts that join get the stacks, accounts that leave lose them
        assert props["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}, name
        assert props["CallAs"] == {"Ref": "CallAs"}, name
        assert "CAPABILITY_AUTO_EXPAND" not in props["Capabilities"], name  # nothing to expand: no macro is left
        assert props["TemplateURL"]["Ref"] in TEMPLATE_OF, name
        preferences = props["OperationPreferences"]
        assert preferences["MaxConcurrentPercentage"] == {"Ref": "MaxConcurrentPercentage"}, name
        assert preferences["FailureTolerancePercentage"] == {"Ref": "FailureTolerancePercentage"}, name
    parameters = organization["Parameters"]
    assert parameters["FailureTolerancePercentage"]["Default"] == 0  # stop at the first failure
    assert parameters["CallAs"]["AllowedValues"] == ["SELF", "DELEGATED_ADMIN"]


def test_what_goes_where(organization):
    stack_sets = _stack_sets(organization)
    (replicator,) = stack_sets["ReplicatorStackSet"]["StackInstancesGroup"]
    assert replicator == {
        "DeploymentTargets": {"OrganizationalUnitIds": {"Ref": "WorkloadOuIds"}},
        "Regions": [{"Ref": "HomeRegion"}],
    }
    (forwarders,) = stack_sets["ForwarderStackSet"]["StackInstancesGroup"]
    assert forwarders == {
        "DeploymentTargets": {"OrganizationalUnitIds": {"Ref": "WorkloadOuIds"}},
        "Regions": {"Ref": "OtherRegions"},
    }
    assert organization["Resources"]["ForwarderStackSet"]["Condition"] == "HasOtherRegions"


@pytest.mark.parametrize(
    ("stack_set", "url"),
    [("VaultStackSet", "TargetRoleTemplateUrl"), ("CoordinatorStackSet", "CoordinatorTemplateUrl")],
)
def test_the_vault_stack_sets_target_the_vault_account_alone(organization, stack_set, url):
    (group,) = _stack_sets(organization)[stack_set]["StackInstancesGroup"]
    assert group["DeploymentTargets"] == {
        "OrganizationalUnitIds": [{"Ref": "VaultOuId"}],
        "Accounts": [{"Ref": "VaultAccountId"}],
        "AccountFilterType": "INTERSECTION",
    }
    assert group["Regions"] == [{"Ref": "HomeRegion"}]
    assert _stack_sets(organization)[stack_set]["TemplateURL"] == {"Ref": url}


def _passed(organization: dict, stack_set: str) -> dict:
    return {p["ParameterKey"]: p["ParameterValue"] for p in _stack_sets(organization)[stack_set]["Parameters"]}


def test_every_replicator_and_the_vault_role_are_given_the_coordinators_table(organization, targets):
    table = {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${HomeRegion}:${VaultAccountId}:table/${CopySlotsTableName}"}
    assert _passed(organization, "ReplicatorStackSet")["SharedSlotPoolTableArn"] == table
    assert _passed(organization, "VaultStackSet")["SharedSlotPoolTableArn"] == table
    # the coordinator's table has that very name (fixed, so that its ARN is known before it exists)
    assert _passed(organization, "CoordinatorStackSet")["TableName"] == {"Ref": "CopySlotsTableName"}
    table_resource = targets["coordinator"]["Resources"]["SharedSlotPoolTable"]["Properties"]
    assert table_resource["TableName"] == {"Ref": "TableName"}
    # through the vault's role, the one the mapping targets name
    role = _passed(organization, "ReplicatorStackSet")["SharedSlotPoolRoleArn"]
    assert role == organization["Outputs"]["VaultRoleArn"]["Value"]
    # and the replicators come after the vault's table and role
    assert set(organization["Resources"]["ReplicatorStackSet"]["DependsOn"]) == {"CoordinatorStackSet", "VaultStackSet"}


def test_each_stack_set_passes_only_its_templates_parameters_and_every_required_one(organization, targets):
    for name, props in _stack_sets(organization).items():
        declared = _target(props, targets)["Parameters"]
        passed = [p["ParameterKey"] for p in props["Parameters"]]
        assert len(passed) == len(set(passed)), name
        assert sorted(set(passed) - set(declared)) == [], name
        required = sorted(key for key, p in declared.items() if "Default" not in p)
        assert sorted(set(required) - set(passed)) == [], name
        # and each value comes from organization.yaml's own parameters
        unknown = _refs(props["Parameters"]) - set(organization["Parameters"]) - {"AWS::Partition"}
        assert unknown == set(), name


def test_the_capabilities_match_what_each_template_creates(organization, targets):
    for name, props in _stack_sets(organization).items():
        resources = _target(props, targets)["Resources"].values()
        named_iam = any(r["Type"].startswith("AWS::IAM::") and "RoleName" in r.get("Properties", {}) for r in resources)
        expected = ["CAPABILITY_NAMED_IAM"] if named_iam else ["CAPABILITY_IAM"]
        assert props["Capabilities"] == expected, name


def test_the_vault_role_trusts_the_replicator_roles_of_the_stack_set_instances_in_the_organization(
    organization, expanded
):
    (pattern,) = [
        p["ParameterValue"]["Fn::Sub"]
        for p in _stack_sets(organization)["VaultStackSet"]["Parameters"]
        if p["ParameterKey"] == "ReplicatorRolePattern"
    ]
    # template.yaml's own output, with the stack set's instance names: StackSet-<name>-<id>
    output = expanded["Outputs"]["ReplicatorRolePattern"]["Value"]["Fn::Sub"]
    # ...in any account (organization mode: the vault trusts every workload account of the organization)
    assert pattern == output.replace("${AWS::AccountId}", "*").replace(
        "${AWS::StackName}", "StackSet-${ReplicatorStackSetName}-*"
    )
    vault = {p["ParameterKey"]: p["ParameterValue"] for p in _stack_sets(organization)["VaultStackSet"]["Parameters"]}
    assert vault["TrustedOrganizationId"] == {"Ref": "OrganizationId"}
    assert "Default" not in organization["Parameters"]["OrganizationId"]  # required: the vault's trust needs it
    # the replicators send replicas to the vault alone unless asked for the whole organization
    replicator = {
        p["ParameterKey"]: p["ParameterValue"] for p in _stack_sets(organization)["ReplicatorStackSet"]["Parameters"]
    }
    assert replicator["AllowedOrganizationId"] == {
        "Fn::If": ["ReplicasAnywhereInTheOrganization", {"Ref": "OrganizationId"}, ""]
    }
    assert organization["Parameters"]["ReplicaTargets"]["Default"] == "vault"


def test_stack_set_names_leave_room_for_the_names_the_templates_build(organization):
    # a stack instance is StackSet-<stack set name>-<36-character id>; the longest name built on it must fit
    def longest(parameter: str) -> int:
        return int(re.search(r"\{0,(\d+)\}", organization["Parameters"][parameter]["AllowedPattern"])[1]) + 1

    def instance(parameter: str) -> int:
        return len("StackSet-") + longest(parameter) + 1 + 36

    assert instance("ReplicatorStackSetName") + len("-restore-test") <= 80  # state machine names
    assert instance("ForwarderStackSetName") + len("-backup") <= 64  # EventBridge rule names
    for parameter in (
        "ReplicatorStackSetName",
        "ForwarderStackSetName",
        "VaultStackSetName",
        "CoordinatorStackSetName",
    ):
        default = organization["Parameters"][parameter]["Default"]
        assert re.fullmatch(organization["Parameters"][parameter]["AllowedPattern"], default)


def test_make_lints_scans_and_builds_the_organization():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"cfn-lint [^\n]*organization\.yaml", makefile)
    assert re.search(r"\$\(CHECKOV\) [^\n]*(\\\n[^\n]*)?organization\.yaml", makefile)
    assert "python -m replicator_cli.local.expand $(ORG_DIR)/packaged.yaml" in makefile


def test_make_refuses_to_package_without_a_bucket():
    result = subprocess.run(
        ["make", "-s", "-o", ".venv/bin/replicator", "-o", ".tools/sam/bin/sam", "organization-templates"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "ARTIFACT_BUCKET" in result.stderr


# --- the expansion of template.yaml


def test_the_expansion_leaves_no_macro_and_keeps_parameters_conditions_and_outputs(sam, expanded):
    assert "Transform" not in expanded
    assert [n for n, r in expanded["Resources"].items() if r["Type"].startswith("AWS::Serverless::")] == []
    assert expanded["Parameters"] == sam["Parameters"]
    assert expanded["Conditions"] == sam["Conditions"]
    assert set(expanded["Outputs"]) == set(sam["Outputs"])


def test_the_code_and_the_definitions_stay_where_sam_package_put_them(sam, expanded):
    functions = {n: r["Properties"] for n, r in expanded["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == {n for n, r in sam["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    for name, props in functions.items():
        assert props["Code"] == {"S3Bucket": "artifacts", "S3Key": f"replicator/{name}"}, name
    (layer,) = [r["Properties"] for r in expanded["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    assert layer["Content"] == {"S3Bucket": "artifacts", "S3Key": "replicator/ReplicatorLayer"}
    machines = {
        n: r["Properties"] for n, r in expanded["Resources"].items() if r["Type"] == "AWS::StepFunctions::StateMachine"
    }
    assert set(machines) == {"ReplicationStateMachine", "RestoreTestStateMachine"}
    for name, props in machines.items():
        assert props["DefinitionS3Location"] == {"Bucket": "artifacts", "Key": f"replicator/{name}"}
        assert props["DefinitionSubstitutions"] == sam["Resources"][name]["Properties"]["DefinitionSubstitutions"]


def test_no_parameter_is_baked_in_at_its_default(sam, expanded):
    # every parameter the SAM template uses is still referenced: CloudFormation resolves it in each account
    used = _refs(sam["Resources"]) | _refs(sam["Globals"])
    assert sorted((used & set(sam["Parameters"])) - _refs(expanded["Resources"])) == []
    changed = packaged(sam)
    for parameter in changed["Parameters"].values():
        if parameter["Type"] == "Number" and "AllowedValues" not in parameter:
            parameter["Default"] = 7
    again = expand(changed)
    assert {k: v for k, v in again.items() if k != "Parameters"} == {
        k: v for k, v in expanded.items() if k != "Parameters"
    }


def test_the_expansion_lints_clean(expanded):
    assert _lint(expanded) == []


def test_an_unpackaged_template_is_refused(sam, tmp_path, capsys):
    assert len(local_paths(sam)) == 14  # eleven functions, the layer, two state machines
    with pytest.raises(NotPackaged, match=r"ReplicatorLayer\.ContentUri = 'layers/replicator'"):
        expand(sam)
    half = packaged(sam)
    half["Resources"]["ReplicationStateMachine"]["Properties"]["DefinitionUri"] = "statemachine/replication.asl.json"
    with pytest.raises(NotPackaged, match=r"^not packaged .*ReplicationStateMachine\.DefinitionUri"):
        expand(half)
    out = tmp_path / "expanded.yaml"
    assert main([str(ROOT / "template.yaml"), str(out)]) == 2
    assert "not packaged" in capsys.readouterr().err
    assert not out.exists()


def test_the_command_writes_the_expansion(sam, tmp_path):
    source = tmp_path / "packaged.yaml"
    source.write_text(yaml.safe_dump(packaged(sam), sort_keys=False))
    out = tmp_path / "expanded.yaml"
    assert main([str(source), str(out)]) == 0
    assert "Transform" not in yaml.safe_load(out.read_text())


# --- forwarder.yaml for stack sets


def test_the_forwarder_for_stack_sets_builds_each_accounts_own_bus():
    forwarder = load_template(ROOT / "forwarder.yaml")
    derived = forwarder_for_stack_sets(forwarder)
    assert "HomeEventBusArn" not in yaml.safe_dump(derived)
    assert set(derived["Parameters"]) == set(forwarder["Parameters"]) - {"HomeEventBusArn"} | {"HomeRegion"}
    bus = {"Fn::Sub": "arn:${AWS::Partition}:events:${HomeRegion}:${AWS::AccountId}:event-bus/default"}
    # with the bus put back where the parameter was, it is forwarder.yaml itself
    restored = yaml.safe_dump(derived["Resources"]).replace(yaml.safe_dump(bus).strip(), "Ref: HomeEventBusArn")
    assert yaml.safe_load(restored) == forwarder["Resources"]
    assert _lint(derived) == []
