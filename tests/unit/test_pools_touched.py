"""GrantSlots reads the pools a stream batch touched from its records (usecases.grant_slots.pools_touched)."""

import pytest

from replicator.aws.dynamodb.shared_slot_pool import request_identity
from replicator.usecases.grant_slots import pools_touched

POOL = "210987654321#eu-west-1#instance"


def _request(rid: str, waiting: bool = True, **more: dict) -> dict:
    image = {
        "pk": {"S": "account#111111111111"},
        "sk": {"S": f"{POOL}#{rid}"},
        "pool": {"S": POOL},
        "replication_id": {"S": rid},
        "source_account": {"S": "111111111111"},
        "queued_at_ms": {"N": "1000"},
        **more,
    }
    if waiting:
        image["waiting_pool"] = {"S": POOL}
    return image


def _record(name: str, new: dict | None = None, old: dict | None = None) -> dict:
    images = {k: v for k, v in (("NewImage", new), ("OldImage", old)) if v is not None}
    return {"eventName": name, "dynamodb": images}


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        # a request arrives: its pool, and the request itself as a waiter (the index may not show it yet)
        ([_record("INSERT", new=_request("r1"))], {POOL: ["r1"]}),
        # a re-check of a waiting request: the same
        ([_record("MODIFY", new=_request("r1"), old=_request("r1"))], {POOL: ["r1"]}),
        # a grant (waiting_pool removed): the pool is looked at, the request is no waiter
        ([_record("MODIFY", new=_request("r1", waiting=False), old=_request("r1"))], {POOL: []}),
        # a request given back (deleted): its pool, so that its slot goes on
        ([_record("REMOVE", old=_request("r1", waiting=False))], {POOL: []}),
        # the coordinator's own pool item: nothing to do
        ([_record("MODIFY", new={"pk": {"S": f"pool#{POOL}"}, "sk": {"S": "slots"}, "pool": {"S": POOL}})], {}),
        # two requests of one pool in a batch: one pass, both waiters
        ([_record("INSERT", new=_request("r1")), _record("INSERT", new=_request("r2"))], {POOL: ["r1", "r2"]}),
        ([], {}),
    ],
)
def test_the_pools_a_batch_touched_and_the_waiters_its_records_show(records, expected):
    touched = pools_touched(records)
    assert {pool: [r["replication_id"] for r in seen] for pool, seen in touched.items()} == expected


def test_a_waiters_numbers_are_numbers():
    (seen,) = pools_touched([_record("INSERT", new=_request("r1"))])[POOL]
    assert seen["queued_at_ms"] == 1000
    assert seen["source_account"] == "111111111111"


def test_a_record_naming_no_real_pool_is_ignored():
    """A workload writes its requests: a malformed pool name must not fail the batch (and every pool's grants)."""
    bad = _request("r1", pool={"S": "not-a-pool"})
    bad["pk"] = {"S": "account#111111111111"}
    assert pools_touched([_record("INSERT", new=bad)]) == {}
    kind = _request("r2", pool={"S": "210987654321#eu-west-1#everything"})
    assert pools_touched([_record("INSERT", new=kind)]) == {}


@pytest.mark.parametrize(
    ("request_item", "identity"),
    [
        ({"pk": "account#111", "sk": f"{POOL}#r1", "replication_id": "r1", "queued_at_ms": 5}, ("111", "r1")),
        # the account is the partition key's, whatever an attribute says
        (
            {
                "pk": "account#111",
                "sk": f"{POOL}#r1",
                "replication_id": "r1",
                "queued_at_ms": 5,
                "source_account": "222",
            },
            ("111", "r1"),
        ),
        # a key that does not name this pool and this replication: not a request of the pool
        ({"pk": "account#111", "sk": f"{POOL}#r2", "replication_id": "r1", "queued_at_ms": 5}, None),
        ({"pk": "account#111", "sk": "other#r1", "replication_id": "r1", "queued_at_ms": 5}, None),
        ({"pk": f"pool#{POOL}", "sk": f"{POOL}#r1", "replication_id": "r1", "queued_at_ms": 5}, None),
        ({"pk": "account#111", "sk": f"{POOL}#r1", "replication_id": "r1", "queued_at_ms": "soon"}, None),
        ({"pk": "account#111", "sk": f"{POOL}#", "replication_id": "", "queued_at_ms": 5}, None),
    ],
)
def test_what_the_coordinator_believes_of_a_request_is_its_key(request_item, identity):
    assert request_identity(request_item, POOL) == identity
