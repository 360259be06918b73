"""A 30-day copy ledger: what the copies of each plan shape move across regions, store and take, old planner
against new, side by side.

The planners are the project's own: today's `replicator.planning.plan_replication`, and the planner as it was at
commit 99d0584 (read from git history, unchanged). Each replays 30 days of daily snapshots of one 1 TB database
(2 % of its blocks change a day) through a model of AWS's documented copy rules (docs/performance.md, "The copy rules
the plans rest on"):

- a copy is incremental when the most recent copy of the same source database in the destination (account and
  region) still exists and is under the same key (USER_CopySnapshot, "Considerations for incremental snapshot
  copying"); otherwise it is full;
- a copy of a copy: never incremental under the older text ("strict" reading); under the current text "a snapshot
  copy will be the same type as the source snapshot" and the lineage must match in depth and keys ("current"
  reading): incremental when the same chain was copied the same way the day before. Both are reported;
- Aurora: "copies are always stored as full copies", "the data transfer charges are incremental";
- cross-region GB moved = the copied GB of a cross-region copy (changed GB when incremental, all when full); in-region
  copies move nothing across regions;
- a copy takes time in proportion to the GB it copies (one rate for all copies): time to replica is the sum of the
  plan's serial copies, relative to one full copy;
- each day, the plan's cleanup runs, the new planner's lineage bases are kept as `usecases.cleanup.keep_base` keeps
  them (an older intermediate base deleted once the new one is available), and the target keeps its replicas of the
  last 7 days (the newest always).

Transfer at $0.02 per GB (US <-> EU, a third-party figure: AWS's pricing page was not readable here, check it);
storage is reported in GB (price it at your region's backup storage rate).

    python bench/copy_ledger.py [--days 30] [--size-gb 1000] [--change 0.02]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from replicator.mapping import Encryption, MappingTarget
from replicator.planning import ReplicationPlan, StepAction, plan_replication
from replicator.snapshots import SnapshotKind, SourceSnapshot, snapshot_arn

ROOT = Path(__file__).resolve().parents[1]
OLD_COMMIT = "99d0584"
SRC, TGT = "123456789012", "210987654321"
TRANSFER_USD_PER_GB = 0.02
KEEP_DAYS = 7
START = datetime(2026, 11, 1, 3, 10, tzinfo=UTC)


def _key(account: str, region: str, name: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{name}-0000-0000-0000-000000000000"


def old_planner() -> Any:
    """plan_replication as it was at OLD_COMMIT, loaded from git history as a module of the replicator package."""
    text = subprocess.run(
        ["git", "show", f"{OLD_COMMIT}:layers/replicator/replicator/planning.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    spec = importlib.util.spec_from_loader("replicator._planning_at_99d0584", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "replicator"
    sys.modules[spec.name] = module  # pydantic resolves the postponed annotations through sys.modules
    exec(compile(text, f"planning.py@{OLD_COMMIT}", "exec"), module.__dict__)
    return module.plan_replication


@dataclass
class Copy:
    arn: str
    database: str
    account: str
    region: str
    key: str | None
    depth: int  # 0: a native snapshot; 1: a copy of one; ...
    chain: tuple[str, ...]  # the (account, region, key) of each copy from the native snapshot to this one
    day: int
    stored_gb: float
    successor: str | None = None  # the next copy made incremental against this one, in the same place


@dataclass
class World:
    size_gb: float
    change: float
    kind: SnapshotKind
    reading: str  # "strict" or "current"
    copies: dict[str, Copy] = field(default_factory=dict)
    latest: dict[tuple[str, str, str], Copy] = field(default_factory=dict)  # (database, account, region) -> newest
    bases: dict[str, str] = field(default_factory=dict)  # lineage -> base ARN (the new planner's)

    def incremental(self, source: Copy, account: str, region: str, key: str | None, chain: tuple[str, ...]) -> bool:
        previous = self.latest.get((source.database, account, region))
        if previous is None or previous.arn not in self.copies or previous.key != key:
            return False  # nothing there, the most recent copy was deleted, or another key: full
        if source.depth == 0:
            return True
        if self.reading == "strict":
            return False  # a copy of a copy is never incremental (the older text)
        return previous.chain == chain  # the same lineage: depth and keys at every level (the current text)

    def copy(self, step: Any, day: int) -> tuple[float, float]:
        """Make a plan's copy: (GB it copies, GB it moves across regions)."""
        source = self.copies[step.source_arn]
        key = step.kms_key_id or (source.key if step.encrypted else None)
        chain = (*source.chain, f"{step.account_id}/{step.region}/{key}")
        place = (source.database, step.account_id, step.region)
        incremental = self.incremental(source, step.account_id, step.region, key, chain)
        copied = self.size_gb * self.change if incremental else self.size_gb
        stored = self.size_gb if self.kind is SnapshotKind.CLUSTER else copied  # Aurora stores full copies
        made = Copy(step.snapshot_arn, source.database, *place[1:], key, source.depth + 1, chain, day, stored)
        if incremental and self.kind is SnapshotKind.INSTANCE:
            self.latest[place].successor = made.arn
        self.copies[made.arn] = made
        self.latest[place] = made
        moved = copied if step.source_region != step.region else 0.0
        return copied, moved

    def delete(self, arn: str) -> None:
        """Delete a copy: the blocks its incremental successor still needs stay stored, with the successor."""
        gone = self.copies.pop(arn, None)
        if gone and gone.successor and (successor := self.copies.get(gone.successor)):
            successor.stored_gb += max(0.0, gone.stored_gb - self.size_gb * self.change)


