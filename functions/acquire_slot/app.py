"""State machine task (waitForTaskToken): take a copy slot for the next copy, or wait in the pool's queue."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.execution import ReplicationState
from replicator.observability import logger, metrics, tracer
from replicator.service import acquire_slot
from replicator.settings import get_settings


@logger.inject_lambda_context(correlation_id_path="state.event_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = ReplicationState.model_validate(event["state"])
    acquired = acquire_slot(state, event["task_token"], get_settings())
    return {"acquired": acquired}
