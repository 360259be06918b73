"""Which snapshots a target's selection replicates, and which databases it must cover: tables of cases."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from replicator.mapping import MappingTarget, describe_validation_error
from replicator.selection import DatabaseFacts, Selection, interval_refusal

PROD = DatabaseFacts(identifier="prod-orders", engine="postgres", tags={"env": "prod", "team": "pay"})
DEV = DatabaseFacts(identifier="dev-orders", engine="mysql", tags={"env": "dev"})
AURORA = DatabaseFacts(identifier="prod-ledger", engine="aurora-postgresql", tags={"env": "prod"})
UNTAGGED = DatabaseFacts(identifier="legacy", engine="mariadb")
GONE = DatabaseFacts(identifier=None, engine="postgres")


def snap(facts: DatabaseFacts, snapshot_type: str) -> DatabaseFacts:
    return facts.model_copy(update={"snapshot_type": snapshot_type})


# (selection, facts, expected refusal: None = replicated, else a fragment of the reason)
SNAPSHOT_CASES: list[tuple[str, dict[str, Any], DatabaseFacts, str | None]] = [
    ("no rules: everything", {}, snap(DEV, "manual"), None),
    ("include pattern matches", {"include": [{"databases": ["prod-*"]}]}, snap(PROD, "automated"), None),
    (
        "include pattern misses",
        {"include": [{"databases": ["prod-*"]}]},
        snap(DEV, "automated"),
        "matches no selection.include rule (databases prod-*)",
    ),
    ("include: one of several patterns", {"include": [{"databases": ["x-*", "dev-*"]}]}, snap(DEV, "manual"), None),
    (
        "pattern is case-sensitive and whole",
        {"include": [{"databases": ["orders"]}]},
        snap(PROD, "manual"),
        "matches no selection.include",
    ),
    (
        "exclude wins over include",
        {"include": [{"databases": ["*"]}], "exclude": [{"databases": ["dev-*"]}]},
        snap(DEV, "manual"),
        "excluded by selection.exclude[0] (databases dev-*)",
    ),
    (
        "second exclude named",
        {"exclude": [{"engines": ["oracle-*"]}, {"tags": [{"key": "env", "values": ["dev"]}]}]},
        snap(DEV, "automated"),
        "excluded by selection.exclude[1] (tag env=dev)",
    ),
    ("tag with value", {"include": [{"tags": [{"key": "env", "values": ["prod"]}]}]}, snap(PROD, "manual"), None),
    ("tag value pattern", {"include": [{"tags": [{"key": "env", "values": ["pro*"]}]}]}, snap(PROD, "manual"), None),
    (
        "tag value differs",
        {"include": [{"tags": [{"key": "env", "values": ["prod"]}]}]},
        snap(DEV, "manual"),
        "tag env=prod",
    ),
    ("tag present, any value", {"include": [{"tags": [{"key": "env"}]}]}, snap(DEV, "manual"), None),
    ("tag absent", {"include": [{"tags": [{"key": "env"}]}]}, snap(UNTAGGED, "manual"), "matches no"),
    (
        "every tag of a rule must hold",
        {"include": [{"tags": [{"key": "env", "values": ["prod"]}, {"key": "team", "values": ["ops"]}]}]},
        snap(PROD, "manual"),
        "matches no",
    ),
    (
        "every field of a rule must hold",
        {"include": [{"databases": ["prod-*"], "engines": ["mysql"]}]},
        snap(PROD, "manual"),
        "matches no",
    ),
    ("engine pattern", {"include": [{"engines": ["aurora-*"]}]}, snap(AURORA, "automated"), None),
    ("engine misses", {"include": [{"engines": ["aurora-*"]}]}, snap(PROD, "automated"), "engines aurora-*"),
    ("snapshot type selected", {"include": [{"snapshot_types": ["automated"]}]}, snap(PROD, "automated"), None),
    (
        "hourly manual snapshots left out",
        {"exclude": [{"snapshot_types": ["manual"]}]},
        snap(PROD, "manual"),
        "excluded by selection.exclude[0] (snapshot types manual)",
    ),
    ("AWS Backup type", {"include": [{"snapshot_types": ["awsbackup"]}]}, snap(PROD, "awsbackup"), None),
    (
        "rules are ORed",
        {"include": [{"databases": ["prod-*"]}, {"tags": [{"key": "env", "values": ["dev"]}]}]},
        snap(DEV, "manual"),
        None,
    ),
    ("database gone: no identifier", {"include": [{"databases": ["*"]}]}, snap(GONE, "manual"), None),
    ("database gone: misses a pattern", {"include": [{"databases": ["prod-*"]}]}, snap(GONE, "manual"), "matches no"),
]


@pytest.mark.parametrize(("case", "selection", "facts", "expected"), SNAPSHOT_CASES, ids=[c[0] for c in SNAPSHOT_CASES])
def test_snapshot_selection(case: str, selection: dict[str, Any], facts: DatabaseFacts, expected: str | None) -> None:
    refusal = Selection.model_validate(selection).refusal(facts)
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert expected in refusal


# whether a database must be covered by the target: some of its snapshots are selected
DATABASE_CASES: list[tuple[str, dict[str, Any], DatabaseFacts, str | None]] = [
    ("no rules", {}, DEV, None),
    ("include by type: the database is selected", {"include": [{"snapshot_types": ["automated"]}]}, DEV, None),
    ("exclude of one type leaves it selected", {"exclude": [{"snapshot_types": ["manual"]}]}, DEV, None),
    (
        "exclude of every type excludes it",
        {"exclude": [{"databases": ["dev-*"], "snapshot_types": ["manual", "automated", "awsbackup"]}]},
        DEV,
        "excluded by selection.exclude[0]",
    ),
    ("exclude by name", {"exclude": [{"databases": ["dev-*"]}]}, DEV, "excluded by selection.exclude[0]"),
    ("include by tag", {"include": [{"tags": [{"key": "env", "values": ["prod"]}]}]}, PROD, None),
    ("include by tag misses", {"include": [{"tags": [{"key": "env", "values": ["prod"]}]}]}, DEV, "matches no"),
]


@pytest.mark.parametrize(("case", "selection", "facts", "expected"), DATABASE_CASES, ids=[c[0] for c in DATABASE_CASES])
def test_database_selection(case: str, selection: dict[str, Any], facts: DatabaseFacts, expected: str | None) -> None:
    refusal = Selection.model_validate(selection).database_refusal(facts)
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert expected in refusal


# (interval, hours between this snapshot and each one of the same database already replicated, expected)
INTERVAL_CASES: list[tuple[float | None, list[float], str | None]] = [
    (None, [0.5], None),
    (24, [], None),
    (24, [1.0], "taken 1.0 h before it"),
    (24, [23.9], "taken 23.9 h before it"),
    (24, [24.0], None),  # the first snapshot after the interval wins
    (24, [25.0, 49.0], None),
    (24, [-2.0], "taken 2.0 h after it"),  # a backfill of an older snapshot after a newer one
    (1, [0.0], "taken 0.0 h before it"),
]


@pytest.mark.parametrize(("interval", "apart", "expected"), INTERVAL_CASES)
def test_min_interval(interval: float | None, apart: list[float], expected: str | None) -> None:
    selection = Selection(min_interval_hours=interval) if interval else Selection()
    refusal = interval_refusal(selection, apart)
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert expected in refusal
        assert "selection.min_interval_hours" in refusal


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"include": [{}]}, "at least one of databases, tags, engines, snapshot_types"),
    ({"include": [{"snapshot_types": ["hourly"]}]}, "selection.include.0.snapshot_types.0"),
    ({"exclude": [{"tags": [{"key": ""}]}]}, "selection.exclude.0.tags.0.key"),
    ({"min_interval_hours": 0}, "selection.min_interval_hours"),
    ({"include": [{"database": ["prod-*"]}]}, "selection.include.0.database"),
    ({"only": []}, "selection.only"),
]


@pytest.mark.parametrize(("selection", "expected"), INVALID)
def test_invalid_selection_is_refused_with_its_field(selection: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as error:
        MappingTarget.model_validate({"target_region": "us-west-2", "selection": selection})
    assert expected in describe_validation_error(error.value)


def test_rpo_hours_validated() -> None:
    assert MappingTarget(target_region="us-west-2", rpo_hours=24).rpo_hours == 24
    with pytest.raises(ValidationError, match="rpo_hours"):
        MappingTarget.model_validate({"target_region": "us-west-2", "rpo_hours": -1})


def test_needs_tags_only_when_a_rule_reads_them() -> None:
    assert not Selection.model_validate({"include": [{"databases": ["a"]}]}).needs_tags
    assert Selection.model_validate({"exclude": [{"tags": [{"key": "env"}]}]}).needs_tags


def test_describe_says_every_rule() -> None:
    selection = Selection.model_validate(
        {
            "include": [{"databases": ["prod-*"]}, {"tags": [{"key": "dr", "values": ["yes"]}]}],
            "exclude": [{"snapshot_types": ["manual"]}],
            "min_interval_hours": 24,
        }
    )
    assert selection.describe() == (
        "include (databases prod-*) or (tag dr=yes); exclude (snapshot types manual); at most one per 24 h"
    )
