"""The coverage bench's own logic (bench/coverage_audit.py): DynamoDB's read rule as the layer counts it, the scan's
pages, the audit's read model, the cost model, and the records it writes."""

import sys
from pathlib import Path

import pytest
from boto3.dynamodb.types import TypeSerializer
from moto.dynamodb.models.dynamo_type import DynamoType

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import coverage_audit as bench

from replicator.aws.dynamodb.replication_records import ReadUsage, _item_size
from replicator.history import ReplicationStatus


@pytest.mark.parametrize("sizes", [[10], [4096], [4097], [3000, 3000], [700] * 10, [900] * 10])
def test_read_units_are_the_layers_rule(sizes):
    usage = ReadUsage()
    items = [{"x": "a" * (size - 1)} for size in sizes]  # "x" counts one byte
    usage.add(items)
    assert [_item_size(i) for i in items] == sizes
    assert bench.read_units(sum(sizes)) == usage.read_units


def test_an_empty_page_costs_half_a_unit():
    assert bench.read_units(0) == 0.5


def test_scan_pages_end_before_the_item_that_would_pass_the_limit():
    assert bench.scan_pages([400, 400, 400], page_bytes=1000) == (2, 1.0)
    assert bench.scan_pages([4096] * 3, page_bytes=3 * 4096) == (1, 1.5)
    assert bench.scan_pages([4096] * 4, page_bytes=3 * 4096) == (2, 2.0)
    assert bench.scan_pages([]) == (1, 0.5)


def test_a_mb_scan_page_of_4_kb_items_costs_128_units():
    pages, units = bench.scan_pages([4096] * 256 * 10)
    assert (pages, units) == (10, 1280.0)


def test_the_audit_reads_pages_until_the_newest_replica():
    entries = [(600, False), (600, False), (600, True)] + [(600, True)] * 20
    assert bench.audit_reads(entries, 10) == (1, 1.0)  # 6,000 bytes: 2 units of 4 KB, half each
    assert bench.audit_reads(entries, 3) == (1, 0.5)
    assert bench.audit_reads(entries, 2) == (2, 1.0)
    assert bench.audit_reads(entries, 1) == (3, 1.5)


def test_without_a_replica_the_audit_reads_every_page():
    entries = [(600, False)] * 25
    assert bench.audit_reads(entries, 10) == (3, 2.5)  # 6,000 + 6,000 + 3,000 bytes
    assert bench.audit_reads([], 10) == (1, 0.5)


@pytest.mark.parametrize(
    ("schedule", "runs"),
    [("rate(1 hour)", 730), ("rate(2 hours)", 365), ("rate(30 minutes)", 1460), ("rate(1 day)", 730 / 24)],
)
def test_runs_a_month(schedule, runs):
    assert bench.runs_per_month(schedule) == pytest.approx(runs)


def test_cron_schedules_are_not_modelled():
    with pytest.raises(ValueError, match="cron"):
        bench.runs_per_month("cron(0 * * * ? *)")


def test_monthly_cost():
    assert bench.monthly_usd(10_000, 730) == pytest.approx(0.9125)
    assert bench.monthly_usd(1_000_000, 1, usd_per_million=0.25) == pytest.approx(0.25)


def _tree(node):
    if node.type == "M":
        return ("M", {k: _tree(v) for k, v in node.value.items()})
    if node.type == "L":
        return ("L", [_tree(v) for v in node.value])
    return (node.type, node.value)


def _world():
    regions = bench.REGIONS[:2]
    mappings = {region: bench.mapping_of(region, i) for i, region in enumerate(regions)}
    databases = bench.databases_of(regions, 40, regions[-1], 20)
    return mappings, bench.history_of(databases, mappings, 40, regions[-1], seed=1)


def test_the_bench_builds_moto_values_as_moto_does():
    mappings, pairs = _world()
    item = bench.Records(mappings).item(pairs[0], 39, 40)
    serializer = TypeSerializer()
    for name, value in item.items():
        assert _tree(bench._dynamo(value)) == _tree(DynamoType(serializer.serialize(value))), name


def test_records_of_a_pair_and_status_have_one_size_and_their_own_day():
    mappings, pairs = _world()
    records = bench.Records(mappings)
    records.entry_attributes = ["replication_id", "database_target", "source_taken_at", "status", "replica_arn"]
    for pair in pairs[:6]:
        ids = set()
        for day in range(40):
            item = records.item(pair, day, 40)
            records.sizes(pair, day, 40, item)  # raises when a record's size differs from its pair's and status's
            assert item["status"] == pair.statuses[day].value
            assert item["database_target"] == pair.key
            assert item["source_taken_at"].startswith(bench.day_of(40, day).strftime("%Y-%m-%d"))
            assert "2000-01-01" not in str(item)
            ids.add(item["replication_id"])
        assert len(ids) == 40


def test_the_history_mixes_outcomes_and_leaves_excluded_databases_out():
    _, pairs = _world()
    statuses = [s for pair in pairs for s in pair.statuses]
    assert statuses.count(ReplicationStatus.SUCCEEDED) / len(statuses) > 0.8
    assert ReplicationStatus.FAILED in statuses
    excluded = [p for p in pairs if not p.selected]
    assert excluded
    assert all(s is ReplicationStatus.SKIPPED for p in excluded for s in p.statuses)
    for pair in pairs:  # the retention never deletes a pair's newest replica
        succeeded = [d for d, s in enumerate(pair.statuses) if s is ReplicationStatus.SUCCEEDED]
        if succeeded:
            assert not pair.pruned[succeeded[-1]]
