"""The replication use cases behind the four Lambda handlers.

start_replications: a snapshot-completed event -> one planned, checked and started replication per mapping target.
check_copy / run_next_steps / finish_replication: the state machine's tasks.
Every path ends in a recorded outcome with a reason; nothing fails silently.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .aws import kms, notify, rds, slots, tables
from .aws.sessions import RoleNotAssumable, error_code
from .events import BackupJobEvent, RdsSnapshotEvent, ReplicationRequestEvent, SnapshotEvent
from .execution import Phase, ReplicationState, epoch_ms, first_wait_seconds, observe_copy
from .history import ReplicationRecord, ReplicationStatus, utc_now
from .mapping import MappingTarget, describe_validation_error
from .observability import MetricUnit, logger, metrics
from .planning import PlanStep, ReplicationPlan, StepAction, plan_replication
from .rules import ReplicationRefused
from .scheduling import SlotWaitExpired, next_copy, pool_of, slot_wait_problem, waiter_entry
from .settings import Settings
from .snapshots import SnapshotKind, SourceSnapshot, parse_snapshot_arn, replication_id, sanitize_identifier, short_hash

_METRIC_BY_STATUS = {
    ReplicationStatus.SUCCEEDED: "ReplicationsSucceeded",
    ReplicationStatus.FAILED: "ReplicationsFailed",
    ReplicationStatus.SKIPPED: "ReplicationsSkipped",
}


# --- outcomes -------------------------------------------------------------------------------------------------------


def record_outcome(settings: Settings, record: ReplicationRecord) -> ReplicationRecord:
    """Write a final outcome, publish it to EventBridge and count it."""
    if record.finished_at is None:
        record = record.model_copy(update={"finished_at": utc_now()})
    tables.put_record(settings.history_table, record)
    notify.publish_outcome(settings.event_bus_name, record)
    metrics.add_metric(name=_METRIC_BY_STATUS[record.status], unit=MetricUnit.Count, value=1)
    if record.status is ReplicationStatus.SUCCEEDED and record.duration_seconds is not None:
        metrics.add_metric(name="ReplicationDuration", unit=MetricUnit.Seconds, value=record.duration_seconds)
    log = logger.warning if record.status is ReplicationStatus.FAILED else logger.info
    log("replication outcome", extra={"outcome": record.model_dump(mode="json", exclude_none=True)})
    return record


def _snapshot_outcome_id(source_arn: str) -> str:
    """Id of an outcome about a snapshot as a whole (no mapping, invalid mapping, snapshot gone)."""
    try:
        _, _, _, identifier = parse_snapshot_arn(source_arn)
    except ValueError:
        identifier = "snapshot"
    return f"{sanitize_identifier(identifier)[:48]}-all-{short_hash(source_arn, length=12)}"


# --- the event-driven start ------------------------------------------------------------------------------------------


def start_replications(raw_event: dict[str, Any], settings: Settings) -> list[ReplicationRecord]:
    """Handle one EventBridge event: replicate the snapshot it names to every target of its region's mapping."""
    # imported here: only the start function parses events, the other handlers skip its cost (bench/cold_start.py)
    from aws_lambda_powertools.utilities.parser import parse

    given_id = raw_event.get("id") if isinstance(raw_event, dict) else None
    event_id = str(given_id or f"unidentified-{short_hash(repr(raw_event))}")
    try:
        event: RdsSnapshotEvent | BackupJobEvent | ReplicationRequestEvent = parse(event=raw_event, model=SnapshotEvent)  # type: ignore[call-overload]
    except (ValidationError, ValueError, TypeError) as error:
        reason = describe_validation_error(error) if isinstance(error, ValidationError) else str(error)
        return [
            _outcome(settings, f"event-{event_id}", ReplicationStatus.FAILED, f"malformed event: {reason}", event_id)
        ]
    if not_handled := event.not_handled_reason():
        reason = f"not replicated: {not_handled}"
        return [_outcome(settings, f"event-{event_id}", ReplicationStatus.SKIPPED, reason, event_id)]
    try:
        source_arn = event.snapshot_arn()
        parse_snapshot_arn(source_arn)
    except ValueError as error:
        return [
            _outcome(settings, f"event-{event_id}", ReplicationStatus.FAILED, f"malformed event: {error}", event_id)
        ]

    outcome_id = _snapshot_outcome_id(source_arn)
    try:
        source = rds.describe_source_snapshot(source_arn)
    except rds.SnapshotNotFound as error:
        return [_outcome(settings, outcome_id, ReplicationStatus.FAILED, str(error), event_id, source_arn)]
    if source.is_replica:
        logger.info("ignoring a snapshot made by the replicator itself", extra={"snapshot": source_arn})
        return []
    try:
        mapping = tables.resolve_mapping(settings.mapping_table, source.region, settings.mapping_cache_seconds)
    except ValidationError as error:
        reason = f"the region mapping for {source.region} is invalid: {describe_validation_error(error)}"
        return [_outcome(settings, outcome_id, ReplicationStatus.FAILED, reason, event_id, source_arn)]
    if mapping is None:
        reason = f"no region mapping for {source.region} and no '*' mapping: nothing to replicate"
        return [_outcome(settings, outcome_id, ReplicationStatus.SKIPPED, reason, event_id, source_arn)]
    destinations = [(t.account_id(source.account_id), t.target_region) for t in mapping.targets]
    if len(set(destinations)) < len(destinations):
        account, region = next(d for d in destinations if destinations.count(d) > 1)
        reason = (
            f"the region mapping for {mapping.source_region} has two targets replicating to account {account} in "
            f"{region} (a role in this account and no role mean the same account): remove one"
        )
        return [_outcome(settings, outcome_id, ReplicationStatus.FAILED, reason, event_id, source_arn)]
    return [start_target(settings, source, target, event_id) for target in mapping.targets]


