"""Scheduled: repair what broke (slots and shares of ended executions, abandoned records, orphan copies, cleanups
and outcome events left to do)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.aws.errors import transient_errors_retried
from replicator.observability import logger, metrics, tracer
from replicator.settings import get_settings
from replicator.usecases.reconcile import ReconcileIncomplete, reconcile


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    dry_run = bool(event.get("dry_run")) if isinstance(event, dict) else False
    with transient_errors_retried():
        report = reconcile(get_settings(), dry_run=dry_run)
    logger.info("reconciled", extra={"changes": report.changes})
    if report.problems or report.cleanup_failed:
        # what could be repaired was; the rest is reported as an error, so that the function's alarm says it
        raise ReconcileIncomplete("; ".join([*report.problems, *report.cleanup_failed]))
    return report.model_dump(mode="json")
