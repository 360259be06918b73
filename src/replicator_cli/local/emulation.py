"""One way to bring the emulation up with a scenario: `make demo`, the integration tests and the benches share it.

with emulation(spec) as run:            # seeded, events sent, every replication ended
    run.record("rds:orders-2026-11-24-03-10").status

with emulation(spec, run=False) as run:  # seeded only: measure, break something, then
    run.run(before_events=...)           # send the scenario's events and wait for the outcomes
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import boto3

from replicator.history import ReplicationRecord

from .cloud import LocalCloud
from .scenario import Scenario, ScenarioResult, ScenarioRunner, coordinator_parameters, stack_parameters

BeforeEvents = Callable[[LocalCloud, ScenarioRunner], None]


@dataclass
class Emulation:
    """The emulation up with a scenario seeded; after `run()`, its records and result."""

    cloud: LocalCloud
    runner: ScenarioRunner
    result: ScenarioResult = field(default_factory=lambda: _no_result())
    records: list[ReplicationRecord] = field(default_factory=list)

    def run(self, before_events: BeforeEvents | None = None, restore_tests: bool = False) -> Self:
        """`before_events(cloud, runner)` (a fault, a watcher), then the scenario's events sent and every outcome
        waited for; with `restore_tests`, the restore-test scheduler's run after them (runner.run_restore_tests)."""
        if before_events:
            before_events(self.cloud, self.runner)
        self.runner.send(self.runner.events())
        self.records = self.runner.wait()
        self.result = self.runner.result(self.records)
        if restore_tests:
            self.result = self.runner.run_restore_tests(self.result)
        return self

    def send(self, *snapshots: str) -> list[str]:
        """The completion events of the scenario's snapshots, sent now (after the run: a later day's snapshot)."""
        return self.runner.send([self.runner.event_for(s) for s in snapshots])

    def record(self, snapshot: str, target_region: str | None = None) -> ReplicationRecord:
        """The one record of `snapshot` (to `target_region`)."""
        found = [
            r
            for r in self.records
            if r.source_arn
            and r.source_arn.endswith(":" + snapshot)
            and (target_region is None or r.target_region == target_region)
        ]
        if len(found) != 1:
            raise LookupError(f"expected one record for {snapshot} -> {target_region}, got {found}")
        return found[0]

    def executions(self, state_machine: str | None = None) -> list[dict[str, Any]]:
        """The executions of the replication state machine (or of the stack's state machine so named)."""
        stack = self.cloud.stack
        arn = stack.state_machine_arns[state_machine] if state_machine else stack.state_machine_arn
        executions: list[dict[str, Any]] = boto3.client("stepfunctions").list_executions(stateMachineArn=arn)[
            "executions"
        ]
        return executions

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = boto3.client("stepfunctions").get_execution_history(
            executionArn=execution_arn, maxResults=1000
        )["events"]
        return events


def _no_result() -> ScenarioResult:
    return ScenarioResult(outcomes=[], missing=[], leftovers=[], async_errors=[])


def states_entered(history: list[dict[str, Any]]) -> list[str]:
    """The names of the states an execution entered, in order (its history's *StateEntered events)."""
    return [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]


def as_scenario(spec: Scenario | dict[str, Any] | Path) -> Scenario:
    if isinstance(spec, Scenario):
        return spec
    if isinstance(spec, Path):
        return Scenario.load(spec)
    return Scenario.model_validate(spec)


@contextmanager
def emulation(
    spec: Scenario | dict[str, Any] | Path,
    *,
    run: bool = True,
    before_events: BeforeEvents | None = None,
    restore_tests: bool = False,
    root: Path | None = None,
    base_dir: Path | None = None,
    log_level: str = "WARNING",
    **cloud_options: Any,
) -> Iterator[Emulation]:
    """The emulation up (LocalCloud: moto, the doubles, the stack with the scenario's parameters), the scenario
    seeded, and unless `run=False` its events sent and the outcomes waited for (Emulation.run). Event files are
    looked up in `base_dir` (default: a scenario file's folder, else the project's); `cloud_options` go to
    LocalCloud (mapping_cache_seconds, port...)."""
    scenario = as_scenario(spec)
    with LocalCloud(
        root,
        copy_seconds=scenario.copy_seconds,
        poll_seconds=scenario.poll_seconds,
        log_level=log_level,
        parameters=stack_parameters(scenario),
        coordinator_account=scenario.shared_slot_pool_account,
        coordinator_parameters=coordinator_parameters(scenario),
        **cloud_options,
    ) as cloud:
        folder = base_dir or (spec.parent if isinstance(spec, Path) else cloud.root)
        up = Emulation(cloud, ScenarioRunner(scenario, cloud, folder))
        up.runner.seed()
        if run:
            up.run(before_events, restore_tests)
        yield up


__all__ = ["Emulation", "as_scenario", "emulation", "states_entered"]
