"""The vault's shared copy-slot pool (issue 17, coordinator.yaml): two workload accounts asking for slots of one
destination pool, the coordinator's grants (usecases.grant_slots) on the emulation's DynamoDB in the vault account.

The table is coordinator.yaml's own SharedSlotPoolTable, made by CloudFormation in the vault account; the workload
accounts reach it through the vault's target role (aws/dynamodb/shared_slot_pool.py), the coordinator with the
vault account's own credentials, one pass at a time, so that each grant is seen. The pipeline around it (the stream
invoking the coordinator, the Copy Slot Granted event, SlotGranted, the role's conditions) is
test_shared_slot_pool_pipeline.py's and test_iam_session_tags.py's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto.cloudformation.models import cloudformation_backends
from support import TARGET_ACCOUNT, base_scenario

from replicator.aws import sessions
from replicator.aws.dynamodb import shared_slot_pool
from replicator.copy_slots import CopyQuotas
from replicator.usecases.grant_slots import CoordinatorSettings, grant_slots
from replicator_cli.local.cloud import HOME_REGION, SOURCE_ACCOUNT
from replicator_cli.local.emulation import emulation
from replicator_cli.local.provision import load_template
from replicator_cli.local.scenario import TARGET_ROLE_NAME

OTHER_ACCOUNT = "333333333333"  # a second workload account replicating into the same vault
POOL = f"{TARGET_ACCOUNT}#eu-west-1#instance"
QUOTA = 2


@pytest.fixture(scope="module")
def vault() -> Iterator[dict[str, Any]]:
    """The emulation with the vault account's coordinator table (coordinator.yaml's resource, made there)."""
    with emulation(base_scenario(), run=False) as up:
        template = load_template(up.cloud.root / "coordinator.yaml")
        table_only = {
            "Parameters": template["Parameters"],
            "Resources": {"SharedSlotPoolTable": template["Resources"]["SharedSlotPoolTable"]},
        }
        stack = cloudformation_backends[TARGET_ACCOUNT][HOME_REGION].create_stack(
            name="rds-snapshot-replicator-coordinator", template=json.dumps(table_only), parameters={}
        )
        assert stack.status == "CREATE_COMPLETE"
        name = stack.resource_map["SharedSlotPoolTable"].physical_resource_id
        role_arn = up.runner.role_arns[TARGET_ACCOUNT]
        assert role_arn.endswith(TARGET_ROLE_NAME)
        yield {
            "up": up,
            "table_name": name,
            "table_arn": f"arn:aws:dynamodb:{HOME_REGION}:{TARGET_ACCOUNT}:table/{name}",
            "role_arn": role_arn,
        }


class Workload:
    """A workload account's side of the pool (aws/dynamodb/shared_slot_pool.py): its requests in its partition."""

    def __init__(self, vault: dict[str, Any], account: str) -> None:
        self.vault, self.account = vault, account

    def holds(self, rid: str) -> bool:
        return shared_slot_pool.holds(_table(self.vault), self.account, POOL, rid)

    def give_back(self, rid: str) -> None:
        shared_slot_pool.give_back_request(_table(self.vault), self.account, POOL, rid)


@contextmanager
def as_vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The coordinator runs in the vault account: its own credentials there (moto maps an assumed role's keys to
    the role's account)."""
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{TARGET_ACCOUNT}:role/{TARGET_ROLE_NAME}",
        RoleSessionName="coordinator",
        ExternalId="replicator-local",
    )["Credentials"]
    with monkeypatch.context() as patched:
        patched.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
        patched.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
        patched.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
        sessions.reset_cache()
        boto3.DEFAULT_SESSION = None
        try:
            yield
        finally:
            boto3.DEFAULT_SESSION = None
    sessions.reset_cache()


def coordinate(vault: dict[str, Any], monkeypatch: pytest.MonkeyPatch, cap: int | None = None) -> list[str]:
    """One pass of the coordinator over the pool; the replications granted a slot."""
    settings = CoordinatorSettings(
        table_name=vault["table_name"], quotas=CopyQuotas(instance=QUOTA), per_account_cap=cap
    )
    with as_vault(monkeypatch):
        (result,) = grant_slots(settings, {POOL: []})
        assert result.in_flight <= QUOTA
        holders = pool(vault)["holders"]
    assert len(holders) <= QUOTA, holders
    return [key.split("#", 1)[1] for key in result.granted]  # account#replication id


def pool(vault: dict[str, Any], name: str = POOL) -> dict[str, Any]:
    """The pool item as the coordinator reads it (inside as_vault)."""
    return shared_slot_pool.read_pool(shared_slot_pool.coordinator_table(vault["table_name"]), name)


def ask(vault: dict[str, Any], account: str, rid: str, queued_at_ms: int) -> None:
    shared_slot_pool.request_slot(_table(vault), account, POOL, rid, queued_at_ms, HOME_REGION)


def _table(vault: dict[str, Any]) -> Any:
    return shared_slot_pool.workload_table(vault["table_arn"], vault["role_arn"], None)  # a role without the pool


