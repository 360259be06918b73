"""Least privilege in template.yaml, target-account-role.yaml and forwarder.yaml.

Each function has its own role holding exactly the actions its code path calls (tests/aws_calls.yaml), on what it
touches; every action exists in AWS's Service Authorization Reference (policy_sentry's offline copy); every policy
passes parliament's checks (actions, resource formats, condition keys).
"""

from __future__ import annotations

from functools import cache

import pytest
from iam_policies import (
    ACCOUNT,
    NOT_FUNCTIONS,
    all_calls,
    allowed_actions,
    as_json,
    as_list,
    aws_calls,
    policy_documents,
    role_statements,
    statements,
    target_calls,
    template,
)
from parliament import analyze_policy_string
from policy_sentry.querying.actions import get_action_data

CFN = template()
TARGET = template("target-account-role.yaml")
FORWARDER = template("forwarder.yaml")
COORDINATOR = template("coordinator.yaml")
CALLS = aws_calls()
FUNCTIONS = sorted(CALLS)
ROLE_OF = {name: CFN["Resources"][name]["Properties"]["Role"]["Fn::GetAtt"][0] for name in FUNCTIONS}
INFRASTRUCTURE = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _all_statements() -> list[tuple[str, dict]]:
    found = []
    for cfn in (CFN, TARGET, FORWARDER, COORDINATOR):
        for where, document in policy_documents(cfn).items():
            for condition in (True, False):
                found += [(f"{where}/{s.get('Sid', '?')}", s) for s in statements(document, condition)]
    return found


STATEMENTS = _all_statements()


@cache
def _resource_types(action: str) -> tuple[str, ...]:
    """The resource ARN formats AWS lists for an action ('*' alone: no resource-level permissions)."""
    service, name = action.split(":")
    rows = get_action_data(service, name) or {}
    return tuple(row["resource_arn_format"] for row in rows.get(service, []))


