"""Burst makespan: N snapshots to one destination region under the RDS copy quota, with the real scheduler.

The scheduler is the project's own (usecases.slots: take_slot, the queue, give_back and wake_waiters over the
copy-slot table, in moto's in-process DynamoDB); time is simulated. The state machine is replaced by an event loop: a
replication that takes a slot copies for its duration and is seen done after the adaptive wait's detection delay
(wait_bench.replay, the project's own check loop); a replication that does not waits on its task token, which this
bench receives instead of Step Functions (the one stand-in: stepfunctions.send_task_success). A waiting AcquireSlot task
times out and re-checks every hour (SlotRecheckSeconds), which costs two transitions (SlotWaitTimedOut, AcquireSlot)
and one Lambda call each time.

    python bench/burst_makespan.py [--snapshots 500] [--copy-minutes 30] [--seed 7]
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import random
from typing import Any

import boto3
import wait_bench
from moto import mock_aws

from replicator.aws.dynamodb import slot_pools
from replicator.copy_slots import CopyQuotas, waiter_entry
from replicator.execution import WaitPolicy
from replicator.planning import ReplicationPlan
from replicator.settings import Settings
from replicator.snapshots import SnapshotKind
from replicator.usecases import slots as slot_use
from replicator.waiting import EXPECTED_SECONDS_PER_GB

ACQUIRE_TIMEOUT = 3600  # template.yaml's SlotRecheckSeconds default (AcquireSlot's TimeoutSecondsPath)
POLICY = WaitPolicy(floor_seconds=30, ceiling_seconds=7200)


def _tables() -> Settings:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="slots",
        KeySchema=[{"AttributeName": "pool", "KeyType": "HASH"}, {"AttributeName": "entry", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pool", "AttributeType": "S"},
            {"AttributeName": "entry", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="history",
        KeySchema=[{"AttributeName": "replication_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "replication_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return Settings(mapping_table="mappings", history_table="history", slots_table="slots", quotas=CopyQuotas())


def simulate(snapshots: int, kind: SnapshotKind, copy_seconds: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    handed: list[str] = []  # task tokens resumed by a hand-over
    original = slot_use.stepfunctions.send_task_success
    slot_use.stepfunctions.send_task_success = lambda token, output: handed.append(token) or True  # type: ignore[assignment]
    try:
        settings = _tables()
        quota = settings.quotas.limit(kind)
        events: list[tuple[float, int, str]] = []  # (time a copy is seen done, order, replication id)
        plans: dict[str, ReplicationPlan] = {}
        arrival: dict[str, float] = {}
        queued_transitions = queued_lambdas = 0
        order = 0
        in_flight = max_in_flight = 0

        def start_copy(plan: ReplicationPlan, now: float) -> None:
            nonlocal order, in_flight, max_in_flight
            duration = copy_seconds * rng.uniform(0.9, 1.1)
            copy = wait_bench.SimulatedCopy(duration, duration * rng.uniform(0.05, 0.15), rng.uniform(-0.1, 0.1))
            seen = wait_bench.replay(copy, plan.source.allocated_storage_gb or 1, POLICY)
            order += 1
            in_flight += 1
            max_in_flight = max(max_in_flight, in_flight)
            heapq.heappush(events, (now + duration + seen.delay, order, plan.replication_id))

        size_gb = max(1, round(copy_seconds / EXPECTED_SECONDS_PER_GB))
        for n in range(snapshots):  # a nightly window: every event at once, in this order
            plan = wait_bench.replication_plan(size_gb, n, kind)
            rid = plan.replication_id
            pool = plan.steps[0].slot_pool
            arrival[rid] = 0.0
            plans[rid] = plan
            # AcquireSlot (every execution starts there): the slot, or a place in the queue on its task token
            if slot_use.take_slot(settings, rid, pool, None):
                start_copy(plan, 0.0)
            else:
                # waiting costs nothing more than the AcquireSlot every execution passes, until a re-check
                slot_pools.enqueue(settings.slots_table, pool, waiter_entry(n, rid), rid, f"token-{rid}")
        makespan = 0.0
        finished = 0
        while events:
            now, _, rid = heapq.heappop(events)
            makespan = max(makespan, now)
            finished += 1
            in_flight -= 1
            handed.clear()
            slot_use.give_back(settings, rid, plans[rid].steps[0].slot_pool)
            for token in handed:
                woken_id = token.removeprefix("token-")
                timeouts = math.floor((now - arrival[woken_id]) / ACQUIRE_TIMEOUT)
                queued_transitions += 2 * timeouts  # SlotWaitTimedOut (Pass), AcquireSlot again
                queued_lambdas += timeouts
                start_copy(plans[woken_id], now)
        ideal = math.ceil(snapshots / quota) * copy_seconds
        return {
            "snapshots": snapshots,
            "kind": kind.value,
            "quota": quota,
            "copy": copy_seconds,
            "makespan": makespan,
            "ideal": ideal,
            "ratio": makespan / ideal,
            "max_in_flight": max_in_flight,
            "queued_transitions": queued_transitions,
            "queued_lambdas": queued_lambdas,
            "finished": finished,
        }
    finally:
        slot_use.stepfunctions.send_task_success = original  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshots", type=int, default=500)
    parser.add_argument("--copy-minutes", type=float, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")
    print(f"Burst of {args.snapshots} snapshots to one region, copies of {args.copy_minutes:g} min (+-10 %)\n")
    print("| kind | quota | makespan | ideal ceil(N/quota) x copy | ratio | max in flight | "
          "queued transitions | queued Lambda calls |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for kind in SnapshotKind:
        with mock_aws():
            r = simulate(args.snapshots, kind, args.copy_minutes * 60, args.seed)
        print(
            f"| {r['kind']} | {r['quota']} | {r['makespan'] / 3600:.2f} h | {r['ideal'] / 3600:.2f} h | "
            f"{r['ratio']:.3f} | {r['max_in_flight']} | {r['queued_transitions']} | {r['queued_lambdas']} |"
        )
        if r["finished"] != args.snapshots:
            raise SystemExit(f"only {r['finished']} of {args.snapshots} replications finished")


if __name__ == "__main__":
    main()
