"""The vault's coordinator (coordinator.yaml), on its shared copy-slot table's stream: grant the free slots of every
pool the batch touched, fairly between workload accounts, and wake each replication granted one."""

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.copy_slots import CopyQuotas
from replicator.observability import logger, metrics, tracer
from replicator.usecases.grant_slots import CoordinatorSettings, grant_slots, pools_touched


def coordinator_settings() -> CoordinatorSettings:
    env = os.environ
    cap = int(env.get("PER_ACCOUNT_CAP") or 0)
    return CoordinatorSettings(
        table_name=env["POOL_TABLE_NAME"],
        quotas=CopyQuotas(
            instance=int(env.get("POOL_INSTANCE_COPY_QUOTA") or 20),
            cluster=int(env.get("POOL_CLUSTER_COPY_QUOTA") or 5),
        ),
        per_account_cap=cap or None,
        partition=env.get("PARTITION") or "aws",
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # an error fails the batch: the event source mapping retries it (then its failure destination keeps it), and any
    # later batch for the same pool does the same work anyway, since each pass reads the pool as it is
    results = grant_slots(coordinator_settings(), pools_touched(event.get("Records", [])))
    return {"pools": [r.model_dump() for r in results]}