def test_every_function_has_its_own_role():
    assert set(FUNCTIONS) == {n for n, r in CFN["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert len(set(ROLE_OF.values())) == len(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_functions_role_grants_exactly_what_its_code_calls(function):
    calls = CALLS[function]
    expected = set(calls["home"]) | set(calls["implied"])
    granted = allowed_actions(role_statements(CFN, ROLE_OF[function])) - INFRASTRUCTURE
    assert granted - expected == set(), f"{function}: granted but never called (add to tests/aws_calls.yaml or drop)"
    assert expected - granted == set(), f"{function}: called but not granted"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_writes_only_its_own_log_group(function):
    (logs,) = [s for s in role_statements(CFN, ROLE_OF[function]) if s.get("Sid") == "Logs"]
    assert set(as_list(logs["Action"])) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    group = CFN["Resources"][function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert logs["Resource"] == {"Fn::GetAtt": [group, "Arn"]}
    # named by the stack, not by the function's generated name: the permission holds for any stack name length
    assert CFN["Resources"][group]["Properties"]["LogGroupName"]["Fn::Sub"].startswith("/aws/lambda/${AWS::StackName}/")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_x_ray_only_when_tracing_is_on(function):
    on = allowed_actions(role_statements(CFN, ROLE_OF[function], condition_true=True))
    assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= on
    policy = CFN["Resources"]["FunctionTracingPolicy"]
    assert policy["Condition"] == "TracingOn"
    arns = CFN["Resources"][ROLE_OF[function]]["Properties"]["ManagedPolicyArns"]
    assert {"Fn::If": ["TracingOn", {"Ref": "FunctionTracingPolicy"}, {"Ref": "AWS::NoValue"}]} in arns


def test_the_target_role_grants_exactly_what_the_functions_and_the_cli_call_through_it():
    expected = {a for calls in CALLS.values() for a in calls["target"]} | {
        a for name in NOT_FUNCTIONS for a in all_calls()[name]["target"]
    }
    assert expected == target_calls()
    granted = allowed_actions(
        statements(TARGET["Resources"]["ReplicationTargetRole"]["Properties"]["Policies"][0]["PolicyDocument"])
    )
    assert granted == expected


def test_the_entries_that_are_no_function_list_only_target_calls():
    entries = all_calls()
    assert set(entries) >= NOT_FUNCTIONS
    for name in NOT_FUNCTIONS:
        assert name not in CFN["Resources"], f"{name} is a resource of template.yaml: list it as a function"
        assert set(entries[name]) == {"target"}, name
        assert entries[name]["target"], name
    assert set(CALLS) == set(entries) - NOT_FUNCTIONS  # every other entry is a function (test above)


def test_what_only_the_cli_reads_through_the_target_role_is_granted_only_with_restore_tests():
    document = TARGET["Resources"]["ReplicationTargetRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    by_functions = {a for calls in CALLS.values() for a in calls["target"]}
    cli_only = {a for name in NOT_FUNCTIONS for a in all_calls()[name]["target"]} - by_functions
    assert cli_only  # the check's own reads (subnet groups, security groups)
    assert cli_only & allowed_actions(statements(document, condition_true=False)) == set()
    for statement in statements(document, condition_true=True):
        if cli_only & set(as_list(statement["Action"])):
            assert statement["Sid"].startswith("RestoreTests"), statement["Sid"]


@pytest.mark.parametrize(("where", "statement"), STATEMENTS, ids=[w for w, _ in STATEMENTS])
def test_every_action_is_explicit_and_exists(where, statement):
    for action in as_list(statement["Action"]):
        assert "*" not in action, f"{where}: wildcard action {action}"
        assert _resource_types(action), f"{where}: {action} is not in the Service Authorization Reference"


@pytest.mark.parametrize(("where", "statement"), STATEMENTS, ids=[w for w, _ in STATEMENTS])
def test_a_star_resource_only_for_actions_without_resource_level_permissions(where, statement):
    if "*" in as_list(statement["Resource"]):
        for action in as_list(statement["Action"]):
            assert _resource_types(action) == ("*",), f"{where}: {action} can be scoped to a resource"


@pytest.mark.parametrize(
    ("name", "cfn", "document"),
    [(n, c, d) for c in (CFN, TARGET, FORWARDER, COORDINATOR) for n, d in policy_documents(c).items()],
    ids=[n for c in (CFN, TARGET, FORWARDER, COORDINATOR) for n in policy_documents(c)],
)
def test_every_policy_passes_parliament(name, cfn, document):
    findings = analyze_policy_string(as_json(document, cfn, SAMPLE_PARAMETERS)).findings
    assert [f"{f.issue}: {f.detail}" for f in findings if not _known_gap(f)] == [], name


SAMPLE_PARAMETERS = {
    "AllowedOrganizationId": "o-a1b2c3d4e5",
    "ReplicatorRolePattern": f"arn:aws:iam::{ACCOUNT}:role/rds-snapshot-replicator/rds-snapshot-replicator/*",
    "HomeEventBusArn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default",
    "SharedSlotPoolTableArn": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/shared-copy-slots",
    "SharedSlotPoolRoleArn": f"arn:aws:iam::{ACCOUNT}:role/rds-snapshot-replicator-target",
}


def _known_gap(finding) -> bool:
    """Findings that come from parliament's (older) bundled database, not from the policy."""
    # parliament lists only the express-execution ARN for states:DescribeExecution; AWS (and policy_sentry) also
    # list execution:${StateMachineName}:${ExecutionId}, the standard execution this role describes
    detail = finding.detail if isinstance(finding.detail, list) else []
    return finding.issue == "RESOURCE_MISMATCH" and all(d.get("action") == "states:DescribeExecution" for d in detail)


def test_kms_use_is_only_through_rds_and_grants_only_for_aws_resources():
    for where, statement in STATEMENTS:
        uses_keys = [a for a in as_list(statement["Action"]) if a.startswith("kms:") and a != "kms:DescribeKey"]
        if uses_keys and statement["Effect"] == "Allow":
            assert statement["Condition"]["StringLike"]["kms:ViaService"] == "rds.*.amazonaws.com", where
        if "kms:CreateGrant" in as_list(statement["Action"]):
            assert as_list(statement["Action"]) == ["kms:CreateGrant"], where
            assert statement["Condition"]["Bool"]["kms:GrantIsForAWSResource"] == "true", where


def test_deletes_only_the_replicators_own_tagged_snapshots_and_restore_test_databases():
    for where, statement in STATEMENTS:
        if statement["Effect"] == "Allow" and any(a.startswith("rds:Delete") for a in as_list(statement["Action"])):
            databases = any(a in ("rds:DeleteDBInstance", "rds:DeleteDBCluster") for a in as_list(statement["Action"]))
            for resource in as_list(statement["Resource"]):
                # snapshots: the replicator's copies only; databases: only those a restore test created
                assert ("snaptest-*" if databases else "snaprep-*") in str(resource), where
            tag = statement["Condition"]["StringEquals"]["aws:ResourceTag/replicator:managed-by"]
            assert tag == "rds-snapshot-replicator", where


def test_no_role_of_the_replicator_may_remove_tags():
    for where, statement in STATEMENTS:
        if statement["Effect"] == "Allow":
            assert "rds:RemoveTagsFromResource" not in as_list(statement["Action"]), where


@pytest.mark.parametrize(
    ("function", "forbidden"),
    [
        ("StartReplicationFunction", ("rds:Delete", "rds:Copy", "rds:Modify", "rds:AddTags")),
        ("AcquireSlotFunction", ("rds:", "kms:")),
        ("SlotGrantedFunction", ("rds:", "kms:", "events:")),
        ("CheckCopyFunction", ("rds:Delete", "rds:Copy", "rds:Modify", "rds:AddTags")),
        ("RunStepFunction", ("rds:Delete",)),
        ("PruneReplicasFunction", ("rds:Copy", "rds:Modify", "rds:AddTags", "states:", "kms:")),
    ],
)
def test_what_a_function_must_never_be_able_to_do(function, forbidden):
    granted = allowed_actions(role_statements(CFN, ROLE_OF[function]))
    assert [a for a in granted if a.startswith(forbidden)] == []


def test_the_replicator_may_assume_only_prefixed_roles_in_allowed_accounts_or_its_organization():
    policy = CFN["Resources"]["TargetRolesPolicy"]["Properties"]["PolicyDocument"]
    by_accounts, by_organization = [s for s in statements(policy) if s["Action"] == ["sts:AssumeRole"]]
    prefixed = {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${TargetRoleNamePrefix}*"}
    assert by_accounts["Resource"] == by_organization["Resource"] == prefixed
    accounts = by_accounts["Condition"]["StringEquals"]["aws:ResourceAccount"]
    assert accounts["Fn::If"][0] == "HasAllowedAccounts"
    assert accounts["Fn::If"][2] == [{"Ref": "AWS::AccountId"}]  # default: this account only
    assert by_organization["Condition"] == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "AllowedOrganizationId"}}}
    # no organization id: no organization statement
    assert [s["Action"] for s in statements(policy, condition_true=False)] == [["sts:AssumeRole"], ["sts:TagSession"]]
    assert CFN["Parameters"]["AllowedTargetAccounts"]["Default"] == ""


def test_every_target_role_session_is_tagged_with_this_account_and_no_other():
    policy = CFN["Resources"]["TargetRolesPolicy"]["Properties"]["PolicyDocument"]
    (tag,) = [s for s in statements(policy) if s["Action"] == ["sts:TagSession"]]
    assert tag["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${TargetRoleNamePrefix}*"}
    assert tag["Condition"] == {
        "StringEquals": {"aws:RequestTag/replicator:source-account": {"Ref": "AWS::AccountId"}},
        "ForAllValues:StringEquals": {"aws:TagKeys": ["replicator:source-account"]},
    }


def test_the_slot_functions_may_assume_only_the_vault_role_of_the_shared_pool_tagged_with_their_account():
    for function in ("AcquireSlotFunction", "SlotGrantedFunction"):
        assert (
            allowed_actions(role_statements(CFN, ROLE_OF[function], condition_true=False))
            & {
                "sts:AssumeRole",
                "sts:TagSession",
            }
            == set()
        ), f"{function}: no shared pool configured, no role to assume"
    policy = CFN["Resources"]["SharedSlotPoolPolicy"]
    assert policy["Condition"] == "HasSharedSlotPool"
    assume, tag = policy["Properties"]["PolicyDocument"]["Statement"]
    assert assume["Resource"] == tag["Resource"]
    assert (
        assume["Resource"]["Fn::Sub"][0] == "arn:${AWS::Partition}:iam::${VaultAccount}:role/${TargetRoleNamePrefix}*"
    )
    assert tag["Action"] == ["sts:TagSession"]
    assert tag["Condition"]["StringEquals"] == {"aws:RequestTag/replicator:source-account": {"Ref": "AWS::AccountId"}}
    assert tag["Condition"]["ForAllValues:StringEquals"] == {"aws:TagKeys": ["replicator:source-account"]}


def test_the_target_role_lets_a_workload_touch_only_its_own_requests_in_the_shared_pool():
    role = TARGET["Resources"]["ReplicationTargetRole"]["Properties"]
    _, tagging = statements(role["AssumeRolePolicyDocument"], conditions={"OrganizationMode": False})
    assert tagging["Action"] == "sts:TagSession"
    # the tag must name the caller's own account, which the caller cannot choose (with or without a pool)
    assert tagging["Condition"]["StringEquals"] == {
        "aws:RequestTag/replicator:source-account": "${aws:PrincipalAccount}"
    }
    document = role["Policies"][0]["PolicyDocument"]
    (pool,) = [s for s in statements(document, condition_true=True) if s.get("Sid") == "SharedCopySlotRequests"]
    assert pool["Resource"] == {"Ref": "SharedSlotPoolTableArn"}
    assert pool["Condition"]["ForAllValues:StringEquals"] == {
        "dynamodb:LeadingKeys": ["account#${aws:PrincipalTag/replicator:source-account}"]
    }
    assert pool["Condition"]["Null"] == {"aws:PrincipalTag/replicator:source-account": "false"}
    # the pools' items (counts per account) are only readable
    (pools,) = [s for s in statements(document, condition_true=True) if s.get("Sid") == "SharedCopySlotPools"]
    assert pools["Action"] == ["dynamodb:GetItem"]
    assert pools["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["pool#*"]}}
    assert not [s for s in statements(document, condition_true=False) if s.get("Sid") == "SharedCopySlotRequests"]


def test_target_role_trusts_only_the_replicators_roles_with_the_external_id():
    role = TARGET["Resources"]["ReplicationTargetRole"]["Properties"]
    statement, tagging = statements(role["AssumeRolePolicyDocument"], condition_true=False)
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"] == {"sts:ExternalId": {"Ref": "ExternalId"}}
    assert tagging["Condition"]["ArnLike"] == statement["Condition"]["ArnLike"]
    assert statement["Condition"]["ArnLike"] == {"aws:PrincipalArn": {"Ref": "ReplicatorRolePattern"}}
    # the pattern the replicator stack publishes is the path its roles live under
    pattern = CFN["Outputs"]["ReplicatorRolePattern"]["Value"]["Fn::Sub"]
    for function in FUNCTIONS:
        path = CFN["Resources"][ROLE_OF[function]]["Properties"]["Path"]["Fn::Sub"]
        assert pattern.endswith(f"role{path}*")


@pytest.mark.parametrize("mode", ["retention", "never"])
def test_finished_replicas_are_immutable_only_in_never_mode(mode):
    document = TARGET["Resources"]["ReplicationTargetRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    chosen = statements(document, condition_true=mode == "never", conditions={"OrganizationMode": False})
    denies = [s for s in chosen if s["Effect"] == "Deny"]
    if mode == "retention":
        assert denies == []
        return
    (deny,) = denies
    assert set(deny["Action"]) == {
        "rds:DeleteDBSnapshot",
        "rds:DeleteDBClusterSnapshot",
        "rds:AddTagsToResource",
        "rds:RemoveTagsFromResource",
    }
    assert deny["Condition"] == {"StringEquals": {"aws:ResourceTag/replicator:complete": "true"}}
    assert TARGET["Conditions"]["NeverDelete"] == {"Fn::Equals": [{"Ref": "ReplicaDeletion"}, "never"]}
    tags = TARGET["Resources"]["ReplicationTargetRole"]["Properties"]["Tags"]
    assert {"Key": "replicator:replica-deletion", "Value": {"Ref": "ReplicaDeletion"}} in tags


@pytest.mark.parametrize("allowed", [True, False])
def test_the_target_role_restores_and_deletes_test_databases_only_when_restore_tests_are_allowed(allowed):
    document = TARGET["Resources"]["ReplicationTargetRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    sids = {s.get("Sid") for s in statements(document, condition_true=allowed)}
    restore_sids = {s for s in sids if s and s.startswith("RestoreTests")}
    assert bool(restore_sids) is allowed
    assert TARGET["Parameters"]["RestoreTests"]["Default"] == "denied"  # opt-in by the target account's admin
    granted = allowed_actions(statements(document, condition_true=allowed))
    assert ("rds:RestoreDBInstanceFromDBSnapshot" in granted) is allowed
    for statement in statements(document, condition_true=True):
        creates = {"rds:RestoreDBInstanceFromDBSnapshot", "rds:RestoreDBClusterFromSnapshot", "rds:CreateDBInstance"}
        if creates & set(as_list(statement["Action"])) and statement["Effect"] == "Allow":
            databases = [str(r) for r in as_list(statement["Resource"]) if ":db:" in str(r) or ":cluster:" in str(r)]
            assert databases
            assert all("snaptest-*" in r for r in databases)


def test_the_state_machine_role_invokes_its_tasks_and_traces_only_when_tracing_is_on():
    role = CFN["Resources"]["ReplicationStateMachineRole"]
    document = role["Properties"]["Policies"][0]["PolicyDocument"]
    assert allowed_actions(statements(document, condition_true=False)) == {"lambda:InvokeFunction"}
    assert allowed_actions(statements(document, condition_true=True)) == {
        "lambda:InvokeFunction",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    }
    assert CFN["Resources"]["ReplicationStateMachine"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["ReplicationStateMachineRole", "Arn"]
    }


def test_tables_are_retained_protected_encrypted_with_point_in_time_recovery():
    tables = {n: r for n, r in CFN["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"}
    assert set(tables) == {"MappingTable", "HistoryTable", "CopySlotsTable"}
    for name, table in tables.items():
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain", name
        props = table["Properties"]
        assert props["DeletionProtectionEnabled"] is True, name
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name


def test_the_start_functions_reserved_concurrency_is_a_parameter():
    props = CFN["Resources"]["StartReplicationFunction"]["Properties"]
    assert props["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReserveStartConcurrency", {"Ref": "StartConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert CFN["Parameters"]["StartConcurrency"]["Default"] == 0


def test_every_alarm_reaches_a_topic_cloudwatch_can_publish_to():
    resources = CFN["Resources"]
    alarms = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {"ReplicationFailedAlarm", "PlanTamperingAlarm", "ExecutionFailedAlarm", "UndeliveredEventsAlarm"} <= set(
        alarms
    )
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [
            {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
        ], name
    # the topic made by default is encrypted with its own key (CloudWatch cannot publish under aws/sns) ...
    key_ref = resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"]
    assert key_ref == {"Ref": "AlarmTopicKey"}
    key = resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    # ... whose policy lets CloudWatch use it for this account's alarms
    (cloudwatch,) = [
        s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # and a person can be subscribed
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["TopicArn"] == alarms["PlanTamperingAlarm"]["AlarmActions"][0]


def test_plan_tampering_has_an_alarm_on_the_metric_the_tasks_count():
    alarm = CFN["Resources"]["PlanTamperingAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("SnapshotReplicator", "PlanTampering")
    assert alarm["Threshold"] == 1


def test_sample_resolution_keeps_accounts_concrete():
    # the linting above runs on sample values: a condition list resolves to real account ids
    policy = CFN["Resources"]["TargetRolesPolicy"]["Properties"]["PolicyDocument"]
    resolved = as_json(policy, CFN, {"AllowedTargetAccounts": "210987654321"})
    assert f'"{ACCOUNT}", "210987654321"' in resolved


ORGANIZATION_MODE = {"OrganizationMode": True}


def test_the_vault_role_in_organization_mode_trusts_the_organizations_replicators_each_tagged_with_its_account():
    trust = TARGET["Resources"]["ReplicationTargetRole"]["Properties"]["AssumeRolePolicyDocument"]
    assume, tagging = statements(trust, conditions=ORGANIZATION_MODE)
    assert assume["Action"] == "sts:AssumeRole"
    assert tagging["Action"] == "sts:TagSession"
    for statement in (assume, tagging):
        # everyone, but only of the organization, only the replicator's roles, only tagged with their own account
        assert statement["Principal"] == {"AWS": "*"}
        assert statement["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == {"Ref": "TrustedOrganizationId"}
        assert statement["Condition"]["StringEquals"]["aws:RequestTag/replicator:source-account"] == (
            "${aws:PrincipalAccount}"
        )
        assert statement["Condition"]["ArnLike"] == {"aws:PrincipalArn": {"Ref": "ReplicatorRolePattern"}}
    assert assume["Condition"]["StringEquals"]["sts:ExternalId"] == {"Ref": "ExternalId"}
    assert tagging["Condition"]["ForAllValues:StringEquals"] == {"aws:TagKeys": ["replicator:source-account"]}
    # a role trusting everyone never does so outside organization mode
    for statement in statements(trust, conditions={"OrganizationMode": False}):
        assert statement["Principal"] != {"AWS": "*"}
    assert TARGET["Parameters"]["TrustedOrganizationId"]["Default"] == ""
    assert TARGET["Conditions"]["OrganizationMode"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "TrustedOrganizationId"}, ""]}]
    }


def test_in_organization_mode_each_workload_account_touches_and_names_only_its_own_replicas():
    document = TARGET["Resources"]["ReplicationTargetRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    everything = {"OrganizationMode": True, "AllowRestoreTests": True, "NeverDelete": False}
    chosen = statements(document, conditions=everything)
    denies = {s["Sid"]: s for s in chosen if s["Effect"] == "Deny"}
    own, naming = denies["OnlyItsOwnReplicasAndTestDatabases"], denies["NewReplicasAndTestDatabasesNameItsOwnAccount"]
    principal = "${aws:PrincipalTag/replicator:source-account}"
    # what a replicator made (managed-by) and is not tagged with the caller's account: untouchable
    assert own["Condition"] == {
        "StringNotEquals": {"aws:ResourceTag/replicator:source-account": principal},
        "Null": {"aws:ResourceTag/replicator:managed-by": "false"},
    }
    # a tag given (on a copy, a restore, a tagging) names the caller's account or nothing
    assert naming["Condition"] == {
        "StringNotEquals": {"aws:RequestTag/replicator:source-account": principal},
        "Null": {"aws:RequestTag/replicator:source-account": "false"},
    }
    granted = allowed_actions(chosen)
    acts_on_existing = {a for a in granted if a.startswith(("rds:Delete", "rds:AddTags", "rds:Restore"))}
    acts_on_existing |= {"rds:CreateDBInstance", "rds:RemoveTagsFromResource"} & granted
    assert acts_on_existing <= set(own["Action"])
    creates = {a for a in granted if a.startswith(("rds:Copy", "rds:Restore", "rds:AddTags"))}
    assert creates <= set(naming["Action"])
    for deny in (own, naming):  # this account's snapshots and databases, whatever their names
        assert {r["Fn::Sub"].rsplit(":", 2)[-2] for r in deny["Resource"]} == {
            "snapshot",
            "cluster-snapshot",
            "db",
            "cluster",
        }
    # outside organization mode, neither
    single = statements(document, conditions={**everything, "OrganizationMode": False})
    assert not {s.get("Sid") for s in single} & set(denies)
