"""A mapping change reaches the running Lambdas within MappingCacheSeconds, without a redeploy."""

import time

from support import ROOT
from typer.testing import CliRunner

from replicator.aws.dynamodb.replication_records import scan_records
from replicator_cli.local.cloud import LocalCloud
from replicator_cli.local.emulation import emulation
from replicator_cli.main import app

TTL = 6


def _target_of(cloud: LocalCloud, snapshot: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in scan_records(cloud.stack.history_table):
            if record.source_arn and record.source_arn.endswith(":" + snapshot) and record.target_region:
                return record.target_region
        time.sleep(0.1)
    raise AssertionError(f"no replication of {snapshot} started")


def test_mapping_change_takes_effect_within_the_cache_time():
    spec = {
        "name": "cache",
        "databases": [{"id": "billing", "engine": "mysql", "engine_version": "8.0.35"}],
        "snapshots": [{"id": f"billing-{n}", "database": "billing"} for n in "abc"],
        "mappings": [{"source_region": "us-east-1", "targets": [{"target_region": "us-west-2"}]}],
        "copy_seconds": 1,
    }
    with emulation(spec, run=False, root=ROOT, mapping_cache_seconds=TTL) as up:
        cloud, send = up.cloud, up.send  # send(snapshot): its completion event, now
        send("billing-a")
        assert _target_of(cloud, "billing-a") == "us-west-2"  # the Lambda has read (and cached) the mapping
        changed_at = time.monotonic()
        result = CliRunner().invoke(
            app,
            ["--stack-name", "replicator", "mappings", "put", "us-east-1", "--target-region", "us-east-2", "--replace"],
        )
        assert result.exit_code == 0, result.output

        send("billing-b")  # within the cache time: still the old mapping
        assert _target_of(cloud, "billing-b") == "us-west-2"
        assert time.monotonic() - changed_at < TTL, "too slow to observe the cached mapping"

        time.sleep(max(0.0, TTL + 0.5 - (time.monotonic() - changed_at)))
        send("billing-c")  # after the cache time: the new mapping, with no redeploy
        assert _target_of(cloud, "billing-c") == "us-east-2"
