"""The replication pipeline through a vault's shared copy-slot pool (issue 17), on the emulation: coordinator.yaml
deployed in the vault account, its table's stream invoking GrantSlots there, `Copy Slot Granted` events crossing to
the workload account's bus and SlotGranted resuming the waiting executions; the target role with the shared pool's
conditions."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
from support import CROSS_ACCOUNT, SOURCE_ACCOUNT, TARGET_ACCOUNT, burst

from replicator.aws.dynamodb import shared_slot_pool
from replicator_cli.local.provision import account_client

VAULT_POOL = (TARGET_ACCOUNT, "eu-west-1", False)  # the copy clock's key of the vault's eu-west-1 DB snapshot copies
POOL = f"{TARGET_ACCOUNT}#eu-west-1#instance"


def shared(names: list[str], **overrides: Any) -> dict[str, Any]:
    """A burst into the vault through its shared pool (quota 2), the stack's own quota left at RDS's 20; the
    waits re-check only hourly, so only a grant's event can wake them in time."""
    return burst(
        names,
        mappings=[CROSS_ACCOUNT],
        instance_copy_quota=20,
        shared_slot_pool_account=TARGET_ACCOUNT,
        shared_pool_instance_quota=2,
        slot_recheck_seconds=3600,
        copy_seconds=2.0,
        timeout_seconds=120,
        **overrides,
    )


def pool_items(run: Any) -> list[dict[str, Any]]:
    """Every item of the vault's shared table (read in the vault account)."""
    coordinator = run.cloud.coordinator
    table = coordinator.table_arn.rsplit("/", 1)[1]
    client = account_client("dynamodb", coordinator.region, coordinator.account)
    items: list[dict[str, Any]] = client.scan(TableName=table, ConsistentRead=True)["Items"]
    return items


def test_a_burst_into_the_vault_waits_for_the_shared_pool_and_is_woken_by_its_grants(run_scenario):
    names = [f"orders-{n}" for n in "abcdef"]
    run = run_scenario(shared(names))
    assert [r.status.value for r in run.records] == ["SUCCEEDED"] * len(names), [r.reason for r in run.records]
    clock = run.cloud.doubles.copy_clock
    assert clock.max_in_flight[VAULT_POOL] == 2  # the vault's pool of 2, kept and used, whatever the stack's quota
    assert clock.quota_refusals == 0
    invocations = run.cloud.doubles.lambda_dispatcher.invocations
    assert ("GrantSlotsFunction", "ok") in invocations  # the stream ran the coordinator, in the vault account
    woken = [x for x in run.executions() if run.states_entered(x).count("AcquireSlot") == 1]
    assert len(woken) == len(names)  # none re-checked: every wait ended by a grant's event (or took a free slot)
    assert ("SlotGrantedFunction", "ok") in invocations
    # nothing left behind: every request given back, the pool's holders empty
    items = pool_items(run)
    assert [i for i in items if i["pk"]["S"].startswith("account#")] == []
    (pool,) = [i for i in items if i["pk"]["S"] == f"pool#{POOL}"]
    assert pool["holders"]["M"] == {}


def test_another_accounts_slots_are_counted_and_its_freed_slot_goes_to_this_accounts_waiter(run_scenario):
    """Account B (a second workload, through its own vault role) holds both slots when this account's replications
    arrive: they wait; each slot B gives back goes to this account's oldest waiter, and at no time do the two
    accounts together have more than the vault's 2 (B's held slots plus this account's copies in flight there)."""
    other = "333333333333"
    names = ["orders-a", "orders-b"]
    together: list[int] = []
    released: list[float] = []

    def other_account_holds_the_pool(cloud, runner):
        table = other_account_table(cloud, other)
        for n in range(2):
            shared_slot_pool.request_slot(table, other, POOL, f"other-{n}", n, "us-east-1")
        wait_until(lambda: holders(cloud) == {"other-0", "other-1"})
        clock = cloud.doubles.copy_clock

        def sample() -> None:
            while not done.is_set():
                clock.tick()
                copying = sum(1 for c in list(clock.in_flight.values()) if c.pool == VAULT_POOL)
                together.append(copying + len([h for h in holders(cloud) if h.startswith("other-")]))
                time.sleep(0.05)

        def give_back_later() -> None:
            for rid in ("other-0", "other-1"):
                time.sleep(4)
                released.append(time.monotonic())
                shared_slot_pool.give_back_request(table, other, POOL, rid)

        threading.Thread(target=sample, daemon=True).start()
        threading.Thread(target=give_back_later, daemon=True).start()

    done = threading.Event()
    try:
        run = run_scenario(shared(names), before_events=other_account_holds_the_pool)
    finally:
        done.set()
    assert max(together) == 2, together  # B's slots and this account's copies: never more than the vault's quota
    assert [r.status.value for r in run.records] == ["SUCCEEDED"] * 2, [r.reason for r in run.records]
    assert len(released) == 2  # this account's copies could start only as B gave its slots back
    vault_copies = [a for a in run.cloud.doubles.copy_clock.started if f":{TARGET_ACCOUNT}:" in a]
    assert len(vault_copies) == 2
    # nothing left behind in the vault's table (B's requests given back, this account's too)
    assert [i for i in pool_items(run) if i["pk"]["S"].startswith("account#")] == []


