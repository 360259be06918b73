"""How the replicator waits for a copy: state transitions, Lambda calls and completion-detection delay.

Replays copies of known duration through the project's own code: the first wait (execution.first_wait_seconds)
and the state machine's check loop (execution.observe_copy, which calls waiting.next_wait_seconds), on a simulated
clock. Each check is Wait + CheckCopy + Choice (3 transitions, 1 Lambda call); a replication also passes
AcquireSlot, RunStep, their Choice and FinishSucceeded (4 transitions, 3 Lambda calls). Strategies differ only by
their WaitPolicy: the adaptive policy (the template's defaults) against fixed 30 s and fixed 300 s polls
(floor = ceiling), side by side in one run.

Copies: each lasts its nominal duration +-10 % (so that polls do not line up with the end), queued at 0 % for 5-15 %
of it, then roughly linear (the rate drifts by up to +-10 %); the snapshot's size is what the nominal duration would
suggest at EXPECTED_SECONDS_PER_GB, off by a factor of 0.8-1.25.

    python bench/wait_bench.py [--runs 25] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from replicator.execution import Progress, WaitPolicy, first_wait_seconds, observe_copy
from replicator.mapping import MappingTarget
from replicator.planning import ReplicationPlan, plan_replication
from replicator.snapshots import SnapshotKind, SourceSnapshot
from replicator.waiting import EXPECTED_SECONDS_PER_GB

DURATIONS = {"2 min": 120, "20 min": 1200, "2 h": 7200, "8 h": 28800}
STRATEGIES = {
    "adaptive": WaitPolicy(floor_seconds=30, ceiling_seconds=7200),  # template.yaml: PollFloor/CeilingSeconds
    "fixed 30 s": WaitPolicy(floor_seconds=30, ceiling_seconds=30),
    "fixed 300 s": WaitPolicy(floor_seconds=300, ceiling_seconds=300),
}
T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

# Published prices (us-east-1): Step Functions Standard $0.025 per 1,000 transitions; Lambda $0.20 per million
# requests and $0.0000166667 per GB-second; DynamoDB on-demand $0.625 per million write request units (since the
# November 2024 price cut).
PRICE_TRANSITION = 0.025 / 1000
PRICE_LAMBDA_REQUEST = 0.20 / 1_000_000
PRICE_GB_SECOND = 0.0000166667
PRICE_WRITE = 0.625 / 1_000_000
LAMBDA_GB, LAMBDA_SECONDS = 0.25, 0.3  # 256 MB (template), assumed 300 ms billed per call
WRITES_PER_CHECK = 1  # the history record's progress
PRICE_READ = 0.125 / 1_000_000  # DynamoDB on-demand read request unit
READS_PER_CHECK = 1  # the check reads the replication's record (its plan and progress) first


def cost_usd(result: Result) -> float:
    """The waiting's cost for one replication (what the strategies differ by)."""
    lambdas = result.lambdas * (PRICE_LAMBDA_REQUEST + LAMBDA_GB * LAMBDA_SECONDS * PRICE_GB_SECOND)
    records = result.checks * (WRITES_PER_CHECK * PRICE_WRITE + READS_PER_CHECK * PRICE_READ)
    return result.transitions * PRICE_TRANSITION + lambdas + records


@dataclass
class SimulatedCopy:
    duration: float
    queued: float
    drift: float  # the rate's relative change over the copy

    def percent(self, t: float) -> int:
        if t <= self.queued:
            return 0
        x = min(1.0, (t - self.queued) / (self.duration - self.queued))
        return min(99, int(100 * (x + self.drift * x * (1 - x))))

    def status(self, t: float) -> str:
        return "available" if t >= self.duration else "creating"


# 4 fixed transitions (AcquireSlot, RunStep, their Choice, FinishSucceeded) + about four checks of 3 each: the
# execution takes the first slot and starts the first copy itself (the start function does nothing but record and start)
TARGET_TRANSITIONS = 14


@dataclass
class Result:
    transitions: int
    lambdas: int
    delay: float
    checks: int = 0


def replication_plan(size_gb: int, number: int = 0, kind: SnapshotKind = SnapshotKind.INSTANCE) -> ReplicationPlan:
    """A one-copy replication (same account, another region) of a manual snapshot of this size."""
    resource = "snapshot" if kind is SnapshotKind.INSTANCE else "cluster-snapshot"
    identifier = f"orders-nightly-{number:04d}"
    source = SourceSnapshot(
        arn=f"arn:aws:rds:us-east-1:123456789012:{resource}:{identifier}",
        identifier=identifier,
        kind=kind,
        snapshot_type="manual",
        account_id="123456789012",
        region="us-east-1",
        status="available",
        encrypted=False,
        engine="postgres",
        engine_version="16.3",
        allocated_storage_gb=size_gb,
    )
    return plan_replication(source, MappingTarget(target_region="us-west-2"))


def replay(copy: SimulatedCopy, size_gb: int, policy: WaitPolicy) -> Result:
    plan = replication_plan(size_gb)
    progress = Progress(step_started_at=T0, wait_seconds=first_wait_seconds(plan, policy))
    t, checks = 0.0, 0
    while True:
        t += progress.wait_seconds
        checks += 1
        now = T0 + timedelta(seconds=t)
        progress = observe_copy(plan, progress, copy.status(t), copy.percent(t), policy, now=now)
        if progress.current_step(plan) is None:
            return Result(transitions=4 + 3 * checks, lambdas=checks + 3, delay=t - copy.duration, checks=checks)


def run(runs: int, seed: int) -> dict[tuple[str, str], list[Result]]:
    rng = random.Random(seed)
    results: dict[tuple[str, str], list[Result]] = {}
    for label, duration in DURATIONS.items():
        for _ in range(runs):
            actual = duration * rng.uniform(0.9, 1.1)
            copy = SimulatedCopy(actual, actual * rng.uniform(0.05, 0.15), rng.uniform(-0.1, 0.1))
            size_gb = max(1, round(duration / EXPECTED_SECONDS_PER_GB * rng.uniform(0.8, 1.25)))
            for name, policy in STRATEGIES.items():  # the same copies for every strategy
                results.setdefault((label, name), []).append(replay(copy, size_gb, policy))
    return results


def report(results: dict[tuple[str, str], list[Result]], runs: int) -> str:
    lines = [
        f"Waiting for a copy: median over {runs} copies per duration (same copies for every strategy)",
        "",
        "| copy | strategy | transitions | Lambda calls | detection delay | delay target | cost (USD) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, duration in DURATIONS.items():
        target = max(30.0, 0.05 * duration)  # of the nominal duration
        for name in STRATEGIES:
            rs = results[(label, name)]
            delay = statistics.median(r.delay for r in rs)
            mark = "ok" if delay <= target else "MISSED"
            lines.append(
                f"| {label} | {name} | {statistics.median(r.transitions for r in rs):.0f} | "
                f"{statistics.median(r.lambdas for r in rs):.0f} | {delay:.0f} s | {target:.0f} s {mark} | "
                f"{statistics.median(cost_usd(r) for r in rs):.6f} |"
            )
    lines += ["", "| strategy | median transitions across durations | target |", "|---|---|---|"]
    for name in STRATEGIES:
        medians = [statistics.median(r.transitions for r in results[(label, name)]) for label in DURATIONS]
        overall = statistics.median(medians)
        lines.append(
            f"| {name} | {overall:.1f} | {TARGET_TRANSITIONS} {'ok' if overall <= TARGET_TRANSITIONS else 'MISSED'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(report(run(args.runs, args.seed), args.runs))


if __name__ == "__main__":
    main()