def _outcome(
    settings: Settings,
    rid: str,
    status: ReplicationStatus,
    reason: str,
    event_id: str,
    source_arn: str | None = None,
) -> ReplicationRecord:
    source_region = parse_snapshot_arn(source_arn)[1] if source_arn else None
    record = ReplicationRecord(
        replication_id=rid,
        status=status,
        reason=reason,
        event_id=event_id,
        source_arn=source_arn,
        source_region=source_region,
    )
    return record_outcome(settings, record)


def _base_record(source: SourceSnapshot, target: MappingTarget, event_id: str) -> ReplicationRecord:
    account = target.account_id(source.account_id)
    return ReplicationRecord(
        replication_id=replication_id(source.arn, account, target.target_region),
        status=ReplicationStatus.PENDING,
        source_arn=source.arn,
        source_region=source.region,
        snapshot_kind=source.kind.value,
        target_account_id=account,
        target_region=target.target_region,
        event_id=event_id,
    )


def start_target(settings: Settings, source: SourceSnapshot, target: MappingTarget, event_id: str) -> ReplicationRecord:
    """Plan, check and start one replication; a refused or failed start is recorded, never raised."""
    record = _base_record(source, target, event_id)
    existing = tables.create_record(settings.history_table, record)
    if existing is not None and existing.status.final:
        logger.info("already replicated: repeated event ignored", extra={"replication_id": record.replication_id})
        return existing
    if existing is not None:
        if notify.execution_exists(settings.state_machine_arn, record.replication_id):
            logger.info(
                "replication in progress: repeated event ignored", extra={"replication_id": record.replication_id}
            )
            return existing
        # recorded but never handed to the state machine (a crash between the two): resume, adopting any copy made
        record = record.model_copy(update={"started_at": existing.started_at})
    state: ReplicationState | None = None
    try:
        plan = plan_replication(source, target)
        preflight(plan)
        state = ReplicationState(
            plan=plan,
            event_id=event_id,
            started_at=record.started_at,
            slot_recheck_seconds=settings.slot_recheck_seconds,
        )
        state, acquired = take_slot(state, settings)
        if acquired:
            try:
                state = run_next_steps(state, settings)
            except rds.SnapshotQuotaExceeded:
                # RDS's quota is used by copies made outside the replicator: the state machine retries with backoff
                logger.info("copy quota exceeded at start: queued", extra={"replication_id": plan.replication_id})
                state = state.model_copy(update={"phase": Phase.QUEUED, "queued_at_ms": epoch_ms(utc_now())})
        else:
            state = state.model_copy(update={"phase": Phase.QUEUED, "queued_at_ms": epoch_ms(utc_now())})
        started = notify.start_execution(settings.state_machine_arn, plan.replication_id, state.to_payload())
        if not started:
            logger.info("execution already running: repeated event", extra={"replication_id": plan.replication_id})
        in_flight = _progress_record(state, settings)
        tables.put_record(settings.history_table, in_flight)
        return in_flight
    except ReplicationRefused as refused:
        reason = f"refused: {refused.reason}"
    except RoleNotAssumable as error:
        reason = str(error)
    except Exception as error:
        code = error_code(error)
        if not code:
            raise  # a bug, not an AWS refusal: let Lambda report and retry it
        reason = f"could not start the replication: {code}: {error}"
    if state is not None:
        # something was set in motion (a slot, a copy, a share): the finishing path gives back and cleans up
        return finish_replication(state.model_copy(update={"phase": Phase.FAILED, "failure_reason": reason}), settings)
    failed = record.model_copy(update={"status": ReplicationStatus.FAILED, "reason": reason})
    return record_outcome(settings, failed)


