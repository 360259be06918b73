"""Retention of replicas (pure): which replicas a mapping target's `retention_days` / `keep_last` let go.

A replica is kept while any rule given keeps it: younger than `retention_days`, or among the `keep_last` newest
replicas of its source database; and the newest replica of each database is always kept (the base its next copy
is incremental against), until a newer one is available. So `keep_last` alone keeps that many, `retention_days`
alone keeps that long (and the newest), and both together never delete the last replicas of a database whose
snapshots stopped coming. Only final replicas made by the replicator are candidates (recognised by its tags and by
the history record that names them); anything else in the account is never looked at twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from .snapshots import (
    MANAGED_BY,
    REPLICA_PREFIX,
    TAG_MANAGED_BY,
    TAG_REPLICATION_ID,
    TAG_SOURCE_ARN,
    TAG_SOURCE_DATABASE,
    SnapshotKind,
    parse_snapshot_arn,
)


class RetentionRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    retention_days: int | None = None
    keep_last: int | None = None

    @property
    def given(self) -> bool:
        return self.retention_days is not None or self.keep_last is not None

    def describe(self) -> str:
        parts = []
        if self.retention_days is not None:
            parts.append(f"retention_days {self.retention_days}")
        if self.keep_last is not None:
            parts.append(f"keep_last {self.keep_last}")
        return " and ".join(parts) or "no retention"


class Replica(BaseModel):
    """A snapshot in a target account and region, as listed there."""

    model_config = ConfigDict(frozen=True)

    arn: str
    identifier: str
    kind: SnapshotKind
    status: str
    created_at: datetime  # of the source's data (the original snapshot), not of the copy
    tags: dict[str, str]

    @property
    def made_by_replicator(self) -> bool:
        """All three markers the replicator puts on its copies, and its name prefix: nothing else is ever pruned."""
        return (
            self.identifier.startswith(REPLICA_PREFIX)
            and self.tags.get(TAG_MANAGED_BY) == MANAGED_BY
            and bool(self.tags.get(TAG_SOURCE_ARN))
            and bool(self.tags.get(TAG_REPLICATION_ID))
        )

    @property
    def source_arn(self) -> str:
        return self.tags.get(TAG_SOURCE_ARN, "")

    @property
    def replication_id(self) -> str:
        return self.tags.get(TAG_REPLICATION_ID, "")

    @property
    def source_region(self) -> str | None:
        try:
            return parse_snapshot_arn(self.source_arn)[1]
        except ValueError:
            return None

    @property
    def source_database(self) -> str:
        """The source database's name (older replicas without the tag: their source snapshot's ARN)."""
        return self.tags.get(TAG_SOURCE_DATABASE) or self.source_arn

    @property
    def counted_with(self) -> tuple[str, ...]:
        """What keep_last counts per: one database, as (account, region, kind, name), since databases of other
        regions or accounts, or an instance and a cluster, may share a name."""
        try:
            kind, region, account, _ = parse_snapshot_arn(self.source_arn)
        except ValueError:
            return (self.source_arn,)
        return (account, region, kind.value, self.source_database)


class PruneDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    replica: Replica
    reason: str


def replicas_to_delete(replicas: list[Replica], rule: RetentionRule, now: datetime) -> list[PruneDecision]:
    """The replicas `rule` lets go, each with the reason; replicas still being made are never among them."""
    if not rule.given:
        return []
    by_database: dict[tuple[str, ...], list[Replica]] = defaultdict(list)
    for replica in replicas:
        if replica.made_by_replicator and replica.status == "available":
            by_database[replica.counted_with].append(replica)
    decisions = []
    for key, group in sorted(by_database.items()):
        database = key[-1] if len(key) == 1 else f"{key[3]} ({key[1]})"
        newest_first = sorted(group, key=lambda r: (r.created_at, r.arn), reverse=True)
        for rank, replica in enumerate(newest_first):
            if rank == 0:
                # the newest replica is the base the next copy is incremental against (AWS: a copy is full once the
                # most recent copy in the destination is gone): it goes only when a newer one is available
                continue
            age = now - replica.created_at
            kept_by_age = rule.retention_days is not None and age <= timedelta(days=rule.retention_days)
            kept_by_count = rule.keep_last is not None and rank < rule.keep_last
            if kept_by_age or kept_by_count:
                continue
            reasons = []
            if rule.retention_days is not None:
                reasons.append(f"{age.days} days old, more than retention_days {rule.retention_days}")
            if rule.keep_last is not None:
                reasons.append(f"replica {rank + 1} of {database} (newest first), beyond keep_last {rule.keep_last}")
            decisions.append(PruneDecision(replica=replica, reason="; ".join(reasons)))
    return decisions
