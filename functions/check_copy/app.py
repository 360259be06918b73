"""State machine task: check the copy in progress, in its account (through the mapping's role) and region."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.aws.errors import transient_errors_retried
from replicator.observability import logger, metrics, tracer
from replicator.settings import get_settings
from replicator.usecases.check_copy import check_copy
from replicator.usecases.guard import load_task


@logger.inject_lambda_context(correlation_id_path="state.replication_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with transient_errors_retried():  # a passing AWS fault is retried by the state machine
        task = load_task(event, get_settings(), "CheckCopy")
        return check_copy(task).to_payload()
