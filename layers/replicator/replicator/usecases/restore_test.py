"""The restore-test state machine's task: carry one test a stage further (restore, wait, add the cluster's instance,
verify, clean up, record) and say how long to wait before the next stage.

The input names the test and the execution; the plan is read from the test's record (made by the scheduler only),
and the execution must be the one the record names. Whatever happens after the restore started (a failed restore, a
timeout, an error: AbortRestoreTest), the test goes through the cleanup, which deletes the databases the plan names
(`snaptest-*`) and verifies their deletion started, before the outcome is recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..aws import restores
from ..aws.dynamodb import restore_test_records
from ..clock import utc_now
from ..coverage import target_label
from ..mapping import describe_validation_error
from ..observability import MetricUnit, logger, publish_metrics
from ..restore_testing import (
    Observed,
    RestoreTestPlan,
    RestoreTestRecord,
    RestoreTestStatus,
    Stage,
    checks_done,
    choose_instance_class,
    duration_text,
    mismatches,
    restore_state,
    timed_out,
    wait_seconds,
)
from ..settings import Settings
from ..snapshots import SnapshotKind

MAX_CLEANUP_ATTEMPTS = 40  # about a day of the wait ceiling: then FAILED, and the reconciler deletes what is left
MAX_ABORTS = 3  # errors during the cleanup before the test is recorded FAILED with what could not be deleted


class RestoreTestRefused(Exception):
    """The task's input names no restore test, or an execution that does not own it: nothing was done."""


class RestoreTestInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    test_id: str
    execution_name: str
    error: dict[str, Any] | None = None  # AbortRestoreTest: the error the state machine caught


class StepResult(BaseModel):
    """The execution's next state: what the Choice and Wait states read."""

    test_id: str
    done: bool
    wait_seconds: int = 0


class _Test:
    """One invocation's view of its test: the stored record and plan, and how to save them."""

    def __init__(self, settings: Settings, record: RestoreTestRecord, plan: RestoreTestPlan) -> None:
        self.settings = settings
        self.record = record
        self.plan = plan

    def save(self, **changes: Any) -> None:
        self.record = self.record.model_copy(update=changes)
        restore_test_records.put(self.settings.history_table, self.record)

    def result(self, wait: int | None = None) -> StepResult:
        done = self.record.status.final
        return StepResult(test_id=self.record.test_id, done=done, wait_seconds=0 if done else max(0, wait or 0))

    def wait(self, now: datetime) -> int:
        """The wait before the next look: from the start of what is awaited (the restore, or the Aurora cluster's
        instance), within the test's deadline (max_minutes from the restore's start)."""
        size = self.record.expected.allocated_storage_gb if self.record.expected else None
        started = self.record.restore_started_at
        if self.record.stage is Stage.WAIT_INSTANCE and self.record.instance_started_at is not None:
            started, size = self.record.instance_started_at, None
        return wait_seconds(
            started,
            size,
            now,
            self.settings.poll_floor_seconds,
            self.settings.poll_ceiling_seconds,
            self.plan.max_minutes,
            deadline_from=self.record.restore_started_at,
        )

    def fail(self, reason: str) -> StepResult:
        """The verdict is FAILED: clean up next (at once)."""
        self.save(
            verdict=RestoreTestStatus.FAILED, reason=reason, stage=Stage.CLEANUP, status=RestoreTestStatus.CLEANING_UP
        )
        return self.result(0)


def _load(settings: Settings, payload: Any) -> tuple[RestoreTestInput, _Test]:
    try:
        task = RestoreTestInput.model_validate(payload)
    except ValidationError as error:
        raise RestoreTestRefused(f"not a restore test task input: {describe_validation_error(error)}") from error
    record = restore_test_records.get(settings.history_table, task.test_id)
    if record is None or record.plan is None:
        raise RestoreTestRefused(f"{task.test_id} is no planned restore test")
    if record.execution_name != task.execution_name:
        raise RestoreTestRefused(f"execution {task.execution_name} does not run restore test {task.test_id}")
    return task, _Test(settings, record, record.plan)


def run_restore_test(settings: Settings, payload: Any) -> StepResult:
    """Do the test's current stage; the stage after it is recorded before the result is returned."""
    _, test = _load(settings, payload)
    if test.record.status.final:
        return test.result()
    now = utc_now()
    stage = test.record.stage
    if stage is Stage.RESTORE:
        return _restore(test, now)
    if stage in (Stage.WAIT_RESTORED, Stage.WAIT_INSTANCE):
        return _wait(test, now)
    if stage is Stage.ADD_INSTANCE:
        return _add_instance(test)
    if stage is Stage.VERIFY:
        return _verify(test, now)
    return _cleanup(test, now)


