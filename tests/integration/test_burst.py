"""Copy slots on the emulation: the queue is served in arrival order (the 200-event burst: bench/burst_200.py)."""

from support import SOURCE_ACCOUNT, base_scenario


def test_waiting_replications_get_slots_in_arrival_order(run_scenario):
    names = [f"orders-{n}" for n in "abcde"]

    def send_one_by_one(cloud, runner):
        import time

        from replicator_cli.local.scenario import snapshot_event

        for name in names:  # arrivals a little apart, so that their order is defined
            runner.send([snapshot_event(runner.snapshot_arns[name], "manual", "us-east-1", SOURCE_ACCOUNT)])
            time.sleep(1.0)  # more than a cold start of the handler

    spec = base_scenario(
        snapshots=[{"id": n, "database": "orders"} for n in names],
        events=[],
        instance_copy_quota=1,
        copy_seconds=1.0,
        timeout_seconds=90,
    )
    run = run_scenario(spec, before_events=send_one_by_one)
    assert [r.status.value for r in run.records] == ["SUCCEEDED"] * len(names)
    clock = run.cloud.doubles.copy_clock
    assert clock.max_in_flight[(SOURCE_ACCOUNT, "us-west-2", False)] == 1  # the stack's quota of 1, kept
    started = [arn.rsplit(":", 1)[1] for arn in clock.started]
    assert [next(n for n in names if s.startswith(f"snaprep-{n}-")) for s in started] == names
