"""The replication pipeline through a vault's shared copy-slot pool (issue 17), on the emulation: coordinator.yaml
deployed in the vault account, its table's stream invoking GrantSlots there, `Copy Slot Granted` events crossing to
the workload account's bus and SlotGranted resuming the waiting executions; the target role with the shared pool's
conditions."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from support import (
    CROSS_ACCOUNT,
    OTHER_WORKLOAD,
    SOURCE_ACCOUNT,
    TARGET_ACCOUNT,
    burst,
    deploy_vault_role,
    seed_workload,
    send_snapshot_events,
    wait_for_records,
)
from typer.testing import CliRunner

from replicator.aws.dynamodb import shared_slot_pool
from replicator.settings import get_settings
from replicator.usecases import slots
from replicator.usecases.reconcile import reconcile
from replicator.usecases.slots import holds_slot
from replicator_cli.local.emulation import emulation
from replicator_cli.local.provision import account_client
from replicator_cli.main import app

VAULT_POOL = (TARGET_ACCOUNT, "eu-west-1", False)  # the copy clock's key of the vault's eu-west-1 DB snapshot copies
POOL = f"{TARGET_ACCOUNT}#eu-west-1#instance"
OTHER = OTHER_WORKLOAD


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


def vault_items(cloud: Any) -> list[dict[str, Any]]:
    """Every item of the vault's shared table (read in the vault account)."""
    coordinator = cloud.coordinator
    table = coordinator.table_arn.rsplit("/", 1)[1]
    client = account_client("dynamodb", coordinator.region, coordinator.account)
    items: list[dict[str, Any]] = client.scan(TableName=table, ConsistentRead=True)["Items"]
    return items


def requests_of(cloud: Any, *accounts: str) -> list[str]:
    """The requests (`account#...` items) of these workload accounts in the vault's table, as pk/sk."""
    partitions = {f"account#{a}" for a in accounts}
    return [f"{i['pk']['S']} {i['sk']['S']}" for i in vault_items(cloud) if i["pk"]["S"] in partitions]


def holders_of(cloud: Any, *accounts: str) -> list[str]:
    """The holders (account#replication id) these workload accounts have in any pool item of the vault's table."""
    return [
        key
        for i in vault_items(cloud)
        if i["pk"]["S"].startswith("pool#")
        for key, holder in i.get("holders", {}).get("M", {}).items()
        if holder["M"]["account"]["S"] in accounts
    ]


def assert_nothing_left_behind(cloud: Any, *accounts: str) -> None:
    """Once the replications of these accounts ended: none of their requests is left in the vault's table (each
    replication deletes its own before its outcome is recorded, so at once), and none of them holds a slot of any
    pool there (the coordinator drops a holder when it sees its request go: a moment later)."""
    accounts = accounts or (SOURCE_ACCOUNT,)
    assert requests_of(cloud, *accounts) == []
    wait_until(lambda: holders_of(cloud, *accounts) == [], what=lambda: f"holders left: {holders_of(cloud, *accounts)}")


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
    assert_nothing_left_behind(run.cloud)
    assert holders(run.cloud) == set()  # nobody else was there: the pool's holders empty


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
    assert_nothing_left_behind(run.cloud, SOURCE_ACCOUNT, other)  # B's requests given back, this account's too


