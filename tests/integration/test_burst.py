"""A nightly backup window: 200 snapshot events for one destination region, under RDS's copy quota."""

from support import SOURCE_ACCOUNT, base_scenario

BURST = 200


def test_burst_of_200_snapshots_all_succeed_without_exceeding_the_copy_quota(run_scenario):
    snapshots = [{"id": f"orders-nightly-{n:03d}", "database": "orders"} for n in range(BURST)]
    spec = base_scenario(
        snapshots=snapshots,
        events=[{"snapshot": s["id"]} for s in snapshots],
        copy_seconds=3.0,
        timeout_seconds=400,
    )
    run = run_scenario(spec)
    statuses = [r.status.value for r in run.records]
    assert len(run.records) == BURST
    assert statuses.count("SUCCEEDED") == BURST, {s: statuses.count(s) for s in set(statuses)}
    clock = run.cloud.doubles.copy_clock
    pool = (SOURCE_ACCOUNT, "us-west-2", False)
    # from the emulated RDS side: never more copies in flight than the quota, and RDS never had to refuse one
    assert clock.max_in_flight[pool] <= 20
    assert clock.max_in_flight[pool] == 20  # and the quota was used, not left idle
    assert clock.quota_refusals == 0
    assert len(clock.started) == len(set(clock.started)) == BURST  # one copy per snapshot
    assert {e["status"] for e in run.executions()} == {"SUCCEEDED"}
