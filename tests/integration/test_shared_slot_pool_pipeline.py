"""The replication pipeline through a vault's shared copy-slot pool (issue 17), on the emulation: coordinator.yaml
deployed in the vault account, its table's stream invoking GrantSlots there, `Copy Slot Granted` events crossing to
the workload account's bus and SlotGranted resuming the waiting executions; the target role with the shared pool's
conditions."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.cloudformation.models import cloudformation_backends
from support import CROSS_ACCOUNT, SOURCE_ACCOUNT, TARGET_ACCOUNT, burst
from typer.testing import CliRunner

from replicator.aws.dynamodb import shared_slot_pool
from replicator.settings import get_settings
from replicator.usecases.reconcile import reconcile
from replicator.usecases.slots import holds_slot
from replicator_cli.local.emulation import emulation
from replicator_cli.local.provision import account_client, load_template
from replicator_cli.local.scenario import snapshot_event
from replicator_cli.main import app

VAULT_POOL = (TARGET_ACCOUNT, "eu-west-1", False)  # the copy clock's key of the vault's eu-west-1 DB snapshot copies
POOL = f"{TARGET_ACCOUNT}#eu-west-1#instance"


def shared(names: list[str], **overrides: Any) -> dict[str, Any]:
    """A burst into the vault through its shared pool (quota 2), the stack's own quota left at RDS's 20; the
    waits re-check only hourly, so only a grant's event can wake them in time."""
    settings = {
        "mappings": [CROSS_ACCOUNT],
        "instance_copy_quota": 20,
        "shared_slot_pool_account": TARGET_ACCOUNT,
        "shared_pool_instance_quota": 2,
        "slot_recheck_seconds": 3600,
        "copy_seconds": 2.0,
        "timeout_seconds": 120,
    }
    return burst(names, **{**settings, **overrides})


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


def pool_item(cloud: Any) -> dict[str, Any]:
    """The vault's pool item of POOL (read in the vault account; {} before the coordinator made it)."""
    coordinator = cloud.coordinator
    client = account_client("dynamodb", coordinator.region, coordinator.account)
    item: dict[str, Any] = client.get_item(
        TableName=coordinator.table_arn.rsplit("/", 1)[1],
        Key={"pk": {"S": f"pool#{POOL}"}, "sk": {"S": "slots"}},
        ConsistentRead=True,
    ).get("Item", {})
    return item


