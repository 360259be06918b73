"""The plans that keep cross-region transfers incremental, end to end on the emulation: the single-step copy, its
fallback when AWS refuses it, and the lineage's base kept from one day's snapshot to the next."""

from __future__ import annotations

import threading
import time
from typing import Any

from moto.rds.models import rds_backends
from support import SOURCE_ACCOUNT, TARGET_ACCOUNT, base_scenario, mapping, vault_target

from replicator.aws.dynamodb import lineage_bases
from replicator.planning import PlanShape

MANUAL_CMK_DB = {
    "id": "ledger",
    "engine": "postgres",
    "engine_version": "16.3",
    "encrypted": True,
    "kms_key": "share-east",
}
SINGLE_STEP = mapping(vault_target(share_kms_key_arn=None))


def _ledger(**overrides: Any) -> dict[str, Any]:
    spec = {
        "databases": [MANUAL_CMK_DB],
        "snapshots": [{"id": "ledger-manual-1", "database": "ledger"}, {"id": "ledger-manual-2", "database": "ledger"}],
        "events": [{"snapshot": "ledger-manual-1"}],
        "mappings": [SINGLE_STEP],
    }
    spec.update(overrides)
    return base_scenario(**spec)


def _snapshots(account: str, region: str) -> set[str]:
    return set(rds_backends[account][region].database_snapshots)


def test_a_shareable_snapshot_is_copied_by_the_target_account_straight_into_its_region(run_scenario):
    run = run_scenario(_ledger())

    record = run.record("ledger-manual-1", "eu-west-1")
    assert record.status.value == "SUCCEEDED", record.reason
    assert record.plan.shape is PlanShape.SINGLE_STEP
    assert run.cloud.doubles.copy_clock.started == [record.replica_arn]  # one copy, no staging copy
    assert [s for s in _snapshots(TARGET_ACCOUNT, "us-east-1") if s.startswith("snaprep-")] == []
    assert run.cloud.doubles.metrics.count("SingleStepRefused") == 0
    base = lineage_bases.get(run.cloud.stack.resources["CopySlotsTable"], record.plan.base.lineage)
    assert base is not None
    assert base.snapshot_arn == record.replica_arn  # the replica is the base the next copy is incremental against


def test_when_aws_refuses_the_single_step_the_replication_stages_and_the_next_plans_stage_at_once(run_scenario):
    run = run_scenario(_ledger(refuse_single_step=True))

    first = run.record("ledger-manual-1", "eu-west-1")
    assert first.status.value == "SUCCEEDED", first.reason
    assert first.progress.fallback is True
    started = run.cloud.doubles.copy_clock.started
    assert [a.rsplit("-", 1)[1] for a in started[:1]] == ["stage"]  # the in-region staging copy, then the replica
    assert started[-1] == first.replica_arn
    assert run.cloud.doubles.metrics.count("SingleStepRefused") == 1
    assert run.result.leftovers == []  # the staging copy is gone

    # the refusal is remembered for the route: the next snapshot's plan stages from the start, without a failed try
    run.send("ledger-manual-2")
    records = {r.source_arn.split(":", 6)[-1]: r for r in run.runner.wait() if r.source_arn}
    second = records["ledger-manual-2"]
    assert second.status.value == "SUCCEEDED", second.reason
    assert second.plan.shape is PlanShape.STAGED
    assert "AWS refused a single-step copy" in second.plan.note
    assert run.cloud.doubles.metrics.count("SingleStepRefused") == 1


DAYS = ["rds:orders-2026-11-24-03-10", "rds:orders-2026-11-25-03-10"]


def _transfer_first(days: list[str], **overrides: Any) -> dict[str, Any]:
    """orders' automated snapshots of `days` (the first day's event sent), to the vault through a transfer key."""
    return base_scenario(
        keys=[*base_scenario()["keys"], {"name": "xfer-eu", "region": "eu-west-1"}],
        snapshots=[{"id": day, "database": "orders", "type": "automated"} for day in days],
        events=[{"snapshot": DAYS[0]}],
        mappings=[mapping(vault_target(share_kms_key_arn=None, transfer_kms_key_arn="{{key:xfer-eu}}"))],
        **overrides,
    )


def test_the_transfer_copy_is_kept_as_the_base_until_the_next_days_copy_is_available(run_scenario):
    spec = _transfer_first(DAYS, copy_seconds=3)
    run = run_scenario(spec)
    day1 = run.record(DAYS[0], "eu-west-1")
    assert day1.status.value == "SUCCEEDED", day1.reason
    assert day1.plan.shape is PlanShape.TRANSFER_FIRST
    base1 = day1.plan.steps[0].snapshot_arn
    assert base1.rsplit(":", 1)[1] in _snapshots(SOURCE_ACCOUNT, "eu-west-1")  # kept: the next copy's base
    assert run.result.leftovers == []  # nothing else left (the share of it is removed)
    table = run.cloud.stack.resources["CopySlotsTable"]
    assert lineage_bases.get(table, day1.plan.base.lineage).snapshot_arn == base1

    # day 2: while its transfer copy is made, day 1's base must still be there
    seen_while_copying: list[bool] = []

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not seen_while_copying:
            if any(a.endswith("-xfer") and DAYS[1].split(":")[1] in a for a in run.cloud.doubles.copy_clock.started):
                seen_while_copying.append(base1.rsplit(":", 1)[1] in _snapshots(SOURCE_ACCOUNT, "eu-west-1"))
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    run.send(DAYS[1])
    records = {r.source_arn.split(":", 6)[-1]: r for r in run.runner.wait() if r.source_arn}

    day2 = records[DAYS[1]]
    assert day2.status.value == "SUCCEEDED", day2.reason
    base2 = day2.plan.steps[0].snapshot_arn
    assert seen_while_copying == [True]  # day 1's base was there while day 2 was copied against it
    remaining = _snapshots(SOURCE_ACCOUNT, "eu-west-1")
    assert base2.rsplit(":", 1)[1] in remaining
    assert base1.rsplit(":", 1)[1] not in remaining  # once day 2's copy was available, the older base went
    assert lineage_bases.get(table, day2.plan.base.lineage).snapshot_arn == base2
    # no copy ran in the source region (automated backups there are never held up by a copy)
    assert all(":us-east-1:" not in a for a in run.cloud.doubles.copy_clock.started)


