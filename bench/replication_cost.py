"""Cost of one replicated snapshot, whole: what the pipeline spends on the emulation, plus the waiting per strategy.

Runs one same-account and one cross-account replication through the whole application on the embedded emulation
(template.yaml provisioned on moto, the real handlers and state machine) and counts what AWS bills: state transitions
(states entered, from the execution's history), Lambda invocations (the emulation's dispatcher), DynamoDB request
units and EventBridge events (every request the emulation sees). The checks of a copy in progress (Wait, CheckCopy,
Choice; one Lambda call; one read and one write of the record each) are what the waiting strategies differ by: they
are taken out and replaced by the wait bench's median number of checks per strategy and copy duration
(bench/wait_bench.py, the project's own wait loop). Prices: us-east-1, published: see the constants below.

    python bench/replication_cost.py [--runs 25] [--seed 7]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import wait_bench

from replicator_cli.local.emulation import emulation, states_entered
from replicator_cli.local.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
PRICE_TRANSITION = wait_bench.PRICE_TRANSITION
PRICE_LAMBDA_CALL = wait_bench.PRICE_LAMBDA_REQUEST + wait_bench.LAMBDA_GB * wait_bench.LAMBDA_SECONDS * (
    wait_bench.PRICE_GB_SECOND
)
PRICE_WRITE_UNIT = wait_bench.PRICE_WRITE
PRICE_READ_UNIT = wait_bench.PRICE_READ
PRICE_EVENT = 1.00 / 1_000_000  # EventBridge custom event published
# request units per call (items here are well under 1 KB to write and 4 KB to read; reads are strongly consistent)
WRITE_UNITS = {"put_item": 1, "update_item": 1, "delete_item": 1, "transact_write_items": 4}  # 2 items x 2
READ_UNITS = {"get_item": 1, "query": 1}
LOOP_STATES = ("WaitForCopy", "CheckCopy")  # with one RouteByReplicationPhase each: one check of a copy in progress

SAME_ACCOUNT = {
    "source_region": "us-east-1",
    "targets": [{"target_region": "us-west-2", "encryption": {"enabled": True, "kms_key_arn": "{{key:dr-west}}"}}],
}
CROSS_ACCOUNT = {
    "source_region": "us-east-1",
    "targets": [
        {
            "target_region": "eu-west-1",
            "role_arn": "{{role:210987654321}}",
            "encryption": {"enabled": True, "kms_key_arn": "{{key:vault-eu}}"},
            "share_kms_key_arn": "{{key:share-east}}",
        }
    ],
}
PLANS = {
    "same account, other region (1 copy)": (SAME_ACCOUNT, "manual"),
    "other account and region, automated snapshot (3 copies, share)": (CROSS_ACCOUNT, "automated"),
}


def scenario(mapping: dict[str, Any], snapshot_type: str) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "cost",
            "copy_seconds": 2.0,
            "poll_seconds": 1,
            "timeout_seconds": 120,
            "target_accounts": ["210987654321"],
            "keys": [
                {"name": "dr-west", "region": "us-west-2"},
                {"name": "share-east", "region": "us-east-1"},
                {"name": "vault-eu", "region": "eu-west-1", "account": "210987654321"},
            ],
            "databases": [{"id": "orders", "engine": "postgres", "engine_version": "16.3", "encrypted": True}],
            "snapshots": [{"id": "orders-snap-1", "database": "orders", "type": snapshot_type}],
            "mappings": [mapping],
            "events": [{"snapshot": "orders-snap-1"}],
        }
    )


def measure(spec: Scenario) -> dict[str, float]:
    """What one replication spent on the emulation, with the checks of copies in progress counted apart."""
    with emulation(spec, run=False, base_dir=ROOT) as up:
        cloud = up.cloud
        before = Counter(cloud.doubles.faults.requests)
        calls_before = len(cloud.doubles.lambda_dispatcher.invocations)
        [record] = up.run().records
        assert record.status.value == "SUCCEEDED", record.reason
        requests = cloud.doubles.faults.requests - before
        lambdas = cloud.doubles.lambda_dispatcher.invocations[calls_before:]
        [execution] = up.executions()
        entered = Counter(states_entered(up.history(execution["executionArn"])))
    checks = entered["CheckCopy"]
    return {
        "checks": checks,
        "transitions": sum(entered.values()) - sum(entered[s] for s in LOOP_STATES) - checks,
        "lambdas": len(lambdas) - checks,
        # every write but the check's own progress write; the runner's scans of the history table are not counted
        "writes": sum(n * WRITE_UNITS.get(a, 0) for (s, a), n in requests.items() if s == "dynamodb") - checks,
        # every read but the check's own read of the record
        "reads": sum(n * READ_UNITS.get(a, 0) for (s, a), n in requests.items() if s == "dynamodb") - checks,
        # the outcome events the replicator publishes (the snapshot's own event is raised by AWS, not billed)
        "events": requests[("events", "put_events")] - len(spec.events),
    }


def fixed_cost(m: dict[str, float]) -> float:
    return (
        m["transitions"] * PRICE_TRANSITION
        + m["lambdas"] * PRICE_LAMBDA_CALL
        + m["writes"] * PRICE_WRITE_UNIT
        + m["reads"] * PRICE_READ_UNIT
        + m["events"] * PRICE_EVENT
    )


def check_cost(checks: float) -> float:
    return checks * (3 * PRICE_TRANSITION + PRICE_LAMBDA_CALL + PRICE_WRITE_UNIT + PRICE_READ_UNIT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.getLogger("moto").setLevel(logging.ERROR)  # moto's notes on template resources it does not emulate
    warnings.simplefilter("ignore")
    measured = {name: measure(scenario(*plan)) for name, plan in PLANS.items()}
    waits = wait_bench.run(args.runs, args.seed)
    print("What one replication spends besides the checks of its copies (measured on the emulation)\n")
    print("| plan | transitions | Lambda calls | DynamoDB write units | read units | events | USD |")
    print("|---|---|---|---|---|---|---|")
    for name, m in measured.items():
        print(
            f"| {name} | {m['transitions']:.0f} | {m['lambdas']:.0f} | {m['writes']:.0f} | {m['reads']:.0f} | "
            f"{m['events']:.0f} | {fixed_cost(m):.6f} |"
        )
    print(f"\nCost per replicated snapshot (USD): the above plus the checks, median of {args.runs} copies per duration")
    print("(a plan with several copies waits for each: its checks are counted per copy)\n")
    print("| plan | copy | " + " | ".join(wait_bench.STRATEGIES) + " |")
    print("|---|---|" + "---|" * len(wait_bench.STRATEGIES))
    for name, m in measured.items():
        copies = 1 if "1 copy" in name else 3
        for label in wait_bench.DURATIONS:
            cells = []
            for strategy in wait_bench.STRATEGIES:
                checks = statistics.median(r.checks for r in waits[(label, strategy)])
                cells.append(f"{fixed_cost(m) + check_cost(checks * copies):.6f}")
            print(f"| {name} | {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
