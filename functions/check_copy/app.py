"""State machine task: check the copy in progress, in its account (through the mapping's role) and region."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.execution import ReplicationState
from replicator.observability import logger, metrics, tracer
from replicator.service import check_copy
from replicator.settings import get_settings


@logger.inject_lambda_context(correlation_id_path="event_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = ReplicationState.model_validate(event)
    return check_copy(state, get_settings()).to_payload()
