"""Coverage (pure): does every database a target selects have a replica there younger than the target's RPO?

For each (source database, mapping target) the audit reads the database's replications to the target newest first
(the history's database index) and stops at the first replica that exists. A database is:
- not selected: no snapshot of it goes to the target (its selection says which rule), so it needs no replica;
- ok: its newest replica's data is younger than `rpo_hours` (or the database itself is younger: it cannot have a
  replica yet), or the target sets no RPO and a replica exists;
- BREACH: the target sets `rpo_hours` and the newest replica is older, or there is none;
- none: the target sets no RPO and no replica exists (shown, never alarmed on).
The age of a replica is the age of its data: now minus when its source snapshot was taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .history import IndexedReplication, ReplicationStatus
from .selection import DatabaseFacts, Selection
from .snapshots import SnapshotKind


class SourceDatabase(BaseModel):
    """A DB instance or Aurora / Multi-AZ DB cluster of a source region, as listed there."""

    model_config = ConfigDict(frozen=True)

    identifier: str
    kind: SnapshotKind  # which snapshots it makes: DB snapshots (instance) or cluster snapshots
    region: str
    engine: str = ""
    status: str = "unknown"
    created_at: datetime | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def facts(self) -> DatabaseFacts:
        return DatabaseFacts(identifier=self.identifier, engine=self.engine, tags=self.tags)


class Verdict(StrEnum):
    OK = "ok"
    BREACH = "BREACH"
    NONE = "none"  # no replica, and the target sets no RPO
    NOT_SELECTED = "not selected"


class CoverageRow(BaseModel):
    """One source database on one target: selected or not, its newest replica, its verdict."""

    source_region: str
    database: str
    kind: SnapshotKind
    engine: str
    database_status: str
    target_account: str
    target_region: str
    selected: bool
    not_selected_reason: str | None = None
    rpo_hours: float | None = None
    newest_replica_taken_at: datetime | None = None  # when the newest replica's source snapshot was taken
    newest_replica_arn: str | None = None
    age_seconds: float | None = None
    verdict: Verdict
    last_failure: str | None = None  # the newest attempt's reason, when it FAILED

    @property
    def target(self) -> str:
        return target_label(self.target_account, self.target_region)


def target_label(account: str, region: str) -> str:
    """How a target is named in the audit's metrics and the coverage command: account/region."""
    return f"{account}/{region}"


def assess(
    database: SourceDatabase,
    target_account: str,
    target_region: str,
    selection: Selection | None,
    rpo_hours: float | None,
    newest_first: Iterable[IndexedReplication],
    now: datetime,
) -> CoverageRow:
    """The coverage of one database on one target. `newest_first` is read only as far as the newest replica."""
    row = CoverageRow(
        source_region=database.region,
        database=database.identifier,
        kind=database.kind,
        engine=database.engine,
        database_status=database.status,
        target_account=target_account,
        target_region=target_region,
        selected=True,
        rpo_hours=rpo_hours,
        verdict=Verdict.NONE,
    )
    if selection is not None and (why := selection.database_refusal(database.facts)) is not None:
        return row.model_copy(update={"selected": False, "not_selected_reason": why, "verdict": Verdict.NOT_SELECTED})
    newest: IndexedReplication | None = None
    last_failure: str | None = None
    seen_attempt = False
    for replication in newest_first:
        if replication.status is ReplicationStatus.SKIPPED:
            continue  # not a try: a snapshot its selection or its interval left out
        if not seen_attempt:
            seen_attempt = True
            if replication.status is ReplicationStatus.FAILED:
                last_failure = replication.reason or "failed"
        if replication.holds_a_replica:
            newest = replication
            break
    update: dict[str, object] = {"last_failure": last_failure}
    if newest is not None:
        age = (now - newest.taken_at).total_seconds()
        update.update(
            newest_replica_taken_at=newest.taken_at,
            newest_replica_arn=newest.replica_arn,
            age_seconds=max(age, 0.0),
        )
        fresh = rpo_hours is None or age <= rpo_hours * 3600
        update["verdict"] = Verdict.OK if fresh else Verdict.BREACH
    elif rpo_hours is None:
        update["verdict"] = Verdict.NONE
    else:
        too_new = database.created_at is not None and (now - database.created_at).total_seconds() < rpo_hours * 3600
        update["verdict"] = Verdict.OK if too_new else Verdict.BREACH
    return row.model_copy(update=update)


class TargetCoverage(BaseModel):
    """What the audit publishes per target (its metrics)."""

    target: str
    covered: int = 0  # selected databases within the RPO (or with a replica, no RPO set)
    uncovered: int = 0  # selected databases breaching the RPO
    oldest_replica_age_seconds: float | None = None  # the oldest newest-replica of the selected databases


def summarize(rows: Iterable[CoverageRow]) -> list[TargetCoverage]:
    """Per target: covered and uncovered databases and the oldest replica age (targets in first-seen order)."""
    by_target: dict[str, TargetCoverage] = {}
    for row in rows:
        summary = by_target.setdefault(row.target, TargetCoverage(target=row.target))
        if not row.selected:
            continue
        if row.verdict is Verdict.OK:
            summary.covered += 1
        elif row.verdict is Verdict.BREACH:
            summary.uncovered += 1
        if row.age_seconds is not None:
            oldest = summary.oldest_replica_age_seconds
            summary.oldest_replica_age_seconds = max(oldest or 0.0, row.age_seconds)
    return list(by_target.values())
