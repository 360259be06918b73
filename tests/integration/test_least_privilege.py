"""Every AWS call each function makes is one its role allows: the calls seen on the emulation, across the paths of
the pipeline (same account, cross account with and without an intermediate copy, a shared source, queued slots,
a failed copy, a selection, the prune, the reconciler, the coverage audit), are all in tests/aws_calls.yaml, whose
lists tests/template/test_iam.py compares with the roles in template.yaml and target-account-role.yaml."""

from __future__ import annotations

import pytest
import yaml
from support import (
    ROOT,
    TARGET_ACCOUNT,
    aurora,
    base_scenario,
    burst,
    database,
    mapping,
    restore_tests_ended,
    scenario_run,
    shareable_vault_target,
    vault_target,
)

CALLS = yaml.safe_load((ROOT / "tests" / "aws_calls.yaml").read_text())
VAULT = vault_target(keep_last=1)
DR = {"target_region": "us-west-2", "encryption": {"enabled": True, "kms_key_arn": "{{key:dr-west}}"}, "keep_last": 1}
RESTORE_TEST = {"every_days": 7}

SCENARIOS = {
    # automated and manual aws/rds snapshots: copied, shared, staged, copied across regions; queued (quota 1)
    "cross-and-same-account": base_scenario(
        snapshots=[
            {"id": "rds:orders-2026-11-24-03-10", "database": "orders", "type": "automated"},
            {"id": "orders-manual-1", "database": "orders"},
        ],
        events=[{"snapshot": "rds:orders-2026-11-24-03-10"}, {"snapshot": "orders-manual-1"}],
        mappings=[{"source_region": "us-east-1", "targets": [VAULT, DR]}],
        instance_copy_quota=1,
    ),
    # a source shareable as it is (a customer managed key): shared, then unshared
    "shared-source": base_scenario(
        databases=[database("inventory", kms_key="share-east")],
        snapshots=[{"id": "inventory-manual-1", "database": "inventory"}],
        events=[{"snapshot": "inventory-manual-1"}],
        mappings=[mapping(shareable_vault_target(keep_last=1))],
    ),
    # a selection by the database's tags and an interval: the start reads tags and the history's database index;
    # the coverage audit (run after each scenario) lists the databases and queries the index
    "selection": base_scenario(
        databases=[{"id": "orders", "engine": "postgres", "engine_version": "16.3", "tags": {"env": "prod"}}],
        mappings=[
            {
                "source_region": "us-east-1",
                "targets": [
                    {
                        **{k: v for k, v in DR.items() if k != "keep_last"},
                        "selection": {
                            "include": [{"tags": [{"key": "env", "values": ["prod"]}]}],
                            "min_interval_hours": 24,
                        },
                        "rpo_hours": 24,
                    }
                ],
            }
        ],
    ),
    # a copy that fails: the failure path cleans up
    "failed-copy": base_scenario(
        mappings=[{"source_region": "us-east-1", "targets": [VAULT]}], failing_copies=["rds:orders-2026-11-24-03-10"]
    ),
    # restore tests of an instance and an Aurora cluster, in this account and through the target role (the
    # scheduler runs after the replications, the reconciler after the tests)
    "restore-tests": base_scenario(
        databases=[
            database(),
            aurora("ledger"),
        ],
        snapshots=[{"id": "orders-manual-1", "database": "orders"}, {"id": "ledger-manual-1", "database": "ledger"}],
        events=[{"snapshot": "orders-manual-1"}, {"snapshot": "ledger-manual-1"}],
        mappings=[
            {
                "source_region": "us-east-1",
                "targets": [{**VAULT, "restore_test": RESTORE_TEST}, {**DR, "restore_test": RESTORE_TEST}],
            }
        ],
    ),
    # a vault's shared copy-slot pool (coordinator.yaml, quota 1): requests through the vault role, the coordinator's
    # grants on the stream, Copy Slot Granted events waking SlotGranted, the reconciler reading the pool
    "shared-pool": burst(
        ["orders-a", "orders-b", "orders-c"],
        mappings=[mapping(VAULT)],
        instance_copy_quota=20,
        shared_slot_pool_account=TARGET_ACCOUNT,
        shared_pool_instance_quota=1,
    ),
}


@pytest.fixture(scope="module")
def seen() -> set[tuple[str, str, bool]]:
    """The calls of every function across the scenarios (the prune and the reconciler run after each)."""
    calls: set[tuple[str, str, bool]] = set()
    for spec in SCENARIOS.values():
        with scenario_run(spec) as run:
            if any(t.get("restore_test") for m in spec["mappings"] for t in m["targets"]):
                function = run.cloud.stack.function("ScheduleRestoreTestsFunction").name
                run.cloud.doubles.lambda_dispatcher.invoke(function, {})
                restore_tests_ended(run)
            for name in ("PruneReplicasFunction", "ReconcileFunction", "AuditCoverageFunction"):
                function = run.cloud.stack.function(name).name
                run.cloud.doubles.lambda_dispatcher.invoke(function, {})
            calls |= run.cloud.doubles.lambda_dispatcher.calls
    return calls


@pytest.mark.parametrize("function", sorted(f for f, calls in CALLS.items() if "home" in calls))  # not the CLI
def test_every_call_a_function_makes_is_in_its_table(seen, function):
    home = {a for f, a, through_role in seen if f == function and not through_role}
    target = {a for f, a, through_role in seen if f == function and through_role}
    assert home, f"{function} was never seen calling AWS: the scenarios do not cover it"
    allowed = set(CALLS[function]["home"]) | set(CALLS[function]["implied"])
    assert home - allowed == set(), f"{function} calls what its role does not allow (tests/aws_calls.yaml)"
    assert target - set(CALLS[function]["target"]) == set(), f"{function} calls what the target role does not allow"


def test_the_scenarios_reach_the_target_account_and_the_slot_queue(seen):
    actions = {(f, a) for f, a, _ in seen}
    assert ("RunStepFunction", "rds:ModifyDBSnapshotAttribute") in actions  # shared
    assert ("FinishReplicationFunction", "rds:DeleteDBSnapshot") in actions  # cleaned up
    assert ("AcquireSlotFunction", "dynamodb:Query") in actions  # queued
    assert ("AcquireSlotFunction", "dynamodb:PutItem", True) in seen  # a request in the vault's shared pool
    assert ("SlotGrantedFunction", "states:SendTaskSuccess", False) in seen  # woken by the coordinator's grant
    assert ("RunRestoreTestFunction", "rds:RestoreDBClusterFromSnapshot") in actions  # a restore test
    assert ("RunRestoreTestFunction", "rds:DeleteDBInstance", True) in seen  # ... in the target account
    assert any(through_role for _, _, through_role in seen)


def test_the_vaults_coordinator_calls_only_what_its_role_allows(seen):
    """coordinator.yaml's GrantSlots, seen on the shared-pool scenario: every call in its role's policy, and none of
    its role's actions unused (the stream's reads are Lambda's, with the same role)."""
    from replicator_cli.local.provision import load_template

    role = load_template(ROOT / "coordinator.yaml")["Resources"]["GrantSlotsRole"]["Properties"]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    allowed = {a for s in statements for a in s["Action"]} - {"logs:CreateLogStream", "logs:PutLogEvents"}
    stream = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}
    failures = {"sqs:SendMessage"}  # Lambda sends a batch that keeps failing to the on-failure destination
    called = {a for f, a, through_role in seen if f == "GrantSlotsFunction" and not through_role}
    assert called, "the coordinator was never seen calling AWS"
    assert called - allowed == set()
    assert allowed - stream - failures - called == set(), "granted but never called"