def preflight(plan: ReplicationPlan) -> None:
    """AWS-side checks before any copy starts: the target region offers the engine version and the key is usable."""
    source, target = plan.source, plan.target
    role = target.role_arn
    region = target.target_region
    if source.engine and not rds.engine_version_offered(source.engine, source.engine_version, region, role):
        raise ReplicationRefused(
            f"{source.engine} {source.engine_version} is not offered in {target.target_region}: a replica there "
            "could not be restored; upgrade the database or choose another target region",
            field="target_region",
        )
    key = target.encryption.kms_key_arn
    if plan.replica_encrypted and key and (problem := kms.key_problem(key, target.target_region, role)):
        raise ReplicationRefused(problem, field="encryption.kms_key_arn")


# --- copy slots (the RDS copy quota) --------------------------------------------------------------------------------


def take_slot(state: ReplicationState, settings: Settings) -> tuple[ReplicationState, bool]:
    """Take a slot for the plan's next copy; (state, False) when its pool is full or others wait for it."""
    step = next_copy(state.plan.steps, state.step_index)
    if step is None:
        return state, True
    pool = pool_of(step)
    if state.slot_pool == pool:
        return state, True
    if state.slot_pool is not None:
        state = release_slot(state, settings)
    rid = state.plan.replication_id
    table = settings.slots_table
    waiter = slots.oldest_waiter(table, pool)
    if waiter is not None and waiter["replication_id"] != rid and rid not in slots.holders(table, pool):
        return state, False  # others wait for this pool: no barging in, the queue is served in arrival order
    # (a replication may already hold a slot it was handed while its task was being retried: it takes that one)
    if not slots.try_acquire(table, pool, rid, settings.quotas.limit(step.kind)):
        return state, False
    if state.queued_at_ms is not None:
        # its place in the queue goes: left there, it would be handed a second slot
        slots.leave_queue(table, pool, waiter_entry(state.queued_at_ms, rid))
    return state.model_copy(update={"slot_pool": pool, "queued_at_ms": None}), True


def release_slot(state: ReplicationState, settings: Settings) -> ReplicationState:
    """Give back the slot held (if any) and hand it to the oldest waiter of its pool."""
    if state.slot_pool is None:
        return state
    slots.release(settings.slots_table, state.slot_pool, state.plan.replication_id)
    _wake_without_failing(state.slot_pool, settings)
    return state.model_copy(update={"slot_pool": None})


def _wake_without_failing(pool: str, settings: Settings) -> None:
    """Waking others is a courtesy of this replication: its failure must not fail this replication (whose copy is
    done); a waiter not woken takes the slot at its next re-check or the next wake."""
    try:
        wake_waiters(pool, settings)
    except Exception as error:
        if not error_code(error):
            raise  # a bug, not an AWS refusal
        logger.warning("could not hand a slot to a waiter", extra={"pool": pool, "error": str(error)})
        metrics.add_metric(name="SlotHandOverFailed", unit=MetricUnit.Count, value=1)


