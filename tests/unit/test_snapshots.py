"""Snapshot ARNs, identifiers and the facts a source snapshot carries."""

from __future__ import annotations

import re

import pytest
from factories import source_snapshot

from replicator.snapshots import (
    REPLICA_PREFIX,
    TAG_MANAGED_BY,
    TAG_REPLICATION_ID,
    TAG_SOURCE_ARN,
    SnapshotKind,
    SourceSnapshot,
    parse_snapshot_arn,
    replica_identifier,
    replication_id,
    sanitize_identifier,
    short_hash,
    snapshot_arn,
)

ACCOUNT = "123456789012"
INSTANCE, CLUSTER = SnapshotKind.INSTANCE, SnapshotKind.CLUSTER


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        pytest.param(
            f"arn:aws:rds:us-east-1:{ACCOUNT}:snapshot:ledger-final-2026-11-24",
            (INSTANCE, "us-east-1", ACCOUNT, "ledger-final-2026-11-24"),
            id="instance-manual",
        ),
        pytest.param(
            f"arn:aws:rds:us-east-1:{ACCOUNT}:snapshot:rds:orders-2026-11-24-03-10",
            (INSTANCE, "us-east-1", ACCOUNT, "rds:orders-2026-11-24-03-10"),
            id="instance-automated-keeps-rds-prefix",
        ),
        pytest.param(
            f"arn:aws:rds:us-east-1:{ACCOUNT}:snapshot:awsbackup:job-4a9d2c7e-61b3-8f05-e2d4-9c1b7a3f5e60",
            (INSTANCE, "us-east-1", ACCOUNT, "awsbackup:job-4a9d2c7e-61b3-8f05-e2d4-9c1b7a3f5e60"),
            id="instance-awsbackup",
        ),
        pytest.param(
            f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster-snapshot:inventory-2026-11-24-pre-release",
            (CLUSTER, "us-east-1", ACCOUNT, "inventory-2026-11-24-pre-release"),
            id="cluster-manual",
        ),
        pytest.param(
            f"arn:aws:rds:eu-west-1:{ACCOUNT}:cluster-snapshot:rds:reports-2026-11-24-04-00",
            (CLUSTER, "eu-west-1", ACCOUNT, "rds:reports-2026-11-24-04-00"),
            id="cluster-automated",
        ),
        pytest.param(
            f"arn:aws-us-gov:rds:us-gov-west-1:{ACCOUNT}:snapshot:ledger",
            (INSTANCE, "us-gov-west-1", ACCOUNT, "ledger"),
            id="govcloud-partition",
        ),
        pytest.param(
            f"arn:aws-cn:rds:cn-north-1:{ACCOUNT}:cluster-snapshot:reports",
            (CLUSTER, "cn-north-1", ACCOUNT, "reports"),
            id="china-partition",
        ),
    ],
)
def test_parse_snapshot_arn(arn: str, expected: tuple) -> None:
    assert parse_snapshot_arn(arn) == expected