def test_two_accounts_share_the_vaults_quota_fairly_and_a_freed_slot_goes_to_the_other_account(vault, monkeypatch):
    a, b = Workload(vault, SOURCE_ACCOUNT), Workload(vault, OTHER_ACCOUNT)
    # account A's backfill arrives alone: it takes the whole pool (no slot stays free while anyone waits)
    for n in range(4):
        ask(vault, SOURCE_ACCOUNT, f"a-{n}", 1_000 + n)
    assert coordinate(vault, monkeypatch) == ["a-0", "a-1"]
    assert a.holds("a-0")
    assert a.holds("a-1")
    assert not a.holds("a-2")
    # then account B's two replications wait behind A's older ones
    for n in range(2):
        ask(vault, OTHER_ACCOUNT, f"b-{n}", 2_000 + n)
    assert coordinate(vault, monkeypatch) == []  # full: nothing more, and nothing taken from anyone

    # A's copy ends: its slot goes to B's oldest waiter, not to A's older ones (A has had two grants, B none)
    a.give_back("a-0")
    assert coordinate(vault, monkeypatch) == ["b-0"]
    assert b.holds("b-0")
    # and A's next slot given back goes to B again (A: two grants, B: one)
    a.give_back("a-1")
    assert coordinate(vault, monkeypatch) == ["b-1"]

    # B's copies end: A's waiters get both slots, oldest first (nobody of B waits any more)
    b.give_back("b-0")
    b.give_back("b-1")
    assert coordinate(vault, monkeypatch) == ["a-2", "a-3"]
    assert a.holds("a-2")
    assert a.holds("a-3")
    assert not b.holds("a-2")  # a grant is the account's own: B's session sees none of A's requests


def test_a_workload_cannot_hold_a_slot_the_coordinator_did_not_grant(vault, monkeypatch):
    """Asking is all a workload can do: its request is only a place in the queue until the coordinator grants it,
    and asking again keeps the place (the re-check) without taking a slot."""
    a = Workload(vault, SOURCE_ACCOUNT)
    ask(vault, SOURCE_ACCOUNT, "a-late", 9_000)
    ask(vault, SOURCE_ACCOUNT, "a-late", 9_500)  # a re-check
    assert not a.holds("a-late")
    key = shared_slot_pool.request_key(SOURCE_ACCOUNT, POOL, "a-late")
    with as_vault(monkeypatch):
        table = shared_slot_pool.coordinator_table(vault["table_name"])
        request = table.get_item(Key=key, ConsistentRead=True).get("Item")
        assert request is not None
        assert request["queued_at_ms"] == 9_000
        assert "rechecked_at" in request
        assert "lease" not in request
    a.give_back("a-late")  # gives its place back
    with as_vault(monkeypatch):
        assert "Item" not in shared_slot_pool.coordinator_table(vault["table_name"]).get_item(
            Key=key, ConsistentRead=True
        )


def test_a_holder_whose_request_is_gone_gives_its_slot_to_the_next_waiter(vault, monkeypatch):
    """A release whose stream record was lost still frees the slot: each pass checks the holders' requests."""
    a = Workload(vault, SOURCE_ACCOUNT)
    for rid in ("a-2", "a-3"):
        a.give_back(rid)
    ask(vault, OTHER_ACCOUNT, "b-x", 10_000)
    ask(vault, OTHER_ACCOUNT, "b-y", 10_001)
    ask(vault, OTHER_ACCOUNT, "b-z", 10_002)
    assert coordinate(vault, monkeypatch) == ["b-x", "b-y"]
    # b-x's request goes without the coordinator seeing it go (a lost stream record): the next pass finds it gone
    Workload(vault, OTHER_ACCOUNT).give_back("b-x")
    assert coordinate(vault, monkeypatch) == ["b-z"]
    with as_vault(monkeypatch):
        holding = pool(vault)["holders"]
        assert set(holding) == {f"{OTHER_ACCOUNT}#b-y", f"{OTHER_ACCOUNT}#b-z"}


def test_the_per_account_cap_keeps_an_account_below_it_even_with_free_slots(vault, monkeypatch):
    b = Workload(vault, OTHER_ACCOUNT)
    for rid in ("b-y", "b-z"):
        b.give_back(rid)
    coordinate(vault, monkeypatch)
    for n in range(3):
        ask(vault, OTHER_ACCOUNT, f"b-cap-{n}", 20_000 + n)
    assert coordinate(vault, monkeypatch, cap=1) == ["b-cap-0"]
    assert coordinate(vault, monkeypatch, cap=1) == []  # a slot is free, but B is at its cap