def give_back_everything(state: ReplicationState, settings: Settings) -> ReplicationState:
    """A finishing replication leaves no slot held and no place in a queue, whatever its task recorded.

    A task can fail after taking a slot or queueing and before its state says so (AcquireSlot after take_slot): the
    slot of the next copy's pool is given back by replication id, and its queue entry removed.
    """
    rid = state.plan.replication_id
    pools = {state.slot_pool} if state.slot_pool else set()
    if (step := next_copy(state.plan.steps, state.step_index)) is not None:
        pools.add(pool_of(step))
    for pool in sorted(pools):
        if state.queued_at_ms is not None:
            slots.leave_queue(settings.slots_table, pool, waiter_entry(state.queued_at_ms, rid))
        if rid in slots.holders(settings.slots_table, pool):
            slots.release(settings.slots_table, pool, rid)
            _wake_without_failing(pool, settings)
    return state.model_copy(update={"slot_pool": None, "queued_at_ms": None})


def wake_waiters(pool: str, settings: Settings) -> None:
    """Hand free slots of `pool` to its waiters, oldest first, until the pool is full or nobody waits."""
    table = settings.slots_table
    limit = settings.quotas.limit(SnapshotKind(pool.rsplit("#", 1)[1]))
    while (waiter := slots.oldest_waiter(table, pool)) is not None:
        outcome, lease = slots.hand_over(table, pool, waiter, limit)
        if outcome is slots.HandOver.FULL:
            return
        if outcome is slots.HandOver.TAKEN:
            continue  # another release woke it first, or it queued again: look at the queue again
        rid = waiter["replication_id"]
        state = ReplicationState.model_validate_json(waiter["state"]).model_copy(
            update={"slot_pool": pool, "queued_at_ms": None}
        )
        try:
            handed_over = notify.send_task_success(waiter["task_token"], state.to_payload())
        except Exception as error:
            if not error_code(error):
                raise
            # not handed over: the slot is freed; the waiter, out of the queue, takes its place again (the same
            # entry, its arrival time) when its wait re-checks (SlotRecheckSeconds). Putting it back from here could
            # race with that re-check and leave a stale place behind.
            slots.release(table, pool, rid, lease)
            logger.warning("could not hand a slot over", extra={"replication_id": rid, "error": str(error)})
            metrics.add_metric(name="SlotHandOverFailed", unit=MetricUnit.Count, value=1)
            return
        if not handed_over:
            # its task ended (timed out and re-checking, or stopped): a re-check queues it again with a new token
            logger.warning("waiter gone: its slot is freed", extra={"replication_id": rid})
            slots.release(table, pool, rid, lease)


def acquire_slot(state: ReplicationState, task_token: str, settings: Settings) -> bool:
    """The state machine's AcquireSlot task: resume at once with a slot, or wait in the pool's queue (no polling)."""
    state, acquired = take_slot(state, settings)
    if acquired:
        try:
            notify.send_task_success(task_token, state.to_payload())
        except Exception as error:
            if not error_code(error):
                raise
            # the slot is held under this replication's id: the wait's next re-check takes it (take_slot adopts a
            # slot it holds) instead of the replication failing for a passing error
            logger.warning("could not resume with the slot taken", extra={"error": str(error)})
        return True
    step = next_copy(state.plan.steps, state.step_index)
    if step is None:  # take_slot always succeeds when no copy is left
        raise ValueError("a replication without a copy left cannot wait for a slot")
    pool = pool_of(step)
    now_ms = epoch_ms(utc_now())
    queued_at = state.queued_at_ms or now_ms
    if problem := slot_wait_problem(pool, queued_at, now_ms, settings.max_slot_wait_hours):
        raise SlotWaitExpired(problem)
    state = state.model_copy(update={"queued_at_ms": queued_at, "phase": Phase.QUEUED})
    entry = waiter_entry(queued_at, state.plan.replication_id)
    slots.enqueue(settings.slots_table, pool, entry, state.plan.replication_id, task_token, state.to_payload())
    queued = _progress_record(state, settings).model_copy(update={"status": ReplicationStatus.QUEUED})
    tables.put_record(settings.history_table, queued)
    wake_waiters(pool, settings)  # a slot freed between the full pool and the enqueue is not lost
    return False


# --- the state machine's tasks ---------------------------------------------------------------------------------------


