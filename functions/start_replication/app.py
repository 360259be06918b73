"""Started by a snapshot-completed EventBridge event: plan, check and start one replication per mapping target."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.aws.errors import transient_errors_retried
from replicator.observability import logger, metrics, tracer
from replicator.settings import get_settings
from replicator.usecases.start import start_replications


@logger.inject_lambda_context(correlation_id_path="id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with transient_errors_retried():  # a passing AWS fault: Lambda (then EventBridge) retries the event
        records = start_replications(event, get_settings())
    return {
        "outcomes": [
            {"replication_id": r.replication_id, "status": r.status.value, "reason": r.reason} for r in records
        ]
    }
