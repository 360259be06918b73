"""Progress between the checks of a copy, the state machine's strict payload, and how task errors are described."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from factories import source_snapshot
from pydantic import ValidationError

from replicator.clock import utc_now
from replicator.execution import (
    ExecutionState,
    Phase,
    Progress,
    TaskError,
    TaskInput,
    WaitPolicy,
    copy_started,
    observe_copy,
)
from replicator.mapping import Encryption, MappingTarget
from replicator.planning import ReplicationPlan, StepAction, plan_replication
from replicator.snapshots import SourceSnapshot
from replicator.waiting import CopyProgress, next_wait_seconds

SRC, TGT = "123456789012", "210987654321"
POLICY = WaitPolicy(floor_seconds=30, ceiling_seconds=900)


def _source() -> SourceSnapshot:
    identifier = "rds:orders-2026-11-24-03-10"
    return source_snapshot(
        identifier, account_id=SRC, kms_key_id=f"arn:aws:kms:us-east-1:{SRC}:key/11111111-1111-1111-1111-111111111111"
    )


def _four_step_plan() -> ReplicationPlan:
    """copy (share key), share, staging copy, cross-region copy."""
    target = MappingTarget(
        target_region="eu-west-1",
        role_arn=f"arn:aws:iam::{TGT}:role/SnapshotReplication",
        encryption=Encryption(enabled=True, kms_key_arn=f"arn:aws:kms:eu-west-1:{TGT}:key/2222"),
        share_kms_key_arn=f"arn:aws:kms:us-east-1:{SRC}:key/3333",
    )
    plan = plan_replication(_source(), target)
    assert [s.action for s in plan.steps] == [StepAction.COPY, StepAction.SHARE, StepAction.COPY, StepAction.COPY]
    return plan


def _one_step_plan() -> ReplicationPlan:
    target = MappingTarget(
        target_region="eu-west-1",
        encryption=Encryption(enabled=True, kms_key_arn=f"arn:aws:kms:eu-west-1:{SRC}:key/4444"),
    )
    plan = plan_replication(_source(), target)
    assert len(plan.steps) == 1
    return plan


FOUR_STEPS = _four_step_plan()
ONE_STEP = _one_step_plan()


def _progress(step_index: int = 0, elapsed: float = 0, **changes) -> Progress:
    return Progress(step_index=step_index, step_started_at=utc_now() - timedelta(seconds=elapsed), **changes)


# --- available ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "step_index", "phase", "next_index"),
    [
        pytest.param(FOUR_STEPS, 0, Phase.STEP_DONE, 1, id="first-of-four-step-done"),
        pytest.param(FOUR_STEPS, 2, Phase.STEP_DONE, 3, id="third-of-four-step-done"),
        pytest.param(FOUR_STEPS, 3, Phase.FINISHED, 4, id="last-of-four-finished"),
        pytest.param(ONE_STEP, 0, Phase.FINISHED, 1, id="only-step-finished"),
    ],
)
def test_available_copy_moves_on(plan: ReplicationPlan, step_index: int, phase: Phase, next_index: int) -> None:
    state = _progress(step_index, elapsed=600, percent_progress=40, checks=3, phase=Phase.WAITING)

    after = observe_copy(plan, state, "available", 40, POLICY)

    assert after.phase is phase
    assert after.step_index == next_index
    assert after.percent_progress == 100
    assert after.checks == 4
    assert after.step_started_at > state.step_started_at
    assert after.failure_reason is None
    assert (after.current_step(plan) is None) is (phase is Phase.FINISHED)
    assert after.all_done(plan) is (phase is Phase.FINISHED)
    # a next copy needs a slot: its place in the queue is taken now, so that a re-entered wait keeps it
    assert (after.queued_at_ms is not None) is (phase is Phase.STEP_DONE)
    # the input state is not changed
    assert state.step_index == step_index
    assert state.checks == 3


def test_finished_state_is_labelled_done() -> None:
    after = observe_copy(FOUR_STEPS, _progress(3), "available", 100, POLICY)

    assert after.step_label(FOUR_STEPS) == "4/4 done"
    assert after.overall_percent(FOUR_STEPS) == 100


# --- in progress --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "percent", "elapsed", "policy", "expected_wait"),
    [
        pytest.param("creating", 0, 10, POLICY, 30, id="creating-just-started-floor"),
        pytest.param("copying", 0, 2000, POLICY, 900, id="copying-queued-backs-off"),
        pytest.param("queued", 0, 36000, POLICY, 900, id="queued-long-ceiling"),
        pytest.param("pending", 10, 100, POLICY, 675, id="pending-10-percent"),
        pytest.param("copying", 50, 600, POLICY, 450, id="copying-half-done"),
        pytest.param("copying", 99, 99, POLICY, 30, id="copying-almost-done-floor"),
        pytest.param("copying", 50, 600, WaitPolicy(floor_seconds=5, ceiling_seconds=60), 60, id="custom-ceiling"),
        pytest.param("creating", 0, 1, WaitPolicy(floor_seconds=5, ceiling_seconds=60), 5, id="custom-floor"),
    ],
)
def test_copy_in_progress_waits(
    status: str, percent: int, elapsed: float, policy: WaitPolicy, expected_wait: int
) -> None:
    state = _progress(2, elapsed=elapsed, checks=1)

    after = observe_copy(FOUR_STEPS, state, status, percent, policy)

    assert after.phase is Phase.WAITING
    assert after.step_index == 2
    assert after.percent_progress == percent
    assert after.checks == 2
    assert after.step_started_at == state.step_started_at
    assert policy.floor_seconds <= after.wait_seconds <= policy.ceiling_seconds
    assert after.wait_seconds == expected_wait
    assert after.wait_seconds == next_wait_seconds(
        CopyProgress(elapsed, percent), floor=policy.floor_seconds, ceiling=policy.ceiling_seconds
    )
    assert after.failure_reason is None


# --- failed or gone -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "fragment"),
    [
        pytest.param("failed", "ended in status 'failed'", id="failed"),
        pytest.param("incompatible-restore", "ended in status 'incompatible-restore'", id="incompatible-restore"),
        pytest.param("deleting", "ended in status 'deleting'", id="deleting"),
        pytest.param("error", "ended in status 'error'", id="unknown-status"),
        pytest.param(None, "disappeared", id="copy-gone"),
    ],
)
@pytest.mark.parametrize("step_index", [0, 2, 3], ids=["first-copy", "staging-copy", "final-copy"])
def test_copy_that_fails_or_disappears(status: str | None, fragment: str, step_index: int) -> None:
    state = _progress(step_index, elapsed=60, checks=5)
    step = FOUR_STEPS.steps[step_index]

    after = observe_copy(FOUR_STEPS, state, status, 37, POLICY)

    assert after.phase is Phase.FAILED
    assert after.step_index == step_index
    assert after.checks == 6
    assert after.failure_reason is not None
    assert after.failure_reason.startswith(f"{step.describe()}: ")
    assert step.snapshot_identifier in after.failure_reason
    assert fragment in after.failure_reason
    if status is not None:
        assert f"copy {step.snapshot_identifier} ended in status '{status}'" in after.failure_reason


def test_a_check_needs_a_step_in_progress() -> None:
    with pytest.raises(ValueError, match="needs a step in progress"):
        observe_copy(ONE_STEP, _progress(1), "available", 100, POLICY)


# --- the payload --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step_index", "label"),
    [
        pytest.param(0, "1/4 copy to a manual snapshot that can be shared (re-encrypted with the share key)", id="1"),
        pytest.param(1, f"2/4 share with account {TGT}", id="2"),
        pytest.param(3, "4/4 copy to eu-west-1", id="4"),
        pytest.param(4, "4/4 done", id="done"),
    ],
)
def test_step_label(step_index: int, label: str) -> None:
    assert _progress(step_index).step_label(FOUR_STEPS) == label


@pytest.mark.parametrize(
    ("step_index", "percent", "overall"),
    [
        pytest.param(0, 50, 16, id="first-of-three-copies-half"),
        pytest.param(1, 0, 33, id="share-after-one-copy"),
        pytest.param(2, 50, 50, id="second-copy-half"),
        pytest.param(3, 90, 96, id="last-copy-nearly"),
        pytest.param(4, 0, 100, id="done"),
    ],
)
def test_overall_percent_counts_every_copy(step_index: int, percent: int, overall: int) -> None:
    assert _progress(step_index, percent_progress=percent).overall_percent(FOUR_STEPS) == overall


def test_a_started_copy_waits_for_its_first_check_and_leaves_the_queue() -> None:
    queued = _progress(1, phase=Phase.QUEUED, queued_at_ms=1_700_000_000_000, percent_progress=100)

    started = copy_started(FOUR_STEPS, queued, 2, POLICY)

    assert (started.step_index, started.phase, started.percent_progress) == (2, Phase.WAITING, 0)
    assert started.queued_at_ms is None
    assert POLICY.floor_seconds <= started.wait_seconds <= POLICY.ceiling_seconds


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(None, id="no-error"),
        pytest.param(TaskError(error="States.Timeout", cause="Task timed out"), id="with-error"),
    ],
)
def test_payload_round_trips(error: TaskError | None) -> None:
    state = ExecutionState(replication_id="orders-eu-west-1-0123456789ab", phase=Phase.WAITING, error=error)

    payload = state.to_payload()

    assert json.loads(json.dumps(payload)) == payload
    assert ExecutionState.model_validate(payload) == state
    if error is not None:
        assert payload["error"] == {"Error": "States.Timeout", "Cause": "Task timed out"}
    else:
        assert "error" not in payload


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"plan": {"steps": [{"action": "share", "share_with": "all"}]}}, id="a-plan"),
        pytest.param({"step_index": 1}, id="a-step"),
        pytest.param({"role_arn": f"arn:aws:iam::{TGT}:role/x"}, id="a-role"),
        pytest.param({"share_with": "all"}, id="an-account"),
        pytest.param({"kms_key_id": "alias/aws/rds"}, id="a-key"),
    ],
)
def test_a_payload_carrying_anything_to_act_on_is_refused(extra: dict) -> None:
    payload = {"replication_id": "orders-eu-west-1-0123456789ab", "phase": "step_done", **extra}

    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ExecutionState.model_validate(payload)
    with pytest.raises(ValidationError):
        TaskInput.model_validate({"state": {**payload}, "execution_name": "x"})


def test_a_task_input_names_its_execution() -> None:
    state = {"replication_id": "orders-eu-west-1-0123456789ab", "phase": "queued"}

    task = TaskInput.model_validate({"state": state, "execution_name": "orders", "task_token": "t"})

    assert (task.state.phase, task.execution_name, task.task_token) == (Phase.QUEUED, "orders", "t")
    with pytest.raises(ValidationError):
        TaskInput.model_validate({"state": state})  # no execution: not from the state machine
    with pytest.raises(ValidationError):
        TaskInput.model_validate({"state": state, "execution_name": "orders", "plan": {}})


# --- TaskError.describe -------------------------------------------------------------------------------------------

LAMBDA_CAUSE = json.dumps(
    {
        "errorMessage": "An error occurred (KMSKeyNotAccessibleFault) when calling the CopyDBSnapshot operation",
        "errorType": "ClientError",
        "requestId": "5c1d0e4f-8a7b-4c3d-9e2f-1a0b9c8d7e6f",
        "stackTrace": ['  File "/var/task/app.py", line 12, in handler'],
    }
)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            {"Error": "ClientError", "Cause": LAMBDA_CAUSE},
            "ClientError: An error occurred (KMSKeyNotAccessibleFault) when calling the CopyDBSnapshot operation",
            id="lambda-json-cause",
        ),
        pytest.param(
            {"Error": "States.Timeout", "Cause": "Task timed out after 60.00 seconds"},
            "States.Timeout: Task timed out after 60.00 seconds",
            id="plain-text-cause",
        ),
        pytest.param({"Error": "States.TaskFailed"}, "States.TaskFailed", id="no-cause"),
        pytest.param({"Error": "States.TaskFailed", "Cause": None}, "States.TaskFailed", id="null-cause"),
        pytest.param({"Error": "States.TaskFailed", "Cause": ""}, "States.TaskFailed", id="empty-cause"),
        pytest.param(
            {"Error": "E", "Cause": '{"errorType": "KeyError"}'},
            'E: {"errorType": "KeyError"}',
            id="json-object-without-errorMessage",
        ),
        pytest.param({"Error": "E", "Cause": '["a", "b"]'}, 'E: ["a", "b"]', id="json-list"),
        pytest.param({"Error": "E", "Cause": '"quoted"'}, 'E: "quoted"', id="json-string"),
        pytest.param({"Error": "E", "Cause": "42"}, "E: 42", id="json-number"),
        pytest.param({"Error": "E", "Cause": "null"}, "E: null", id="json-null"),
        pytest.param({"Error": "E", "Cause": "{not json"}, "E: {not json", id="broken-json"),
        pytest.param({"error": "E", "cause": "by name"}, "E: by name", id="populated-by-field-name"),
    ],
)
def test_task_error_describe(payload: dict, expected: str) -> None:
    assert TaskError.model_validate(payload).describe() == expected


def test_each_copy_counts_against_its_destinations_pool():
    # the share-key copy in the source account, the staging copy in the target account, the cross-region copy there
    copies = [s for s in FOUR_STEPS.steps if s.action is StepAction.COPY]
    assert [c.slot_pool for c in copies] == [
        f"{SRC}#us-east-1#instance",
        f"{TGT}#us-east-1#instance",
        f"{TGT}#eu-west-1#instance",
    ]
    assert FOUR_STEPS.slot_pools == sorted({c.slot_pool for c in copies})
    share = FOUR_STEPS.steps[1]
    with pytest.raises(ValueError, match="only copies take slots"):
        _ = share.slot_pool


@pytest.mark.parametrize(("index", "expected"), [(0, 0), (1, 2), (2, 2), (3, 3), (4, None)])
def test_the_next_copy_skips_the_shares(index, expected):
    found = FOUR_STEPS.next_copy(index)
    assert found == (None if expected is None else FOUR_STEPS.steps[expected])
