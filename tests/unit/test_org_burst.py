"""bench/org_burst.py at a small size: its shared pool runs the real coordinator modules (usecases/grant_slots.py,
aws/dynamodb/shared_slot_pool.py) over its in-memory VaultTable, which behaves as moto's DynamoDB does (counts on a
simulated clock, not a timing)."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import org_burst

from replicator.aws.dynamodb import shared_slot_pool

POOL = org_burst.POOL


@pytest.fixture(autouse=True)
def _region(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")


def shared_fair(backend: str, accounts: int = 4, snapshots: int = 40, stagger: float = 0, wait_hours: int = 168):
    work = org_burst.workload(accounts, snapshots, 1800, stagger, 20, seed=3)
    run = org_burst.simulate("shared fair", work, backend, 3, None, org_burst.asl_retrier(), wait_hours)
    return org_burst.summary(run, 1800, org_burst.recheck_seconds())


def test_the_shared_pool_runs_the_real_coordinator_within_the_quota_and_fairly():
    s = shared_fair("memory")
    assert s["replicated"] == 160
    assert s["refused"] == 0  # the pool never lets more copies start than the vault's quota
    assert s["max_rds"] <= org_burst.QUOTA
    assert s["max_held"] == org_burst.QUOTA  # every slot used while anyone waits
    assert s["makespan"] / s["ideal"] < 1.1
    assert s["spread"] < 0.1  # each account's median wait within 10 % of the others'
    assert s["slot_granted_calls"] == 160  # each woken by a grant event with a grant behind it (SlotGranted's check)
    assert 0 < s["coordinator_calls"] <= 160 * 2  # an invocation per batch of the stream's records


def test_its_schedule_is_the_same_on_moto():
    memory = shared_fair("memory", accounts=3, snapshots=8)
    moto = shared_fair("moto", accounts=3, snapshots=8)
    assert memory["starts"] == moto["starts"]
    assert memory["coordinator_calls"] == moto["coordinator_calls"]


def test_an_expired_wait_gives_its_request_back():
    s = shared_fair("memory", accounts=3, snapshots=30, stagger=0, wait_hours=1)
    assert s["failed_wait"] > 0
    assert s["replicated"] + s["failed_wait"] == 90


def vault_table() -> org_burst.VaultTable:
    return org_burst.VaultTable("vault", org_burst.COORDINATOR_TABLE)


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return error.value.response["Error"]["Code"]


def test_the_vault_table_refuses_and_cancels_as_dynamodb_does():
    table = vault_table()
    shared_slot_pool.request_slot(table, "111111111111", POOL, "r-1", 5, "us-east-1")
    shared_slot_pool.request_slot(table, "111111111111", POOL, "r-1", 9, "us-east-1")  # a re-check keeps its place
    key = shared_slot_pool.request_key("111111111111", POOL, "r-1")
    item = table.get_item(Key=key)["Item"]
    assert item["queued_at_ms"] == Decimal(5)  # numbers read back as Decimal, as from DynamoDB
    assert "rechecked_at" in item
    with pytest.raises(ClientError) as refused:
        table.put_item(Item={**key, "x": 1}, ConditionExpression="attribute_not_exists(pk)")
    assert code(refused) == "ConditionalCheckFailedException"
    # a key of an absent map cannot be set (the reason of grant's empty-pool form)
    with pytest.raises(ClientError) as invalid:
        table.update_item(
            Key=shared_slot_pool.pool_key(POOL),
            UpdateExpression="SET holders.#r = :h",
            ExpressionAttributeNames={"#r": "x"},
            ExpressionAttributeValues={":h": {}},
        )
    assert code(invalid) == "ValidationException"
    # a transaction whose second condition fails writes nothing
    (waiting,) = shared_slot_pool.waiting_requests(table, POOL)
    assert shared_slot_pool.grant(table, POOL, waiting, 20, empty=True) is not None
    assert shared_slot_pool.waiting_requests(table, POOL) == []
    assert shared_slot_pool.holds(table, "111111111111", POOL, "r-1")
    before = shared_slot_pool.read_pool(table, POOL)
    assert shared_slot_pool.grant(table, POOL, waiting, 20, empty=False) is None  # no longer waiting
    assert shared_slot_pool.read_pool(table, POOL) == before


def test_the_vault_tables_index_is_ordered_by_arrival_and_other_calls_raise():
    table = vault_table()
    for rid, at in (("b", 30), ("a", 10), ("c", 20)):
        shared_slot_pool.request_slot(table, "222222222222", POOL, rid, at, "us-east-1")
    assert [r["replication_id"] for r in shared_slot_pool.waiting_requests(table, POOL)] == ["a", "c", "b"]
    shared_slot_pool.give_back_request(table, "222222222222", POOL, "c")
    assert [r["replication_id"] for r in shared_slot_pool.waiting_requests(table, POOL)] == ["a", "b"]
    with pytest.raises(NotImplementedError):
        shared_slot_pool.own_requests(table, "222222222222")  # a query of the table itself: not used by the bench
    with pytest.raises(NotImplementedError):
        table.update_item(Key=shared_slot_pool.pool_key(POOL), UpdateExpression="SET a = :a", ReturnValues="ALL_NEW")
