"""Least privilege in template.yaml, target-account-role.yaml and forwarder.yaml: explicit actions, scoped resources."""

from pathlib import Path

import pytest

from replicator_cli.local.provision import load_template

ROOT = Path(__file__).resolve().parents[2]
# actions that support no resource-level permissions: "*" is the only resource AWS accepts for them
NO_RESOURCE_LEVEL = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "rds:DescribeDBEngineVersions"}


def _statements(path: str) -> list[tuple[str, dict]]:
    template = load_template(ROOT / path)
    found = []
    for name, resource in template["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []):
            document = policy.get("PolicyDocument", {}) if isinstance(policy, dict) else {}
            for statement in document.get("Statement", []):
                found.append((f"{name}/{statement.get('Sid', '?')}", statement))
    return found


STATEMENTS = _statements("template.yaml") + _statements("target-account-role.yaml") + _statements("forwarder.yaml")


def _as_list(value):
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize(("where", "statement"), STATEMENTS, ids=[w for w, _ in STATEMENTS])
def test_actions_are_explicit(where, statement):
    for action in _as_list(statement["Action"]):
        assert "*" not in action, f"{where}: wildcard action {action}"


@pytest.mark.parametrize(("where", "statement"), STATEMENTS, ids=[w for w, _ in STATEMENTS])
def test_a_star_resource_only_for_actions_without_resource_level_permissions(where, statement):
    if "*" in _as_list(statement["Resource"]):
        assert set(_as_list(statement["Action"])) <= NO_RESOURCE_LEVEL, where


def test_kms_use_is_only_through_rds():
    for where, statement in STATEMENTS:
        uses_keys = [a for a in _as_list(statement["Action"]) if a.startswith("kms:") and a != "kms:DescribeKey"]
        if uses_keys:
            assert statement["Condition"]["StringLike"]["kms:ViaService"] == "rds.*.amazonaws.com", where


def test_deletes_only_the_replicators_own_snapshots():
    for where, statement in STATEMENTS:
        if any(a.startswith("rds:Delete") for a in _as_list(statement["Action"])):
            for resource in _as_list(statement["Resource"]):
                assert "snaprep-*" in str(resource), where


def test_target_role_trusts_only_the_replicator_role_with_the_external_id():
    role = load_template(ROOT / "target-account-role.yaml")["Resources"]["ReplicationTargetRole"]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"AWS": {"Ref": "ReplicatorRoleArn"}}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}


def test_replicator_may_assume_only_prefixed_roles():
    (statement,) = [s for w, s in STATEMENTS if w.endswith("/AssumeTargetRoles")]
    assert statement["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${TargetRoleNamePrefix}*"}


def test_tables_are_encrypted_with_point_in_time_recovery():
    resources = load_template(ROOT / "template.yaml")["Resources"]
    tables = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert len(tables) >= 2
    for table in tables:
        assert table["SSESpecification"]["SSEEnabled"] is True
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
