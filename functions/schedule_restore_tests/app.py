"""Scheduled: start the restore tests that are due (each database on each target with `restore_test`, once per its
every_days), one execution of the restore-test state machine each, with its plan stored in its record first."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.observability import logger, metrics, tracer
from replicator.settings import get_settings
from replicator.usecases.restore_schedule import RestoreSchedulingIncomplete, schedule_restore_tests


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = schedule_restore_tests(get_settings())
    summary = {
        "started": sum(t.started for t in report.tests),
        "skipped": [t.model_dump(mode="json") for t in report.tests if t.status.value == "SKIPPED"],
        "not_due": report.not_due,
    }
    logger.info("restore tests scheduled", extra=summary)
    if report.problems:
        # what could be scheduled was started; the rest fails the run, so that the scheduler's alarm says it
        raise RestoreSchedulingIncomplete("; ".join(report.problems))
    return summary
