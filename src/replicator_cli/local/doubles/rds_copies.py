"""RDS's snapshot copies: a copy of a snapshot shared from another account (SharedSnapshotCopy), the copy and sharing
rules AWS enforces (AwsCopyRules), and the time a copy takes and the quota of copies in flight (CopyClock)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

from moto.rds import models as rds_models
from moto.rds.exceptions import (
    DBClusterSnapshotAlreadyExistsError,
    DBClusterSnapshotNotFoundError,
    DBSnapshotAlreadyExistsError,
    DBSnapshotNotFoundFault,
    InvalidParameterCombination,
    InvalidParameterValue,
    SnapshotQuotaExceededFault,
)
from moto.rds.models import RDSBackend, rds_backends

from ._snapshots import snapshot_identifier, snapshot_kind_of


@dataclass
class _CopyInFlight:
    snapshot: Any
    started: float
    duration: float
    fails: bool
    in_progress_status: str
    pool: tuple[str, str, bool]  # (account, destination region, cluster?)
    source_exists: Callable[[], bool]


class CopyClock:
    """An RDS copy takes time: it stays `creating` (cluster: `copying`) with a rising PercentProgress, first queued at
    0 %; RDS refuses a copy beyond its quota of copies in flight per destination account and region (20 DB /
    5 cluster: SnapshotQuotaExceeded), fails a copy whose source is deleted before it completes, and a copy can end
    `failed`. moto 5.2.5's copies are available at once and unlimited. This keeps each copy in progress for
    `copy_seconds` (the first fifth queued at 0 %), then makes it available, or failed if its source or target
    identifier is in `fail_identifiers`; it enforces the quota and fails a copy whose source went first.

    SharedSnapshotCopy starts the copies (`admit`, then `start`); the descriptions of snapshots move the clock on.
    """

    def __init__(self, copy_seconds: float) -> None:
        self.copy_seconds = copy_seconds
        self.fail_identifiers: set[str] = set()  # copies whose source or target identifier is here end `failed`
        self.in_flight: dict[int, _CopyInFlight] = {}
        self.started: list[str] = []  # ARN of every copy started, in order (a copy made twice shows twice)
        self.quota = {False: 20, True: 5}  # copies in flight per destination account and region: DB, cluster
        self.quota_refusals = 0
        self.max_in_flight: dict[tuple[str, str, bool], int] = {}  # per (account, region, cluster?)
        self._lock = threading.Lock()

    def install(self, patches: ExitStack) -> None:
        """Over moto's RDSBackend.describe_db_snapshots and describe_db_cluster_snapshots: each moves the clock on."""

        def ticking(original: Callable) -> Callable:
            def describe(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
                self.tick()
                return original(backend, *args, **kwargs)

            return describe

        patches.enter_context(
            patch.object(RDSBackend, "describe_db_snapshots", ticking(RDSBackend.describe_db_snapshots))
        )
        patches.enter_context(
            patch.object(RDSBackend, "describe_db_cluster_snapshots", ticking(RDSBackend.describe_db_cluster_snapshots))
        )

    def admit(self, account: str, region: str, cluster: bool) -> None:
        """Refuse a copy as RDS does when the destination's copies in flight are at the quota."""
        self.tick()
        pool = (account, region, cluster)
        with self._lock:
            if sum(1 for c in self.in_flight.values() if c.pool == pool) >= self.quota[cluster]:
                self.quota_refusals += 1
                raise SnapshotQuotaExceededFault()

    def start(self, snapshot: Any, source_identifier: str, cluster: bool, source_exists: Callable[[], bool]) -> None:
        identifier = snapshot_identifier(snapshot)
        arn = snapshot.db_cluster_snapshot_arn if cluster else snapshot.db_snapshot_arn
        fails = bool({identifier, source_identifier} & self.fail_identifiers)
        status = "copying" if cluster else "creating"
        snapshot.status = status
        snapshot.percent_progress = 0
        pool = (arn.split(":")[4], arn.split(":")[3], cluster)
        with self._lock:
            self.in_flight[id(snapshot)] = _CopyInFlight(
                snapshot, time.monotonic(), self.copy_seconds, fails, status, pool, source_exists
            )
            self.started.append(arn)
            count = sum(1 for c in self.in_flight.values() if c.pool == pool)
            self.max_in_flight[pool] = max(self.max_in_flight.get(pool, 0), count)

    def tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            for key, copy in list(self.in_flight.items()):
                elapsed = now - copy.started
                if not copy.source_exists():  # AWS: deleting the source of a copy in progress fails the copy
                    copy.snapshot.status = "failed"
                    del self.in_flight[key]
                elif elapsed >= copy.duration:
                    copy.snapshot.status = "failed" if copy.fails else "available"
                    copy.snapshot.percent_progress = 0 if copy.fails else 100
                    del self.in_flight[key]
                else:
                    queued = copy.duration / 5
                    done = max(0.0, (elapsed - queued) / (copy.duration - queued))
                    copy.snapshot.percent_progress = int(done * 99)


class AwsCopyRules:
    """RDS refuses some copies and some sharing that moto 5.2.5 allows. This refuses what AWS refuses: encrypting an
    unencrypted cluster snapshot by copy, an encrypted cross-region or cross-account copy without KmsKeyId
    (InvalidParameterCombination; checked by SharedSnapshotCopy, which makes the copies), and sharing automated,
    AWS Backup or aws/rds-encrypted snapshots (InvalidParameterValue). With `refuse_single_step` it also refuses, as
    older AWS text says AWS does, a copy of another account's shared snapshot straight into another region
    (InvalidParameterCombination): the fallback path of the plans is tested with it."""

    def __init__(self) -> None:
        self.refuse_single_step = False  # refuse cross-account, cross-region copies in one step

    def check_copy(
        self, owner: RDSBackend, backend: RDSBackend, snapshot: Any, kms_key_id: str | None, cluster: bool
    ) -> None:
        """Refuse a copy of `snapshot` (in `owner`) into `backend` as AWS does."""
        if (
            self.refuse_single_step
            and owner.account_id != backend.account_id
            and owner.region_name != backend.region_name
        ):
            raise InvalidParameterCombination(
                "a shared snapshot can only be copied in its own region: copy it there first"
            )
        encrypted = bool(snapshot.storage_encrypted if cluster else snapshot.encrypted)
        moves = owner.region_name != backend.region_name or owner.account_id != backend.account_id
        if encrypted and moves and not kms_key_id:
            raise InvalidParameterCombination(
                "KmsKeyId is required to copy an encrypted snapshot to another region or from another account"
            )
        if cluster and not encrypted and kms_key_id:
            raise InvalidParameterCombination("an unencrypted DB cluster snapshot cannot be encrypted by copying it")

    @staticmethod
    def refuse_unshareable(backend: RDSBackend, snapshot: Any, values_to_add: list[str] | None) -> None:
        """Refuse sharing `snapshot` as AWS does: only manual snapshots, not encrypted with the aws/rds key."""
        if not values_to_add:
            return
        if snapshot.snapshot_type != "manual":
            raise InvalidParameterValue(f"{snapshot.snapshot_type} snapshots cannot be shared; copy them first")
        if snapshot.kms_key_id and (snapshot.encrypted or getattr(snapshot, "storage_encrypted", False)):
            key_id = snapshot.kms_key_id
            try:
                key = backend.kms.describe_key(key_id)
            except KeyError:
                return
            if key.key_manager == "AWS":
                raise InvalidParameterValue("snapshots encrypted with the default aws/rds key cannot be shared")

    def install(self, patches: ExitStack) -> None:
        """Over moto's RDSBackend.modify_db_snapshot_attribute and modify_db_cluster_snapshot_attribute (the copy
        rules are applied by SharedSnapshotCopy's copies)."""
        refuse_unshareable = self.refuse_unshareable
        original_instance = RDSBackend.modify_db_snapshot_attribute
        original_cluster = RDSBackend.modify_db_cluster_snapshot_attribute

        def modify_db_snapshot_attribute(
            backend: RDSBackend,
            db_snapshot_identifier: str,
            attribute_name: str,
            values_to_add: list[str] | None = None,
            values_to_remove: list[str] | None = None,
        ) -> Any:
            snapshot = backend.database_snapshots.get(db_snapshot_identifier)
            if snapshot is not None:
                refuse_unshareable(backend, snapshot, values_to_add)
            return original_instance(backend, db_snapshot_identifier, attribute_name, values_to_add, values_to_remove)

        def modify_db_cluster_snapshot_attribute(
            backend: RDSBackend,
            db_cluster_snapshot_identifier: str,
            attribute_name: str,
            values_to_add: list[str] | None = None,
            values_to_remove: list[str] | None = None,
        ) -> Any:
            snapshot = backend.cluster_snapshots.get(db_cluster_snapshot_identifier)
            if snapshot is not None:
                refuse_unshareable(backend, snapshot, values_to_add)
            return original_cluster(
                backend, db_cluster_snapshot_identifier, attribute_name, values_to_add, values_to_remove
            )

        patches.enter_context(patch.object(RDSBackend, "modify_db_snapshot_attribute", modify_db_snapshot_attribute))
        patches.enter_context(
            patch.object(RDSBackend, "modify_db_cluster_snapshot_attribute", modify_db_cluster_snapshot_attribute)
        )


class SharedSnapshotCopy:
    """An account can copy a snapshot another account shared with it (and only then: a snapshot not shared with it
    does not exist for it): a target account cannot copy a snapshot shared from another account in moto 5.2.5, which
    looks for the source in the caller's own account. This makes RDS's two copy operations find the snapshot in its
    owner's account and allow the copy only if it is shared with the caller (or with all), as AWS does; the copies it
    makes follow AwsCopyRules and run on the CopyClock."""

    def __init__(self, rules: AwsCopyRules, clock: CopyClock) -> None:
        self.rules = rules
        self.clock = clock

    @staticmethod
    def find_source(backend: RDSBackend, source: str, cluster: bool) -> Any:
        """(owner's backend, snapshot) of a copy's source, an ARN or an identifier in the caller's account."""
        account, region, identifier = snapshot_kind_of(source)
        owner = rds_backends[account or backend.account_id][region or backend.region_name]
        snapshots = owner.cluster_snapshots if cluster else owner.database_snapshots
        snapshot = snapshots.get(identifier)
        not_found = DBClusterSnapshotNotFoundError if cluster else DBSnapshotNotFoundFault
        if snapshot is None:
            raise not_found(source)
        if owner.account_id != backend.account_id:
            shared_with = snapshot.attributes.get("restore", [])
            if backend.account_id not in shared_with and "all" not in shared_with:
                raise not_found(source)  # AWS: a snapshot not shared with you does not exist for you
        return owner, snapshot

    def begin_copy(
        self,
        backend: RDSBackend,
        source_identifier: str,
        target_identifier: str,
        kms_key_id: str | None,
        tags: list | None,
        copy_tags: bool | None,
        cluster: bool,
    ) -> tuple[RDSBackend, Any, str | None, list | None]:
        """What AWS checks and resolves before either copy starts: (source's backend, source, key, tags)."""
        owner, source = self.find_source(backend, source_identifier, cluster=cluster)
        self.rules.check_copy(owner, backend, source, kms_key_id, cluster=cluster)
        if target_identifier in (backend.cluster_snapshots if cluster else backend.database_snapshots):
            exists = DBClusterSnapshotAlreadyExistsError if cluster else DBSnapshotAlreadyExistsError
            raise exists(target_identifier)
        self.clock.admit(backend.account_id, backend.region_name, cluster=cluster)
        if kms_key_id is not None:
            kms_key_id = backend._validate_kms_key(kms_key_id)
        if copy_tags and not tags:
            tags = source.tags or []
        return owner, source, kms_key_id, tags

    def start_copy(self, backend: RDSBackend, owner: RDSBackend, source: Any, copy: Any, cluster: bool) -> Any:
        (backend.cluster_snapshots if cluster else backend.database_snapshots)[snapshot_identifier(copy)] = copy
        source_id = snapshot_identifier(source)
        sources = owner.cluster_snapshots if cluster else owner.database_snapshots
        self.clock.start(copy, source_id, cluster=cluster, source_exists=lambda: source_id in sources)
        return copy

    def install(self, patches: ExitStack) -> None:
        """In place of moto's RDSBackend.copy_db_snapshot and copy_db_cluster_snapshot."""
        begin_copy, start_copy = self.begin_copy, self.start_copy

        def copy_db_snapshot(
            backend: RDSBackend,
            source_db_snapshot_identifier: str,
            target_db_snapshot_identifier: str,
            kms_key_id: str | None = None,
            tags: list | None = None,
            copy_tags: bool | None = False,
            **_: Any,
        ) -> Any:
            owner, source, kms_key_id, tags = begin_copy(
                backend,
                source_db_snapshot_identifier,
                target_db_snapshot_identifier,
                kms_key_id,
                tags,
                copy_tags,
                False,
            )
            copy = rds_models.DBSnapshot(
                backend,
                source.database,
                target_db_snapshot_identifier,
                tags=tags,
                kms_key_id=kms_key_id or source.kms_key_id,
                original_created_at=source.original_snapshot_create_time,
            )
            copy.encrypted = copy.storage_encrypted = bool(kms_key_id) or source.encrypted
            return start_copy(backend, owner, source, copy, cluster=False)

        def copy_db_cluster_snapshot(
            backend: RDSBackend,
            source_db_cluster_snapshot_identifier: str,
            target_db_cluster_snapshot_identifier: str,
            kms_key_id: str | None = None,
            copy_tags: bool = False,
            tags: list | None = None,
            **_: Any,
        ) -> Any:
            owner, source, kms_key_id, tags = begin_copy(
                backend,
                source_db_cluster_snapshot_identifier,
                target_db_cluster_snapshot_identifier,
                kms_key_id,
                tags,
                copy_tags,
                True,
            )
            # copy the cluster object too: moto would otherwise mark the *source* cluster encrypted
            cluster = rds_models.copy.copy(source.cluster)
            copy = rds_models.DBClusterSnapshot(
                backend, cluster, target_db_cluster_snapshot_identifier, tags=tags, kms_key_id=kms_key_id
            )
            if not kms_key_id:
                copy.kms_key_id = source.kms_key_id
                copy.encrypted = copy.storage_encrypted = source.storage_encrypted
            return start_copy(backend, owner, source, copy, cluster=True)

        patches.enter_context(patch.object(RDSBackend, "copy_db_snapshot", copy_db_snapshot))
        patches.enter_context(patch.object(RDSBackend, "copy_db_cluster_snapshot", copy_db_cluster_snapshot))
