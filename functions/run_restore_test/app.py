"""State machine task: carry a restore test a stage further (RunRestoreTest), or record the error a stage
raised and send the test to its cleanup (AbortRestoreTest: the input carries the error)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.aws.errors import transient_errors_retried
from replicator.observability import logger, metrics, tracer
from replicator.settings import get_settings
from replicator.usecases.restore_test import abort_restore_test, run_restore_test


@logger.inject_lambda_context(correlation_id_path="test_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with transient_errors_retried():  # a passing AWS fault is retried by the state machine
        if isinstance(event, dict) and "error" in event:
            return abort_restore_test(get_settings(), event).model_dump()
        return run_restore_test(get_settings(), event).model_dump()