def holders(cloud: Any) -> set[str]:
    """The replications holding a slot of POOL, whatever their account."""
    return {h["M"]["replication_id"]["S"] for h in pool_item(cloud).get("holders", {}).get("M", {}).values()}


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def other_account_table(cloud: Any, account: str) -> Any:
    """The vault's table as workload account `account` reaches it: target-account-role.yaml deployed for it in the
    vault (its own role, trusting that account's replicator roles), assumed from that account with its tag."""

    coordinator = cloud.coordinator
    role_arn = deploy_vault_role(cloud, account, f"arn:aws:iam::{account}:role/rds-snapshot-replicator/*")
    credentials = account_client("sts", coordinator.region, account).assume_role(
        RoleArn=role_arn,
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
    """Each source account's copies in flight and waiting, as the coordinator last saved them."""
    accounts = pool_item(cloud).get("accounts", {}).get("M", {})
    return {a: {k: int(v["N"]) for k, v in c["M"].items()} for a, c in accounts.items()}


def test_a_workload_with_the_wrong_permissions_cannot_take_or_release_another_accounts_slots():
    """The attack: workload account B, through its own vault role, tries to steal this account's slot (delete its
    request so that the coordinator hands the slot on, or write itself into the pool's holders), to queue in this
    account's name, or to get a session in this account's name. IAM (the emulation's doubles) refuses each; this
    account's grant stays."""

    other = "333333333333"
    with emulation(shared([], shared_pool_instance_quota=1), run=False) as up:  # full once this account holds one
        cloud = up.cloud
        settings = get_settings()
        mine = shared_slot_pool.workload_table(
            settings.shared_slot_pool_table_arn, settings.shared_slot_pool_role_arn, settings.account_id
        )
        shared_slot_pool.request_slot(mine, SOURCE_ACCOUNT, POOL, "mine-0", 1, "us-east-1")
        wait_until(lambda: holders(cloud) == {"mine-0"})
        assert holds_slot(settings, "mine-0", POOL)
        theirs = other_account_table(cloud, other)

        def refused(write: Any) -> str:
            with pytest.raises(ClientError) as caught:
                write()
            return str(caught.value.response["Error"]["Code"])

        assert refused(lambda: shared_slot_pool.give_back_request(theirs, SOURCE_ACCOUNT, POOL, "mine-0")) == (
            "AccessDeniedException"
        )
        assert refused(
            lambda: shared_slot_pool.request_slot(theirs, SOURCE_ACCOUNT, POOL, "fake-0", 0, "us-east-1")
        ) == ("AccessDeniedException")
        assert refused(
            lambda: theirs.update_item(
                Key={"pk": f"pool#{POOL}", "sk": "slots"},
                UpdateExpression="SET holders.#r = :h",
                ExpressionAttributeNames={"#r": "stolen"},
                ExpressionAttributeValues={":h": {"account": other}},
            )
        ) == ("AccessDeniedException")
        # a session in this account's name: the trust policy checks the tag against the caller's account
        sts = account_client("sts", cloud.coordinator.region, other)
        assert refused(
            lambda: sts.assume_role(
                RoleArn=f"arn:aws:iam::{TARGET_ACCOUNT}:role/rds-snapshot-replicator-target-{other}",
                RoleSessionName="impostor",
                ExternalId="replicator-local",
                Tags=[{"Key": "replicator:source-account", "Value": SOURCE_ACCOUNT}],
            )
        ) == ("AccessDenied")
        # nor this account's own vault role, which trusts this account's replicator only
        assert refused(
            lambda: sts.assume_role(
                RoleArn=settings.shared_slot_pool_role_arn, RoleSessionName="impostor", ExternalId="replicator-local"
            )
        ) == ("AccessDenied")
        # B may write its own requests, but writing itself a grant there proves nothing: grants are the pool item's
        shared_slot_pool.request_slot(theirs, other, POOL, "mine-0", 0, "us-east-1")  # this account's replication id
        theirs.update_item(
            Key=shared_slot_pool.request_key(other, POOL, "mine-0"),
            UpdateExpression="SET lease = :l, source_account = :a REMOVE waiting_pool",
            ExpressionAttributeValues={":l": "forged", ":a": SOURCE_ACCOUNT},
        )
        assert not shared_slot_pool.holds(theirs, other, POOL, "mine-0")
        wait_until(lambda: pool_state(cloud) == {SOURCE_ACCOUNT: {"in_flight": 1, "waiting": 0}})  # B: no slot
        assert set(pool_item(cloud)["holders"]["M"]) == {f"{SOURCE_ACCOUNT}#mine-0"}  # the grant stands, this one
        assert holds_slot(settings, "mine-0", POOL)
        shared_slot_pool.give_back_request(mine, SOURCE_ACCOUNT, POOL, "mine-0")
        wait_until(lambda: holders(cloud) == set())


def test_two_replicator_stacks_in_two_accounts_share_the_vaults_quota_and_hand_slots_to_each_other():
    """Two replicator stacks, template.yaml itself in two workload accounts (this one and B), each replicating
    three snapshots into the vault through the shared pool of one slot: the vault never has more than one copy in
    flight, every replication of both accounts succeeds, and the slot goes back and forth between the stacks (a slot
    freed by one account's replication is granted to the other's oldest waiter)."""
    names = ["orders-a1", "orders-a2", "orders-a3"]
    theirs = ["billing-b1", "billing-b2", "billing-b3"]
    with emulation(shared(names, shared_pool_instance_quota=1, timeout_seconds=180), run=False) as up:
        cloud = up.cloud
        role_b = f"arn:aws:iam::{TARGET_ACCOUNT}:role/rds-snapshot-replicator-target-{OTHER}"
        stack_b = cloud.add_stack(
            OTHER,
            "replicator-b",
            {
                "SharedSlotPoolTableArn": cloud.coordinator.table_arn,
                "SharedSlotPoolRoleArn": role_b,
                "AllowedTargetAccounts": TARGET_ACCOUNT,
                "SlotRecheckSeconds": "3600",
            },
        )
        deploy_vault_role(cloud, OTHER, stack_b.outputs["ReplicatorRolePattern"])
        seed_other_account(stack_b, theirs, role_b, up.runner.key_arns["vault-eu"])

        up.runner.send(up.runner.events())
        send_snapshot_events(OTHER, theirs)
        records = up.runner.wait()
        records_b = wait_for_records(stack_b, OTHER, len(theirs))

        assert [r.status.value for r in records] == ["SUCCEEDED"] * 3, [r.reason for r in records]
        assert [r["status"] for r in records_b] == ["SUCCEEDED"] * 3, [r.get("reason") for r in records_b]
        clock = cloud.doubles.copy_clock
        assert clock.max_in_flight[VAULT_POOL] == 1  # both stacks together: the vault's quota of one
        assert clock.quota_refusals == 0
        into_vault = [a.rsplit(":", 1)[1] for a in clock.started if f":{TARGET_ACCOUNT}:" in a]
        whose = ["A" if name.startswith("snaprep-orders") else "B" for name in into_vault]
        assert sorted(whose) == ["A"] * 3 + ["B"] * 3, into_vault
        hand_overs = sum(1 for before, after in itertools.pairwise(whose) if before != after)
        assert hand_overs >= 2, whose  # the slot went from one stack to the other and back
        assert holders(cloud) == set()  # nothing held once all ended
        assert [i for i in pool_items_of(cloud) if i["pk"]["S"].startswith("account#")] == []


OTHER = "333333333333"


def deploy_vault_role(cloud: Any, account: str, pattern: str) -> str:
    """target-account-role.yaml in the vault for workload account `account` (its own role: RoleName), with the
    shared pool; the role's ARN."""
    coordinator = cloud.coordinator
    template = load_template(cloud.root / "target-account-role.yaml")
    role_name = f"rds-snapshot-replicator-target-{account}"
    stack = cloudformation_backends[coordinator.account][coordinator.region].create_stack(
        name=f"rds-snapshot-replicator-target-{account}",
        template=json.dumps(template),
        parameters={
            "ReplicatorRolePattern": pattern,
            "ExternalId": "replicator-local",
            "RoleName": role_name,
            "SharedSlotPoolTableArn": coordinator.table_arn,
        },
    )
    assert stack.status == "CREATE_COMPLETE"
    return f"arn:aws:iam::{coordinator.account}:role/{role_name}"


def seed_other_account(stack: Any, snapshots: list[str], role_arn: str, vault_key_arn: str) -> None:
    """Workload account B: an unencrypted PostgreSQL database with manual snapshots, and its mapping into the vault
    (eu-west-1, encrypted there with the vault's key)."""
    rds = account_client("rds", "us-east-1", OTHER)
    rds.create_db_instance(
        DBInstanceIdentifier="billing",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        Engine="postgres",
        EngineVersion="16.3",
        MasterUsername="admin",
        MasterUserPassword="local-only-password",
    )
    for snapshot in snapshots:
        rds.create_db_snapshot(DBInstanceIdentifier="billing", DBSnapshotIdentifier=snapshot)
    target = {
        "target_region": "eu-west-1",
        "role_arn": role_arn,
        "encryption": {"enabled": True, "kms_key_arn": vault_key_arn},
    }
    account_client("dynamodb", "us-east-1", OTHER).put_item(
        TableName=stack.mapping_table,
        Item={
            "source_region": {"S": "us-east-1"},
            "targets": {"L": [{"M": _typed(target)}]},
        },
    )


def _typed(value: dict[str, Any]) -> dict[str, Any]:
    """A plain dict as DynamoDB's typed attribute values (strings, booleans, maps)."""
    typed: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            typed[key] = {"BOOL": item}
        elif isinstance(item, dict):
            typed[key] = {"M": _typed(item)}
        else:
            typed[key] = {"S": str(item)}
    return typed


def send_snapshot_events(account: str, snapshots: list[str]) -> None:
    events = account_client("events", "us-east-1", account)
    for snapshot in snapshots:
        arn = f"arn:aws:rds:us-east-1:{account}:snapshot:{snapshot}"
        event = snapshot_event(arn, "manual", "us-east-1", account)
        response = events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                }
            ]
        )
        assert not response.get("FailedEntryCount"), response


def wait_for_records(stack: Any, account: str, count: int, timeout: float = 180.0) -> list[dict[str, Any]]:
    """The replication records of `stack` (in `account`) once `count` of them are final (plain values)."""
    client = account_client("dynamodb", "us-east-1", account)
    final = {"SUCCEEDED", "FAILED", "SKIPPED"}
    deadline = time.monotonic() + timeout
    while True:
        items = client.scan(TableName=stack.history_table, ConsistentRead=True)["Items"]
        records = [{k: next(iter(v.values())) for k, v in i.items()} for i in items if "status" in i]
        if sum(1 for r in records if r["status"] in final) >= count or time.monotonic() > deadline:
            return sorted(records, key=lambda r: str(r.get("source_arn")))
        time.sleep(0.5)


def pool_items_of(cloud: Any) -> list[dict[str, Any]]:
    coordinator = cloud.coordinator
    client = account_client("dynamodb", coordinator.region, coordinator.account)
    items: list[dict[str, Any]] = client.scan(TableName=coordinator.table_arn.rsplit("/", 1)[1], ConsistentRead=True)[
        "Items"
    ]
    return items
