"""State machine task: clean up intermediate copies and shares, record the outcome and publish it."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.execution import ReplicationState
from replicator.observability import logger, metrics, tracer
from replicator.service import finish_replication
from replicator.settings import get_settings


@logger.inject_lambda_context(correlation_id_path="event_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = ReplicationState.model_validate(event)
    record = finish_replication(state, get_settings())
    return record.model_dump(mode="json", exclude_none=True)
