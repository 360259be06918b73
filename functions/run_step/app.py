"""State machine task: run the stored plan's next steps (share, copy) until a copy is started or none are left."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.aws.errors import transient_errors_retried
from replicator.observability import logger, metrics, tracer
from replicator.settings import get_settings
from replicator.usecases.guard import load_task
from replicator.usecases.run_step import run_step


@logger.inject_lambda_context(correlation_id_path="state.replication_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with transient_errors_retried():  # a passing AWS fault is retried by the state machine
        task = load_task(event, get_settings(), "RunStep")
        return run_step(task).to_payload()