def test_a_pool_has_no_item_until_its_first_grant_makes_one(vault, monkeypatch):
    """No pass writes a pool item before it grants: a missing item reads as empty; a pass that grants nothing
    leaves only the counts (no holders map), and the first grant then writes the holders map."""
    cluster = f"{TARGET_ACCOUNT}#eu-west-1#cluster"
    settings = CoordinatorSettings(table_name=vault["table_name"], quotas=CopyQuotas(cluster=1))
    with as_vault(monkeypatch):
        table = shared_slot_pool.coordinator_table(vault["table_name"])
        assert "Item" not in table.get_item(Key=shared_slot_pool.pool_key(cluster), ConsistentRead=True)
        assert pool(vault, cluster) == {
            **shared_slot_pool.pool_key(cluster),
            "holders": {},
            "granted": {},
            "accounts": {},
        }
        (nothing,) = grant_slots(settings, {cluster: []})  # nobody waits: only the counts are saved
        assert nothing.granted == []
        assert "holders" not in table.get_item(Key=shared_slot_pool.pool_key(cluster), ConsistentRead=True)["Item"]
    shared_slot_pool.request_slot(_table(vault), OTHER_ACCOUNT, cluster, "c-0", 1, HOME_REGION)
    shared_slot_pool.request_slot(_table(vault), OTHER_ACCOUNT, cluster, "c-1", 2, HOME_REGION)
    with as_vault(monkeypatch):
        (first,) = grant_slots(settings, {cluster: []})
        assert first.granted == [f"{OTHER_ACCOUNT}#c-0"]
        assert set(pool(vault, cluster)["holders"]) == {f"{OTHER_ACCOUNT}#c-0"}
        (full,) = grant_slots(settings, {cluster: []})
        assert full.granted == []
    shared_slot_pool.give_back_request(_table(vault), OTHER_ACCOUNT, cluster, "c-0")
    with as_vault(monkeypatch):  # its holders map now empty again: the next grant writes it whole
        (second,) = grant_slots(settings, {cluster: []})
        assert (second.dropped, second.granted) == ([f"{OTHER_ACCOUNT}#c-0"], [f"{OTHER_ACCOUNT}#c-1"])
        assert set(pool(vault, cluster)["holders"]) == {f"{OTHER_ACCOUNT}#c-1"}
    shared_slot_pool.give_back_request(_table(vault), OTHER_ACCOUNT, cluster, "c-1")


def test_the_grant_into_an_empty_pool_refuses_if_the_pool_changed_since_it_was_read(vault, monkeypatch):
    """grant's empty-pool form writes the whole holders map: only while it is absent or still empty."""
    cluster = f"{TARGET_ACCOUNT}#eu-central-1#cluster"
    for n in range(2):
        shared_slot_pool.request_slot(_table(vault), OTHER_ACCOUNT, cluster, f"e-{n}", n, HOME_REGION)
    with as_vault(monkeypatch):
        table = shared_slot_pool.coordinator_table(vault["table_name"])
        first, second = shared_slot_pool.waiting_requests(table, cluster)
        assert shared_slot_pool.grant(table, cluster, first, 5, empty=True) is not None  # makes the item
        assert shared_slot_pool.grant(table, cluster, second, 5, empty=True) is None  # no longer empty: refused
        assert set(pool(vault, cluster)["holders"]) == {f"{OTHER_ACCOUNT}#e-0"}
        assert shared_slot_pool.grant(table, cluster, second, 5, empty=False) is not None
        assert set(pool(vault, cluster)["holders"]) == {f"{OTHER_ACCOUNT}#e-0", f"{OTHER_ACCOUNT}#e-1"}
    for n in range(2):
        shared_slot_pool.give_back_request(_table(vault), OTHER_ACCOUNT, cluster, f"e-{n}")


def test_the_holders_requests_are_read_in_batches_of_100_and_unprocessed_keys_asked_again(vault, monkeypatch):
    keys = [shared_slot_pool.request_key(OTHER_ACCOUNT, POOL, f"batch-{n}") for n in range(150)]
    for n in range(0, 150, 2):  # every other one exists
        shared_slot_pool.request_slot(_table(vault), OTHER_ACCOUNT, POOL, f"batch-{n}", 50_000 + n, HOME_REGION)
    with as_vault(monkeypatch):
        table = shared_slot_pool.coordinator_table(vault["table_name"])
        client = table.meta.client
        requests: list[dict[str, Any]] = []
        real = client.batch_get_item

        def batch_get_item(RequestItems: dict[str, Any]) -> dict[str, Any]:
            requests.append(RequestItems)
            response = real(RequestItems=RequestItems)
            asked = RequestItems[table.name]
            if len(requests) == 1:  # the first request: DynamoDB leaves its last 10 keys unprocessed
                left = asked["Keys"][-10:]
                kept = {(k["pk"], k["sk"]) for k in left}
                found = response["Responses"][table.name]
                response["Responses"][table.name] = [i for i in found if (i["pk"], i["sk"]) not in kept]
                response["UnprocessedKeys"] = {table.name: {**asked, "Keys": left}}
            return response

        monkeypatch.setattr(client, "batch_get_item", batch_get_item)
        monkeypatch.setattr(shared_slot_pool.time, "sleep", lambda seconds: None)
        found = shared_slot_pool.existing_requests(table, [*keys, keys[0]])  # a key named twice is asked once
    assert found == {(k["pk"], k["sk"]) for k in keys[::2]}
    assert [len(r[table.name]["Keys"]) for r in requests] == [100, 10, 50]
    assert all(r[table.name]["ConsistentRead"] for r in requests)
    for n in range(0, 150, 2):
        shared_slot_pool.give_back_request(_table(vault), OTHER_ACCOUNT, POOL, f"batch-{n}")
