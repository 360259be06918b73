"""Scheduled: delete the replicas outside their mapping target's retention, record each deletion in the history."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.observability import logger, metrics, tracer
from replicator.settings import get_settings
from replicator.usecases.prune import PruneIncomplete, prune_replicas


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    dry_run = bool(event.get("dry_run")) if isinstance(event, dict) else False
    report = prune_replicas(get_settings(), dry_run=dry_run)
    logger.info("prune finished", extra={"deleted": report.deleted, "listed": len(report.results)})
    failed = [f"{r.replica_arn}: {r.error}" for r in report.results if r.error]
    if report.problems or failed:
        # what could be pruned was; the rest is reported as an error, so that the function's alarm says it
        raise PruneIncomplete("; ".join([*report.problems, *failed]))
    return report.model_dump(mode="json")
