"""RDS's restores: the time a restore takes and how it ends (RestoreClock), and the instance classes offered
(OrderableInstanceClasses)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

from moto.core.responses import ActionResult
from moto.rds.models import RDSBackend
from moto.rds.responses import RDSResponse


@dataclass
class _RestoreInFlight:
    resource: Any
    cluster: bool
    started: float
    ends: str  # available | failed | never


class RestoreClock:
    """An RDS restore takes time: the restored DB instance or cluster stays `creating`, then becomes `available`, or
    `failed` when the restore cannot complete. moto 5.2.5 restores a DB instance (and adds a cluster's instance)
    available at once, and makes a restored cluster available at its first description. This keeps each restored
    instance and cluster `creating` for `restore_seconds`, then `available`, and can make chosen restores end `failed`
    (`failing`) or never end (`stuck`: a restore that outlives the test's max_minutes). It also applies a
    PubliclyAccessible=False override, which moto drops and RDS applies."""

    def __init__(self, restore_seconds: float) -> None:
        self.restore_seconds = restore_seconds
        self.failing: set[str] = set()  # source databases whose test restores end `failed`
        self.stuck: set[str] = set()  # source databases whose test restores never end
        self.in_flight: dict[int, _RestoreInFlight] = {}
        self.restored: list[str] = []  # identifier of every database restored (or added to a restored cluster)
        self._lock = threading.Lock()

    def install(self, patches: ExitStack) -> None:
        """Over moto's RDSBackend restores and create_db_instance (a restored cluster's instance); the descriptions of
        instances and clusters move the clock on."""
        clock = self
        restore_instance = RDSBackend.restore_db_instance_from_db_snapshot
        restore_cluster = RDSBackend.restore_db_cluster_from_snapshot
        create_instance = RDSBackend.create_db_instance

        def restore_db_instance_from_db_snapshot(backend: RDSBackend, from_snapshot_id: str, overrides: dict) -> Any:
            database = restore_instance(backend, from_snapshot_id, overrides)
            # moto drops a False override (PubliclyAccessible=False): RDS applies it
            if overrides.get("publicly_accessible") is False:
                database.publicly_accessible = False
            clock.start(database, overrides["db_instance_identifier"], cluster=False)
            return database

        def restore_db_cluster_from_snapshot(backend: RDSBackend, from_snapshot_id: str, overrides: dict) -> Any:
            cluster = restore_cluster(backend, from_snapshot_id, overrides)
            clock.start(cluster, overrides["db_cluster_identifier"], cluster=True)
            return cluster

        def create_db_instance(backend: RDSBackend, db_kwargs: dict) -> Any:
            database = create_instance(backend, db_kwargs)
            identifier = str(db_kwargs.get("db_instance_identifier", ""))
            if db_kwargs.get("db_cluster_identifier") and identifier.startswith("snaptest-"):
                clock.start(database, identifier, cluster=False)  # a restored cluster's instance
            return database

        def ticking(original: Callable) -> Callable:
            def describe(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
                clock.tick()
                return original(backend, *args, **kwargs)

            return describe

        for name, replacement in (
            ("restore_db_instance_from_db_snapshot", restore_db_instance_from_db_snapshot),
            ("restore_db_cluster_from_snapshot", restore_db_cluster_from_snapshot),
            ("create_db_instance", create_db_instance),
            ("describe_db_instances", ticking(RDSBackend.describe_db_instances)),
            ("describe_db_clusters", ticking(RDSBackend.describe_db_clusters)),
        ):
            patches.enter_context(patch.object(RDSBackend, name, replacement))

    def _ending(self, identifier: str) -> str:
        for database in self.failing | self.stuck:
            if identifier.startswith(f"snaptest-{database}-"):
                return "failed" if database in self.failing else "never"
        return "available"

    def start(self, resource: Any, identifier: str, cluster: bool) -> None:
        with self._lock:
            self.in_flight[id(resource)] = _RestoreInFlight(
                resource, cluster, time.monotonic(), self._ending(identifier)
            )
            self.restored.append(identifier)
        self._set(resource, cluster, "creating")

    @staticmethod
    def _set(resource: Any, cluster: bool, status: str) -> None:
        if cluster:
            resource._status = status  # moto's DBCluster.status turns `creating` into `available` when read
        else:
            resource.status = status

    def tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            for key, restore in list(self.in_flight.items()):
                if (
                    getattr(restore.resource, "status", None) == "deleting"
                    or getattr(restore.resource, "_status", None) == "deleting"
                ):
                    del self.in_flight[key]
                elif restore.ends != "never" and now - restore.started >= self.restore_seconds:
                    self._set(restore.resource, restore.cluster, restore.ends)
                    del self.in_flight[key]
                else:
                    self._set(restore.resource, restore.cluster, "creating")


class OrderableInstanceClasses:
    """RDS's DescribeOrderableDBInstanceOptions lists the DB instance classes offered for an engine version in a
    region: moto 5.2.5 answers only for aurora-postgresql and neptune. This answers, for every engine version, the
    small classes AWS offers (restore_testing.INSTANCE_CLASSES and AURORA_CLASSES), except where declared unavailable
    (`unavailable`)."""

    def __init__(self) -> None:
        self.unavailable: set[tuple[str, str]] = set()  # (region, engine) offering none of the small classes

    def offered(self, region: str, engine: str) -> list[str]:
        from replicator.restore_testing import AURORA_CLASSES, INSTANCE_CLASSES

        if (region, engine) in self.unavailable:
            return []
        return list(AURORA_CLASSES if engine.startswith("aurora") else INSTANCE_CLASSES)

    def install(self, patches: ExitStack) -> None:
        """In place of moto's RDSResponse.describe_orderable_db_instance_options."""
        classes = self

        def describe_orderable_db_instance_options(response: RDSResponse) -> ActionResult:
            engine = response.params.get("Engine") or ""
            version = response.params.get("EngineVersion") or ""
            options = [
                {"Engine": engine, "EngineVersion": version, "DBInstanceClass": name, "Vpc": True}
                for name in classes.offered(response.region, engine)
            ]
            return ActionResult({"OrderableDBInstanceOptions": options})

        patches.enter_context(
            patch.object(RDSResponse, "describe_orderable_db_instance_options", describe_orderable_db_instance_options)
        )
