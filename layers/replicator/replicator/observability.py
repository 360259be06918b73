"""The one place that sets up Powertools' Logger, Tracer and Metrics for every function."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
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


# --- the catalogue: every metric the code emits (tests/unit/test_metric_catalogue.py keeps it so; the dashboard's
# widgets show only metrics it lists, tests/template/test_dashboard.py) ----------------------------------------------

SERVICE_ONLY = frozenset({"service"})
PER_TARGET = frozenset({"service", "target"})  # target = "account/region" of a mapping target
PER_POOL = frozenset({"service", "pool"})  # pool = "account/region/kind" of a copy-slot pool
PER_POOL_AND_ACCOUNT = frozenset({"service", "pool", "source_account"})  # a vault's shared pool, per workload


@dataclass(frozen=True)
class MetricSpec:
    """A metric of namespace NAMESPACE: its unit, the dimension-name sets it is emitted with, what it counts."""

    unit: MetricUnit
    dimensions: frozenset[frozenset[str]]
    description: str


def _spec(unit: MetricUnit, description: str, *dimensions: frozenset[str]) -> MetricSpec:
    return MetricSpec(unit=unit, dimensions=frozenset(dimensions or (SERVICE_ONLY,)), description=description)


_COUNT, _SECONDS = MetricUnit.Count, MetricUnit.Seconds

METRICS: dict[str, MetricSpec] = {
    "ReplicationsSucceeded": _spec(_COUNT, "replications recorded SUCCEEDED"),
    "ReplicationsFailed": _spec(_COUNT, "replications recorded FAILED"),
    "ReplicationsSkipped": _spec(_COUNT, "replications recorded SKIPPED (not to be copied; the record says why)"),
    "ReplicationDuration": _spec(_SECONDS, "a succeeded replication's duration, started to finished"),
    "PlanTampering": _spec(_COUNT, "tasks that refused to act on something the replicator did not plan"),
    "CleanupFailed": _spec(_COUNT, "cleanups (a share, an intermediate copy) that failed"),
    "SlotHandOverFailed": _spec(_COUNT, "copy slots that could not be handed to a waiter (given back)"),
    "SharedSlotsGranted": _spec(_COUNT, "slots of a vault's shared copy-slot pool its coordinator granted"),
    "SlotGrantNotAnnounced": _spec(_COUNT, "grant wake-ups a workload bus refused (its re-check finds the grant)"),
    "SingleStepRefused": _spec(_COUNT, "single-step copies RDS refused (the replication fell back to staging)"),
    "ReplicasDeleted": _spec(_COUNT, "replicas the prune deleted"),
    "RecordsRepaired": _spec(_COUNT, "replications the reconciler failed (execution ended without an outcome)"),
    "SlotsReclaimed": _spec(_COUNT, "copy slots the reconciler took back from replications no longer running"),
    "OrphansRemoved": _spec(_COUNT, "intermediate copies no running replication owned, deleted by the reconciler"),
    "CoveredDatabases": _spec(_COUNT, "databases with a replica younger than the RPO", PER_TARGET, SERVICE_ONLY),
    "UncoveredDatabases": _spec(_COUNT, "databases without a replica younger than the RPO", PER_TARGET, SERVICE_ONLY),
    "OldestReplicaAgeSeconds": _spec(
        _SECONDS, "the age of the newest replica of the database least recently replicated", PER_TARGET, SERVICE_ONLY
    ),
    "CopiesInFlight": _spec(
        _COUNT,
        "copy slots held in a pool (copies in flight), per reconciler run; a vault's shared pool per source account, "
        "per coordinator pass",
        PER_POOL,
        PER_POOL_AND_ACCOUNT,
    ),
    "CopiesWaiting": _spec(
        _COUNT,
        "replications waiting for a copy slot of a pool, per reconciler run; a vault's shared pool per source "
        "account, per coordinator pass",
        PER_POOL,
        PER_POOL_AND_ACCOUNT,
    ),
    "RestoreTestsSucceeded": _spec(
        _COUNT, "restore tests whose replica restored and checked out", PER_TARGET, SERVICE_ONLY
    ),
    "RestoreTestsFailed": _spec(
        _COUNT, "restore tests that failed (restore, checks, timeout or cleanup)", PER_TARGET, SERVICE_ONLY
    ),
    "RestoreSeconds": _spec(
        _SECONDS, "a succeeded restore test's restore time, restore started to available", PER_TARGET, SERVICE_ONLY
    ),
    "RestoreTestLeftoversRemoved": _spec(_COUNT, "snaptest-* databases of ended tests the reconciler deleted"),
}


__all__ = [
    "METRICS",
    "NAMESPACE",
    "SERVICE",
    "MetricSpec",
    "MetricUnit",
    "logger",
    "metrics",
    "publish_metrics",
    "tracer",
    "tracing_disabled",
]