@pytest.mark.parametrize(
    "arn",
    [
        pytest.param(f"arn:aws:rds:us-east-1:{ACCOUNT}:db:billing", id="db-instance-arn"),
        pytest.param(f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:reports", id="db-cluster-arn"),
        pytest.param(f"arn:aws:ec2:us-east-1:{ACCOUNT}:snapshot/snap-0123456789abcdef0", id="ebs-snapshot-arn"),
        pytest.param(f"arn:aws:rds:us-east-1:{ACCOUNT}:snapshot:", id="no-identifier"),
        pytest.param("arn:aws:rds:us-east-1:12345678901:snapshot:ledger", id="eleven-digit-account"),
        pytest.param(f"arn:aws:rds::{ACCOUNT}:snapshot:ledger", id="no-region"),
        pytest.param(f"arn:azure:rds:us-east-1:{ACCOUNT}:snapshot:ledger", id="unknown-partition"),
        pytest.param(f"ARN:AWS:RDS:US-EAST-1:{ACCOUNT}:SNAPSHOT:LEDGER", id="upper-case"),
        pytest.param(f"arn:aws:rds:us-east-1:{ACCOUNT}:dbsnapshot:ledger", id="wrong-resource-type"),
        pytest.param("rds:orders-2026-11-24-03-10", id="identifier-only"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_snapshot_arn_rejects(arn: str) -> None:
    with pytest.raises(ValueError, match="is not an RDS snapshot or cluster snapshot ARN") as caught:
        parse_snapshot_arn(arn)

    assert f"'{arn}'" in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "region", "identifier", "expected"),
    [
        pytest.param(INSTANCE, "eu-west-1", "snaprep-x-1", f"arn:aws:rds:eu-west-1:{ACCOUNT}:snapshot:snaprep-x-1"),
        pytest.param(CLUSTER, "us-east-1", "rds:y", f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster-snapshot:rds:y"),
    ],
    ids=["instance", "cluster"],
)
def test_snapshot_arn_round_trips(kind: SnapshotKind, region: str, identifier: str, expected: str) -> None:
    arn = snapshot_arn(kind, region, ACCOUNT, identifier)

    assert arn == expected
    assert parse_snapshot_arn(arn) == (kind, region, ACCOUNT, identifier)


@pytest.mark.parametrize(
    ("kind", "max_length", "resource"),
    [
        pytest.param(INSTANCE, 255, "snapshot", id="instance"),
        pytest.param(CLUSTER, 63, "cluster-snapshot", id="cluster"),
    ],
)
def test_snapshot_kind_properties(kind: SnapshotKind, max_length: int, resource: str) -> None:
    assert kind.max_identifier_length == max_length
    assert kind.arn_resource == resource


SANITIZE = [
    pytest.param("rds:orders-2026-11-24-03-10", "orders-2026-11-24-03-10", id="rds-prefix-dropped"),
    pytest.param("awsbackup:job-4A9D2C7E-61B3", "job-4a9d2c7e-61b3", id="awsbackup-prefix-dropped-lowercased"),
    pytest.param("ledger-final-2026-11-24", "ledger-final-2026-11-24", id="already-clean"),
    pytest.param("Ledger_Final.2026", "ledger-final-2026", id="underscore-dot-upper"),
    pytest.param("a--b", "a-b", id="double-hyphen-collapsed"),
    pytest.param("a - b / c", "a-b-c", id="runs-of-other-characters"),
    pytest.param("--edge--", "edge", id="edge-hyphens-stripped"),
    pytest.param("shared:rds:x", "shared-rds-x", id="prefix-only-at-the-start"),
    pytest.param("rds:awsbackup:x", "awsbackup-x", id="only-one-prefix-dropped"),
    pytest.param("RDS:Orders", "rds-orders", id="upper-case-prefix-not-dropped"),
    pytest.param("café-db", "caf-db", id="non-ascii-dropped"),
    pytest.param("rds:", "snapshot", id="prefix-only-falls-back"),
    pytest.param("!!!", "snapshot", id="nothing-usable-falls-back"),
    pytest.param("", "snapshot", id="empty-falls-back"),
]


@pytest.mark.parametrize(("text", "expected"), SANITIZE)
def test_sanitize_identifier(text: str, expected: str) -> None:
    result = sanitize_identifier(text)

    assert result == expected
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", result)
    assert sanitize_identifier(result) == result  # idempotent


def _source(identifier: str, snapshot_type: str = "manual", **changes) -> SourceSnapshot:
    return source_snapshot(identifier, snapshot_type, account_id=ACCOUNT, **{"encrypted": False, **changes})


@pytest.mark.parametrize(
    ("identifier", "tags", "expected"),
    [
        pytest.param("snaprep-orders-1a2b3c4d", {}, True, id="replica-prefix"),
        pytest.param("snaprep-orders-1a2b3c4d-stage", {}, True, id="staging-copy"),
        pytest.param("ledger-final", {TAG_SOURCE_ARN: "arn:aws:rds:..."}, True, id="source-arn-tag"),
        pytest.param("rds:orders-2026-11-24-03-10", {TAG_SOURCE_ARN: "x", "team": "a"}, True, id="automated-with-tag"),
        pytest.param("ledger-final", {}, False, id="plain-manual"),
        pytest.param("rds:orders-2026-11-24-03-10", {"team": "payments"}, False, id="automated-other-tags"),
        pytest.param("rds:snaprep-orders", {}, False, id="automated-snapshot-of-a-snaprep-db"),
        pytest.param("snapreplica-orders", {}, False, id="similar-prefix"),
        pytest.param("ledger-final", {TAG_REPLICATION_ID: "x", TAG_MANAGED_BY: "y"}, False, id="other-replicator-tags"),
    ],
)
def test_is_replica(identifier: str, tags: dict[str, str], expected: bool) -> None:
    assert _source(identifier, tags=tags).is_replica is expected


@pytest.mark.parametrize(
    ("snapshot_type", "encrypted", "aws_managed", "expected"),
    [
        pytest.param("manual", False, False, True, id="manual-unencrypted"),
        pytest.param("manual", True, False, True, id="manual-customer-key"),
        pytest.param("manual", True, True, False, id="manual-aws-rds-key"),
        pytest.param("manual", False, True, True, id="manual-unencrypted-flag-irrelevant"),
        pytest.param("automated", False, False, False, id="automated-unencrypted"),
        pytest.param("automated", True, False, False, id="automated-customer-key"),
        pytest.param("awsbackup", True, False, False, id="awsbackup"),
        pytest.param("shared", True, False, False, id="shared-with-this-account"),
    ],
)
def test_shareable_as_is(snapshot_type: str, encrypted: bool, aws_managed: bool, expected: bool) -> None:
    source = _source("x", snapshot_type, encrypted=encrypted, kms_key_aws_managed=aws_managed)

    assert source.shareable_as_is is expected


def test_source_snapshot_defaults_and_is_frozen() -> None:
    source = _source("ledger")

    assert source.tags == {}
    assert source.kms_key_id is None
    assert source.kms_key_aws_managed is False
    with pytest.raises(ValueError, match="frozen"):
        source.status = "deleting"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("parts", "length"),
    [
        pytest.param(("a",), 8, id="default-length"),
        pytest.param(("a", "b"), 12, id="length-12"),
    ],
)
def test_short_hash(parts: tuple[str, ...], length: int) -> None:
    digest = short_hash(*parts, length=length)

    assert re.fullmatch(rf"[0-9a-f]{{{length}}}", digest)
    assert digest == short_hash(*parts, length=length)
    assert digest != short_hash(*parts, "c", length=length)


@pytest.mark.parametrize(
    ("identifier", "kind", "suffix", "expected"),
    [
        pytest.param("rds:orders-1", INSTANCE, "", r"snaprep-orders-1-[0-9a-f]{8}", id="instance"),
        pytest.param("rds:orders-1", INSTANCE, "share", r"snaprep-orders-1-[0-9a-f]{8}-share", id="share-suffix"),
        pytest.param("rds:reports-1", CLUSTER, "stage", r"snaprep-reports-1-[0-9a-f]{8}-stage", id="cluster-stage"),
        pytest.param("a" * 100, CLUSTER, "stage", r"snaprep-a{40}-[0-9a-f]{8}-stage", id="cluster-truncated"),
        pytest.param("b" * 300, INSTANCE, "", r"snaprep-b{238}-[0-9a-f]{8}", id="instance-truncated"),
    ],
)
def test_replica_identifier(identifier: str, kind: SnapshotKind, suffix: str, expected: str) -> None:
    source = _source(identifier, kind=kind, arn=snapshot_arn(kind, "us-east-1", ACCOUNT, identifier))
    name = replica_identifier(source, "210987654321", "eu-west-1", suffix)

    assert re.fullmatch(expected, name)
    assert name.startswith(REPLICA_PREFIX)
    assert len(name) <= kind.max_identifier_length
    assert name != replica_identifier(source, "210987654321", "eu-central-1", suffix)
    assert name != replica_identifier(source, "345678901234", "eu-west-1", suffix)


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        pytest.param(
            f"arn:aws:rds:us-east-1:{ACCOUNT}:snapshot:rds:orders-2026-11-24-03-10",
            r"orders-2026-11-24-03-10-eu-west-1-[0-9a-f]{12}",
            id="automated",
        ),
        pytest.param(
            f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster-snapshot:" + "x" * 47 + "-yyyy",
            r"x{47}-eu-west-1-[0-9a-f]{12}",
            id="truncated-at-48-without-trailing-hyphen",
        ),
    ],
)
def test_replication_id(arn: str, expected: str) -> None:
    rid = replication_id(arn, "210987654321", "eu-west-1")

    assert re.fullmatch(expected, rid)
    assert len(rid) <= 80
    assert rid == replication_id(arn, "210987654321", "eu-west-1")
    assert rid != replication_id(arn, "345678901234", "eu-west-1")


def test_replication_id_rejects_a_non_snapshot_arn() -> None:
    with pytest.raises(ValueError, match="not an RDS snapshot"):
        replication_id(f"arn:aws:rds:us-east-1:{ACCOUNT}:db:billing", "210987654321", "eu-west-1")
