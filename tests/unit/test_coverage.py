"""Coverage of one database on one target (coverage.assess) and per target (summarize): tables of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from replicator.coverage import SourceDatabase, Verdict, assess, summarize
from replicator.history import IndexedReplication, ReplicationStatus, taken_key
from replicator.selection import Selection
from replicator.snapshots import SnapshotKind

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "210987654321"


def database(name: str = "prod-orders", age_days: float = 30, **extra: Any) -> SourceDatabase:
    return SourceDatabase(
        identifier=name,
        kind=SnapshotKind.INSTANCE,
        region="us-east-1",
        engine="postgres",
        status="available",
        created_at=NOW - timedelta(days=age_days),
        **extra,
    )


def replication(hours_ago: float, status: str = "SUCCEEDED", **extra: Any) -> IndexedReplication:
    taken = NOW - timedelta(hours=hours_ago)
    return IndexedReplication(
        replication_id=f"r-{hours_ago}",
        status=ReplicationStatus(status),
        source_taken_at=taken_key(taken),
        replica_arn=f"arn:aws:rds:us-west-2:{ACCOUNT}:snapshot:snaprep-{int(hours_ago)}"
        if status == "SUCCEEDED"
        else None,
        **extra,
    )


# (case, database, selection, rpo_hours, history newest first, verdict, age hours or None, last failure or None)
CASES: list[tuple[str, SourceDatabase, dict | None, float | None, list[IndexedReplication], Verdict, Any, Any]] = [
    ("fresh replica", database(), None, 24, [replication(3)], Verdict.OK, 3, None),
    ("stale replica", database(), None, 24, [replication(30)], Verdict.BREACH, 30, None),
    ("exactly at the RPO", database(), None, 24, [replication(24)], Verdict.OK, 24, None),
    ("no replica at all", database(), None, 24, [], Verdict.BREACH, None, None),
    ("a new database cannot have one yet", database(age_days=0.5), None, 24, [], Verdict.OK, None, None),
    ("no RPO, a replica", database(), None, None, [replication(100)], Verdict.OK, 100, None),
    ("no RPO, no replica", database(), None, None, [], Verdict.NONE, None, None),
    (
        "excluded: needs no replica",
        database("dev-box"),
        {"exclude": [{"databases": ["dev-*"]}]},
        24,
        [],
        Verdict.NOT_SELECTED,
        None,
        None,
    ),
    (
        "the newest attempt failed: its reason, and the older replica's age",
        database(),
        None,
        24,
        [replication(2, "FAILED", reason="refused: key disabled"), replication(26)],
        Verdict.BREACH,
        26,
        "refused: key disabled",
    ),
    (
        "an older failure is history, not the last attempt",
        database(),
        None,
        24,
        [replication(2), replication(26, "FAILED", reason="throttled")],
        Verdict.OK,
        2,
        None,
    ),
    (
        "skips are not attempts",
        database(),
        None,
        24,
        [replication(1, "SKIPPED", not_selected=True), replication(5)],
        Verdict.OK,
        5,
        None,
    ),
    (
        "a pruned replica covers nothing",
        database(),
        None,
        24,
        [replication(2, replica_deleted_at=NOW), replication(40)],
        Verdict.BREACH,
        40,
        None,
    ),
    (
        "a running replication is not a replica yet",
        database(),
        None,
        24,
        [replication(1, "COPYING")],
        Verdict.BREACH,
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("case", "db", "selection", "rpo", "history", "verdict", "age_hours", "failure"), CASES, ids=[c[0] for c in CASES]
)
def test_assess(case, db, selection, rpo, history, verdict, age_hours, failure) -> None:
    chosen = Selection.model_validate(selection) if selection is not None else None
    row = assess(db, ACCOUNT, "us-west-2", chosen, rpo, iter(history), NOW)
    assert row.verdict is verdict
    assert row.selected is (verdict is not Verdict.NOT_SELECTED)
    assert row.age_seconds == (None if age_hours is None else age_hours * 3600)
    assert row.last_failure == failure
    if verdict is Verdict.NOT_SELECTED:
        assert row.not_selected_reason == "excluded by selection.exclude[0] (databases dev-*)"


def test_assess_reads_the_history_only_as_far_as_the_newest_replica() -> None:
    read: list[str] = []

    def history():
        for item in [replication(1, "FAILED"), replication(5), replication(29), replication(53)]:
            read.append(item.replication_id)
            yield item

    assess(database(), ACCOUNT, "us-west-2", None, 24, history(), NOW)
    assert read == ["r-1", "r-5"]


def test_summarize_counts_per_target_and_the_oldest_age() -> None:
    rows = [
        assess(database("a"), ACCOUNT, "us-west-2", None, 24, iter([replication(3)]), NOW),
        assess(database("b"), ACCOUNT, "us-west-2", None, 24, iter([replication(30)]), NOW),
        assess(database("c"), ACCOUNT, "us-west-2", None, 24, iter([]), NOW),
        assess(database("a"), ACCOUNT, "eu-west-1", None, None, iter([]), NOW),
        assess(
            database("dev-x"),
            ACCOUNT,
            "eu-west-1",
            Selection.model_validate({"exclude": [{"databases": ["dev-*"]}]}),
            24,
            iter([replication(99)]),
            NOW,
        ),
    ]
    (west, eu) = summarize(rows)
    assert (west.target, west.covered, west.uncovered, west.oldest_replica_age_seconds) == (
        f"{ACCOUNT}/us-west-2",
        1,
        2,
        30 * 3600,
    )
    assert (eu.covered, eu.uncovered, eu.oldest_replica_age_seconds) == (0, 0, None)


def test_a_star_mapping_stands_for_every_enabled_region_without_its_own() -> None:
    from replicator.mapping import RegionMapping
    from replicator.usecases.coverage import mapped_regions

    own = RegionMapping(source_region="eu-west-1", targets=[{"target_region": "eu-central-1"}])
    star = RegionMapping(source_region="*", targets=[{"target_region": "us-west-2"}])
    chosen = mapped_regions({"eu-west-1": own, "*": star}, ["us-east-1", "eu-west-1", "ap-south-1"])
    assert chosen == {"ap-south-1": star, "eu-west-1": own, "us-east-1": star}
    assert mapped_regions({"eu-west-1": own}, None) == {"eu-west-1": own}
