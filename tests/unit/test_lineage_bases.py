"""Lineage names, and which recorded bases no mapping target copies against any more (the prune's rule)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from factories import source_snapshot

from replicator.aws.dynamodb.lineage_bases import BaseRecord
from replicator.mapping import RegionMapping
from replicator.planning import lineage_of, lineage_tag, parse_lineage
from replicator.snapshots import SnapshotKind
from replicator.usecases.prune import _base_unused

OWN, VAULT = "123456789012", "210987654321"
KEY = f"arn:aws:kms:eu-west-1:{OWN}:key/11111111-2222-3333-4444-555555555555"
OLD_KEY = f"arn:aws:kms:eu-west-1:{OWN}:key/99999999-2222-3333-4444-555555555555"
ROLE = f"arn:aws:iam::{VAULT}:role/rds-snapshot-replicator-target"
SOURCE = source_snapshot("rds:orders-2026-11-24-03-10", account_id=OWN, database_identifier="orders")
TRANSFER = lineage_of(SOURCE, OWN, "eu-west-1", for_account=VAULT)
REPLICA = lineage_of(SOURCE, OWN, "eu-west-1")


def test_a_lineage_name_reads_back_into_its_parts():
    parts = parse_lineage(TRANSFER)
    assert parts is not None
    assert (parts.kind, parts.source_region, parts.database) == (SnapshotKind.INSTANCE, "us-east-1", "orders")
    assert (parts.account, parts.region, parts.for_account) == (OWN, "eu-west-1", VAULT)
    assert parse_lineage(REPLICA).for_account is None
    assert parse_lineage("lineage#nonsense") is None
    assert parse_lineage("slots#instance#x") is None


def test_a_lineage_tag_value_holds_only_what_rds_allows():
    assert lineage_tag(TRANSFER) == f"instance/{OWN}/us-east-1/orders/{OWN}/eu-west-1/for/{VAULT}"


def _base(lineage: str, signature: str, intermediate: bool = True) -> BaseRecord:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    arn = f"arn:aws:rds:eu-west-1:{OWN}:snapshot:snaprep-orders-x-xfer"
    return BaseRecord(
        lineage=lineage, signature=signature, snapshot_arn=arn, replication_id="r", taken_at=now,
        intermediate=intermediate, updated_at=now,
    )  # fmt: skip


def _mappings(*targets: dict, region: str = "us-east-1") -> dict[str, RegionMapping]:
    return {region: RegionMapping.model_validate({"source_region": region, "targets": list(targets)})}


VAULT_TARGET = {
    "target_region": "eu-west-1",
    "role_arn": ROLE,
    "transfer_kms_key_arn": KEY,
    "encryption": {"enabled": True, "kms_key_arn": f"arn:aws:kms:eu-west-1:{VAULT}:key/abc"},
}


@pytest.mark.parametrize(
    ("base", "mappings", "invalid", "unused"),
    [
        (_base(TRANSFER, f"transfer-first#{KEY}"), _mappings(VAULT_TARGET), set(), None),
        (_base(TRANSFER, "transfer-first#unencrypted"), _mappings(VAULT_TARGET), set(), None),
        (_base(TRANSFER, f"transfer-first#{KEY}"), _mappings(VAULT_TARGET, region="*"), set(), None),
        (_base(TRANSFER, f"transfer-first#{OLD_KEY}"), _mappings(VAULT_TARGET), set(), "transfer_kms_key_arn changed"),
        (_base(TRANSFER, f"transfer-first#{KEY}"), _mappings({**VAULT_TARGET, "target_region": "eu-central-1",
            "transfer_kms_key_arn": None, "encryption": {"enabled": False}}), set(), "no mapping target copies"),
        (_base(TRANSFER, f"transfer-first#{KEY}"), {}, set(), "no mapping target copies"),
        (_base(TRANSFER, f"transfer-first#{KEY}"), {}, {"us-east-1"}, None),  # invalid mapping: nothing decided
        (_base(TRANSFER, f"transfer-first#{KEY}"), {}, {"*"}, None),
        (_base(REPLICA, "same-account#unencrypted", False), _mappings({"target_region": "eu-west-1"}), set(), None),
        (_base(REPLICA, "same-account#unencrypted", False), {}, set(), "no mapping target copies"),
        (_base("lineage#what", "x"), {}, set(), None),  # not a name the planner makes: left alone
    ],
)  # fmt: skip
def test_a_base_is_unused_only_when_no_mapping_target_copies_against_it(base, mappings, invalid, unused):
    reason = _base_unused(base, mappings, invalid, OWN)
    if unused is None:
        assert reason is None
    else:
        assert unused in (reason or "")