def _source(kind: SnapshotKind, snapshot_type: str, day: int, encrypted: bool, aws_key: bool) -> SourceSnapshot:
    prefix = {"automated": "rds:", "awsbackup": "awsbackup:"}.get(snapshot_type, "")
    identifier = f"{prefix}orders-2026-11-{day + 1:02d}"
    return SourceSnapshot(
        arn=snapshot_arn(kind, "us-east-1", SRC, identifier),
        identifier=identifier,
        kind=kind,
        snapshot_type=snapshot_type,
        account_id=SRC,
        region="us-east-1",
        status="available",
        encrypted=encrypted,
        kms_key_id=_key(SRC, "us-east-1", "aws-rds" if aws_key else "source") if encrypted else None,
        kms_key_aws_managed=aws_key,
        engine="aurora-postgresql" if kind is SnapshotKind.CLUSTER else "postgres",
        engine_version="16.4",
        database_identifier="orders",
        allocated_storage_gb=1000,
        created_at=START + timedelta(days=day),
    )


SAME = MappingTarget(
    target_region="eu-west-1", encryption=Encryption(enabled=True, kms_key_arn=_key(SRC, "eu-west-1", "dr"))
)
CROSS = MappingTarget(
    target_region="eu-west-1",
    role_arn=f"arn:aws:iam::{TGT}:role/rds-snapshot-replicator-target",
    encryption=Encryption(enabled=True, kms_key_arn=_key(TGT, "eu-west-1", "vault")),
    share_kms_key_arn=_key(SRC, "us-east-1", "share"),
    transfer_kms_key_arn=_key(SRC, "eu-west-1", "transfer"),
)
CROSS_WITHOUT_TRANSFER_KEY = CROSS.model_copy(update={"transfer_kms_key_arn": None})


@dataclass(frozen=True)
class Shape:
    name: str
    kind: SnapshotKind
    snapshot_type: str
    encrypted: bool
    aws_key: bool  # the source is encrypted with the default aws/rds key
    target: MappingTarget
    single_step: bool = True  # False: AWS refused the single step on this route lately (the remembered fallback)
    targeted: bool = True  # a plan the targets apply to (DB instance, as configured for incremental copies)


SHAPES = [
    Shape("DB, same account", SnapshotKind.INSTANCE, "automated", True, False, SAME),
    Shape("DB, other account, manual (customer key)", SnapshotKind.INSTANCE, "manual", True, False, CROSS),
    Shape("DB, other account, automated", SnapshotKind.INSTANCE, "automated", True, False, CROSS),
    Shape("DB, other account, AWS Backup", SnapshotKind.INSTANCE, "awsbackup", True, False, CROSS),
    Shape("DB, other account, manual (aws/rds key)", SnapshotKind.INSTANCE, "manual", True, True, CROSS),
    Shape(
        "DB, other account, manual, single step refused",
        SnapshotKind.INSTANCE, "manual", True, False, CROSS, single_step=False, targeted=False,
    ),
    Shape(
        "DB, other account, automated, no transfer_kms_key_arn",
        SnapshotKind.INSTANCE, "automated", True, False, CROSS_WITHOUT_TRANSFER_KEY, targeted=False,
    ),
    Shape("Aurora, same account", SnapshotKind.CLUSTER, "automated", True, False, SAME, targeted=False),
    Shape(
        "Aurora, other account, manual (customer key)",
        SnapshotKind.CLUSTER, "manual", True, False, CROSS, targeted=False,
    ),
    Shape("Aurora, other account, automated", SnapshotKind.CLUSTER, "automated", True, False, CROSS, targeted=False),
]  # fmt: skip


@dataclass
class Ledger:
    serial: list[int] = field(default_factory=list)
    moved: list[float] = field(default_factory=list)  # GB across regions
    time: list[float] = field(default_factory=list)  # in one full copy's duration
    in_region_time: list[float] = field(default_factory=list)  # the part of `time` spent on in-region copies
    source_region_gb: list[float] = field(default_factory=list)  # copied in the source region (holds up backups)
    stored_gb: float = 0.0