def test_a_wait_for_the_shared_pool_past_the_limit_fails_and_leaves_no_request_in_the_vault(run_scenario, monkeypatch):
    """Account B holds both slots of the vault's pool and never gives them back. This account's replication waits
    for one; once it waits in the vault's queue, a week and an hour pass (the clock AcquireSlot reads moves on:
    MAX_SLOT_WAIT_HOURS stays the stack's). Its next re-check fails it with a reason naming the pool and the limit;
    its request leaves the vault's table (the coordinator would otherwise keep it queued, and grant it a slot no
    one would use or give back), B's requests and slots stay as they were, and no copy into the vault starts."""
    ahead = [timedelta()]
    real_now = slots.utc_now
    monkeypatch.setattr(slots, "utc_now", lambda: real_now() + ahead[0])
    limits: list[int] = []

    def other_account_holds_the_pool_for_ever(cloud, runner):
        limits.append(get_settings().max_slot_wait_hours)  # the stack's (the emulation's environment is its)
        table = other_account_table(cloud, OTHER)
        for n in range(2):
            shared_slot_pool.request_slot(table, OTHER, POOL, f"other-{n}", n, "us-east-1")
        wait_until(lambda: holders(cloud) == {"other-0", "other-1"})

        def a_week_passes_once_it_waits() -> None:
            wait_until(lambda: requests_of(cloud, SOURCE_ACCOUNT) != [], timeout=60)
            ahead[0] = timedelta(hours=limits[0] + 1)

        threading.Thread(target=a_week_passes_once_it_waits, daemon=True).start()

    run = run_scenario(
        shared(["orders-late"], slot_recheck_seconds=2), before_events=other_account_holds_the_pool_for_ever
    )
    assert ahead[0], "it never waited in the vault's queue"
    (limit,) = limits
    (record,) = run.records
    assert record.status.value == "FAILED", record.reason
    # what a person reads: which pool, how long, the limit and its setting, and what to look at
    assert f"for a copy slot in {POOL} (limit: {limit} h, MAX_SLOT_WAIT_HOURS)" in record.reason, record.reason
    assert "copies there do not end" in record.reason, record.reason
    entered = run.states_entered()
    assert entered.count("AcquireSlot") >= 2, entered  # failed at a re-check, not at its first ask
    assert entered[-2:] == ["FinishFailed", "ReplicationFailed"], entered
    # its request gone from the vault's table; B's requests and slots untouched
    assert_nothing_left_behind(run.cloud)
    assert sorted(requests_of(run.cloud, OTHER)) == [f"account#{OTHER} {POOL}#other-{n}" for n in range(2)]
    assert sorted(holders_of(run.cloud, OTHER, SOURCE_ACCOUNT)) == [f"{OTHER}#other-0", f"{OTHER}#other-1"]
    # no copy into the vault, and no place left in this stack's own queue
    clock = run.cloud.doubles.copy_clock
    assert [arn for arn in clock.started if f":{TARGET_ACCOUNT}:" in arn] == []
    own = run.cloud.stack.resources["CopySlotsTable"]
    waiting = boto3.client("dynamodb").scan(TableName=own, ConsistentRead=True)["Items"]
    assert [i for i in waiting if i["entry"]["S"].startswith("wait#")] == []


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


def wait_until(condition: Any, timeout: float = 20.0, what: Any = None) -> None:
    """Wait for `condition()`; on timeout, fail with `what()` (what was seen instead), if given."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what()}" if what else "timed out")
        time.sleep(0.1)


def other_account_table(cloud: Any, account: str) -> Any:
    """The vault's table as workload account `account` reaches it: target-account-role.yaml deployed for it in the
    vault (its own role, trusting that account's replicator roles), assumed from that account with its tag."""
    coordinator = cloud.coordinator
    pattern = f"arn:aws:iam::{account}:role/rds-snapshot-replicator/*"
    role_arn = deploy_vault_role(cloud, pattern, f"rds-snapshot-replicator-target-{account}")
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
        assert_nothing_left_behind(cloud, SOURCE_ACCOUNT, other)


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
        shared_slot_pool.give_back_request(theirs, other, POOL, "mine-0")  # B's forged one, from its own partition
        assert_nothing_left_behind(cloud, SOURCE_ACCOUNT, other)
        assert holders(cloud) == set()


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
        deploy_vault_role(cloud, stack_b.outputs["ReplicatorRolePattern"], role_b.rsplit("/", 1)[1])
        seed_workload(stack_b, OTHER, theirs, role_b, up.runner.key_arns["vault-eu"])

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
        assert_nothing_left_behind(cloud, SOURCE_ACCOUNT, OTHER)
        assert holders(cloud) == set()  # nothing held once all ended
