"""The copy-cost targets, checked on the 30-day ledger's model of AWS's copy rules (bench/copy_ledger.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import copy_ledger

from replicator.planning import plan_replication
from replicator.snapshots import SnapshotKind

TARGETED = [shape for shape in copy_ledger.SHAPES if shape.targeted]
UNSHAREABLE = [s for s in TARGETED if s.target.role_arn and (s.snapshot_type != "manual" or s.aws_key)]


def test_the_targets_cover_every_db_shape():
    assert {shape.kind for shape in TARGETED} == {SnapshotKind.INSTANCE}
    assert {shape.snapshot_type for shape in UNSHAREABLE} == {"automated", "awsbackup", "manual"}


@pytest.mark.parametrize("reading", ["strict", "current"])
@pytest.mark.parametrize("shape", TARGETED, ids=[shape.name for shape in TARGETED])
def test_every_db_plan_moves_only_what_changed_from_day_2(shape, reading):
    ledger = copy_ledger.replay(plan_replication, shape, 30, 1000, 0.02, reading, new=True)
    assert copy_ledger.misses(shape, reading, ledger, 0.02, 1000) == []
    assert ledger.moved[0] == 1000  # the first copy of a lineage is full
    assert max(ledger.source_region_gb) == 0  # no copy in the source region holds up its automated backups


@pytest.mark.parametrize("shape", UNSHAREABLE, ids=[shape.name for shape in UNSHAREABLE])
def test_an_unshareable_source_keeps_one_transfer_base_beside_the_replicas(shape):
    ledger = copy_ledger.replay(plan_replication, shape, 30, 1000, 0.02, "current", new=True)
    # 7 days of incremental replicas (one full, six changes) plus the base in the source account's target region
    assert ledger.stored_gb == pytest.approx(1000 + 6 * 20 + 1000)


@pytest.mark.parametrize("name", ["single step refused", "no transfer_kms_key_arn"])
def test_the_degraded_paths_transfer_everything_under_the_strict_reading(name):
    shape = next(shape for shape in copy_ledger.SHAPES if name in shape.name)
    ledger = copy_ledger.replay(plan_replication, shape, 30, 1000, 0.02, "strict", new=True)
    assert ledger.moved[1:] == [1000] * 29
    assert copy_ledger.misses(shape, "strict", ledger, 0.02, 1000)


def test_a_plan_that_transfers_everything_every_day_misses_the_targets():
    shape = TARGETED[1]
    full_every_day = copy_ledger.Ledger(
        serial=[3, 3], moved=[1000, 1000], time=[3.0, 3.0], in_region_time=[2.0, 2.0], source_region_gb=[0, 0]
    )
    found = copy_ledger.misses(shape, "strict", full_every_day, 0.02, 1000)
    assert len(found) == 3
