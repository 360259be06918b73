"""Which replicas a mapping target's retention lets go (retention.replicas_to_delete), as a table of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from factories import source_snapshot

from replicator.mapping import MappingTarget
from replicator.planning import plan_replication
from replicator.retention import Replica, RetentionRule, replicas_to_delete
from replicator.snapshots import (
    MANAGED_BY,
    TAG_MANAGED_BY,
    TAG_REPLICATION_ID,
    TAG_SOURCE_ARN,
    TAG_SOURCE_DATABASE,
    SnapshotKind,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"


def replica(
    name: str, age_days: float, database: str | None = "orders", source_region: str = "us-east-1", **overrides: object
) -> Replica:
    source_arn = f"arn:aws:rds:{source_region}:{ACCOUNT}:snapshot:{name}"
    tags = {TAG_SOURCE_ARN: source_arn, TAG_REPLICATION_ID: f"{name}-rid", TAG_MANAGED_BY: MANAGED_BY}
    if database:
        tags[TAG_SOURCE_DATABASE] = database
    fields: dict = {
        "arn": f"arn:aws:rds:us-west-2:{ACCOUNT}:snapshot:snaprep-{name}-1a2b3c4d",
        "identifier": f"snaprep-{name}-1a2b3c4d",
        "kind": SnapshotKind.INSTANCE,
        "status": "available",
        "created_at": NOW - timedelta(days=age_days),
        "tags": tags,
    }
    fields.update(overrides)
    return Replica(**fields)


ORDERS = [replica(f"orders-{n}", age) for n, age in enumerate([1, 3, 8, 15, 40])]  # newest first
BILLING = [replica(f"billing-{n}", age, database="billing") for n, age in enumerate([2, 20])]


def deleted(replicas: list[Replica], rule: RetentionRule) -> list[str]:
    return sorted(d.replica.identifier.split("-")[1] + "-" + d.replica.identifier.split("-")[2]
                  for d in replicas_to_delete(replicas, rule, NOW))  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param(RetentionRule(), [], id="no-rule-keeps-everything"),
        pytest.param(RetentionRule(retention_days=7), ["orders-2", "orders-3", "orders-4"], id="days"),
        pytest.param(RetentionRule(retention_days=365), [], id="days-none-old-enough"),
        pytest.param(RetentionRule(keep_last=2), ["orders-2", "orders-3", "orders-4"], id="keep-last"),
        pytest.param(RetentionRule(keep_last=10), [], id="keep-last-more-than-there-are"),
        # together: kept while either keeps it (keep_last protects the newest from age, days keep the recent)
        pytest.param(RetentionRule(retention_days=7, keep_last=1), ["orders-2", "orders-3", "orders-4"], id="both-1"),
        pytest.param(RetentionRule(retention_days=2, keep_last=3), ["orders-3", "orders-4"], id="both-2"),
        pytest.param(
            RetentionRule(retention_days=1, keep_last=1),
            ["orders-1", "orders-2", "orders-3", "orders-4"],
            id="both-minimal",
        ),
    ],
)
def test_one_database(rule: RetentionRule, expected: list[str]) -> None:
    assert deleted(ORDERS, rule) == expected


def test_keep_last_counts_per_source_database() -> None:
    assert deleted(ORDERS + BILLING, RetentionRule(keep_last=1)) == [
        "billing-1",
        "orders-1",
        "orders-2",
        "orders-3",
        "orders-4",
    ]


def test_the_last_replicas_of_a_database_whose_snapshots_stopped_are_kept_with_both_rules() -> None:
    stopped = [replica(f"legacy-{n}", 400 + n, database="legacy") for n in range(3)]
    assert deleted(stopped, RetentionRule(retention_days=30, keep_last=2)) == ["legacy-2"]
    # days alone: all but the newest, which stays the base of the next (incremental) copy until a newer one exists
    assert deleted(stopped, RetentionRule(retention_days=30)) == ["legacy-1", "legacy-2"]


def test_the_newest_replica_of_each_database_is_never_deleted() -> None:
    # AWS makes the next copy full once the most recent copy in the destination is gone
    everything_old = ORDERS + BILLING
    gone = {
        d.replica.identifier
        for d in replicas_to_delete(everything_old, RetentionRule(retention_days=1), NOW + timedelta(days=90))
    }
    assert ORDERS[0].identifier not in gone
    assert BILLING[0].identifier not in gone
    assert len(gone) == len(everything_old) - 2


@pytest.mark.parametrize(
    "foreign",
    [
        pytest.param(replica("x", 99, identifier="manual-orders-copy"), id="not-named-like-a-replica"),
        pytest.param(replica("x", 99, tags={}), id="named-like-one-without-tags"),
        pytest.param(replica("x", 99, tags={**ORDERS[0].tags, TAG_MANAGED_BY: "someone-else"}), id="other-manager"),
        pytest.param(replica("x", 99, tags={TAG_MANAGED_BY: MANAGED_BY, TAG_REPLICATION_ID: "r"}), id="no-source"),
        pytest.param(replica("x", 99, status="creating"), id="still-being-made"),
    ],
)
def test_snapshots_not_made_by_the_replicator_or_unfinished_are_never_deleted(foreign: Replica) -> None:
    assert replicas_to_delete([foreign], RetentionRule(retention_days=1, keep_last=1), NOW) == []
    assert replicas_to_delete([foreign], RetentionRule(keep_last=1), NOW + timedelta(days=9999)) == []


def test_reasons_name_the_rule() -> None:
    [decision] = replicas_to_delete([ORDERS[0], ORDERS[4]], RetentionRule(retention_days=7, keep_last=1), NOW)
    assert decision.replica == ORDERS[4]
    assert "40 days old, more than retention_days 7" in decision.reason
    assert "replica 2 of orders (us-east-1) (newest first), beyond keep_last 1" in decision.reason


def test_replicas_without_the_database_tag_count_per_source_snapshot() -> None:
    old = [replica(f"old-{n}", 50, database=None) for n in range(3)]
    assert deleted(old, RetentionRule(keep_last=1)) == []  # each its own group: kept


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"retention_days": 0}, "retention_days"),
        ({"keep_last": 0}, "keep_last"),
        ({"keep_last": -3}, "keep_last"),
    ],
)
def test_mapping_target_retention_must_be_positive(fields: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        MappingTarget(target_region="us-west-2", **fields)


def test_replicas_are_tagged_with_their_source_database() -> None:
    source = source_snapshot(
        "orders-1", "manual", account_id=ACCOUNT, encrypted=False, engine_version="16.3", database_identifier="orders"
    )
    plan = plan_replication(source, MappingTarget(target_region="us-west-2"))
    assert all(s.tags[TAG_SOURCE_DATABASE] == "orders" for s in plan.steps if s.tags)


def test_keep_last_counts_databases_of_the_same_name_in_other_regions_apart() -> None:
    east = [replica(f"east-{n}", n + 1) for n in range(3)]
    west = [replica(f"west-{n}", n + 1.5, source_region="eu-west-1") for n in range(3)]
    # "orders" in us-east-1 and "orders" in eu-west-1 are two databases: the 2 newest of each are kept
    assert deleted(east + west, RetentionRule(keep_last=2)) == ["east-2", "west-2"]