def abort_restore_test(settings: Settings, payload: Any) -> StepResult:
    """The state machine caught an error in a stage: the test FAILED with it (unless its verdict was known), and
    the cleanup runs next; errors in the cleanup itself are retried MAX_ABORTS times, then recorded."""
    task, test = _load(settings, payload)
    if test.record.status.final:
        return test.result()
    error = task.error or {}
    what = f"{error.get('Error', 'error')}: {str(error.get('Cause', ''))[:400]}".strip(": ")
    stage = test.record.stage
    logger.warning("restore test stage failed", extra={"test_id": test.record.test_id, "stage": stage.value})
    if stage is Stage.CLEANUP:
        errors = [*test.record.cleanup_errors, what]
        if len(errors) >= MAX_ABORTS:
            return _finish(test, utc_now(), cleanup_errors=errors)
        test.save(cleanup_errors=errors)
        return test.result(test.settings.poll_floor_seconds)
    if test.record.verdict is not None:  # decided already: only the cleanup is left
        test.save(stage=Stage.CLEANUP, status=RestoreTestStatus.CLEANING_UP)
        return test.result(0)
    return test.fail(f"{stage.value} failed: {what}{_hint(what, test.plan)}")


def _hint(what: str, plan: RestoreTestPlan) -> str:
    """How to fix what is known to need a fix by hand."""
    if "AccessDenied" in what or "not authorized" in what:
        if plan.role_arn:
            return (
                f"; the target role {plan.role_arn} must allow restore tests: deploy target-account-role.yaml "
                "there with RestoreTests=allowed"
            )
        return "; the replicator's role must allow restoring snaptest-* databases (template.yaml, RunRestoreTestRole)"
    return ""


def _restore(test: _Test, now: datetime) -> StepResult:
    plan = test.plan
    try:
        expected = restores.replica_expectation(plan)
    except restores.ReplicaGone as gone:
        return test.fail(str(gone))
    instance_class = test.record.instance_class or plan.instance_class
    if instance_class is None:
        offered = restores.offered_instance_classes(plan, expected.engine, expected.engine_version)
        instance_class = choose_instance_class(plan.kind, expected.engine, offered)
        if instance_class is None:
            return test.fail(
                f"no small instance class is offered for {expected.engine} {expected.engine_version} in "
                f"{plan.target_region}: set restore_test.instance_class on the target"
            )
    # recorded first: a retry after the restore call finds the same class, start time and names
    test.save(
        expected=expected,
        instance_class=instance_class,
        restore_started_at=test.record.restore_started_at or now,
        status=RestoreTestStatus.RESTORING,
    )
    try:
        restores.start_restore(plan, test.record.test_id, instance_class, expected.engine, expected.engine_version)
    except restores.ReplicaGone as gone:
        return test.fail(str(gone))
    test.save(stage=Stage.WAIT_RESTORED)
    return test.result(test.wait(now))


def _observe(test: _Test, stage: Stage) -> Observed | None:
    plan = test.plan
    if plan.kind is SnapshotKind.CLUSTER and stage is Stage.WAIT_RESTORED:
        return restores.describe_cluster(plan, plan.restore_identifier)
    return restores.describe_instance(plan, plan.instance_identifier or plan.restore_identifier)


def _wait(test: _Test, now: datetime) -> StepResult:
    plan, stage = test.plan, test.record.stage
    observed = _observe(test, stage)
    identifier = observed.identifier if observed else (plan.instance_identifier or plan.restore_identifier)
    state = restore_state(observed.status if observed else None)
    if state == "available":
        if plan.kind is SnapshotKind.CLUSTER and stage is Stage.WAIT_RESTORED:
            test.save(stage=Stage.ADD_INSTANCE)
        else:
            test.save(stage=Stage.VERIFY, available_at=now)
        return test.result(0)
    if state == "failed" and observed is not None:
        return test.fail(f"the restore of {identifier} ended {observed.status}")
    if state == "gone":
        return test.fail(f"{identifier} vanished during its restore")
    if timed_out(test.record.restore_started_at, plan.max_minutes, now):
        status = observed.status if observed else "-"
        return test.fail(
            f"timed out: {identifier} still {status} after {plan.max_minutes:g} minutes (restore_test.max_minutes)"
        )
    test.save(seen_unavailable_at=now)  # the restore time's lower bound, should the next look see it available
    return test.result(test.wait(now))


def _add_instance(test: _Test) -> StepResult:
    expected = test.record.expected
    if expected is None or test.record.instance_class is None:
        return test.fail("the cluster was restored without its recorded expectation: nothing to verify against")
    restores.add_cluster_instance(test.plan, test.record.test_id, test.record.instance_class, expected.engine)
    test.save(stage=Stage.WAIT_INSTANCE, instance_started_at=test.record.instance_started_at or utc_now())
    return test.result(test.wait(utc_now()))


