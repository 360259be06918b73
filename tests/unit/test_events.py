"""The EventBridge events that start a replication: which are parsed, handled, skipped or rejected."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import parse
from pydantic import ValidationError

from replicator.events import BackupJobEvent, RdsSnapshotEvent, ReplicationRequestEvent, SnapshotEvent
from replicator.snapshots import SnapshotKind, parse_snapshot_arn

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


def parse_event(event: dict[str, Any]) -> RdsSnapshotEvent | BackupJobEvent:
    return parse(event=event, model=SnapshotEvent)  # type: ignore[call-overload]


Mutation = Callable[[dict[str, Any]], None]


def setting(path: str, value: Any) -> Mutation:
    """A change to an event: set the value at a dotted path (e.g. "detail.EventID")."""

    def apply(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = event
        for key in parents:
            node = node[key]
        node[last] = value

    return apply


def removing(path: str) -> Mutation:
    def apply(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = event
        for key in parents:
            node = node[key]
        del node[last]

    return apply


def variant(name: str, *mutations: Mutation) -> dict[str, Any]:
    event = copy.deepcopy(load(name))
    for mutate in mutations:
        mutate(event)
    return event


SAMPLE_EVENTS = [
    pytest.param(
        "backup-job-completed.json",
        BackupJobEvent,
        "arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-4a9d2c7e-61b3-8f05-e2d4-9c1b7a3f5e60",
        SnapshotKind.INSTANCE,
        id="backup-job-completed",
    ),
    pytest.param(
        "rds-cluster-snapshot-automated.json",
        RdsSnapshotEvent,
        "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:rds:reports-2026-11-24-04-00",
        SnapshotKind.CLUSTER,
        id="rds-cluster-snapshot-automated",
    ),
    pytest.param(
        "rds-cluster-snapshot-manual.json",
        RdsSnapshotEvent,
        "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:inventory-2026-11-24-pre-release",
        SnapshotKind.CLUSTER,
        id="rds-cluster-snapshot-manual",
    ),
    pytest.param(
        "rds-db-snapshot-automated.json",
        RdsSnapshotEvent,
        "arn:aws:rds:us-east-1:123456789012:snapshot:rds:orders-2026-11-24-03-10",
        SnapshotKind.INSTANCE,
        id="rds-db-snapshot-automated",
    ),
    pytest.param(
        "rds-db-snapshot-manual.json",
        RdsSnapshotEvent,
        "arn:aws:rds:us-east-1:123456789012:snapshot:ledger-final-2026-11-24",
        SnapshotKind.INSTANCE,
        id="rds-db-snapshot-manual",
    ),
    pytest.param(
        "replication-requested.json",
        ReplicationRequestEvent,
        "arn:aws:rds:us-east-1:123456789012:snapshot:ledger-final-2026-11-20",
        SnapshotKind.INSTANCE,
        id="replication-requested-by-backfill",
    ),
]


def test_every_sample_event_is_in_the_table() -> None:
    # events/ also holds other JSON (env.json for `sam local invoke`, the prune function's scheduled event): only
    # events that start a replication are samples here
    events = [
        p.name
        for p in EVENTS_DIR.glob("*.json")
        if "detail-type" in json.loads(p.read_text()) and json.loads(p.read_text())["source"] != "aws.events"
    ]

    assert sorted(events) == sorted(p.values[0] for p in SAMPLE_EVENTS)


@pytest.mark.parametrize(("name", "model", "arn", "kind"), SAMPLE_EVENTS)
def test_sample_event_is_handled(name: str, model: type, arn: str, kind: SnapshotKind) -> None:
    raw = load(name)
    event = parse_event(raw)

    assert type(event) is model
    assert event.snapshot_arn() == arn
    assert event.not_handled_reason() is None
    assert event.id == raw["id"]
    assert event.account == "123456789012"
    assert event.region == "us-east-1"
    assert parse_snapshot_arn(event.snapshot_arn()) == (kind, "us-east-1", "123456789012", arn.split(":", 6)[6])


NOT_HANDLED = {
    # RDS events of a snapshot that are not its completion
    **{
        f"rds-event-{n}": (
            variant(sample, setting("detail.EventID", f"RDS-EVENT-{n}")),
            [f"RDS-EVENT-{n}", "not a snapshot-completed event"],
        )
        for n, sample in [
            ("0040", "rds-db-snapshot-manual.json"),
            ("0041", "rds-db-snapshot-manual.json"),
            ("0059", "rds-db-snapshot-automated.json"),
        ]
    },
    "cluster-snapshot-creation-started": (
        variant("rds-cluster-snapshot-manual.json", setting("detail.EventID", "RDS-EVENT-0074")),
        ["RDS-EVENT-0074"],
    ),
    **{
        f"backup-{state.lower()}": (
            variant("backup-job-completed.json", setting("detail.state", state)),
            [f"backup job state {state} is not COMPLETED"],
        )
        for state in ["FAILED", "RUNNING"]
    },
    "backup-of-ebs": (
        variant("backup-job-completed.json", setting("detail.resourceType", "EBS")),
        ["resource type EBS is not an RDS or Aurora snapshot"],
    ),
    "backup-state-checked-before-type": (
        variant("backup-job-completed.json", setting("detail.resourceType", "EBS"), setting("detail.state", "ABORTED")),
        ["state ABORTED"],
    ),
}


@pytest.mark.parametrize(("raw", "fragments"), NOT_HANDLED.values(), ids=list(NOT_HANDLED))
def test_event_not_handled(raw: dict[str, Any], fragments: list[str]) -> None:
    reason = parse_event(raw).not_handled_reason()

    assert reason is not None
    for fragment in fragments:
        assert fragment in reason


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            variant("backup-job-completed.json", setting("detail.resourceType", "Aurora")), id="aurora-backup"
        ),
        *[
            pytest.param(variant("rds-db-snapshot-manual.json", setting("detail.EventID", event_id)), id=event_id)
            for event_id in ["RDS-EVENT-0042", "RDS-EVENT-0091", "RDS-EVENT-0075", "RDS-EVENT-0169"]
        ],
    ],
)
def test_snapshot_completed_variants_are_handled(raw: dict[str, Any]) -> None:
    assert parse_event(raw).not_handled_reason() is None


INVALID = [
    pytest.param(variant("rds-db-snapshot-manual.json", removing("detail.SourceArn")), id="missing-source-arn"),
    pytest.param(variant("rds-db-snapshot-manual.json", removing("detail.EventID")), id="missing-event-id"),
    pytest.param(variant("rds-db-snapshot-manual.json", setting("source", "aws.ec2")), id="unknown-source"),
    pytest.param(variant("rds-db-snapshot-manual.json", removing("source")), id="missing-source"),
    pytest.param(
        variant("rds-db-snapshot-manual.json", setting("detail-type", "RDS DB Instance Event")),
        id="rds-instance-event",
    ),
    pytest.param(
        variant("rds-db-snapshot-manual.json", setting("detail-type", "Backup Job State Change")),
        id="rds-source-with-backup-detail-type",
    ),
    pytest.param(
        variant("backup-job-completed.json", setting("source", "aws.rds")), id="backup-detail-with-rds-source"
    ),
    pytest.param(variant("backup-job-completed.json", removing("detail.backupJobId")), id="backup-missing-job-id"),
    pytest.param(variant("backup-job-completed.json", removing("detail.state")), id="backup-missing-state"),
    pytest.param(variant("backup-job-completed.json", removing("resources")), id="backup-missing-resources"),
    pytest.param(variant("rds-db-snapshot-manual.json", setting("detail", "created")), id="detail-not-an-object"),
]


@pytest.mark.parametrize("raw", INVALID)
def test_malformed_event_is_rejected(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_event(raw)


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        pytest.param(
            [
                "arn:aws:rds:us-east-1:123456789012:db:billing",
                "arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-1",
            ],
            "arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-1",
            id="snapshot-after-another-arn",
        ),
        pytest.param(
            ["arn:aws:rds:us-east-1:123456789012:cluster-snapshot:awsbackup:job-2"],
            "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:awsbackup:job-2",
            id="aurora-recovery-point",
        ),
        pytest.param(
            [
                "arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-1",
                "arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-2",
            ],
            "arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-1",
            id="first-snapshot-wins",
        ),
    ],
)
def test_backup_event_snapshot_arn_is_the_recovery_point(resources: list[str], expected: str) -> None:
    event = parse_event(variant("backup-job-completed.json", setting("resources", resources)))

    assert event.snapshot_arn() == expected


@pytest.mark.parametrize(
    "resources",
    [
        pytest.param([], id="no-resources"),
        pytest.param(["arn:aws:rds:us-east-1:123456789012:db:billing"], id="only-the-database"),
        pytest.param(["arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0"], id="ec2-image"),
    ],
)
def test_backup_event_without_a_snapshot(resources: list[str]) -> None:
    event = parse_event(variant("backup-job-completed.json", setting("resources", resources)))

    with pytest.raises(ValueError, match="backup job 4A9D2C7E-61B3-8F05-E2D4-9C1B7A3F5E60 names no RDS snapshot"):
        event.snapshot_arn()


def test_a_request_for_another_accounts_snapshot_is_refused() -> None:
    raw = variant(
        "replication-requested.json",
        setting("detail.SourceArn", "arn:aws:rds:us-east-1:999999999999:snapshot:someone-elses"),
    )
    event = parse_event(raw)
    with pytest.raises(ValueError, match="only snapshots of this account"):
        event.snapshot_arn()
