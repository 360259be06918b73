"""The state machine's transitions between checks of a copy, and how task errors are described."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from replicator.execution import Phase, ReplicationState, TaskError, WaitPolicy, observe_copy
from replicator.history import utc_now
from replicator.mapping import Encryption, MappingTarget
from replicator.planning import ReplicationPlan, StepAction, plan_replication
from replicator.snapshots import SnapshotKind, SourceSnapshot, snapshot_arn
from replicator.waiting import CopyProgress, next_wait_seconds

SRC, TGT = "123456789012", "210987654321"
POLICY = WaitPolicy()  # 30 .. 900 seconds


def _source() -> SourceSnapshot:
    identifier = "rds:orders-2026-11-24-03-10"
    return SourceSnapshot(
        arn=snapshot_arn(SnapshotKind.INSTANCE, "us-east-1", SRC, identifier),
        identifier=identifier,
        kind=SnapshotKind.INSTANCE,
        snapshot_type="automated",
        account_id=SRC,
        region="us-east-1",
        status="available",
        encrypted=True,
        kms_key_id=f"arn:aws:kms:us-east-1:{SRC}:key/11111111-1111-1111-1111-111111111111",
        engine="postgres",
        engine_version="16.4",
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


def _state(plan: ReplicationPlan, step_index: int = 0, elapsed: float = 0, **changes) -> ReplicationState:
    return ReplicationState(
        plan=plan,
        event_id="c2b7f4e8-5a3d-4b9e-8f1c-6d0a2e7b9c34",
        step_index=step_index,
        step_started_at=utc_now() - timedelta(seconds=elapsed),
        **changes,
    )


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
    state = _state(plan, step_index, elapsed=600, percent_progress=40, checks=3)

    after = observe_copy(state, "available", 40, POLICY)

    assert after.phase is phase
    assert after.step_index == next_index
    assert after.percent_progress == 100
    assert after.checks == 4
    assert after.step_started_at > state.step_started_at
    assert after.failure_reason is None
    assert (after.current_step is None) is (phase is Phase.FINISHED)
    # a next copy needs a slot: its place in the queue is taken now, so that a re-entered wait keeps it
    assert (after.queued_at_ms is not None) is (phase is Phase.STEP_DONE)
    # the input state is not changed
    assert state.step_index == step_index
    assert state.checks == 3


def test_finished_state_is_labelled_done() -> None:
    after = observe_copy(_state(FOUR_STEPS, 3), "available", 100, POLICY)

    assert after.step_label() == "4/4 done"


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
    state = _state(FOUR_STEPS, 2, elapsed=elapsed, checks=1)

    after = observe_copy(state, status, percent, policy)

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
    state = _state(FOUR_STEPS, step_index, elapsed=60, checks=5)
    step = FOUR_STEPS.steps[step_index]

    after = observe_copy(state, status, 37, POLICY)

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
        observe_copy(_state(ONE_STEP, 1), "available", 100, POLICY)


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
    assert _state(FOUR_STEPS, step_index).step_label() == label


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(None, id="no-error"),
        pytest.param(TaskError(error="States.Timeout", cause="Task timed out"), id="with-error"),
    ],
)
def test_payload_round_trips(error: TaskError | None) -> None:
    state = _state(FOUR_STEPS, 2, elapsed=120, error=error, failure_reason=None)

    payload = state.to_payload()

    assert json.loads(json.dumps(payload)) == payload
    assert ReplicationState.model_validate(payload) == state
    assert "failure_reason" not in payload
    if error is not None:
        assert payload["error"] == {"Error": "States.Timeout", "Cause": "Task timed out"}
    else:
        assert "error" not in payload


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
