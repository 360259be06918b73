"""A `Copy Slot Granted` event from the vault's coordinator: resume the replication it names, if its grant is real."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.aws.errors import transient_errors_retried
from replicator.observability import logger, metrics, tracer
from replicator.settings import get_settings
from replicator.usecases.slot_granted import SlotGrantedDetail, slot_granted


@logger.inject_lambda_context(correlation_id_path="detail.replication_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with transient_errors_retried():  # a passing AWS fault: Lambda retries the event
        resumed = slot_granted(get_settings(), SlotGrantedDetail.model_validate(event.get("detail", {})))
    return {"resumed": resumed}
