"""Selection (pure): which snapshots a mapping target replicates, and which databases it must cover.

A target's optional `selection` has `include` and `exclude` lists of rules. A rule holds any of: database identifier
patterns (shell-style, `prod-*`), tag matches on the source DB instance or cluster, engine patterns and snapshot
types; it matches when every field it gives matches (one of the field's values is enough). A snapshot is replicated
when it matches an include rule (no include rule: every snapshot) and no exclude rule. `min_interval_hours` keeps at
most one replica per source database per interval (the first snapshot after the interval wins); it is applied by the
start function, which knows the earlier replications (history.py's database index).

The same rules answer the audit's question "must this database have a fresh replica on this target?": a database is
selected when some snapshot of it would be (see `database_refusal`).
"""

from __future__ import annotations

from enum import StrEnum
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SnapshotType(StrEnum):
    AUTOMATED = "automated"
    MANUAL = "manual"
    AWSBACKUP = "awsbackup"


ALL_SNAPSHOT_TYPES = frozenset(SnapshotType)

_PATTERN = Field(min_length=1, max_length=255)


class TagMatch(BaseModel):
    """A tag of the source database: `key` present, with one of `values` (shell-style patterns; none = any value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, max_length=128)
    values: list[str] = Field(default_factory=list)

    def matches(self, tags: dict[str, str]) -> bool:
        if self.key not in tags:
            return False
        return not self.values or any(fnmatchcase(tags[self.key], value) for value in self.values)

    def describe(self) -> str:
        return f"tag {self.key}" + (f"={'|'.join(self.values)}" if self.values else "")


class DatabaseFacts(BaseModel):
    """What a rule looks at: the source database (identifier, engine, tags) and, for a snapshot, its type."""

    model_config = ConfigDict(frozen=True)

    identifier: str | None
    engine: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    snapshot_type: str | None = None  # None: the database itself (the audit), not one of its snapshots


class SelectionRule(BaseModel):
    """One include or exclude rule: every field given must match (any of its values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    databases: list[str] = Field(default_factory=list, description="DB instance or cluster identifier patterns")
    tags: list[TagMatch] = Field(default_factory=list, description="Every tag match must hold")
    engines: list[str] = Field(default_factory=list, description="Engine patterns, e.g. aurora-* or postgres")
    snapshot_types: list[SnapshotType] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> SelectionRule:
        if not (self.databases or self.tags or self.engines or self.snapshot_types):
            raise ValueError("a selection rule needs at least one of databases, tags, engines, snapshot_types")
        for pattern in [*self.databases, *self.engines]:
            if not pattern or len(pattern) > 255:
                raise ValueError(f"'{pattern}' is not a pattern (1 to 255 characters)")
        return self

    def _database_matches(self, facts: DatabaseFacts) -> bool:
        if self.databases and not any(fnmatchcase(facts.identifier or "", p) for p in self.databases):
            return False
        if self.engines and not any(fnmatchcase(facts.engine, p) for p in self.engines):
            return False
        return all(tag.matches(facts.tags) for tag in self.tags)

    def matches(self, facts: DatabaseFacts) -> bool:
        """Whether the rule matches a snapshot (its database's facts and its type)."""
        if self.snapshot_types and facts.snapshot_type not in self.snapshot_types:
            return False
        return self._database_matches(facts)

    def matches_some_snapshot(self, facts: DatabaseFacts) -> bool:
        """Whether the rule matches at least one kind of snapshot of the database."""
        return self._database_matches(facts)

    def matches_every_snapshot(self, facts: DatabaseFacts) -> bool:
        """Whether the rule matches every snapshot of the database, whatever its type."""
        types_all = not self.snapshot_types or set(self.snapshot_types) >= ALL_SNAPSHOT_TYPES
        return types_all and self._database_matches(facts)

    def describe(self) -> str:
        parts = []
        if self.databases:
            parts.append(f"databases {'|'.join(self.databases)}")
        parts.extend(tag.describe() for tag in self.tags)
        if self.engines:
            parts.append(f"engines {'|'.join(self.engines)}")
        if self.snapshot_types:
            parts.append(f"snapshot types {'|'.join(t.value for t in self.snapshot_types)}")
        return ", ".join(parts)


class Selection(BaseModel):
    """Which snapshots of the source region a target replicates (absent: all of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include: list[SelectionRule] = Field(default_factory=list, description="None: every snapshot")
    exclude: list[SelectionRule] = Field(default_factory=list)
    min_interval_hours: float | None = Field(
        default=None, gt=0, le=8760, description="At most one replica per source database per this many hours"
    )

    @property
    def needs_tags(self) -> bool:
        """Whether a rule looks at the database's tags (the start function then reads them, once per snapshot)."""
        return any(rule.tags for rule in [*self.include, *self.exclude])

    def refusal(self, facts: DatabaseFacts) -> str | None:
        """Why a snapshot is not replicated to the target (the rule that leaves it out), or None: it is."""
        for index, rule in enumerate(self.exclude):
            if rule.matches(facts):
                return f"excluded by selection.exclude[{index}] ({rule.describe()})"
        if self.include and not any(rule.matches(facts) for rule in self.include):
            return f"matches no selection.include rule ({'; '.join(r.describe() for r in self.include)})"
        return None

    def database_refusal(self, facts: DatabaseFacts) -> str | None:
        """Why no snapshot of a database is replicated to the target (it needs no replica there), or None: some
        of its snapshots are, so it must have a fresh replica."""
        for index, rule in enumerate(self.exclude):
            if rule.matches_every_snapshot(facts):
                return f"excluded by selection.exclude[{index}] ({rule.describe()})"
        if self.include and not any(rule.matches_some_snapshot(facts) for rule in self.include):
            return f"matches no selection.include rule ({'; '.join(r.describe() for r in self.include)})"
        return None

    def describe(self) -> str:
        parts = []
        if self.include:
            parts.append("include " + " or ".join(f"({r.describe()})" for r in self.include))
        if self.exclude:
            parts.append("exclude " + " or ".join(f"({r.describe()})" for r in self.exclude))
        if self.min_interval_hours is not None:
            parts.append(f"at most one per {self.min_interval_hours:g} h")
        return "; ".join(parts) or "every snapshot"


def interval_refusal(
    selection: Selection | None, taken_hours_apart: list[float], interval_label: str = "selection.min_interval_hours"
) -> str | None:
    """Why a snapshot is skipped under `min_interval_hours`, given how many hours separate it from the snapshots of
    the same database already replicated (or being replicated) to the target; None: it is replicated."""
    if selection is None or selection.min_interval_hours is None:
        return None
    within = [h for h in taken_hours_apart if abs(h) < selection.min_interval_hours]
    if not within:
        return None
    nearest = min(within, key=abs)
    when = "before" if nearest >= 0 else "after"
    return (
        f"skipped by {interval_label} ({selection.min_interval_hours:g} h): a snapshot of the same database taken "
        f"{abs(nearest):.1f} h {when} it is replicated already"
    )
