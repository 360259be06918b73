"""The coverage audit at 5,000 databases: the history's database index against a scan of the whole history, side by
side, with the start path's min_interval_hours read and what both cost a month on AWS.

The code measured is the project's own: `usecases.coverage.audit_coverage` (the mappings, `rds.list_databases` per
region, `replications_of_database` per selected (database, target), its read units by `ReadUsage`) and
the start function's `usecases.start._not_selected` (one Query over +-min_interval_hours). The design it replaces is
written here: one full Scan of the history (1 MB pages, the index's attributes projected), grouped by
(database, target), judged by the same `coverage.assess`; DynamoDB bills a Scan for every item it reads, whole,
whatever is projected: its read units are the Scan rule (per page: the items' total size rounded up to 4 KB, half a
unit each, eventually consistent) applied to the full items' sizes, measured with `ReadUsage`'s size rule.

The emulation is moto, in process:
- 20 source regions, 5,000 databases (DB instances, and Aurora clusters with a writer instance each, some tagged)
  created through the RDS API; one region (the sample region) holds few databases, the others the rest;
- the mapping and history tables created from template.yaml's own properties (key schema, attribute definitions,
  the database index); each region's mapping item has two targets: the same account in another region
  (min_interval_hours 20) and another account through a role (databases tagged replicate=no excluded); both rpo 48 h;
- the history: per (database, target) one replication a day for 90 days (SUCCEEDED mostly, FAILED, SKIPPED; some
  recent failure streaks; replicas older than 30 days pruned, the newest kept), each record the project's own
  ReplicationRecord.to_item() (plans made by plan_replication), 900,000 records in all.

What moto cannot hold or answer at that size, and how the bench deals with it (numbers in docs/performance.md):
- moto keeps about 18 KB of Python objects per record: 900,000 records would need 16 GB. The history table holds the
  newest --loaded-days days of every (database, target) (the audit reads the newest ten entries, one page) and the
  sample region's whole 90 days; the sample region's records are also in a table of their own, where both designs
  are timed side by side. The 900,000-record scan's read units are computed from every record's size (the same
  generator; a pair's records of one status all have one size, checked on every record written).
- moto's HTTP layer takes 2.4 ms per record written: the records are put into moto's backend as moto Items directly.
- moto answers a Query on a global secondary index by testing every item of the table (DynamoDB reads the one
  partition): the bench keeps each partition's index entries (the keys and the projected attributes, as DynamoDB's
  index holds them) and hands moto's query that partition; moto's own code still matches, sorts, pages, limits and
  projects, and the bench checks that the answers equal moto's unaided ones.
- moto's Scan restarts from the table's first item for every page and serializes slowly (several ms a record): the
  scan is timed on the sample table and extrapolated.
- wall times are split into moto's share (from botocore handing a request over to moto's answer) and the rest (the
  replicator's code and boto3), which is what the Lambda itself would spend besides waiting for DynamoDB.

The audit's page size is also modelled (pages of index entries until the newest replica, each page billed whole):
the model must give the measured read exactly, then it tells what other page sizes would read at 90 days.

Exits non-zero if the audit scans the history, reads more than 3 index queries per selected (database, target) on
average, or disagrees with the scan design.

    python bench/coverage_audit.py [--estate-runs 1] [--runs 3] [--databases 5000] [--regions 20] [--days 90]
        [--loaded-days 12] [--sample-databases 22] [--seed 13]
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.botocore_stubber import BotocoreStubber
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table

from replicator.aws import rds, sessions
from replicator.aws.dynamodb import region_mappings, replication_records
from replicator.coverage import CoverageRow, assess
from replicator.execution import Phase, Progress
from replicator.history import (
    DATABASE_INDEX,
    INDEX_PROJECTION,
    IndexedReplication,
    ReplicationStatus,
    database_target_key,
    taken_key,
)
from replicator.mapping import Encryption, MappingTarget, RegionMapping
from replicator.planning import plan_replication
from replicator.selection import DatabaseFacts, Selection, SelectionRule, TagMatch, interval_refusal
from replicator.settings import Settings
from replicator.snapshots import SnapshotKind, SourceSnapshot, replication_id, snapshot_arn
from replicator.usecases import coverage as coverage_use
from replicator.usecases import start as start_use
from replicator_cli.local.provision import load_template

ROOT = Path(__file__).resolve().parents[1]
OWN, VAULT = "123456789012", "210987654321"
VAULT_ROLE = f"arn:aws:iam::{VAULT}:role/rds-snapshot-replicator-target"
MAPPINGS, HISTORY, SAMPLE_HISTORY = "mappings", "history", "history-sample"
REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
    "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "me-south-1", "af-south-1",
]  # fmt: skip
APPS = ["orders", "billing", "users", "search", "ledger", "events", "catalog", "payments"]
RPO_HOURS = 48.0
MIN_INTERVAL_HOURS = 20.0
RETENTION_DAYS = 30
LAST_DAY = datetime(2026, 11, 30, tzinfo=UTC)  # the history's newest day; the audit runs at 15:00 that day
AUDIT_AT = LAST_DAY + timedelta(hours=15)
# prices: DynamoDB on-demand, us-east-1 (https://aws.amazon.com/dynamodb/pricing/on-demand/): read request units
# $0.125 per million since the November 2024 price cut (the figure docs/performance.md uses; see its sources)
USD_PER_MILLION_READS = 0.125
HOURS_PER_MONTH = 730  # as AWS prices a month
SCAN_PAGE_BYTES = 1024 * 1024  # a Scan returns at most 1 MB per request
MAX_QUERIES_PER_PAIR = 3.0  # the bench fails above this average of index queries per selected (database, target)

PLACEHOLDER = "zzplaceholderdb"  # the database identifier in a prototype record (letters only: ids keep it whole)
PROTO_TAKEN = datetime(2000, 1, 1, 3, 10, tzinfo=UTC)
STARTED_AFTER, FINISHED_AFTER = timedelta(minutes=1), timedelta(minutes=38)
EVENT_ID = "0f2b6a1c-5d7e-4c1f-9a2b-3c4d5e6f7a8b"


# --- pure logic: DynamoDB's read rule, the scan's pages, the cost model (tests/unit/test_coverage_bench.py) -------


def read_units(size_bytes: int) -> float:
    """One Query or Scan request's read units by `ReadUsage`'s rule: the items' total size rounded up to
    4 KB (at least one unit), half a unit each (eventually consistent)."""
    return max(1, -(-size_bytes // 4096)) * 0.5


def scan_pages(sizes: Iterable[int], page_bytes: int = SCAN_PAGE_BYTES) -> tuple[int, float]:
    """(requests, read units) of a Scan reading items of these sizes in turn: a page ends before the item that would
    take it over `page_bytes`; each page is billed by `read_units`."""
    pages, units, current, count = 0, 0.0, 0, 0
    for size in sizes:
        if count and current + size > page_bytes:
            pages, units, current, count = pages + 1, units + read_units(current), 0, 0
        current, count = current + size, count + 1
    if count or not pages:
        pages, units = pages + 1, units + read_units(current)
    return pages, units


def audit_reads(entries_newest_first: list[tuple[int, bool]], page_size: int) -> tuple[int, float]:
    """(queries, read units) of the audit's read of one (database, target): pages of `page_size` index entries
    (size, holds a replica), newest first, until the page holding the newest replica; every page is read whole.
    Without a replica every page is read (a last page that is exactly full is not followed by an empty one here,
    as on moto; DynamoDB may answer one more, empty page)."""
    sizes = [size for size, _ in entries_newest_first]
    holds = next((i for i, (_, held) in enumerate(entries_newest_first) if held), None)
    wanted = len(sizes) if holds is None else holds + 1
    pages = max(1, -(-wanted // page_size))
    units = sum(read_units(sum(sizes[p * page_size : (p + 1) * page_size])) for p in range(pages))
    return pages, units


def runs_per_month(schedule: str) -> float:
    """How often an EventBridge rate() schedule runs in a month of HOURS_PER_MONTH hours."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", schedule.strip())
    if not match:
        raise ValueError(f"not a rate() schedule: {schedule!r} (cron schedules are not modelled)")
    hours = int(match[1]) * {"minute": 1 / 60, "hour": 1.0, "day": 24.0}[match[2].rstrip("s")]
    return HOURS_PER_MONTH / hours