def replay(planner: Any, shape: Shape, days: int, size_gb: float, change: float, reading: str, new: bool) -> Ledger:
    kind, target = shape.kind, shape.target
    world = World(size_gb, change, kind, reading)
    ledger = Ledger()
    for day in range(days):
        source = _source(kind, shape.snapshot_type, day, shape.encrypted, shape.aws_key)
        world.copies[source.arn] = Copy(source.arn, "orders", SRC, "us-east-1", source.kms_key_id, 0, (), day, 0.0)
        plan: ReplicationPlan = (
            planner(source, target) if shape.single_step or not new else planner(source, target, False)
        )
        serial = moved = copied_total = in_region = in_source_region = 0.0
        for step in plan.steps:
            if step.action == StepAction.COPY:
                copied, crossed = world.copy(step, day)
                serial += 1
                moved += crossed
                copied_total += copied
                if not crossed:
                    in_region += copied
                    if step.region == source.region:
                        in_source_region += copied
        for step in plan.cleanup:
            if step.action == StepAction.DELETE:
                world.delete(step.snapshot_arn)
        base = getattr(plan, "base", None)
        if new and base is not None and base.intermediate:  # usecases.cleanup.keep_base
            made = plan.steps[base.step_index].snapshot_arn
            if (older := world.bases.get(base.lineage)) not in (None, made):
                world.delete(older)
            world.bases[base.lineage] = made
        # the target keeps its replicas of the last KEEP_DAYS days, the newest always (retention)
        for arn, copy in list(world.copies.items()):
            at_target = copy.account == target.account_id(SRC) and copy.region == target.target_region
            if at_target and copy.depth and copy.day <= day - KEEP_DAYS and arn != plan.replica_arn:
                world.delete(arn)
        world.copies.pop(source.arn, None)  # the source snapshot expires (not the replicator's to keep)
        ledger.serial.append(int(serial))
        ledger.moved.append(moved)
        ledger.time.append(copied_total / size_gb)
        ledger.in_region_time.append(in_region / size_gb)
        ledger.source_region_gb.append(in_source_region)
    ledger.stored_gb = sum(c.stored_gb for c in world.copies.values() if c.depth)
    return ledger


def misses(shape: Shape, reading: str, ledger: Ledger, change: float, size_gb: float) -> list[str]:
    """The issue's targets for DB instance plans, from day 2."""
    found = []
    for day in range(1, len(ledger.moved)):
        if ledger.moved[day] > 1.05 * change * size_gb:
            found.append(f"day {day + 1}: {ledger.moved[day]:.0f} GB across regions")
        if ledger.serial[day] > 2:
            found.append(f"day {day + 1}: {ledger.serial[day]} serial copies")
        if ledger.time[day] > 1.1 * change + ledger.in_region_time[day] + 1e-9:
            found.append(f"day {day + 1}: {ledger.time[day]:.2f} full copies' time to replica")
    return [f"{shape.name} ({reading}) {miss}" for miss in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--size-gb", type=float, default=1000)
    parser.add_argument("--change", type=float, default=0.02)
    args = parser.parse_args()
    planners = {"old": old_planner(), "new": plan_replication}
    changed = args.size_gb * args.change
    print(
        f"{args.days}-day copy ledger: one {args.size_gb:.0f} GB database, {args.change:.0%} changed a day "
        f"({changed:.0f} GB), a snapshot a day, replicas of the last {KEEP_DAYS} days kept; "
        f"old planner = {OLD_COMMIT}\n"
    )
    print(
        "| plan | reading | planner | serial copies | cross-region GB day 1 | day 2+ median | transfer USD / month "
        "| GB copied in the source region a day | stored GB, last day | time to replica, day 2+ (x one full copy) |"
    )
    print("|" + "---|" * 10)
    missed = []
    for shape in SHAPES:
        for reading in ("strict", "current"):
            for name, planner in planners.items():
                ledger = replay(planner, shape, args.days, args.size_gb, args.change, reading, new=name == "new")
                usd = sum(ledger.moved) * TRANSFER_USD_PER_GB * 30 / args.days
                print(
                    f"| {shape.name} | {reading} | {name} | {statistics.median(ledger.serial):.0f} "
                    f"| {ledger.moved[0]:.0f} | {statistics.median(ledger.moved[1:]):.0f} | {usd:.2f} "
                    f"| {statistics.median(ledger.source_region_gb[1:]):.0f} | {ledger.stored_gb:.0f} "
                    f"| {statistics.median(ledger.time[1:]):.2f} |"
                )
                if name == "new" and shape.targeted:
                    missed += misses(shape, reading, ledger, args.change, args.size_gb)
    print()
    targets = (
        "cross-region GB <= 1.05 x the changed GB, <= 2 serial copies, "
        "time to replica <= 1.1 x one incremental copy + the in-region copies"
    )
    if missed:
        print(f"targets missed by the new planner's DB plans (from day 2: {targets}):")
        for miss in missed:
            print(f"- {miss}")
        sys.exit(1)
    print(f"every DB plan of the new planner meets the targets on every day from day 2: {targets}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
