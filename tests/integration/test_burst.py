"""Copy slots on the emulation: a nightly burst under the RDS copy quota, arrival order, lost task tokens."""

from support import SOURCE_ACCOUNT, base_scenario, burst, failing

BURST = 200


def test_burst_of_200_snapshots_all_succeed_without_exceeding_the_copy_quota(run_scenario):
    snapshots = [{"id": f"orders-nightly-{n:03d}", "database": "orders"} for n in range(BURST)]
    spec = base_scenario(
        snapshots=snapshots,
        events=[{"snapshot": s["id"]} for s in snapshots],
        copy_seconds=8.0,
        timeout_seconds=480,  # ~3 minutes here: every AWS call of 200 replications goes through one Python process
    )
    run = run_scenario(spec)
    statuses = [r.status.value for r in run.records]
    assert len(run.records) == BURST
    assert statuses.count("SUCCEEDED") == BURST, {s: statuses.count(s) for s in set(statuses)}
    clock = run.cloud.doubles.copy_clock
    pool = (SOURCE_ACCOUNT, "us-west-2", False)
    # from the emulated RDS side: never more copies in flight than the quota, and RDS never had to refuse one
    assert clock.max_in_flight[pool] <= 20
    assert clock.max_in_flight[pool] >= 15  # and the quota was used
    assert clock.quota_refusals == 0
    assert len(clock.started) == len(set(clock.started)) == BURST  # one copy per snapshot
    assert {e["status"] for e in run.executions()} == {"SUCCEEDED"}


def test_waiting_replications_get_slots_in_arrival_order(run_scenario):
    names = [f"orders-{n}" for n in "abcde"]

    def send_one_by_one(cloud, runner):
        import time

        for name in names:  # arrivals a little apart, so that their order is defined
            runner.send([runner.event_for(name)])
            time.sleep(1.0)  # more than a cold start of the handler

    spec = burst(names, events=[], copy_seconds=1.0, timeout_seconds=90)
    run = run_scenario(spec, before_events=send_one_by_one)
    assert [r.status.value for r in run.records] == ["SUCCEEDED"] * len(names)
    clock = run.cloud.doubles.copy_clock
    assert clock.max_in_flight[(SOURCE_ACCOUNT, "us-west-2", False)] == 1  # the stack's quota of 1, kept
    started = [arn.rsplit(":", 1)[1] for arn in clock.started]
    assert [next(n for n in names if s.startswith(f"snaprep-{n}-")) for s in started] == names


def test_a_timed_out_slot_wait_keeps_its_place_and_no_copy_exceeds_the_quota(run_scenario):
    """AcquireSlot's Lambda times out after it queued the replication (its task token is then dead): the task is
    retried with a fresh token in the same place of the queue, and the slot handed over meanwhile is not lost."""
    names = [f"orders-{n}" for n in "abcd"]

    def acquire_times_out(cloud, runner):
        cloud.doubles.lambda_dispatcher.timeouts["AcquireSlotFunction"] = 3

    spec = burst(names, copy_seconds=2.0, timeout_seconds=120)
    run = run_scenario(spec, before_events=acquire_times_out)
    assert [r.status.value for r in run.records] == ["SUCCEEDED"] * len(names), [r.reason for r in run.records]
    dispatcher = run.cloud.doubles.lambda_dispatcher
    assert ("AcquireSlotFunction", "Sandbox.Timedout") in dispatcher.invocations
    clock = run.cloud.doubles.copy_clock
    assert clock.max_in_flight[(SOURCE_ACCOUNT, "us-west-2", False)] == 1
    assert len(clock.started) == len(set(clock.started)) == len(names)  # one copy each, none twice
    assert run.slot_holders() == {}  # every slot given back


def test_a_hand_over_lost_on_the_way_is_taken_up_at_the_next_re_check(run_scenario):
    """The finishing copy cannot resume the waiter (SendTaskSuccess fails): the waiter stays in its place with a free
    slot, and takes it when its wait re-enters AcquireSlot (SlotRecheckSeconds, 2 s here)."""
    names = ["orders-first", "orders-second"]

    first_hand_over_fails = failing("stepfunctions", "send_task_success", "ServiceUnavailable", times=1)

    spec = burst(names, slot_recheck_seconds=2, copy_seconds=2.0, timeout_seconds=90)
    run = run_scenario(spec, before_events=first_hand_over_fails)
    assert [r.status.value for r in run.records] == ["SUCCEEDED"] * 2, [r.reason for r in run.records]
    assert ("stepfunctions", "send_task_success", "ServiceUnavailable") in run.cloud.doubles.faults.injected
    entered = [run.states_entered(x).count("AcquireSlot") for x in run.executions()]
    assert max(entered) >= 2, entered  # the wait re-entered (a fresh task token, the same place in the queue)
    assert run.cloud.doubles.copy_clock.max_in_flight[(SOURCE_ACCOUNT, "us-west-2", False)] == 1
    assert run.slot_holders() == {}