def monthly_usd(read_units_per_run: float, runs: float, usd_per_million: float = USD_PER_MILLION_READS) -> float:
    """On-demand read cost of `runs` runs a month, each reading `read_units_per_run` read request units."""
    return read_units_per_run * runs * usd_per_million / 1_000_000


# --- the world: regions, mappings, databases, their history ---------------------------------------------------------


def _key(account: str, region: str, name: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{name}-0000-0000-0000-000000000000"


def mapping_of(region: str, index: int) -> RegionMapping:
    """Two targets: this account in another region (at most one replica per 20 h), another account through a role
    (databases tagged replicate=no left out); both must hold a replica younger than 48 h."""
    paired = REGIONS[(index + 1) % len(REGIONS)]
    vault = "us-west-2" if region != "us-west-2" else "us-east-2"
    return RegionMapping(
        source_region=region,
        targets=[
            MappingTarget(
                target_region=paired,
                encryption=Encryption(enabled=True, kms_key_arn=_key(OWN, paired, "dr")),
                selection=Selection(min_interval_hours=MIN_INTERVAL_HOURS),
                rpo_hours=RPO_HOURS,
                retention_days=RETENTION_DAYS,
            ),
            MappingTarget(
                target_region=vault,
                role_arn=VAULT_ROLE,
                encryption=Encryption(enabled=True, kms_key_arn=_key(VAULT, vault, "vault")),
                share_kms_key_arn=_key(OWN, region, "share"),
                transfer_kms_key_arn=_key(OWN, vault, "transfer"),
                selection=Selection(exclude=[SelectionRule(tags=[TagMatch(key="replicate", values=["no"])])]),
                rpo_hours=RPO_HOURS,
                retention_days=RETENTION_DAYS,
            ),
        ],
    )


@dataclass(frozen=True)
class Database:
    region: str
    identifier: str
    kind: SnapshotKind
    engine: str
    tags: tuple[tuple[str, str], ...]
    minute: int  # its daily snapshot is taken at 03:00 + this many minutes


@dataclass
class Pair:
    """One (database, target): one partition of the database index."""

    database: Database
    target_index: int
    key: str
    statuses: list[ReplicationStatus]  # day 0 (oldest) .. days-1 (newest)
    pruned: list[bool]  # a SUCCEEDED replica the retention deleted
    selected: bool  # the target's selection takes some snapshot of the database (the audit reads its history)


def databases_of(regions: list[str], total: int, sample_region: str, sample_size: int) -> list[Database]:
    """`sample_size` databases in the sample region, the rest spread evenly over the others; 40 % Aurora clusters,
    30 % tagged env/team, 5 % tagged replicate=no."""
    others = [r for r in regions if r != sample_region]
    counts = {sample_region: sample_size}
    share, extra = divmod(total - sample_size, len(others))
    counts.update({region: share + (1 if i < extra else 0) for i, region in enumerate(others)})
    found = []
    for region in regions:
        for i in range(counts[region]):
            app = APPS[i % len(APPS)]
            cluster = i % 5 in (0, 1)
            kind = SnapshotKind.CLUSTER if cluster else SnapshotKind.INSTANCE
            engine = (
                ("aurora-postgresql" if i % 2 else "aurora-mysql") if cluster else ("postgres" if i % 2 else "mysql")
            )
            tags: tuple[tuple[str, str], ...] = ()
            if i % 10 in (0, 3, 6):
                tags = (("env", "prod"), ("team", app))
            elif i % 20 == 7:
                tags = (("replicate", "no"),)
            found.append(Database(region, f"{app}-{i:04d}", kind, engine, tags, (i * 7) % 60))
    return found


def history_of(
    databases: list[Database], mappings: dict[str, RegionMapping], days: int, sample_region: str, seed: int
) -> list[Pair]:
    """Each (database, target)'s outcomes, day by day: 92 % SUCCEEDED, 5 % FAILED, 3 % SKIPPED (a snapshot within
    min_interval_hours of another) on the first target; 95 % / 5 % on the second, every snapshot SKIPPED for a
    database it excludes; 1 % of the pairs fail for their last 2-8 days, and in the sample region a few for 12 to 45
    days (the audit then reads several pages)."""
    rng = random.Random(seed)
    pairs = []
    # the sample region's first two databases: (target, days failing) for their pairs in turn
    long_streaks = iter([(0, 12), (1, 25), (0, 45), (1, 33)])
    for database in databases:
        mapping = mappings[database.region]
        facts = DatabaseFacts(identifier=database.identifier, engine=database.engine, tags=dict(database.tags))
        for index, target in enumerate(mapping.targets):
            account = target.account_id(OWN)
            key = database_target_key(
                OWN, database.region, database.kind.value, database.identifier, account, target.target_region
            )
            excluded = target.selection is not None and target.selection.database_refusal(facts) is not None
            statuses = []
            for _ in range(days):
                draw = rng.random()
                if excluded:
                    statuses.append(ReplicationStatus.SKIPPED)
                elif draw < (0.92 if index == 0 else 0.95):
                    statuses.append(ReplicationStatus.SUCCEEDED)
                elif draw < 0.97 or index == 1:
                    statuses.append(ReplicationStatus.FAILED)
                else:
                    statuses.append(ReplicationStatus.SKIPPED)
            streak = 0
            if not excluded and rng.random() < 0.01:
                streak = rng.randint(2, 8)
            if database.region == sample_region and not excluded:
                wanted = next(long_streaks, None)
                if wanted is not None and wanted[0] == index:
                    streak = wanted[1]
            for day in range(max(0, days - streak), days):
                statuses[day] = ReplicationStatus.FAILED
            succeeded = [d for d, s in enumerate(statuses) if s is ReplicationStatus.SUCCEEDED]
            newest = succeeded[-1] if succeeded else None
            pruned = [
                s is ReplicationStatus.SUCCEEDED and d != newest and days - 1 - d > RETENTION_DAYS
                for d, s in enumerate(statuses)
            ]
            pairs.append(Pair(database, index, key, statuses, pruned, not excluded))
    return pairs


def day_of(days: int, day: int) -> datetime:
    return LAST_DAY - timedelta(days=days - 1 - day)


class Records:
    """History records as the replicator writes them: per (region, kind, engine, tags, target, status) one prototype
    made by the project's own code (start._base_record, plan_replication, the outcome's fields), its database and day
    then written in (same-length dates and hashes: a pair's records of one status all have the same size)."""

    def __init__(self, mappings: dict[str, RegionMapping]) -> None:
        self.mappings = mappings
        self._prototypes: dict[tuple[Any, ...], tuple[str, str]] = {}
        self._sizes: dict[tuple[str, ReplicationStatus, bool], tuple[int, int]] = {}
        self.entry_attributes: list[str] = []  # the index entry's: its keys, the table's, the projected ones

    def _prototype(self, database: Database, target_index: int, status: ReplicationStatus) -> tuple[str, str]:
        key = (database.region, database.kind, database.engine, database.tags, target_index, status)
        if key in self._prototypes:
            return self._prototypes[key]
        target = self.mappings[database.region].targets[target_index]
        source = _source(database, PLACEHOLDER, PROTO_TAKEN)
        record = start_use._base_record(source, target, EVENT_ID)
        started, finished = PROTO_TAKEN + STARTED_AFTER, PROTO_TAKEN + FINISHED_AFTER
        common = {"started_at": started, "updated_at": finished, "finished_at": finished, "outcome_published": True}
        if status is ReplicationStatus.SKIPPED:
            facts = DatabaseFacts(
                identifier=PLACEHOLDER, engine=database.engine, tags=dict(database.tags), snapshot_type="automated"
            )
            why = target.selection.refusal(facts) if target.selection else None
            why = why or interval_refusal(target.selection, [4.0])
            record = record.model_copy(
                update={**common, "status": status, "reason": f"not selected: {why}", "not_selected": True}
            )
        else:
            plan = plan_replication(source, target)
            if status is ReplicationStatus.SUCCEEDED:
                progress = Progress(step_index=len(plan.steps), phase=Phase.FINISHED, step_started_at=started)
                update = {"reason": f"replica {plan.replica_arn} is available", "replica_arn": plan.replica_arn}
            else:
                progress = Progress(
                    step_index=0,
                    phase=Phase.FAILED,
                    step_started_at=started,
                    percent_progress=35,
                    checks=3,
                    failure_reason="KMSKeyNotAccessibleFault: the copy's KMS key is not accessible",
                )
                update = {"reason": f"step {progress.step_label(plan)} failed: {progress.failure_reason}"}
            record = record.model_copy(
                update={
                    **common,
                    **update,
                    "status": status,
                    "plan": plan,
                    "progress": progress,
                    "step": progress.step_label(plan),
                    "percent_progress": 100 if status is ReplicationStatus.SUCCEEDED else 35,
                }
            )
        item = record.to_item()
        text = json.dumps(item, default=float)
        if json.loads(text, parse_float=Decimal) != item or set(re.findall(r"\d{4}-\d\d-\d\d", text)) != {"2000-01-01"}:
            raise AssertionError(f"prototype {key} does not round-trip, or holds a time not of its day")
        self._prototypes[key] = (text, record.replication_id)
        return self._prototypes[key]

    def item(self, pair: Pair, day: int, days: int) -> dict[str, Any]:
        database, status = pair.database, pair.statuses[day]
        text, proto_id = self._prototype(database, pair.target_index, status)
        target = self.mappings[database.region].targets[pair.target_index]
        taken = day_of(days, day) + timedelta(hours=3, minutes=database.minute)
        source = _source(database, database.identifier, taken)
        rid = replication_id(source.arn, target.account_id(OWN), target.target_region)
        for old, new in (
            (proto_id, rid),
            (proto_id[-12:-4], rid[-12:-4]),  # replica_identifier's 8-hex digest: the id's hash, shorter
            (PLACEHOLDER, database.identifier),
            (PROTO_TAKEN.strftime("%Y-%m-%d-%H-%M"), taken.strftime("%Y-%m-%d-%H-%M")),
            (taken_key(PROTO_TAKEN), taken_key(taken)),
            (taken_key(PROTO_TAKEN + STARTED_AFTER), taken_key(taken + STARTED_AFTER)),
            (taken_key(PROTO_TAKEN + FINISHED_AFTER), taken_key(taken + FINISHED_AFTER)),
        ):
            text = text.replace(old, new)
        item = json.loads(text, parse_float=Decimal)
        if pair.pruned[day]:
            item["replica_deleted_at"] = taken_key(taken + timedelta(days=RETENTION_DAYS + 1))
            item["replica_deleted_reason"] = f"older than retention_days ({RETENTION_DAYS})"
        return item

    def sizes(self, pair: Pair, day: int, days: int, item: dict[str, Any] | None = None) -> tuple[int, int]:
        """The record's size and its index entry's, by ReadUsage's rule; computed once per pair, status and
        pruned (the bench checks every record it writes against them)."""
        key = (pair.key, pair.statuses[day], pair.pruned[day])
        if item is None and key in self._sizes:
            return self._sizes[key]
        item = item if item is not None else self.item(pair, day, days)
        entry = {name: item[name] for name in self.entry_attributes if name in item}
        sizes = (replication_records._item_size(item), replication_records._item_size(entry))
        known = self._sizes.setdefault(key, sizes)
        if known != sizes:
            raise AssertionError(f"{pair.key} day {day}: {sizes} bytes, its other records {known}")
        return known


def _source(database: Database, identifier: str, taken: datetime) -> SourceSnapshot:
    name = f"rds:{identifier}-{taken.strftime('%Y-%m-%d-%H-%M')}"
    return SourceSnapshot(
        arn=snapshot_arn(database.kind, database.region, OWN, name),
        identifier=name,
        kind=database.kind,
        snapshot_type="automated",
        account_id=OWN,
        region=database.region,
        status="available",
        encrypted=True,
        kms_key_id=_key(OWN, database.region, "rds-data"),
        engine=database.engine,
        engine_version="16.4" if "postgres" in database.engine else "8.0.39",
        database_identifier=identifier,
        allocated_storage_gb=200,
        tags=dict(database.tags),
        created_at=taken,
    )


# --- the emulation ---------------------------------------------------------------------------------------------------


_new_node = object.__new__


def _dynamo(value: Any) -> DynamoType:
    """A value of to_item() as the DynamoType tree moto stores (what moto builds from boto3's wire format, built
    directly: DynamoType's own constructor takes 20 % longer than the whole rest of the loading)."""
    node = _new_node(DynamoType)
    if isinstance(value, str):
        node.type, node.value = "S", value
    elif isinstance(value, bool):
        node.type, node.value = "BOOL", value
    elif isinstance(value, int | Decimal):
        node.type, node.value = "N", str(value)
    elif isinstance(value, dict):
        node.type, node.value = "M", {k: _dynamo(v) for k, v in value.items()}
    elif isinstance(value, list):
        node.type, node.value = "L", [_dynamo(v) for v in value]
    else:
        raise TypeError(f"no DynamoDB type for {value!r}")
    return node


def _forget_moto_items() -> None:
    """moto keeps every Item it ever made (queries' copies included) for its model API: not needed here."""
    Item.instances_tracked.clear()  # type: ignore[attr-defined]


def _moto_item(attributes: dict[str, DynamoType], hash_key: str) -> Item:
    """A moto Item, built without moto's per-attribute 400 KB re-check (it sums the whole item again for every
    attribute set: 0.5 ms an item here; these items are 3 to 6 KB)."""
    item: Any = Item.__new__(Item)
    item.hash_key = attributes[hash_key]
    item.range_key = None
    item.attrs = LimitedSizeDict()
    dict.update(item.attrs, attributes)
    return item


class EmulatedIndex:
    """The history's database index, kept beside moto's table as DynamoDB keeps a global secondary index: per
    partition key, the entries (the table's key, the index's keys and its projected attributes). moto's Query on the
    index then tests only that partition's entries instead of every item of the table; the rest is moto's own code."""

    def __init__(self, index_name: str, hash_attribute: str, attributes: list[str]) -> None:
        self.index_name, self.hash_attribute, self.attributes = index_name, hash_attribute, attributes
        self.partitions: dict[str, dict[str, list[Item]]] = defaultdict(lambda: defaultdict(list))
        self.enabled = True

    def add(self, table: str, attributes: dict[str, DynamoType]) -> None:
        entry = {name: attributes[name] for name in self.attributes if name in attributes}
        self.partitions[table][attributes[self.hash_attribute].value].append(_moto_item(entry, "replication_id"))

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = Table.query
        signature = inspect.signature(original)

        def query(table: Table, *args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(table, *args, **kwargs).arguments
            conditions = bound.get("hash_key_conditions") or []
            partitions = self.partitions.get(table.name)
            if (
                self.enabled
                and partitions is not None
                and bound.get("index_name") == self.index_name
                and len(conditions) == 1
                and conditions[0][0] == self.hash_attribute
            ):
                entries = partitions.get(conditions[0][1].value, [])
                table.all_items = lambda: entries  # type: ignore[method-assign]
                try:
                    return original(table, *args, **kwargs)
                finally:
                    del table.all_items
            return original(table, *args, **kwargs)

        setattr(Table, "query", query)  # noqa: B010 (a method replaced: mypy refuses the assignment)
        try:
            yield
        finally:
            setattr(Table, "query", original)  # noqa: B010


class Requests:
    """Every DynamoDB request the replicator's clients make, by operation, table and index (botocore's
    provide-client-params event, registered on boto3's default session before any client exists)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.per_key: Counter[str] = Counter()  # index queries per partition key
        boto3.setup_default_session(region_name="us-east-1")
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("provide-client-params.dynamodb.*", self._count)
        sessions.reset_cache()

    def _count(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.counts[(model.name, params.get("TableName", ""), params.get("IndexName", ""))] += 1
        if model.name == "Query" and params.get("IndexName"):
            self.per_key[str(params.get("ExpressionAttributeValues", {}).get(":key"))] += 1

    def take(self) -> tuple[Counter[tuple[str, str, str]], Counter[str]]:
        taken = self.counts, self.per_key
        self.counts, self.per_key = Counter(), Counter()
        return taken


class EmulatorClock:
    """The time spent in moto (each request from botocore handing it over to moto's answer), to tell the emulator's
    share of a wall time from the replicator's and boto3's."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = BotocoreStubber.process_request

        def timed(stubber: BotocoreStubber, request: Any) -> Any:
            begin = time.perf_counter()
            try:
                return original(stubber, request)
            finally:
                self.seconds += time.perf_counter() - begin

        setattr(BotocoreStubber, "process_request", timed)  # noqa: B010
        try:
            yield
        finally:
            setattr(BotocoreStubber, "process_request", original)  # noqa: B010

    def take(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def _table_properties(logical_id: str) -> dict[str, Any]:
    properties = load_template(ROOT / "template.yaml")["Resources"][logical_id]["Properties"]
    wanted = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    return {name: properties[name] for name in wanted if name in properties}


def create_databases(databases: list[Database]) -> float:
    """Through the RDS API; an Aurora cluster gets a writer instance (which list_databases counts as its cluster's)."""
    start = time.perf_counter()
    clients: dict[str, Any] = {}
    for database in databases:
        client = clients.setdefault(database.region, boto3.client("rds", region_name=database.region))
        tags = [{"Key": k, "Value": v} for k, v in database.tags]
        login = {"MasterUsername": "admin", "MasterUserPassword": "not-a-secret-0"}
        if database.kind is SnapshotKind.CLUSTER:
            client.create_db_cluster(
                DBClusterIdentifier=database.identifier, Engine=database.engine, Tags=tags, **login
            )
            client.create_db_instance(
                DBInstanceIdentifier=f"{database.identifier}-writer",
                DBClusterIdentifier=database.identifier,
                Engine=database.engine,
                DBInstanceClass="db.r6g.large",
            )
        else:
            client.create_db_instance(
                DBInstanceIdentifier=database.identifier,
                Engine=database.engine,
                DBInstanceClass="db.m6g.large",
                AllocatedStorage=200,
                Tags=tags,
                **login,
            )
    return time.perf_counter() - start


@dataclass
class Loaded:
    records: int = 0
    seconds: float = 0.0
    sample_items: dict[str, dict[str, Any]] = field(default_factory=dict)  # replication id -> full item
    full_sizes: list[int] = field(default_factory=list)  # every record of the whole history, in table order
    entry_sizes: dict[str, list[int]] = field(default_factory=dict)  # per pair, its index entries, day by day


def load_history(
    pairs: list[Pair], records: Records, index: EmulatedIndex, days: int, loaded_days: int, sample_region: str
) -> Loaded:
    """The newest `loaded_days` of every pair into the history table, the sample region's whole history into it and
    into the sample table; the size of every record of the whole history (stored or not)."""
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    history: Any = backend.tables[HISTORY]
    sample: Any = backend.tables[SAMPLE_HISTORY]
    loaded = Loaded()
    start = time.perf_counter()
    gc.disable()  # millions of long-lived objects: the collector would rescan them all, again and again
    for pair in pairs:
        in_sample = pair.database.region == sample_region
        first = 0 if in_sample else days - loaded_days
        entries = loaded.entry_sizes[pair.key] = []
        for day in range(days):
            if day < first:
                full, entry = records.sizes(pair, day, days)
                loaded.full_sizes.append(full)
                entries.append(entry)
                continue
            item = records.item(pair, day, days)
            full, entry = records.sizes(pair, day, days, item)
            loaded.full_sizes.append(full)
            entries.append(entry)
            # the tables' items and the index entries share their (immutable here) attribute values
            attributes = {name: _dynamo(value) for name, value in item.items()}
            targets = [(history, HISTORY)] + ([(sample, SAMPLE_HISTORY)] if in_sample else [])
            for table, name in targets:
                moto_item = _moto_item(attributes, "replication_id")
                table.items[moto_item.hash_key] = moto_item
                index.add(name, attributes)
                loaded.records += 1
            if in_sample:
                loaded.sample_items[item["replication_id"]] = item
    _forget_moto_items()
    gc.enable()
    gc.freeze()  # the emulation's objects live to the end: out of the collector's way
    loaded.seconds = time.perf_counter() - start
    return loaded


# --- the two designs -------------------------------------------------------------------------------------------------


def scan_audit(
    history_table: str, full_items: dict[str, dict[str, Any]], source_regions: list[str], now: datetime
) -> tuple[list[CoverageRow], replication_records.ReadUsage, int]:
    """The design the index replaces: read the whole history with Scan (the index's attributes projected: DynamoDB
    bills the whole items anyway), keep each (database, target)'s replications, judge each as the audit does.
    Returns the rows, the read usage (each page billed on its full items) and the items scanned."""
    usage = replication_records.ReadUsage()
    names = ["database_target", "source_taken_at", "replication_id", *INDEX_PROJECTION]
    kwargs: dict[str, Any] = {
        "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(names))),
        "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(names)},
    }
    by_pair: dict[str, list[dict[str, Any]]] = defaultdict(list)
    table = sessions.dynamodb_table(history_table)
    scanned = 0
    while True:
        page = table.scan(**kwargs)
        usage.add([full_items[item["replication_id"]] for item in page["Items"]])
        scanned += len(page["Items"])
        for item in page["Items"]:
            by_pair[item["database_target"]].append(item)
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    rows = []
    mappings = {m.source_region: m for m in map(RegionMapping.model_validate, region_mappings.mapping_items(MAPPINGS))}
    for region, mapping in coverage_use.mapped_regions(mappings, None).items():
        if region not in source_regions:
            continue
        for database in rds.list_databases(region):
            for target in mapping.targets:
                account = target.account_id(OWN)
                key = database_target_key(
                    OWN, region, database.kind.value, database.identifier, account, target.target_region
                )
                newest_first = sorted(by_pair.get(key, []), key=lambda i: i["source_taken_at"], reverse=True)
                history = (IndexedReplication.model_validate(item) for item in newest_first)
                rows.append(
                    assess(database, account, target.target_region, target.selection, target.rpo_hours, history, now)
                )
    return rows, usage, scanned


@dataclass
class Run:
    seconds: float
    moto_seconds: float  # of it, in moto (parsing the request, answering, serializing the answer)
    report: coverage_use.CoverageReport
    requests: Counter[tuple[str, str, str]]
    per_key: Counter[str]  # index queries per (database, target)
    items: int  # index entries read


class _KeptUsage(replication_records.ReadUsage):
    """ReadUsage, remembered: the audit makes its own and reports only its read units and requests."""

    made: list[replication_records.ReadUsage] = []

    def __init__(self) -> None:
        super().__init__()
        _KeptUsage.made.append(self)


def run_audit(
    requests: Requests, clock: EmulatorClock, history_table: str, source_regions: list[str] | None = None
) -> Run:
    requests.take()
    clock.take()
    _KeptUsage.made.clear()
    original, replication_records.ReadUsage = replication_records.ReadUsage, _KeptUsage  # type: ignore[misc]
    try:
        start = time.perf_counter()
        report = coverage_use.audit_coverage(MAPPINGS, history_table, OWN, source_regions=source_regions, now=AUDIT_AT)
        seconds = time.perf_counter() - start
    finally:
        replication_records.ReadUsage = original  # type: ignore[misc]
    _forget_moto_items()
    counts, per_key = requests.take()
    return Run(seconds, clock.take(), report, counts, per_key, sum(u.items for u in _KeptUsage.made))


def check_index(index: EmulatedIndex, pairs: list[Pair], sample_region: str, days: int) -> int:
    """The emulated index answers as moto unaided (every item of the table tested): same pages, same items."""
    chosen = [pairs[0], pairs[len(pairs) // 2]]
    chosen += [p for p in pairs if p.database.region == sample_region and p.statuses[-10:].count(p.statuses[-1]) == 10]
    checked = 0
    for pair in chosen[:4]:
        for since, until in ((None, None), (taken_key(day_of(days, days - 3)), taken_key(day_of(days, days - 1)))):
            answers = []
            for enabled in (True, False):
                index.enabled = enabled
                pages = list(_pages(pair.key, since, until))
                answers.append(pages)
            index.enabled = True
            if answers[0] != answers[1]:
                raise AssertionError(f"the emulated index answers {pair.key} unlike moto")
            checked += 1
    _forget_moto_items()
    return checked


def _pages(key: str, since: str | None, until: str | None) -> Iterator[tuple[list[dict[str, Any]], Any]]:
    condition, values = "database_target = :k", {":k": key}
    if since and until:
        condition += " AND source_taken_at BETWEEN :s AND :u"
        values.update({":s": since, ":u": until})
    kwargs: dict[str, Any] = {
        "IndexName": DATABASE_INDEX,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": False,
        "Limit": 10,
    }
    table = sessions.dynamodb_table(HISTORY)
    while True:
        page = table.query(**kwargs)
        yield page["Items"], page.get("LastEvaluatedKey")
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def start_path(pairs: list[Pair], mappings: dict[str, RegionMapping], days: int) -> dict[str, Any]:
    """The start function's min_interval_hours read (start._not_selected) for the sample region's databases on the
    first target, at 90 days of history: the next daily snapshot (24 h after the newest: nothing within 20 h) and a
    manual snapshot 6 h after the newest (the newest is within 20 h). One Query each, timed and its read units
    counted (replication_records.replications_of_database, given a ReadUsage)."""
    settings = Settings(mapping_table=MAPPINGS, history_table=HISTORY, account_id=OWN)
    original = replication_records.replications_of_database
    usage = replication_records.ReadUsage()

    def counted(*args: Any, **kwargs: Any) -> Iterator[Any]:
        kwargs["usage"] = usage
        return original(*args, **kwargs)

    results: dict[str, Any] = {}
    replication_records.replications_of_database = counted
    try:
        for label, after in (("next daily snapshot", timedelta(hours=24)), ("manual, 6 h later", timedelta(hours=6))):
            times, units, skipped = [], [], 0
            for pair in pairs:
                if pair.target_index != 0:
                    continue
                database = pair.database
                target = mappings[database.region].targets[0]
                taken = day_of(days, days - 1) + timedelta(hours=3, minutes=database.minute) + after
                source = _source(database, database.identifier, taken)
                if after != timedelta(hours=24):
                    name = f"{database.identifier}-manual-{taken.strftime('%Y%m%d%H%M')}"
                    source = source.model_copy(
                        update={"identifier": name, "arn": snapshot_arn(database.kind, database.region, OWN, name)}
                    )
                record = start_use._base_record(source, target, EVENT_ID)
                facts = DatabaseFacts(
                    identifier=database.identifier, engine=database.engine, tags=dict(database.tags),
                    snapshot_type="automated" if after == timedelta(hours=24) else "manual",
                )  # fmt: skip
                before_units, before_requests = usage.read_units, usage.requests
                begin = time.perf_counter()
                why = start_use._not_selected(settings, source, target, facts, record)
                times.append(time.perf_counter() - begin)
                units.append(usage.read_units - before_units)
                if usage.requests - before_requests != 1:
                    raise AssertionError(f"{pair.key}: {usage.requests - before_requests} queries for one start")
                skipped += why is not None
            results[label] = {"starts": len(times), "seconds": times, "units": units, "skipped": skipped}
    finally:
        replication_records.replications_of_database = original
    _forget_moto_items()
    return results


# --- the report ------------------------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _n(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")


def _selected(rows: list[CoverageRow]) -> int:
    return sum(1 for row in rows if row.selected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--estate-runs", type=int, default=1, help="audits of the whole estate timed (~100 s each)")
    parser.add_argument("--runs", type=int, default=3, help="audits of the sample region timed, both designs")
    parser.add_argument("--databases", type=int, default=5000)
    parser.add_argument("--regions", type=int, default=20)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--loaded-days", type=int, default=12, help="days of every pair's history held by moto")
    parser.add_argument("--sample-databases", type=int, default=22, help="databases of the 90-day sample region")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    if not 11 <= args.loaded_days <= args.days:
        raise SystemExit("--loaded-days must be at least 11 (the audit's first page of 10 full) and at most --days")
    for variable, setting in (("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "testing")):
        os.environ.setdefault(variable, setting)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "bench")

    regions = REGIONS[: args.regions]
    sample_region = regions[-1]
    mappings = {region: mapping_of(region, i) for i, region in enumerate(regions)}
    databases = databases_of(regions, args.databases, sample_region, args.sample_databases)
    pairs = history_of(databases, mappings, args.days, sample_region, args.seed)
    schedule = load_template(ROOT / "template.yaml")["Parameters"]["CoverageAuditSchedule"]["Default"]
    history_properties = _table_properties("HistoryTable")
    gsi = next((i for i in history_properties["GlobalSecondaryIndexes"] if i["IndexName"] == DATABASE_INDEX), None)
    if gsi is None:
        raise SystemExit(f"template.yaml's HistoryTable has no index {DATABASE_INDEX}, which the code queries")
    gsi_hash = next(k["AttributeName"] for k in gsi["KeySchema"] if k["KeyType"] == "HASH")
    key_names = [k["AttributeName"] for k in (*history_properties["KeySchema"], *gsi["KeySchema"])]
    entry_attributes = [*key_names, *gsi["Projection"]["NonKeyAttributes"]]
    index = EmulatedIndex(DATABASE_INDEX, gsi_hash, entry_attributes)
    clock = EmulatorClock()

    with mock_aws(), index.installed(), clock.installed():
        requests = Requests()
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(TableName=MAPPINGS, **_table_properties("MappingTable"))
        for name in (HISTORY, SAMPLE_HISTORY):
            dynamodb.create_table(TableName=name, **history_properties)
        mapping_table = sessions.dynamodb_table(MAPPINGS)
        for mapping in mappings.values():  # as `replicator mappings put` writes them (numbers as Decimal)
            dump = json.dumps(mapping.model_dump(mode="json", exclude_none=True))
            mapping_table.put_item(Item=json.loads(dump, parse_float=Decimal))
        rds_seconds = create_databases(databases)
        records = Records(mappings)
        records.entry_attributes = entry_attributes
        loaded = load_history(pairs, records, index, args.days, args.loaded_days, sample_region)
        print(
            f"Emulation built: {len(databases):,} databases in {len(regions)} regions ({rds_seconds:.0f} s through the "
            f"RDS API), {len(pairs):,} (database, target) pairs, {len(loaded.full_sizes):,} history records "
            f"({args.days} days); moto holds {loaded.records:,} ({args.loaded_days} days of every pair, {args.days} of "
            f"the {args.sample_databases} databases of {sample_region}, also in the sample table), written in "
            f"{loaded.seconds:.0f} s",
            flush=True,
        )
        checked = check_index(index, pairs, sample_region, args.days)
        requests.take()

        clock.take()
        list_start = time.perf_counter()
        listed = sum(len(rds.list_databases(region)) for region in regions)
        list_seconds, list_moto = time.perf_counter() - list_start, clock.take()
        if listed != len(databases):
            raise SystemExit(f"list_databases found {listed} databases, {len(databases)} were created")

        full = [run_audit(requests, clock, HISTORY) for _ in range(args.estate_runs)]
        sample_index = [run_audit(requests, clock, SAMPLE_HISTORY, [sample_region]) for _ in range(args.runs)]
        sample_scan = []
        for _ in range(args.runs):
            requests.take()
            clock.take()
            begin = time.perf_counter()
            scan_rows, scan_usage, scanned = scan_audit(SAMPLE_HISTORY, loaded.sample_items, [sample_region], AUDIT_AT)
            seconds = time.perf_counter() - begin
            sample_scan.append((seconds, scan_rows, scan_usage, scanned, requests.take()[0], clock.take()))
            _forget_moto_items()
        starts = start_path([p for p in pairs if p.database.region == sample_region], mappings, args.days)
        sample_table: Any = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[SAMPLE_HISTORY]
        sample_moto_sizes = sum(item.size() for item in sample_table.items.values())

    # --- checks ---------------------------------------------------------------------------------------------------
    failures = []
    report = full[0].report
    pairs_selected = _selected(report.rows)
    for name, runs in (("the estate", full), ("the sample", sample_index)):
        for run in runs:
            scans = sum(n for (op, table, _), n in run.requests.items() if op == "Scan" and table != MAPPINGS)
            queries = sum(n for (op, _, idx), n in run.requests.items() if op == "Query" and idx == DATABASE_INDEX)
            if scans:
                failures.append(f"{name}: the audit scanned the history ({scans} Scan requests)")
            if queries != run.report.index_queries:
                failures.append(f"{name}: {queries} Query requests seen, the report says {run.report.index_queries}")
            if (run.report.index_queries, run.report.read_units) != (
                runs[0].report.index_queries,
                runs[0].report.read_units,
            ):
                failures.append(f"{name}: the runs read differently")  # fmt: skip
            if run.report.problems:
                failures.append(f"{name}: problems {run.report.problems}")
    per_pair = report.index_queries / pairs_selected
    sample_report = sample_index[0].report
    sample_selected = _selected(sample_report.rows)
    sample_per_pair = sample_report.index_queries / sample_selected
    for name, value in (("the estate", per_pair), (f"the sample region at {args.days} days", sample_per_pair)):
        if value > MAX_QUERIES_PER_PAIR:
            most = f"{MAX_QUERIES_PER_PAIR:g}"
            failures.append(f"{name}: {value:.2f} index queries per selected (database, target), more than {most}")
    if sample_scan[0][1] != sample_report.rows:
        failures.append("the scan design's rows differ from the audit's on the sample")
    if [r for r in report.rows if r.source_region == sample_region] != sample_report.rows:
        failures.append("the sample region's rows differ between the history table and the sample table")
    if pairs_selected != sum(p.selected for p in pairs):
        failures.append(f"the audit selected {pairs_selected} pairs, the history has {sum(p.selected for p in pairs)}")

    # --- the page size of the audit's read: the model, checked against the measured read, then at 90 days ---------
    def entries(pair: Pair, newest: int) -> list[tuple[int, bool]]:
        held = [
            s is ReplicationStatus.SUCCEEDED and not pruned
            for s, pruned in zip(pair.statuses, pair.pruned, strict=True)
        ]
        return list(zip(loaded.entry_sizes[pair.key], held, strict=True))[-newest:][::-1]

    selected = [p for p in pairs if p.selected]
    held = {p.key: entries(p, args.days if p.database.region == sample_region else args.loaded_days) for p in selected}

    def modelled(page_size: int) -> tuple[int, float]:
        reads = [audit_reads(held[p.key], page_size) for p in selected]
        return sum(q for q, _ in reads), sum(u for _, u in reads)

    # the audit's page size is the one whose modelled read is the measured one (none: the model is wrong)
    audit_page = next((n for n in range(1, 51) if modelled(n) == (report.index_queries, report.read_units)), None)
    if audit_page is None:
        failures.append("no page size makes the read model give what the audit read: the model is wrong")
    page_sizes = {}
    for size in sorted({1, 2, 3, 5, 10, 20, audit_page or 10}):
        reads = [audit_reads(entries(p, args.days), size) for p in selected]
        page_sizes[size] = (sum(q for q, _ in reads), sum(u for _, u in reads))

    # --- the whole history's scan, computed; the sample's, measured -----------------------------------------------
    total_records = len(loaded.full_sizes)
    scan_requests, scan_units = scan_pages(loaded.full_sizes)
    scan_bytes = sum(loaded.full_sizes)
    scan_seconds = _median([s[0] for s in sample_scan])
    _, _, sample_usage, sample_scanned, sample_requests, _ = sample_scan[0]
    per_item = scan_seconds / sample_scanned
    sample_sizes = [replication_records._item_size(i) for i in loaded.sample_items.values()]
    computed_sample = scan_pages(sample_sizes)
    audit_seconds = _median([r.seconds for r in full])
    audit_moto = _median([r.moto_seconds for r in full])
    sample_audit_seconds = _median([r.seconds for r in sample_index])
    months = runs_per_month(schedule)
    n_estate = f"median of {args.estate_runs} runs" if args.estate_runs > 1 else "1 run"
    each_run = ", ".join(f"{r.seconds:.1f}" for r in full)

    print(f"\nThe emulated index answered {checked} queries (all their pages) as moto does unaided.\n")
    print(
        f"Coverage audit of {len(databases):,} databases x 2 targets = {len(pairs):,} (database, target) pairs "
        f"({pairs_selected:,} selected), {args.days}-day history of {total_records:,} records "
        f"({scan_bytes / 1e9:.2f} GB by ReadUsage's size rule); wall time on moto, {n_estate}:\n"
    )
    print(
        "| design | history read | requests to the history | index queries per selected pair | items read "
        "| read units per audit | wall time per audit |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| index (audit_coverage) | the newest replications of each pair | {report.index_queries:,} Query, 0 Scan "
        f"| {per_pair:.3f} | {full[0].items:,} index entries | {report.read_units:,.1f} | {audit_seconds:.1f} s "
        f"measured ({each_run} s): moto {audit_moto:.1f} s, the replicator and boto3 "
        f"{audit_seconds - audit_moto:.1f} s "
        f"({(audit_seconds - audit_moto) / report.index_queries * 1000:.1f} ms a query; listing the databases "
        f"{list_seconds:.1f} s of it, {list_moto:.1f} s moto's) |"
    )
    print(
        f"| full scan (naive) | every record, {args.days} days | {scan_requests:,} Scan pages of 1 MB | - "
        f"| {total_records:,} | {scan_units:,.1f} | >= {total_records * per_item / 3600:.1f} h extrapolated "
        f"({per_item * 1000:.2f} ms per record scanned on moto, below) |"
    )
    print(
        f"\nSide by side on the sample region at {args.days} days ({sample_region}: {args.sample_databases} databases, "
        f"{sample_selected} selected pairs, {len(loaded.sample_items):,} records in its own table), both measured, "
        f"median of {args.runs} runs:\n"
    )
    print("| design | requests to the history | items read | read units | wall time (moto's part) | rows |")
    print("|---|---|---|---|---|---|")
    scan_calls = sum(n for (op, table, _), n in sample_requests.items() if op == "Scan" and table == SAMPLE_HISTORY)
    print(
        f"| index (audit_coverage) | {sample_report.index_queries} Query ({sample_per_pair:.2f} per selected pair), "
        f"0 Scan | {sample_index[0].items:,} index entries | {sample_report.read_units:,.1f} "
        f"| {sample_audit_seconds:.2f} s ({_median([r.moto_seconds for r in sample_index]):.2f} s) "
        f"| {len(sample_report.rows)} |"
    )
    print(
        f"| full scan (naive) | {scan_calls} Scan pages | {sample_scanned:,} records | {sample_usage.read_units:,.1f} "
        f"(computed from the sizes: {computed_sample[1]:,.1f}) | {scan_seconds:.2f} s "
        f"({_median([s[5] for s in sample_scan]):.2f} s) | {len(sample_scan[0][1])}, "
        f"{'the same' if sample_scan[0][1] == sample_report.rows else 'DIFFERENT'} |"
    )
    multi = Counter(sample_index[0].per_key.values())
    print(
        f"\nPer selected pair at {args.days} days (sample) and at {args.loaded_days} (estate): "
        f"{sample_report.read_units / sample_selected:.3f} and {report.read_units / pairs_selected:.3f} read units, "
        f"{sample_audit_seconds / sample_selected * 1000:.1f} and {audit_seconds / pairs_selected * 1000:.1f} ms; "
        f"sample pairs read in 1/2/3+ queries: {multi[1]}/{multi[2]}/{sum(n for k, n in multi.items() if k > 2)}; "
        f"verdicts in the estate: {dict(Counter(r.verdict.value for r in report.rows))}. "
        f"ReadUsage's size rule counts a map by its Python text: moto's DynamoDB-style sizes of the sample's records "
        f"are {sample_moto_sizes / sum(sample_sizes):.0%} of it."
    )

    print(f"\nThe start path's min_interval_hours read ({MIN_INTERVAL_HOURS:g} h), history of {args.days} days:\n")
    print("| snapshot started | starts | Query per start | read units per start (median, max) | time per start "
          "(median, moto) | skipped by the interval |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for label, result in starts.items():
        print(
            f"| {label} | {result['starts']} | 1 | {_median(result['units']):.1f}, {max(result['units']):.1f} "
            f"| {_median(result['seconds']) * 1000:.2f} ms | {result['skipped']} |"
        )

    print(
        f"\nThe audit's page size (its Query's Limit), modelled on the {args.days}-day history of the "
        f"{len(selected):,} selected pairs (on the history moto holds, the model gives the audit's measured read at "
        f"page size {audit_page}, the smallest that does: usecases/coverage.py's page_size):\n"
    )
    print("| page size | index queries per audit | read units per audit | USD a month at the schedule |")
    print("|---|---|---|---|")
    for size, (queries, units) in page_sizes.items():
        mark = " (the audit's)" if size == audit_page else ""
        print(f"| {size}{mark} | {queries:,} | {units:,.1f} | {monthly_usd(units, months):,.2f} |")

    start_units = max(_median(r["units"]) for r in starts.values())
    starts_month = len(databases) * (HOURS_PER_MONTH / 24)  # one snapshot a day of every database, one target checks
    print(
        f"\nOn AWS (DynamoDB on-demand, ${USD_PER_MILLION_READS} per million read request units, us-east-1): the audit "
        f"at {schedule} ({months:.0f} runs a month), the start check at one snapshot a day per database "
        f"({starts_month:,.0f} starts a month on the target with min_interval_hours):\n"
    )
    print("| read | design | read units per run | runs a month | read units a month | USD a month |")
    print("|---|---|---|---|---|---|")
    for read, design, units, runs_ in (
        ("coverage audit", "index (measured)", report.read_units, months),
        ("coverage audit", f"full scan ({args.days} days, computed)", scan_units, months),
        ("start: min_interval_hours", "index Query (measured)", start_units, starts_month),
        ("start: min_interval_hours", "a scan per start (for scale)", scan_units, starts_month),
    ):
        usd = monthly_usd(units, runs_)
        print(f"| {read} | {design} | {_n(units)} | {_n(runs_)} | {_n(units * runs_)} | {usd:,.2f} |")

    print()
    if failures:
        for failure in failures:
            print(f"FAILED: {failure}")
        sys.exit(1)
    print(
        f"the audit used the index only: 0 Scan requests on the history, {per_pair:.3f} index queries per selected "
        f"(database, target) (limit {MAX_QUERIES_PER_PAIR:g}); its rows equal the scan design's on the sample"
    )


if __name__ == "__main__":
    main()
