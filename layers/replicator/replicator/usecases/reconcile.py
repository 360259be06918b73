"""The reconciler: repairs what broke, without hands (a scheduled function, and `replicator reconcile`).

Idempotent; each run:
- a replication whose execution ended without recording an outcome (stopped by hand, timed out, failed outside
  the catch) is FAILED with the execution's status as the reason, its slot given back and its intermediates removed;
  one recorded but never started (the start function's event went to the dead-letter queue) is started;
- a copy slot held, a place in a queue or a share lease kept by a replication that is no longer running is given
  back (the slot to the oldest waiter), removed, or left (removing the share if it was the last user);
- intermediate copies (`-share`, `-stage`) that no running replication owns are deleted;
- cleanups that failed are tried again, and outcome events that could not be published are published;
- restore tests: one whose execution ended without an outcome is FAILED, and `snaptest-*` databases of tests no
  longer running are deleted (restore_leftovers.py);
- a vault's shared copy-slot pool (SharedSlotPoolTableArn): this account's requests there that no running
  replication owns are given back (the vault's coordinator hands their slots on), and each shared pool's copies in
  flight and waiting are read per source account (ReconcileReport.shared_pools).
Metrics: SlotsReclaimed, RecordsRepaired, OrphansRemoved, CleanupFailed; and per copy-slot pool (dimension `pool` =
account/region/kind), CopiesInFlight and CopiesWaiting as the run leaves them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from ..aws import rds, shares, stepfunctions
from ..aws.dynamodb import lineage_bases, region_mappings, replication_records, shared_slot_pool, slot_pools
from ..aws.sessions import RoleNotAssumable
from ..clock import from_epoch_ms, utc_now
from ..history import ReplicationRecord, ReplicationStatus
from ..mapping import ALL_REGIONS, parse_mapping_item
from ..observability import MetricUnit, logger, metrics, publish_metrics
from ..planning import PlanStep, StepAction
from ..settings import Settings
from ..snapshots import (
    MANAGED_BY,
    TAG_MANAGED_BY,
    TAG_REPLICATION_ID,
    TAG_SOURCE_ACCOUNT,
    TAG_SOURCE_ARN,
    parse_snapshot_arn,
)
from .cleanup import clean_up, keep_base
from .outcomes import publish_pending, record_outcome
from .restore_leftovers import reconcile_restore_tests
from .slots import give_back_everything, wake_waiters
from .start import start_execution

# what was taken, recorded or made this recently may belong to a replication whose execution is just starting
GRACE = timedelta(minutes=10)


class ReconcileIncomplete(Exception):
    """Part of the reconciliation could not be done (a location not listable); the rest was."""


class ReconcileReport(BaseModel):
    records_repaired: list[str] = []
    executions_started: list[str] = []
    slots_reclaimed: list[str] = []
    waiters_removed: list[str] = []
    shares_released: list[str] = []
    orphans_removed: list[str] = []
    cleanups_finished: list[str] = []
    cleanup_failed: list[str] = []
    outcomes_published: list[str] = []
    restore_tests_failed: list[str] = []
    restore_test_databases_deleted: list[str] = []
    problems: list[str] = []
    # a vault's shared copy-slot pools: pool -> source account -> {"in_flight": n, "waiting": n} (read, not changed)
    shared_pools: dict[str, dict[str, dict[str, int]]] = {}

    @property
    def changes(self) -> int:
        return sum(len(v) for k, v in self.model_dump().items() if k not in ("problems", "shared_pools"))


def reconcile(settings: Settings, *, dry_run: bool = False, now: datetime | None = None) -> ReconcileReport:
    now = now or utc_now()
    report = ReconcileReport()
    # the records with something left to do, from the history's sparse index: not a scan of months of history
    records = {r.replication_id: r for r in replication_records.unsettled_records(settings.history_table)}
    alive = _repair_records(settings, records, report, dry_run, now)
    _finish_final_records(settings, records, report, dry_run)
    pools = _reclaim(settings, alive, report, dry_run, now)
    pools |= _reclaim_shared(settings, alive, report, dry_run, now)
    _remove_orphans(settings, records, alive, report, dry_run)
    tests = reconcile_restore_tests(settings, now, dry_run)
    report.restore_tests_failed += tests.tests_failed
    report.restore_test_databases_deleted += tests.databases_deleted
    report.problems += tests.problems
    if not dry_run:
        for name, unit, items in (
            ("RecordsRepaired", MetricUnit.Count, report.records_repaired),
            ("SlotsReclaimed", MetricUnit.Count, report.slots_reclaimed),
            ("OrphansRemoved", MetricUnit.Count, report.orphans_removed),
            ("CleanupFailed", MetricUnit.Count, report.cleanup_failed),
        ):
            if items:
                metrics.add_metric(name=name, unit=unit, value=len(items))
        publish_pools(pools)
    for problem in report.problems:
        logger.warning("reconcile problem", extra={"problem": problem})
    return report


def _repair_records(
    settings: Settings, records: dict[str, ReplicationRecord], report: ReconcileReport, dry_run: bool, now: datetime
) -> set[str]:
    """The replications still running; those whose execution ended without an outcome are failed and cleaned."""
    alive: set[str] = set()
    for rid, record in records.items():
        if record.status.final or record.plan is None or record.progress is None or not record.execution_name:
            continue
        status = stepfunctions.execution_status(settings.state_machine_arn, record.execution_name)
        if status == "RUNNING" or (status is None and now - record.updated_at < GRACE):
            alive.add(rid)
            continue
        if status is None:
            # recorded with its plan, never started: its start event failed after the record (dead-letter queue)
            report.executions_started.append(f"{rid}: recorded {record.updated_at:%Y-%m-%d %H:%M}, never started")
            if not dry_run:
                start_execution(settings, record)
            alive.add(rid)
            continue
        current = replication_records.get_record(settings.history_table, rid)
        if current is None or current.status.final or current.attempt != record.attempt:
            continue  # it finished (or was retried) since the scan: nothing to repair
        reason = (
            f"its execution {record.execution_name} ended {status} at step {record.step or '?'} without recording "
            "an outcome (stopped by hand, timed out, or failed outside its catch); its slot was given back and its "
            "intermediates removed by the reconciler: retry it with `replicator retry`"
        )
        report.records_repaired.append(f"{rid}: {status}")
        if not dry_run:
            _fail_abandoned(settings, current, reason)
    return alive


def _fail_abandoned(settings: Settings, record: ReplicationRecord, reason: str) -> None:
    plan, progress = record.carried_out, record.progress
    if plan is None or progress is None:
        return
    give_back_everything(settings, plan, progress.queued_at_ms)
    errors = keep_base(settings, plan, progress, replica_made=False, started_at=record.started_at)
    errors += clean_up(settings, plan, progress, include_unfinished=True)
    failed = record.model_copy(
        update={"status": ReplicationStatus.FAILED, "reason": reason, "replica_arn": None, "cleanup_errors": errors}
    )
    record_outcome(settings, failed)


def _finish_final_records(
    settings: Settings, records: dict[str, ReplicationRecord], report: ReconcileReport, dry_run: bool
) -> None:
    for rid, record in records.items():
        if not record.status.final:
            continue
        plan = record.carried_out
        if record.cleanup_errors and plan is not None and record.progress is not None:
            if dry_run:
                report.cleanups_finished.append(f"{rid}: would retry {len(record.cleanup_errors)} cleanup(s)")
            else:
                succeeded = record.status is ReplicationStatus.SUCCEEDED
                errors = clean_up(settings, plan, record.progress, include_unfinished=not succeeded)
                replication_records.set_cleanup_errors(settings.history_table, rid, errors)
                (report.cleanup_failed if errors else report.cleanups_finished).append(
                    f"{rid}: {'; '.join(errors) if errors else 'cleanup done'}"
                )
        if record.outcome_published is False:
            report.outcomes_published.append(f"{rid}: {record.status.value}")
            if not dry_run:
                publish_pending(settings, record)


def publish_pools(pools: dict[str, tuple[int, int]]) -> None:
    """Per copy-slot pool (dimension `pool` = account/region/kind, zeros included): CopiesInFlight, CopiesWaiting."""
    for pool, (in_flight, waiting) in sorted(pools.items()):
        publish_metrics(
            [("CopiesInFlight", MetricUnit.Count, in_flight), ("CopiesWaiting", MetricUnit.Count, waiting)],
            pool=slot_pools.pool_label(pool),
        )


def _reclaim(
    settings: Settings, alive: set[str], report: ReconcileReport, dry_run: bool, now: datetime
) -> dict[str, tuple[int, int]]:
    """Slots, places in a queue and share leases that no running replication owns; returns each copy-slot pool's
    copies in flight and waiters as the run leaves them (from the one scan, a pool it changed read again)."""
    table = settings.slots_table
    woken: set[str] = set()
    items = slot_pools.all_items(table)
    pools = slot_pools.occupancy(items)
    for item in items:
        pool, entry = str(item["pool"]), str(item["entry"])
        if entry == slot_pools.SLOTS:
            for rid, lease in dict(item.get("holders", {})).items():
                taken = slot_pools.lease_taken_at(str(lease))
                if rid in alive or (taken is not None and now - taken < GRACE):
                    continue
                report.slots_reclaimed.append(f"{pool}: {rid}")
                if not dry_run:
                    slot_pools.release(table, pool, rid, str(lease))
                    woken.add(pool)
        elif entry.startswith("wait#"):
            if item.get("replication_id") not in alive:
                report.waiters_removed.append(f"{pool}: {item.get('replication_id')}")
                if not dry_run:
                    slot_pools.leave_queue(table, pool, entry)
                    woken.add(pool)
        elif pool.startswith("share#"):
            for rid in sorted(set(item.get("users", set())) - alive):
                report.shares_released.append(f"{pool.removeprefix('share#')} with {entry}: {rid}")
                if not dry_run:
                    _leave_share(settings, pool.removeprefix("share#"), entry, rid)
    for pool in sorted(woken):
        wake_waiters(pool, settings)  # the freed slots go to the oldest waiters still running
        pools[pool] = slot_pools.occupancy(slot_pools.pool_items(table, pool)).get(pool, (0, 0))
    return pools


def _reclaim_shared(
    settings: Settings, alive: set[str], report: ReconcileReport, dry_run: bool, now: datetime
) -> dict[str, tuple[int, int]]:
    """This account's requests in the vault's shared pool that no running replication owns: given back. Each shared
    pool's state per source account goes in the report; returned: this account's copies in flight and waiting there
    (its metrics; the vault's coordinator publishes every account's)."""
    if not settings.shared_slot_pool_table_arn or not settings.shared_slot_pool_role_arn:
        return {}
    account = settings.account_id
    table = shared_slot_pool.workload_table(
        settings.shared_slot_pool_table_arn, settings.shared_slot_pool_role_arn, account
    )
    try:
        requests = shared_slot_pool.own_requests(table, account)
    except (ClientError, RoleNotAssumable) as error:
        report.problems.append(f"shared copy-slot pool not readable: {error}")
        return {}
    pools = {str(r["pool"]) for r in requests}
    pools |= {p for p in slot_pools.occupancy(slot_pools.all_items(settings.slots_table)) if settings.shares_pool(p)}
    for request in requests:
        rid, pool = str(request["replication_id"]), str(request["pool"])
        since = _parsed(str(request.get("granted_at") or request.get("rechecked_at") or "")) or from_epoch_ms(
            int(request.get("queued_at_ms", 0))
        )
        if rid in alive or (since is not None and now - since < GRACE):
            continue
        (report.slots_reclaimed if "lease" in request else report.waiters_removed).append(f"{pool} (shared): {rid}")
        if not dry_run:
            shared_slot_pool.give_back_request(table, account, pool, rid)
    own: dict[str, tuple[int, int]] = {}
    for pool in sorted(pools):
        state = shared_slot_pool.pool_state(table, pool)
        report.shared_pools[pool] = state
        mine = state.get(account, {})
        own[pool] = (mine.get("in_flight", 0), mine.get("waiting", 0))
    return own


def _parsed(moment: str) -> datetime | None:
    try:
        return datetime.fromisoformat(moment)
    except ValueError:
        return None


def _leave_share(settings: Settings, snapshot_arn: str, account: str, rid: str) -> None:
    kind, region, owner, identifier = parse_snapshot_arn(snapshot_arn)
    step = PlanStep(
        action=StepAction.UNSHARE,
        kind=kind,
        account_id=owner,
        region=region,
        snapshot_identifier=identifier,
        share_with=account,
    )
    shares.leave(settings.slots_table, snapshot_arn, account, rid, lambda: rds.change_share(step, account, add=False))


def _locations(settings: Settings, records: dict[str, ReplicationRecord]) -> dict[tuple[str, str], str | None]:
    """Where intermediate copies are made: the source regions, in this account and in each target account; and the
    target regions in this account (the transfer copies, `-xfer`): those of the mappings and of the unsettled
    records (a mapping changed while a replication ran)."""
    regions = {r.source_region for r in records.values() if r.source_region}
    own_regions = {r.target_region for r in records.values() if r.target_region}
    roles: dict[str, str | None] = {settings.account_id: None}
    for item in region_mappings.mapping_items(settings.mapping_table):
        try:
            mapping = parse_mapping_item(item)
        except ValidationError:
            continue  # the prune and the start function report invalid mappings
        if mapping.source_region != ALL_REGIONS:
            regions.add(mapping.source_region)
        for target in mapping.targets:
            own_regions.add(target.target_region)
            if target.role_arn:
                roles[target.account_id(settings.account_id)] = target.role_arn
    found = {(account, region): role for account, role in roles.items() for region in sorted(regions)}
    found.update({(settings.account_id, region): None for region in sorted(own_regions)})
    return found


def _remove_orphans(
    settings: Settings, records: dict[str, ReplicationRecord], alive: set[str], report: ReconcileReport, dry_run: bool
) -> None:
    bases = {
        b.snapshot_arn for b in lineage_bases.all_bases(settings.slots_table)
    }  # kept for the next incremental copy
    for (account, region), role_arn in sorted(_locations(settings, records).items()):
        try:
            found = rds.list_intermediates(region, role_arn)
        except (ClientError, RoleNotAssumable) as error:
            report.problems.append(f"cannot list intermediate copies in account {account} {region}: {error}")
            continue
        for copy in found:
            owner = copy.tags.get(TAG_REPLICATION_ID)
            if copy.tags.get(TAG_MANAGED_BY) != MANAGED_BY or not owner or owner in alive or copy.arn in bases:
                continue  # not the replicator's, or still needed (by a running replication, or as a base)
            if account != settings.account_id and _workload_of(copy.tags) != settings.account_id:
                continue  # a vault shared by many workload accounts: another's copy is that account's to judge
            report.orphans_removed.append(f"{copy.arn} (replication {owner})")
            if not dry_run:
                rds.delete_intermediate(copy, role_arn)


def _workload_of(tags: dict[str, str]) -> str | None:
    """The workload account a copy was made for: its replicator:source-account tag, else (a copy made before the
    tag) the account of its source snapshot."""
    if tags.get(TAG_SOURCE_ACCOUNT):
        return tags[TAG_SOURCE_ACCOUNT]
    try:
        return parse_snapshot_arn(tags.get(TAG_SOURCE_ARN, ""))[2]
    except ValueError:
        return None
