"""The one place that sets up Powertools' Logger, Tracer and Metrics for every function."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

SERVICE = "rds-snapshot-replicator"
NAMESPACE = "SnapshotReplicator"


class UntracedHandlers:
    """Stands in for Powertools' Tracer when tracing is off (stack parameter Tracing = PassThrough).

    Powertools' Tracer imports the X-Ray SDK when it is created, even when disabled: about 130 ms of every cold
    start (bench/cold_start.py), for traces nobody records.
    """

    def capture_lambda_handler(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        return handler


def tracing_disabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true")


logger = Logger(service=SERVICE)
tracer: Tracer | UntracedHandlers = UntracedHandlers() if tracing_disabled() else Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def publish_metrics(values: list[tuple[str, MetricUnit, float]], **dimensions: str) -> None:
    """Publish metrics with dimensions of their own besides `service` (one set per mapping target, per copy-slot
    pool), at once: the function-wide `metrics` carries one dimension set per invocation."""
    provider = AmazonCloudWatchEMFProvider(
        namespace=NAMESPACE, service=SERVICE, default_dimensions={"service": SERVICE, **dimensions}
    )
    for name, unit, value in values:
        provider.add_metric(name=name, unit=unit, value=value)
    provider.flush_metrics()


__all__ = ["MetricUnit", "logger", "metrics", "publish_metrics", "tracer", "tracing_disabled"]
