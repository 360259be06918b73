"""The reconciler's part for restore tests: nothing a test created outlives it, and no test is left without an
outcome.

- A test whose execution ended without recording its outcome (stopped by hand, failed outside its catch) is recorded
  FAILED with the execution's status (RestoreTestsFailed).
- A `snaptest-*` DB instance or cluster (tagged by its test) whose test is not running any more and which is older
  than the test's max_minutes (plus a grace) is deleted, in every account and region a mapping target tests restores
  in (RestoreTestLeftoversRemoved); in a target account, only those this account's tests made (a vault shared by
  many workload accounts).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, ValidationError

from ..aws import restores, stepfunctions
from ..aws.dynamodb import region_mappings, restore_test_records
from ..aws.sessions import RoleNotAssumable
from ..coverage import target_label
from ..mapping import parse_mapping_item
from ..observability import MetricUnit, publish_metrics
from ..restore_testing import RestoreTestRecord, RestoreTestStatus, Stage
from ..settings import Settings
from ..snapshots import SnapshotKind

GRACE = timedelta(minutes=10)  # a test just planned may not have started its execution yet
LOOK_BACK = timedelta(days=8)  # tests started this recently are checked for an outcome (the longest run is a day)


class LeftoversReport(BaseModel):
    tests_failed: list[str] = Field(default_factory=list)  # tests recorded FAILED: their execution had ended
    databases_deleted: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


def _tested_locations(settings: Settings) -> dict[tuple[str, str], tuple[str | None, float]]:
    """(account, region) -> (role, the longest max_minutes) of every mapping target that tests restores."""
    found: dict[tuple[str, str], tuple[str | None, float]] = {}
    for item in region_mappings.mapping_items(settings.mapping_table):
        try:
            mapping = parse_mapping_item(item)
        except ValidationError:
            continue  # the scheduler reports invalid mappings
        for target in mapping.targets:
            if target.restore_test is None:
                continue
            where = (target.account_id(settings.account_id), target.target_region)
            longest = max(found.get(where, (None, 0.0))[1], target.restore_test.max_minutes)
            found[where] = (target.role_arn, longest)
    return found


def _running(settings: Settings, record: RestoreTestRecord, now: datetime) -> bool:
    if record.status.final or not record.execution_name:
        return False
    status = stepfunctions.execution_status(settings.restore_test_state_machine_arn, record.execution_name)
    return status == "RUNNING" or (status is None and now - record.updated_at < GRACE)


def reconcile_restore_tests(settings: Settings, now: datetime, dry_run: bool = False) -> LeftoversReport:
    report = LeftoversReport()
    if not settings.restore_test_state_machine_arn:
        return report
    recent = restore_test_records.started_since(settings.history_table, now - LOOK_BACK)
    running: set[str] = set()
    for record in recent:
        if record.status.final:
            continue
        if _running(settings, record, now):
            running.add(record.test_id)
            continue
        status = stepfunctions.execution_status(settings.restore_test_state_machine_arn, record.execution_name or "")
        reason = (
            f"its execution ended ({status or 'never started'}) before the test recorded an outcome; "
            "the reconciler deletes what it created"
        )
        report.tests_failed.append(f"{record.test_id}: {reason}")
        if not dry_run:
            failed = record.model_copy(
                update={
                    "status": RestoreTestStatus.FAILED,
                    "reason": f"{record.reason}; {reason}" if record.reason else reason,
                    "stage": Stage.DONE,
                    "finished_at": now,
                }
            )
            if restore_test_records.put(settings.history_table, failed):
                values = [("RestoreTestsFailed", MetricUnit.Count, 1.0)]
                publish_metrics(values, target=target_label(record.target_account, record.target_region))
                publish_metrics(values)
    for (account, region), (role_arn, max_minutes) in sorted(_tested_locations(settings).items()):
        try:
            found = restores.list_left_overs(region, role_arn)
        except (ClientError, RoleNotAssumable) as error:
            report.problems.append(f"cannot list restore-test databases in account {account} {region}: {error}")
            continue
        old_enough = now - timedelta(minutes=max_minutes) - GRACE
        # a cluster's instances first: RDS deletes a cluster only once its instances are deleting
        for left in sorted(found, key=lambda d: d.kind is SnapshotKind.CLUSTER):
            if left.status == "deleting" or left.test_id in running:
                continue
            if account != settings.account_id and not _made_here(settings, left):
                continue  # a vault shared by many workload accounts: another's test is that account's to judge
            if left.created_at is not None and left.created_at > old_enough:
                continue
            report.databases_deleted.append(f"{left.identifier} in {account} {region} (test {left.test_id or '-'})")
            if dry_run:
                continue
            if left.kind is SnapshotKind.CLUSTER:
                restores.delete_cluster(region, role_arn, left.identifier)
            else:
                restores.delete_instance(region, role_arn, left.identifier)
    if report.databases_deleted and not dry_run:
        publish_metrics([("RestoreTestLeftoversRemoved", MetricUnit.Count, float(len(report.databases_deleted)))])
    return report


def _made_here(settings: Settings, left: restores.LeftOver) -> bool:
    """Whether this account's restore test made a database found in a target account: its
    replicator:source-account tag, else (one made before the tag) its test in this stack's history."""
    if left.workload:
        return left.workload == settings.account_id
    return bool(left.test_id) and restore_test_records.get(settings.history_table, left.test_id or "") is not None
