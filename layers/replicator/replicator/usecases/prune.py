"""Deleting replicas that fall outside their mapping target's retention (the scheduled prune function and the CLI).

Which replicas go is decided by retention.replicas_to_delete (pure); this module lists the replicas where mapping
targets with a retention put them, checks each against the history record that made it, deletes and records.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from ..aws import iam, rds
from ..aws.dynamodb import lineage_bases, region_mappings, replication_records
from ..aws.sessions import RoleNotAssumable, caller_account, error_code
from ..clock import utc_now
from ..history import ReplicationRecord, ReplicationStatus
from ..mapping import ALL_REGIONS, RegionMapping, describe_validation_error, parse_mapping_item
from ..observability import MetricUnit, logger, metrics
from ..planning import PlanShape, parse_lineage
from ..retention import Replica, RetentionRule, replicas_to_delete
from ..settings import Settings

Location = tuple[str, str]  # (account, region) where replicas are made


class PruneIncomplete(Exception):
    """Some replicas could not be considered (a mapping invalid, a location not listable); the rest was pruned."""


class PruneResult(BaseModel):
    """One replica the retention lets go: deleted, or to be deleted in a dry run, or that could not be."""

    replica_arn: str
    replication_id: str
    source_arn: str
    created_at: datetime
    reason: str
    what: str = "replica"  # or "base": a copy kept only so that its lineage's next copy is incremental
    deleted: bool = False
    error: str | None = None


class PruneReport(BaseModel):
    results: list[PruneResult] = []
    problems: list[str] = []  # locations that could not be listed, invalid mappings: said, never silently skipped

    @property
    def deleted(self) -> int:
        return sum(1 for r in self.results if r.deleted)


def _read_mappings(settings: Settings, report: PruneReport) -> tuple[dict[str, RegionMapping], set[str]]:
    """(valid mappings by source region, source regions whose mapping item is invalid)."""
    mappings, invalid = {}, set()
    for item in region_mappings.mapping_items(settings.mapping_table):
        try:
            mapping = parse_mapping_item(item)
        except ValidationError as error:
            region = str(item.get("source_region"))
            invalid.add(region)
            problem = describe_validation_error(error)
            report.problems.append(f"the mapping for {region} is invalid, none of its replicas are pruned: {problem}")
            continue
        mappings[mapping.source_region] = mapping
    return mappings, invalid


def prune_replicas(settings: Settings, *, dry_run: bool = False, now: datetime | None = None) -> PruneReport:
    """Delete (or, in a dry run, list) every replica outside its mapping target's retention."""
    now = now or utc_now()
    report = PruneReport()
    mappings, invalid = _read_mappings(settings, report)
    own_account = settings.account_id or caller_account()
    rules: dict[tuple[str, Location], RetentionRule] = {}
    roles: dict[Location, str | None] = {}
    for mapping in mappings.values():
        for target in mapping.targets:
            location = (target.account_id(own_account), target.target_region)
            rules[(mapping.source_region, location)] = target.retention
            if target.retention.given:
                roles[location] = target.role_arn
    for location, role_arn in sorted(roles.items()):
        try:
            replicas = rds.list_replicas(location[1], role_arn)
        except (RoleNotAssumable, ClientError) as error:  # an AWS refusal: said, and the next location listed
            report.problems.append(f"cannot list replicas in account {location[0]} {location[1]}: {error}")
            continue
        by_rule: dict[RetentionRule, list[Replica]] = defaultdict(list)
        records: dict[str, ReplicationRecord] = {}  # by replica ARN: the history record that names it
        for replica in replicas:
            region = replica.source_region
            if region is None or region in invalid or (region not in mappings and ALL_REGIONS in invalid):
                continue
            # the mapping that made it: its source region's own, else "*" (as when it was replicated)
            mapping_region = region if region in mappings else ALL_REGIONS
            rule = rules.get((mapping_region, location))
            if rule is not None and rule.given and (record := _record_of(settings, replica)) is not None:
                by_rule[rule].append(replica)
                records[replica.arn] = record
        # a target account whose role keeps finished replicas immutable: say so, never try
        forbidden = role_arn is not None and iam.replica_deletion(role_arn, location[1]) == "never"
        for rule, group in by_rule.items():
            for decision in replicas_to_delete(group, rule, now):
                replica = decision.replica
                if forbidden:
                    report.results.append(_not_allowed(replica, decision.reason, location[0]))
                    continue
                result = _prune_one(settings, replica, records[replica.arn], decision.reason, role_arn, dry_run, now)
                report.results.append(result)
    if settings.slots_table:
        _prune_bases(settings, mappings, invalid, own_account, report, dry_run)
    if report.deleted:
        metrics.add_metric(name="ReplicasDeleted", unit=MetricUnit.Count, value=report.deleted)
    for problem in report.problems:
        logger.warning("prune problem", extra={"problem": problem})
    return report


