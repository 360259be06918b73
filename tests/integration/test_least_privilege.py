"""Every AWS call each function makes is one its role allows: the calls seen on the emulation, across the paths of
the pipeline (same account, cross account with and without an intermediate copy, a shared source, queued slots,
a failed copy, a selection, the prune, the reconciler, the coverage audit), are all in tests/aws_calls.yaml, whose
lists tests/template/test_iam.py compares with the roles in template.yaml and target-account-role.yaml."""

from __future__ import annotations

import pytest
import yaml
from support import (
    ROOT,
    aurora,
    base_scenario,
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
    assert ("RunRestoreTestFunction", "rds:RestoreDBClusterFromSnapshot") in actions  # a restore test
    assert ("RunRestoreTestFunction", "rds:DeleteDBInstance", True) in seen  # ... in the target account
    assert any(through_role for _, _, through_role in seen)
