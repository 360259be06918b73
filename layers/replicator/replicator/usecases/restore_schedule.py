"""The restore-test scheduler: which (database, target) pairs are due a test, their plans, their records and their
executions. Runs daily (RestoreTestSchedule) and from `replicator restore-test run`.

The plan of each test (the replica, the target, the names it creates) is made here only and stored with the test's
record before its execution starts; the execution's task reads it by test id. Nothing is restored here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field, ValidationError

from ..aws import regions, stepfunctions
from ..aws.dynamodb import region_mappings, restore_test_records
from ..clock import utc_now
from ..coverage import target_label
from ..mapping import ALL_REGIONS, MappingTarget, RegionMapping, describe_validation_error
from ..observability import logger
from ..restore_testing import (
    Candidate,
    RestoreTest,
    RestoreTestRecord,
    RestoreTestStatus,
    is_due,
    plan_test,
)
from ..settings import Settings
from .coverage import audit_coverage, mapped_regions


class RestoreSchedulingIncomplete(Exception):
    """Some mapping or region could not be read (the report says which): the scheduler's run fails, its alarm fires."""


class ScheduledTest(BaseModel):
    """A test the scheduler planned (or, with dry_run, would plan): started, or SKIPPED with the reason."""

    test_id: str
    source_region: str
    database: str
    target: str
    status: RestoreTestStatus
    reason: str = ""
    replica_arn: str | None = None
    replica_age_hours: float | None = None
    started: bool = False  # its execution was started now (False: dry run, SKIPPED, or started before)


class ScheduleReport(BaseModel):
    tests: list[ScheduledTest] = Field(default_factory=list)
    not_due: int = 0  # (database, target) pairs tested within their every_days
    problems: list[str] = Field(default_factory=list)


def _tested_targets(
    mapping_table: str, own_account: str
) -> tuple[dict[tuple[str, str, str], MappingTarget], list[str]]:
    """(source region, target account, target region) -> the mapping target, for targets with restore tests."""
    problems: list[str] = []
    mappings: dict[str, RegionMapping] = {}
    for item in region_mappings.mapping_items(mapping_table):
        try:
            mapping = RegionMapping.model_validate(item)
        except ValidationError as error:
            problems.append(f"mapping {item.get('source_region')} is invalid: {describe_validation_error(error)}")
            continue
        if any(t.restore_test for t in mapping.targets):
            mappings[mapping.source_region] = mapping
    every_region = regions.enabled_regions() if ALL_REGIONS in mappings else None
    found: dict[tuple[str, str, str], MappingTarget] = {}
    for region, mapping in mapped_regions(mappings, every_region).items():
        for target in mapping.targets:
            if target.restore_test:
                found[(region, target.account_id(own_account), target.target_region)] = target
    return found, problems


def schedule_restore_tests(
    settings: Settings,
    *,
    source_regions: list[str] | None = None,
    targets: list[str] | None = None,
    databases: list[str] | None = None,
    on_demand: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ScheduleReport:
    """Plan, record and start the due restore tests (on demand: every test the filters name, due or not)."""
    now = now or utc_now()
    report = ScheduleReport()
    tested, report.problems = _tested_targets(settings.mapping_table, settings.account_id)
    if not tested:
        return report
    wanted_regions = sorted({region for region, _, _ in tested})
    if source_regions:
        wanted_regions = [r for r in wanted_regions if r in source_regions]
    coverage = audit_coverage(
        settings.mapping_table, settings.history_table, settings.account_id, wanted_regions, targets, now
    )
    report.problems += coverage.problems
    longest = max(t.restore_test.every_days for t in tested.values() if t.restore_test)
    last: dict[tuple[str, str, str, str], datetime] = {}
    for record in restore_test_records.started_since(settings.history_table, now - timedelta(days=longest)):
        last[record.key] = max(last.get(record.key, record.started_at), record.started_at)
    for row in coverage.rows:
        target = tested.get((row.source_region, row.target_account, row.target_region))
        config = target.restore_test if target else None
        if target is None or config is None or not row.selected or not config.tests(row.database):
            continue
        if databases and row.database not in databases:
            continue
        candidate = Candidate(
            source_region=row.source_region,
            database=row.database,
            kind=row.kind,
            target_account=row.target_account,
            target_region=row.target_region,
            replica_arn=row.newest_replica_arn,
            replica_taken_at=row.newest_replica_taken_at,
            rpo_hours=row.rpo_hours,
        )
        if not on_demand and not is_due(last.get(candidate.key), config.every_days, now):
            report.not_due += 1
            continue
        report.tests.append(_schedule(settings, candidate, config, target, now, on_demand, dry_run))
    return report


def _schedule(
    settings: Settings,
    candidate: Candidate,
    config: RestoreTest,
    target: MappingTarget,
    now: datetime,
    on_demand: bool,
    dry_run: bool,
) -> ScheduledTest:
    test_id, plan, why_not = plan_test(candidate, config, settings.account_id, target.role_arn, now, on_demand)
    label = target_label(candidate.target_account, candidate.target_region)
    scheduled = ScheduledTest(
        test_id=test_id,
        source_region=candidate.source_region,
        database=candidate.database,
        target=label,
        status=RestoreTestStatus.SKIPPED if plan is None else RestoreTestStatus.PENDING,
        reason=why_not or (plan.age_note if plan else ""),
        replica_arn=candidate.replica_arn,
        replica_age_hours=None if plan is None else round(plan.replica_age_seconds / 3600, 1),
    )
    if dry_run:
        return scheduled
    record = RestoreTestRecord(
        test_id=test_id,
        status=scheduled.status,
        reason=scheduled.reason,
        plan=plan,
        execution_name=None if plan is None else test_id,
        source_region=candidate.source_region,
        database=candidate.database,
        target_account=candidate.target_account,
        target_region=candidate.target_region,
        started_at=now,
        finished_at=now if plan is None else None,
    )
    existing = restore_test_records.create(settings.history_table, record)
    if plan is None:
        return scheduled
    if existing is not None and existing.status is not RestoreTestStatus.PENDING:
        return scheduled.model_copy(update={"status": existing.status, "reason": existing.reason or "planned before"})
    scheduled.started = _start_execution(settings, test_id)
    logger.info("restore test planned", extra={"test_id": test_id, "target": label, "database": candidate.database})
    return scheduled


def _start_execution(settings: Settings, test_id: str) -> bool:
    """Start the test's execution (named by the test: a repeated schedule starts nothing twice)."""
    return stepfunctions.start_execution(settings.restore_test_state_machine_arn, test_id, {"test_id": test_id})