def _prune_bases(
    settings: Settings,
    mappings: dict[str, RegionMapping],
    invalid: set[str],
    own_account: str,
    report: PruneReport,
    dry_run: bool,
) -> None:
    """Delete the transfer bases no mapping target copies against any more (its target removed, its key changed).

    A base whose target still maps it is kept however old, like the newest replica of a database: the next
    snapshot's copy would be full without it.
    """
    for base in lineage_bases.all_bases(settings.slots_table):
        reason = _base_unused(base, mappings, invalid, own_account)
        if reason is None:
            continue
        if not base.intermediate:  # a replica: no longer a base, but the retention's to delete, never this
            if not dry_run:
                lineage_bases.forget(settings.slots_table, base.lineage, base.snapshot_arn)
            continue
        record = replication_records.get_record(settings.history_table, base.replication_id)
        result = PruneResult(
            replica_arn=base.snapshot_arn,
            replication_id=base.replication_id,
            source_arn=record.source_arn if record else "",
            created_at=base.taken_at,
            reason=reason,
            what="base",
        )
        if not dry_run:
            try:
                rds.delete_replicator_snapshot(base.snapshot_arn, None)  # in this account (no role)
            except ClientError as error:  # an AWS refusal: said in its result, and the next base considered
                report.results.append(result.model_copy(update={"error": f"{error_code(error)}: {error}"}))
                continue
            lineage_bases.forget(settings.slots_table, base.lineage, base.snapshot_arn)
            logger.info("unused base deleted", extra={"base": base.snapshot_arn, "reason": reason})
            result = result.model_copy(update={"deleted": True})
        report.results.append(result)


def _base_unused(
    base: lineage_bases.BaseRecord, mappings: dict[str, RegionMapping], invalid: set[str], own_account: str
) -> str | None:
    """Why no mapping target copies against this base any more; None while one may (or its mapping is invalid)."""
    lineage = parse_lineage(base.lineage)
    if lineage is None:
        return None  # not a name the planner makes: left alone
    region = lineage.source_region
    if region in invalid or (region not in mappings and ALL_REGIONS in invalid):
        return None  # reported as a problem already; nothing is decided on an invalid mapping
    mapping = mappings.get(region) or mappings.get(ALL_REGIONS)
    destination = lineage.for_account or lineage.account
    targets = [
        t for t in (mapping.targets if mapping else [])
        if t.account_id(own_account) == destination and t.target_region == lineage.region
    ]  # fmt: skip
    if not targets:
        return f"no mapping target copies from {region} to account {destination} {lineage.region} any more"
    if not base.intermediate:
        return None
    keys = {"unencrypted", *(t.transfer_kms_key_arn for t in targets if t.transfer_kms_key_arn)}
    if base.signature not in {f"{PlanShape.TRANSFER_FIRST.value}#{key}" for key in keys}:
        return "the mapping target's transfer_kms_key_arn changed: its next copy starts a new lineage"
    return None


def _not_allowed(replica: Replica, reason: str, account: str) -> PruneResult:
    return PruneResult(
        replica_arn=replica.arn,
        replication_id=replica.replication_id,
        source_arn=replica.source_arn,
        created_at=replica.created_at,
        reason=reason,
        error=(
            f"retention is not allowed by account {account}: its target role keeps finished replicas (ReplicaDeletion "
            "never); remove retention_days / keep_last from this target, or redeploy the role with ReplicaDeletion "
            "retention"
        ),
    )


def _record_of(settings: Settings, replica: Replica) -> ReplicationRecord | None:
    """The history record that names this snapshot as the finished replica of its replication, if any.

    Tagged like a replica but not recorded (a copy still in the making, an intermediate copy, a snapshot tagged by
    hand, history lost): kept, and not counted by keep_last either.
    """
    if not replica.made_by_replicator or replica.status != "available":
        return None
    record = replication_records.get_record(settings.history_table, replica.replication_id)
    if record is None or record.status is not ReplicationStatus.SUCCEEDED or record.replica_arn != replica.arn:
        logger.info("tagged like a replica, but not a recorded one: kept", extra={"snapshot": replica.arn})
        return None
    return record


def _prune_one(
    settings: Settings,
    replica: Replica,
    record: ReplicationRecord,
    reason: str,
    role_arn: str | None,
    dry_run: bool,
    now: datetime,
) -> PruneResult:
    result = PruneResult(
        replica_arn=replica.arn,
        replication_id=replica.replication_id,
        source_arn=replica.source_arn,
        created_at=replica.created_at,
        reason=reason,
    )
    if dry_run:
        return result
    try:
        rds.delete_replica(replica, role_arn)
    except ClientError as error:
        return result.model_copy(update={"error": f"{error_code(error)}: {error}"})
    replication_records.mark_replica_deleted(settings.history_table, record.replication_id, now, reason)
    logger.info("replica deleted", extra={"replica": replica.arn, "reason": reason})
    return result.model_copy(update={"deleted": True})