def run_next_steps(state: ReplicationState, settings: Settings) -> ReplicationState:
    """Run steps from the current one until a copy is started (then wait for it) or none are left."""
    while (step := state.current_step) is not None:
        rds.start_step(step)
        logger.info("step started", extra={"replication_id": state.plan.replication_id, "step": state.step_label()})
        if step.action is StepAction.COPY:
            return state.model_copy(
                update={
                    "phase": Phase.WAITING,
                    "step_started_at": utc_now(),
                    "percent_progress": 0,
                    "last_check_seconds": None,
                    "wait_seconds": first_wait_seconds(state, settings.wait_policy),
                }
            )
        state = state.model_copy(update={"step_index": state.step_index + 1})
    return state.model_copy(update={"phase": Phase.FINISHED})


def check_copy(state: ReplicationState, settings: Settings) -> ReplicationState:
    """Check the copy in progress (in its account and region) and record its progress."""
    step = state.current_step
    if step is None:
        raise ValueError("check_copy needs a step in progress: every step of the plan is done")
    status, percent = rds.copy_status(step)
    observed = observe_copy(state, status, percent, settings.wait_policy)
    if observed.step_index != state.step_index or observed.phase is Phase.FAILED:
        observed = release_slot(observed, settings)  # the copy ended: its slot goes to the next waiter
    tables.put_record(settings.history_table, _progress_record(observed, settings))
    return observed


def _progress_record(state: ReplicationState, settings: Settings) -> ReplicationRecord:
    plan = state.plan
    return ReplicationRecord(
        replication_id=plan.replication_id,
        status=ReplicationStatus.QUEUED if state.phase is Phase.QUEUED else ReplicationStatus.COPYING,
        reason="",
        source_arn=plan.source.arn,
        source_region=plan.source.region,
        snapshot_kind=plan.source.kind.value,
        target_account_id=plan.target_account_id,
        target_region=plan.target.target_region,
        replica_arn=plan.replica_arn,
        step=state.step_label(),
        percent_progress=_overall_percent(state),
        event_id=state.event_id,
        execution_name=plan.replication_id,
        started_at=state.started_at,
    )


def _overall_percent(state: ReplicationState) -> int:
    """Progress over all copy steps, so that a two-copy plan does not show 100% halfway."""
    copies = [i for i, s in enumerate(state.plan.steps) if s.action is StepAction.COPY]
    done = sum(1 for i in copies if i < state.step_index)
    current = state.percent_progress if state.step_index in copies else 0
    return int((done * 100 + current) / max(1, len(copies)))


def finish_replication(state: ReplicationState, settings: Settings) -> ReplicationRecord:
    """Clean up intermediate copies and shares, then record SUCCEEDED or FAILED (with the reason)."""
    state = give_back_everything(state, settings)
    plan = state.plan
    succeeded = state.phase is Phase.FINISHED and state.error is None and state.current_step is None
    cleanup = list(plan.cleanup)
    if not succeeded:
        cleanup.extend(_unfinished_copies(state))
    if cleanup:
        cleaning = _progress_record(state, settings).model_copy(update={"status": ReplicationStatus.CLEANING_UP})
        tables.put_record(settings.history_table, cleaning)
    errors = []
    for step in cleanup:
        try:
            rds.start_step(step)
        except Exception as error:
            errors.append(f"{step.describe()} ({step.snapshot_arn}): {error}")
    if succeeded:
        status, reason = ReplicationStatus.SUCCEEDED, f"replica {plan.replica_arn} is available"
        if errors:
            reason += "; cleanup left work to do (see cleanup_errors)"
    else:
        status, reason = ReplicationStatus.FAILED, _failure_reason(state)
    record = _progress_record(state, settings).model_copy(
        update={
            "status": status,
            "reason": reason,
            "replica_arn": plan.replica_arn if succeeded else None,
            "cleanup_errors": errors,
            "percent_progress": 100 if succeeded else _overall_percent(state),
        }
    )
    return record_outcome(settings, record)


def _failure_reason(state: ReplicationState) -> str:
    if state.failure_reason:
        return state.failure_reason
    if state.error is not None:
        return f"step {state.step_label()} failed: {state.error.describe()}"
    return f"stopped at step {state.step_label()} without a reason"


def _unfinished_copies(state: ReplicationState) -> list[PlanStep]:
    """On failure, the copy in progress is removed too: a half-made replica would be adopted by a retry."""
    step = state.current_step
    if step is None or step.action is not StepAction.COPY:
        return []
    return [
        step.model_copy(
            update={"action": StepAction.DELETE, "purpose": f"delete unfinished copy {step.snapshot_identifier}"}
        )
    ]