def holders(cloud: Any) -> set[str]:
    coordinator = cloud.coordinator
    client = account_client("dynamodb", coordinator.region, coordinator.account)
    item = client.get_item(
        TableName=coordinator.table_arn.rsplit("/", 1)[1],
        Key={"pk": {"S": f"pool#{POOL}"}, "sk": {"S": "slots"}},
        ConsistentRead=True,
    ).get("Item")
    return set(item["holders"]["M"]) if item else set()


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def other_account_table(cloud: Any, account: str) -> Any:
    """The vault's table as workload account `account` reaches it: target-account-role.yaml deployed for it in the
    vault (its own role, trusting that account's replicator roles), assumed from that account with its tag."""
    import json

    from moto.cloudformation.models import cloudformation_backends

    from replicator_cli.local.provision import load_template

    coordinator = cloud.coordinator
    template = load_template(cloud.root / "target-account-role.yaml")
    role_name = f"rds-snapshot-replicator-target-{account}"
    stack = cloudformation_backends[coordinator.account][coordinator.region].create_stack(
        name=f"rds-snapshot-replicator-target-{account}",
        template=json.dumps(template),
        parameters={
            "ReplicatorRolePattern": f"arn:aws:iam::{account}:role/rds-snapshot-replicator/*",
            "ExternalId": "replicator-local",
            "RoleName": role_name,
            "SharedSlotPoolTableArn": coordinator.table_arn,
        },
    )
    assert stack.status == "CREATE_COMPLETE"
    credentials = account_client("sts", coordinator.region, account).assume_role(
        RoleArn=f"arn:aws:iam::{coordinator.account}:role/{role_name}",
        RoleSessionName="other-workload",
        ExternalId="replicator-local",
        Tags=[{"Key": "replicator:source-account", "Value": account}],
    )["Credentials"]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=coordinator.region,
    )
    return session.resource("dynamodb").Table(coordinator.table_arn.rsplit("/", 1)[1])


def test_status_and_the_reconciler_see_the_shared_pool_per_source_account():
    """B holds the vault's two slots, this account's two replications wait: `replicator status` and the reconciler
    show both accounts' copies in flight and waiting; then B gives back and both replications end."""
    from typer.testing import CliRunner

    from replicator.settings import get_settings
    from replicator.usecases.reconcile import reconcile
    from replicator_cli.local.emulation import emulation
    from replicator_cli.main import app

    other = "333333333333"
    with emulation(shared(["orders-a", "orders-b"]), run=False) as up:
        cloud = up.cloud
        table = other_account_table(cloud, other)
        for n in range(2):
            shared_slot_pool.request_slot(table, other, POOL, f"other-{n}", n, "us-east-1")
        wait_until(lambda: holders(cloud) == {"other-0", "other-1"})
        up.runner.send(up.runner.events())
        mine = {"in_flight": 0, "waiting": 2}
        wait_until(lambda: pool_state(cloud).get(SOURCE_ACCOUNT) == mine, timeout=60)
        assert pool_state(cloud) == {other: {"in_flight": 2, "waiting": 0}, SOURCE_ACCOUNT: mine}

        result = CliRunner().invoke(app, ["--stack-name", "replicator", "status"], env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.replace("│", " ").split())
        assert f"{TARGET_ACCOUNT}/eu-west-1/instance {other} 2 0" in text
        assert f"{TARGET_ACCOUNT}/eu-west-1/instance {SOURCE_ACCOUNT} 0 2" in text

        report = reconcile(get_settings(), dry_run=True)
        assert report.shared_pools[POOL] == pool_state(cloud)
        assert report.slots_reclaimed == report.waiters_removed == []  # both replications are running

        for n in range(2):
            shared_slot_pool.give_back_request(table, other, POOL, f"other-{n}")
        records = up.runner.wait()
        assert [r.status.value for r in records] == ["SUCCEEDED"] * 2, [r.reason for r in records]


def pool_state(cloud: Any) -> dict[str, dict[str, int]]:
    coordinator = cloud.coordinator
    client = account_client("dynamodb", coordinator.region, coordinator.account)
    item = client.get_item(
        TableName=coordinator.table_arn.rsplit("/", 1)[1],
        Key={"pk": {"S": f"pool#{POOL}"}, "sk": {"S": "slots"}},
        ConsistentRead=True,
    ).get("Item")
    accounts = item.get("accounts", {}).get("M", {}) if item else {}
    return {a: {k: int(v["N"]) for k, v in c["M"].items()} for a, c in accounts.items()}
