"""The coverage use case: every database of every mapped source region, on every target of its mapping, with its
newest replica and whether it meets the target's RPO (coverage.py); the scheduled audit publishes the per-target
metrics, `replicator coverage` prints the rows.

Reads only: the mappings (a scan of the small mapping table), each region's databases (one listing per region) and,
per selected (database, target), the history's database index newest first until the newest replica: a Query of a
page or two, never a scan of the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field, ValidationError

from ..aws import rds, regions
from ..aws.dynamodb import region_mappings, replication_records
from ..clock import utc_now
from ..coverage import CoverageRow, TargetCoverage, assess, summarize, target_label
from ..history import database_target_key
from ..mapping import ALL_REGIONS, RegionMapping, describe_validation_error
from ..observability import MetricUnit, logger, publish_metrics

# index entries per Query page: an entry is 430 to 660 bytes, so 5 stay within one 4 KB read unit, and the newest
# replica is usually the first (bench/coverage_audit.py: half the read units of pages of 10, for 1 % more queries)
HISTORY_PAGE = 5


class AuditIncomplete(Exception):
    """Some mapping or region could not be audited (the report says which): the audit's run fails, its alarm fires."""


class CoverageReport(BaseModel):
    rows: list[CoverageRow] = Field(default_factory=list)
    targets: list[TargetCoverage] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)  # mappings that could not be read, regions not listed
    read_units: float = (
        0.0  # of the history's database index (DynamoDB's Query rule, see replication_records.ReadUsage)
    )
    index_queries: int = 0

    @property
    def breaches(self) -> list[CoverageRow]:
        return [row for row in self.rows if row.verdict.value == "BREACH"]


def mapped_regions(mappings: dict[str, RegionMapping], every_region: Iterable[str] | None) -> dict[str, RegionMapping]:
    """Each source region with the mapping that applies to it: its own, or "*" for every other enabled region."""
    chosen = {region: m for region, m in mappings.items() if region != ALL_REGIONS}
    if ALL_REGIONS in mappings:
        for region in every_region or []:
            chosen.setdefault(region, mappings[ALL_REGIONS])
    return dict(sorted(chosen.items()))


def audit_coverage(
    mapping_table: str,
    history_table: str,
    own_account: str,
    source_regions: list[str] | None = None,
    targets: list[str] | None = None,
    now: datetime | None = None,
) -> CoverageReport:
    """The coverage of every mapped database (only `source_regions` / `targets` (account/region or region), if
    given)."""
    now = now or utc_now()
    report = CoverageReport()
    mappings: dict[str, RegionMapping] = {}
    for item in region_mappings.mapping_items(mapping_table):
        try:
            mapping = RegionMapping.model_validate(item)
        except ValidationError as error:
            report.problems.append(
                f"mapping {item.get('source_region')} is invalid: {describe_validation_error(error)}"
            )
            continue
        mappings[mapping.source_region] = mapping
    every_region = regions.enabled_regions() if ALL_REGIONS in mappings else None
    usage = replication_records.ReadUsage()
    for region, mapping in mapped_regions(mappings, every_region).items():
        if source_regions and region not in source_regions:
            continue
        wanted = [
            t
            for t in mapping.targets
            if not targets
            or target_label(t.account_id(own_account), t.target_region) in targets
            or t.target_region in targets
        ]
        if not wanted:
            continue
        try:
            databases = rds.list_databases(region)
        except (ClientError, BotoCoreError) as error:  # refused or unreachable: said, and the next region audited
            report.problems.append(f"could not list the databases of {region}: {error}")
            logger.warning("region not listed", extra={"region": region, "error": str(error)})
            continue
        for database in databases:
            for target in wanted:
                account = target.account_id(own_account)
                key = database_target_key(
                    own_account, region, database.kind.value, database.identifier, account, target.target_region
                )
                history = replication_records.replications_of_database(
                    history_table, key, usage=usage, page_size=HISTORY_PAGE
                )
                report.rows.append(
                    assess(database, account, target.target_region, target.selection, target.rpo_hours, history, now)
                )
    report.targets = summarize(report.rows)
    report.read_units = usage.read_units
    report.index_queries = usage.requests
    return report


def publish_coverage(report: CoverageReport) -> None:
    """Per target (dimension `target` = account/region) and in total (the alarm's): CoveredDatabases,
    UncoveredDatabases, OldestReplicaAgeSeconds."""
    for target in report.targets:
        _publish({"target": target.target}, target.covered, target.uncovered, target.oldest_replica_age_seconds)
    ages = [t.oldest_replica_age_seconds for t in report.targets if t.oldest_replica_age_seconds is not None]
    _publish(
        {},
        sum(t.covered for t in report.targets),
        sum(t.uncovered for t in report.targets),
        max(ages) if ages else None,
    )


def _publish(dimensions: dict[str, str], covered: int, uncovered: int, oldest: float | None) -> None:
    values: list[tuple[str, MetricUnit, float]] = [
        ("CoveredDatabases", MetricUnit.Count, covered),
        ("UncoveredDatabases", MetricUnit.Count, uncovered),
    ]
    if oldest is not None:
        values.append(("OldestReplicaAgeSeconds", MetricUnit.Seconds, oldest))
    publish_metrics(values, **dimensions)