def _verify(test: _Test, now: datetime) -> StepResult:
    plan, record = test.plan, test.record
    expected = record.expected
    if expected is None:
        return test.fail("restored without its recorded expectation: nothing to verify against")
    if plan.kind is SnapshotKind.CLUSTER:
        cluster = restores.describe_cluster(plan, plan.restore_identifier)
        instance = restores.describe_instance(plan, plan.instance_identifier or "")
        problems = mismatches(expected, cluster, plan.kind) if cluster else [f"{plan.restore_identifier} vanished"]
        if instance is None or instance.status != "available":
            problems.append(f"its instance is {instance.status if instance else 'gone'}")
        elif instance.publicly_accessible:
            problems.append("its instance is publicly accessible (a restore test never is)")
    else:
        observed = restores.describe_instance(plan, plan.restore_identifier)
        problems = mismatches(expected, observed, plan.kind) if observed else [f"{plan.restore_identifier} vanished"]
    available_at = record.available_at or now
    started = record.restore_started_at
    seconds = (available_at - started).total_seconds() if started else None
    at_least = None
    if started and record.seen_unavailable_at and record.seen_unavailable_at < available_at:
        at_least = max(0.0, (record.seen_unavailable_at - started).total_seconds())
    timing = {"restore_seconds": seconds, "restore_seconds_at_least": at_least}
    if problems:
        reason = f"restored, but {'; '.join(problems)}; {plan.age_note}"
        test.save(verdict=RestoreTestStatus.FAILED, reason=reason, **timing)
    else:
        took = duration_text(seconds) if seconds is not None else "-"
        if at_least is not None and seconds is not None:
            took += f" (available after {duration_text(at_least)} to {duration_text(seconds)})"
        reason = f"restored and checked in {took} on {record.instance_class}; {plan.age_note}"
        test.save(
            verdict=RestoreTestStatus.SUCCEEDED,
            reason=reason,
            checks=checks_done(expected, plan.kind),
            **timing,
        )
    test.save(stage=Stage.CLEANUP, status=RestoreTestStatus.CLEANING_UP)
    return test.result(0)


def _cleanup(test: _Test, now: datetime) -> StepResult:
    """Delete the cluster's instance, then the database (a cluster can be deleted once its instances are
    deleting); done when every one of them is deleting or gone."""
    plan = test.plan
    states: dict[str, str] = {}
    if plan.instance_identifier:
        states[plan.instance_identifier] = restores.delete_instance(
            plan.target_region, plan.role_arn, plan.instance_identifier
        )
    if plan.kind is SnapshotKind.CLUSTER:
        states[plan.restore_identifier] = restores.delete_cluster(
            plan.target_region, plan.role_arn, plan.restore_identifier
        )
    else:
        states[plan.restore_identifier] = restores.delete_instance(
            plan.target_region, plan.role_arn, plan.restore_identifier
        )
    left = {name: state for name, state in states.items() if state not in ("deleting", "gone")}
    deleted = [f"{name} ({state})" for name, state in states.items() if name not in left]
    if not left:
        return _finish(test, now, deleted=deleted)
    attempts = test.record.cleanup_attempts + 1
    if attempts >= MAX_CLEANUP_ATTEMPTS:
        still = ", ".join(f"{name} {state}" for name, state in left.items())
        return _finish(test, now, deleted=deleted, cleanup_errors=[f"not deleted after {attempts} attempts: {still}"])
    test.save(cleanup_attempts=attempts, deleted=deleted)
    return test.result(test.settings.poll_floor_seconds)


def _finish(
    test: _Test, now: datetime, deleted: list[str] | None = None, cleanup_errors: list[str] | None = None
) -> StepResult:
    """Record the outcome (the verdict; FAILED when the cleanup could not finish) and publish its metrics."""
    record = test.record
    errors = cleanup_errors if cleanup_errors is not None else record.cleanup_errors
    status = record.verdict or RestoreTestStatus.FAILED
    reason = record.reason or "no verdict was reached"
    if cleanup_errors:
        status = RestoreTestStatus.FAILED
        reason = f"{reason}; cleanup failed ({'; '.join(cleanup_errors)}): the reconciler deletes snaptest-* left over"
    test.save(
        status=status,
        reason=reason,
        stage=Stage.DONE,
        finished_at=now,
        deleted=deleted if deleted is not None else record.deleted,
        cleanup_errors=errors,
    )
    _publish(test.record)
    logger.info(
        "restore test finished",
        extra={"test_id": record.test_id, "status": status.value, "restore_seconds": record.restore_seconds},
    )
    return test.result()


def _publish(record: RestoreTestRecord) -> None:
    """RestoreTestsSucceeded / RestoreTestsFailed, and RestoreSeconds of a test that succeeded: per target, and in
    total (the alarm's)."""
    succeeded = record.status is RestoreTestStatus.SUCCEEDED
    values: list[tuple[str, MetricUnit, float]] = [
        ("RestoreTestsSucceeded", MetricUnit.Count, 1) if succeeded else ("RestoreTestsFailed", MetricUnit.Count, 1)
    ]
    if succeeded and record.restore_seconds is not None:
        values.append(("RestoreSeconds", MetricUnit.Seconds, record.restore_seconds))
    publish_metrics(values, target=target_label(record.target_account, record.target_region))
    publish_metrics(values)