def test_the_records_say_when_a_copy_is_full_and_status_shows_the_bases(run_scenario):
    from typer.testing import CliRunner

    from replicator_cli.main import app

    spec = _transfer_first(DAYS)
    run = run_scenario(spec)
    day1 = run.record(DAYS[0], "eu-west-1")
    assert "the first copy of its lineage: a full copy" in (day1.copy_note or "")
    run.send(DAYS[1])
    day2 = {r.source_arn.split(":", 6)[-1]: r for r in run.runner.wait() if r.source_arn}[DAYS[1]]
    assert day2.status.value == "SUCCEEDED", day2.reason
    assert day2.copy_note is None  # incremental against day 1's base

    names = ["--mapping-table", run.cloud.stack.mapping_table, "--history-table", run.cloud.stack.history_table]
    names += ["--slots-table", run.cloud.stack.resources["CopySlotsTable"]]
    shown = CliRunner().invoke(app, [*names, "status"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    assert "Incremental bases (1, about 20 GB stored)" in shown.output
    assert day2.plan.steps[0].snapshot_identifier in shown.output
    assert "intermediate" in shown.output
    mapped = CliRunner().invoke(app, [*names, "mappings", "show", "us-east-1"], env={"COLUMNS": "300"})
    assert "transfer_kms_key_arn" in mapped.output
    assert "Incremental bases (1" in mapped.output


def test_a_base_no_mapping_target_uses_is_pruned_and_one_still_used_is_kept(run_scenario):
    import boto3

    from replicator.snapshots import TAG_LINEAGE_BASE

    spec = _transfer_first(DAYS[:1])
    run = run_scenario(spec)
    day1 = run.record(DAYS[0], "eu-west-1")
    assert day1.status.value == "SUCCEEDED", day1.reason
    base = day1.plan.steps[0].snapshot_arn
    rds = boto3.client("rds", region_name="eu-west-1")
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=base)["TagList"]}
    assert tags[TAG_LINEAGE_BASE].endswith(f"/eu-west-1/for/{TARGET_ACCOUNT}")  # said on the snapshot itself
    table = run.cloud.stack.resources["CopySlotsTable"]
    prune = run.cloud.stack.function("PruneReplicasFunction").name

    result, error = run.cloud.doubles.lambda_dispatcher.invoke(prune, {})
    assert error is None, result
    assert result["results"] == []  # its target still copies against it: kept
    assert base.rsplit(":", 1)[1] in _snapshots(SOURCE_ACCOUNT, "eu-west-1")

    # the vault target is removed from the mapping: nothing will copy against the base again
    boto3.resource("dynamodb").Table(run.cloud.stack.mapping_table).put_item(
        Item={"source_region": "us-east-1", "targets": [{"target_region": "us-west-2"}]}
    )
    result, error = run.cloud.doubles.lambda_dispatcher.invoke(prune, {})
    assert error is None, result
    assert [(r["replica_arn"], r["what"], r["deleted"]) for r in result["results"]] == [(base, "base", True)]
    assert "no mapping target copies from us-east-1" in result["results"][0]["reason"]
    assert base.rsplit(":", 1)[1] not in _snapshots(SOURCE_ACCOUNT, "eu-west-1")
    assert lineage_bases.get(table, day1.plan.base.lineage) is None
    assert day1.replica_arn.rsplit(":", 1)[1] in _snapshots(TARGET_ACCOUNT, "eu-west-1")  # the replica stays


def test_a_transfer_key_missing_where_its_copy_is_made_refuses_the_replication_before_any_copy(run_scenario):
    missing = f"arn:aws:kms:eu-west-1:{SOURCE_ACCOUNT}:key/00000000-1111-2222-3333-444444444444"
    spec = base_scenario(
        snapshots=[{"id": DAYS[0], "database": "orders", "type": "automated"}],
        events=[{"snapshot": DAYS[0]}],
        mappings=[mapping(vault_target(share_kms_key_arn=None, transfer_kms_key_arn=missing))],
    )
    run = run_scenario(spec)
    record = run.record(DAYS[0], "eu-west-1")
    assert record.status.value == "FAILED"
    assert f"KMS key {missing} does not exist in eu-west-1" in (record.reason or "")
    assert "transfer_kms_key_arn" in (record.reason or "")
    assert run.cloud.doubles.copy_clock.started == []
