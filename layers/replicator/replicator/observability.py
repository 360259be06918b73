"""The one place that sets up Powertools' Logger, Tracer and Metrics for every function."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

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

__all__ = ["MetricUnit", "logger", "metrics", "tracer", "tracing_disabled"]
