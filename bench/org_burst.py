"""Organization scale (issue 17): many workload accounts' stacks replicating into one vault account and region.

Every account's snapshots go to the same destination (one account, one region), whose RDS copy quota (20 DB snapshot
copies in flight: CopyQuotas().instance) is shared by all of them: a cross-account copy is made, and counted, by the
destination account. Three designs see the same snapshots, the same copies and the same simulated RDS:

- today: each stack has its own copy-slot table (one table per stack, as deployed: a stack's table is in its own
  account) whose pool, named after the destination, believes it owns the whole quota. The real scheduler runs over
  each table: usecases.slots.take_slot, the queue (slot_pools.enqueue, then wake_waiters, as acquire_slot does),
  give_back and its hand-over. A replication holding its stack's slot calls RunStep, i.e. CopyDBSnapshot in the
  vault; a call over the vault's 20 is refused (SnapshotQuotaExceeded) and retried as RunStep's retrier in
  statemachine/replication.asl.json says (read from the file: IntervalSeconds, BackoffRate, MaxDelaySeconds,
  MaxAttempts, full jitter = a delay drawn uniformly between 0 and the computed backoff); after MaxAttempts retries
  the execution goes to FinishFailed (it gives its slot back) and the snapshot is not replicated.
- shared FIFO: one pool for the destination shared by every stack, served by the same real code (today's code with
  all stacks pointed at one table): oldest waiter first, whatever its account.
- shared fair: one pool for the destination, the free slots granted by copy_slots.fair_grants (the real function:
  fair between source accounts over time, by the slots each active account has been granted (copy_slots.grant_counts),
  oldest first within one, optional --per-account-cap). The coordinator that
  calls it does not exist in the layer yet: it is written here (`_FairCoordinator`), over the real table primitives
  (slot_pools.try_acquire, enqueue, holders, hand_over's transaction, release). It keeps its own index of the queue
  by account (the waiter items name no account) and gives fair_grants the oldest `free` waiters of each account:
  fair_grants only ever takes from the front of an account's queue, at most `free` times, so the answer is the same
  as with every waiter (checked against the full queue, read from the table, every 500th grant).

Simulated: time (an event loop), the RDS quota and copies (30 min +-10 %, the same copy for a snapshot in every
design), the detection of a copy's end (the adaptive wait's delay, wait_bench.replay: the project's check loop),
Step Functions' task-token callback (the bench receives send_task_success) and its retrier. A replication's wait is
from its snapshot's event to the copy accepted by RDS. A waiting AcquireSlot re-checks every hour
(SlotRecheckSeconds: two transitions, one Lambda call), counted as burst_makespan.py does; each refused RunStep
attempt is one Lambda call and one state transition (Step Functions bills retries as transitions).

DynamoDB: the slot code runs unchanged, but by default over `_MemoryTable`, an in-process stand-in for the few
requests slot_pools makes (each condition and update expression matched exactly; any other request raises). moto's
in-process DynamoDB takes about 9 ms a request and deep-copies every table on each transaction (each hand-over), which
makes 10,000 replications per design take hours here. `--backend moto` runs the same bench on moto, and `--verify`
runs the --quick size on both and checks that every replication starts its copy at the same simulated second.

Arrivals: account i's burst starts at i x --stagger-minutes (scenarios: 0, every account at once, and 1), its
snapshots' events one every --burst-seconds / snapshots within it.

    python bench/org_burst.py [--accounts 50] [--snapshots 200] [--copy-minutes 30] [--seed 7] [--quick]
                              [--per-account-cap N] [--backend memory|moto] [--verify]
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import json
import math
import os
import random
import statistics
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import wait_bench
from botocore.exceptions import ClientError
from moto import mock_aws

from replicator.aws.dynamodb import slot_pools
from replicator.copy_slots import CopyQuotas, Waiter, fair_grants, grant_counts, waiter_entry
from replicator.execution import WaitPolicy
from replicator.settings import Settings
from replicator.usecases import slots as slot_use
from replicator.waiting import EXPECTED_SECONDS_PER_GB

ROOT = Path(__file__).resolve().parent.parent
VAULT, REGION = "999900000000", "eu-central-1"
POOL = f"{VAULT}#{REGION}#instance"  # every stack's pool for the vault (slot_pool of a copy step into it)
QUOTA = CopyQuotas().instance  # RDS: 20 DB snapshot copies in flight per destination account and region
POLICY = WaitPolicy(floor_seconds=30, ceiling_seconds=7200)
DESIGNS = ("today", "shared FIFO", "shared fair")


@dataclass(frozen=True)
class Retrier:
    interval: float
    rate: float
    max_delay: float
    max_attempts: int

    def delay(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform between 0 and the computed backoff of this retry (1, 2, ...)."""
        return rng.uniform(0, min(self.interval * self.rate ** (retry - 1), self.max_delay))


def asl_retrier() -> Retrier:
    """RunStep's retrier for SnapshotQuotaExceeded, as the state machine declares it."""
    asl = json.loads((ROOT / "statemachine" / "replication.asl.json").read_text())
    for rule in asl["States"]["RunStep"]["Retry"]:
        if "SnapshotQuotaExceeded" in rule["ErrorEquals"]:
            if rule.get("JitterStrategy") != "FULL":
                raise SystemExit("RunStep's SnapshotQuotaExceeded retrier no longer uses full jitter: update the bench")
            return Retrier(rule["IntervalSeconds"], rule["BackoffRate"], rule["MaxDelaySeconds"], rule["MaxAttempts"])
    raise SystemExit("RunStep has no SnapshotQuotaExceeded retrier")


def recheck_seconds() -> int:
    return Settings(mapping_table="m", history_table="h").slot_recheck_seconds


# ---------------------------------------------------------------------------------------------------------------
# An in-process stand-in for the DynamoDB requests of slot_pools (exact expressions only)


def _error(code: str, operation: str, reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": code}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, operation)  # type: ignore[arg-type]


_HOLDS_OR_ROOM = "attribute_exists(holders.#r) OR size(holders) < :limit"


class _MemoryTable:
    def __init__(self, name: str, registry: dict[str, _MemoryTable]) -> None:
        self.name = name
        self.items: dict[str, dict[str, dict[str, Any]]] = {}  # pool -> entry -> item
        self.keys: dict[str, list[str]] = {}  # pool -> sorted entries
        self.meta = type("Meta", (), {"client": _MemoryClient(registry)})()

    @staticmethod
    def _copy(item: dict[str, Any]) -> dict[str, Any]:
        return {k: dict(v) if isinstance(v, dict) else v for k, v in item.items()}

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        return self.items.get(key["pool"], {}).get(key["entry"])

    def _put(self, item: dict[str, Any]) -> None:
        pool, entry = item["pool"], item["entry"]
        entries = self.items.setdefault(pool, {})
        if entry not in entries:
            bisect.insort(self.keys.setdefault(pool, []), entry)
        entries[entry] = self._copy(item)

    def _delete(self, key: dict[str, Any]) -> None:
        entries = self.items.get(key["pool"], {})
        if entries.pop(key["entry"], None) is not None:
            keys = self.keys[key["pool"]]
            del keys[bisect.bisect_left(keys, key["entry"])]

    def put_item(self, Item: dict[str, Any], ConditionExpression: str | None = None, **kw: Any) -> dict[str, Any]:
        if ConditionExpression is not None:
            if ConditionExpression != "attribute_not_exists(#p)" or kw["ExpressionAttributeNames"]["#p"] != "pool":
                raise NotImplementedError(ConditionExpression)
            if self._get(Item) is not None:
                raise _error("ConditionalCheckFailedException", "PutItem")
        self._put(Item)
        return {}

    def get_item(self, Key: dict[str, Any], ConsistentRead: bool = False) -> dict[str, Any]:
        item = self._get(Key)
        return {"Item": self._copy(item)} if item is not None else {}

    def delete_item(self, Key: dict[str, Any]) -> dict[str, Any]:
        self._delete(Key)
        return {}

    def update_check(self, Key: dict[str, Any], UpdateExpression: str, **kw: Any) -> bool:
        """Whether the update's condition holds (raises on an expression this stand-in does not know)."""
        condition = kw.get("ConditionExpression")
        names, values = kw["ExpressionAttributeNames"], kw.get("ExpressionAttributeValues", {})
        item = self._get(Key)
        holders = None if item is None else item.get("holders")
        rid = names["#r"]
        if UpdateExpression == "SET holders.#r = :lease" and condition == _HOLDS_OR_ROOM:
            return holders is not None and (rid in holders or len(holders) < values[":limit"])
        if UpdateExpression == "REMOVE holders.#r" and condition is None:
            return True
        if UpdateExpression == "REMOVE holders.#r" and condition == "holders.#r = :lease":
            return holders is not None and holders.get(rid) == values[":lease"]
        raise NotImplementedError(f"{UpdateExpression} / {condition}")

    def update_apply(self, Key: dict[str, Any], UpdateExpression: str, **kw: Any) -> None:
        item = self._get(Key)
        if item is None:  # UpdateItem creates the item
            self._put(dict(Key))
            item = self._get(Key)
            assert item is not None
        rid = kw["ExpressionAttributeNames"]["#r"]
        if UpdateExpression.startswith("SET "):
            item["holders"][rid] = kw["ExpressionAttributeValues"][":lease"]
        elif "holders" in item:
            item["holders"].pop(rid, None)

    def update_item(self, Key: dict[str, Any], UpdateExpression: str, **kw: Any) -> dict[str, Any]:
        if not self.update_check(Key, UpdateExpression, **kw):
            raise _error("ConditionalCheckFailedException", "UpdateItem")
        self.update_apply(Key, UpdateExpression, **kw)
        return {}

    def query(self, KeyConditionExpression: str, **kw: Any) -> dict[str, Any]:
        names, values = kw["ExpressionAttributeNames"], kw["ExpressionAttributeValues"]
        if KeyConditionExpression == "#p = :pool AND begins_with(#e, :wait)" and names == {"#p": "pool", "#e": "entry"}:
            prefix = values[":wait"]
        elif KeyConditionExpression == "#p = :pool" and names == {"#p": "pool"}:
            prefix = ""
        else:
            raise NotImplementedError(KeyConditionExpression)
        pool = values[":pool"]
        keys = self.keys.get(pool, [])
        start = kw.get("ExclusiveStartKey")
        i = bisect.bisect_right(keys, start["entry"]) if start else bisect.bisect_left(keys, prefix)
        limit = kw.get("Limit") or len(keys) + 1
        found: list[dict[str, Any]] = []
        while i < len(keys) and keys[i].startswith(prefix) and len(found) < limit:
            found.append(self._copy(self.items[pool][keys[i]]))
            i += 1
        page: dict[str, Any] = {"Items": found, "Count": len(found)}
        if len(found) == limit and i < len(keys) and keys[i].startswith(prefix):
            page["LastEvaluatedKey"] = {"pool": pool, "entry": found[-1]["entry"]}
        return page


class _MemoryClient:
    def __init__(self, registry: dict[str, _MemoryTable]) -> None:
        self.registry = registry

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        reasons: list[str] = []
        for action in TransactItems:
            ((kind, request),) = action.items()
            table = self.registry[request["TableName"]]
            if kind == "Delete":
                if request.get("ConditionExpression") != "task_token = :token":
                    raise NotImplementedError(request.get("ConditionExpression"))
                item = table._get(request["Key"])
                ok = item is not None and item.get("task_token") == request["ExpressionAttributeValues"][":token"]
            elif kind == "Update":
                args = {k: v for k, v in request.items() if k not in ("TableName", "Key", "UpdateExpression")}
                ok = table.update_check(request["Key"], request["UpdateExpression"], **args)
            else:
                raise NotImplementedError(kind)
            reasons.append("None" if ok else "ConditionalCheckFailed")
        if any(r != "None" for r in reasons):
            raise _error("TransactionCanceledException", "TransactWriteItems", reasons)
        for action in TransactItems:
            ((kind, request),) = action.items()
            table = self.registry[request["TableName"]]
            if kind == "Delete":
                table._delete(request["Key"])
            else:
                args = {k: v for k, v in request.items() if k not in ("TableName", "Key", "UpdateExpression")}
                table.update_apply(request["Key"], request["UpdateExpression"], **args)
        return {}


class Backend:
    """Where the slot tables live: the in-process stand-in, or moto's DynamoDB (inside mock_aws)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.registry: dict[str, _MemoryTable] = {}
        self._original = slot_pools.dynamodb_table

    def __enter__(self) -> Backend:
        if self.kind == "memory":
            slot_pools.dynamodb_table = self.registry.__getitem__  # type: ignore[assignment]
        else:
            self._mock = mock_aws()
            self._mock.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kind == "memory":
            slot_pools.dynamodb_table = self._original  # type: ignore[assignment]
        else:
            self._mock.stop()

    def create(self, name: str) -> str:
        if self.kind == "memory":
            self.registry[name] = _MemoryTable(name, self.registry)
        else:
            boto3.client("dynamodb", region_name="us-east-1").create_table(
                TableName=name,
                KeySchema=[
                    {"AttributeName": "pool", "KeyType": "HASH"},
                    {"AttributeName": "entry", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pool", "AttributeType": "S"},
                    {"AttributeName": "entry", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        return name


# ---------------------------------------------------------------------------------------------------------------
# The snapshots, their copies, and the simulation


@dataclass
class Replication:
    rid: str
    account: str
    stack: int
    arrival: float
    duration: float  # the copy's, at RDS
    delay: float  # from the copy's end to the check that sees it (the adaptive wait)
    start: float | None = None
    attempts: int = 0  # RunStep calls
    queued_at: float | None = None
    queue_wait: float = 0.0
    failed: str = ""  # why it was not replicated: "retries" exhausted, or its slot "wait" expired


def workload(accounts: int, snapshots: int, copy_seconds: float, stagger: float, burst: float, seed: int) -> list:
    rng = random.Random(seed)
    size_gb = max(1, round(copy_seconds / EXPECTED_SECONDS_PER_GB))
    out = []
    for i in range(accounts):
        account = f"{100000000000 + i:012d}"
        for j in range(snapshots):
            duration = copy_seconds * rng.uniform(0.9, 1.1)
            copy = wait_bench.SimulatedCopy(duration, duration * rng.uniform(0.05, 0.15), rng.uniform(-0.1, 0.1))
            delay = wait_bench.replay(copy, size_gb, POLICY).delay
            rid = f"{account}-{j:04d}"
            out.append((rid, account, i, i * stagger + j * burst / snapshots, duration, delay))
    return out


@dataclass
class Run:
    design: str
    replications: dict[str, Replication]
    makespan: float = 0.0
    refused: int = 0
    rds_in_flight: int = 0
    max_rds_in_flight: int = 0
    max_slots_held: int = 0
    held: int = 0
    fair_checks: int = 0
    events: list = field(default_factory=list)


class _FairCoordinator:
    """The shared pool's hand-out by fair_grants (not in the layer yet: written here over slot_pools' primitives)."""

    def __init__(self, table: str, cap: int | None) -> None:
        self.table, self.cap = table, cap
        self.granted: dict[str, int] = {}  # grant_counts: the slots each active account has been granted
        self.queues: dict[str, deque[tuple[int, str]]] = {}  # account -> (queued_at_ms, rid), oldest first
        self.tokens: dict[str, str] = {}
        self.waiting = 0
        self.grants = 0
        self.checked = 0

    def enqueue(self, r: Replication, queued_ms: int) -> None:
        token = f"token-{r.rid}"
        slot_pools.enqueue(self.table, POOL, waiter_entry(queued_ms, r.rid), r.rid, token)
        self.queues.setdefault(r.account, deque()).append((queued_ms, r.rid))
        self.tokens[r.rid] = token
        self.waiting += 1

    def _grants(self, waiters: list[Waiter], held: dict[str, int], free: int) -> list[Waiter]:
        return fair_grants(waiters, held, free, self.cap, self.granted)

    def note(self, account_of: dict[str, str], taken: Waiter | None = None) -> None:
        """Keep the accounts' grant counts (grant_counts) as the pool changes: an account's first waiter, and a slot
        taken without waiting (the pool had room), which counts as a grant. (The coordinator to be built sees both on
        the table's stream.)"""
        held = Counter(account_of[h] for h in slot_pools.holders(self.table, POOL))
        if taken is not None:
            held[taken.source_account] -= 1  # counted below as a new grant, as of before it
        waiting = {a for a, q in self.queues.items() if q} | ({taken.source_account} if taken else set())
        self.granted = grant_counts(self.granted, dict(held), waiting, [taken] if taken else None)

    def leave(self, account: str, rid: str) -> None:
        queue = self.queues[account]
        queue.remove(next(w for w in queue if w[1] == rid))
        self.waiting -= 1

    def grant(self, account_of: dict[str, str]) -> list[str]:
        """Hand the free slots to fair_grants' choice; the replication ids handed a slot, in order."""
        if not self.waiting:
            return []
        holders = slot_pools.holders(self.table, POOL)
        free = QUOTA - len(holders)
        if free <= 0:
            return []
        held = Counter(account_of[h] for h in holders)
        heads = [
            Waiter(replication_id=rid, source_account=account, queued_at_ms=ms)
            for account, queue in self.queues.items()
            for ms, rid in list(queue)[:free]
        ]
        grants = self._grants(heads, dict(held), free)
        self.grants += 1
        if self.grants % 500 == 1:  # the heads give the answer every waiter gives
            items = [i for i in slot_pools.pool_items(self.table, POOL) if str(i["entry"]).startswith("wait#")]
            every = [
                Waiter(
                    replication_id=str(i["replication_id"]),
                    source_account=account_of[str(i["replication_id"])],
                    queued_at_ms=int(str(i["entry"]).split("#")[1]),
                )
                for i in items
            ]
            again = self._grants(every, dict(held), free)
            if again != grants or len(every) != self.waiting:
                raise SystemExit("the coordinator's queue index disagrees with the table")
            self.checked += 1
        handed = []
        for waiter in grants:
            rid = waiter.replication_id
            item = {
                "entry": waiter_entry(waiter.queued_at_ms, rid),
                "replication_id": rid,
                "task_token": self.tokens[rid],
            }
            outcome, _ = slot_pools.hand_over(self.table, POOL, item, QUOTA)
            if outcome is not slot_pools.HandOver.HANDED:
                raise SystemExit(f"hand-over {outcome}: cannot happen with one coordinator")
            queue = self.queues[waiter.source_account]
            if queue[0][1] != rid:
                raise SystemExit("fair_grants granted a waiter that is not its account's oldest")
            queue.popleft()
            self.waiting -= 1
            handed.append(rid)
        waiting = {a for a, q in self.queues.items() if q}
        self.granted = grant_counts(self.granted, dict(held), waiting | {w.source_account for w in grants}, grants)
        return handed


ARRIVE, ATTEMPT, COPY_END, SEEN, EXPIRE = range(5)


def simulate(
    design: str, work: list, backend_kind: str, seed: int, cap: int | None, retrier: Retrier, max_wait_hours: int
) -> Run:
    limits = Settings(mapping_table="m", history_table="h", max_slot_wait_hours=max_wait_hours)
    # the first hourly re-check that finds the wait over MAX_SLOT_WAIT_HOURS (slot_wait_problem: waited > the limit)
    expiry = (limits.max_slot_wait_hours * 3600 // limits.slot_recheck_seconds + 1) * limits.slot_recheck_seconds
    rng = random.Random(seed * 7919 + DESIGNS.index(design))  # the retrier's jitter
    reps = {
        rid: Replication(rid, account, stack, arrival, duration, delay)
        for rid, account, stack, arrival, duration, delay in work
    }
    account_of = {r.rid: r.account for r in reps.values()}
    run = Run(design, reps)
    handed_tokens: list[str] = []
    original = slot_use.stepfunctions.send_task_success
    slot_use.stepfunctions.send_task_success = lambda token, output: handed_tokens.append(token) or True  # type: ignore[assignment]
    seq = 0

    def push(t: float, action: int, rid: str) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(run.events, (t, seq, action, rid))

    try:
        with Backend(backend_kind) as backend:
            stacks = sorted({r.stack for r in reps.values()})
            if design == "today":  # one table per stack, each pool believing it owns the vault's quota
                settings = {
                    s: Settings(
                        mapping_table="mappings", history_table="history", slots_table=backend.create(f"slots-{s:03d}")
                    )
                    for s in stacks
                }
            else:  # one table, one pool for the vault, every stack's replications in it
                table = backend.create("vault")
                shared = Settings(mapping_table="mappings", history_table="history", slots_table=table)
                settings = {s: shared for s in stacks}
            fair = _FairCoordinator("vault", cap) if design == "shared fair" else None

            def rds_copy(r: Replication, now: float) -> None:
                """RunStep: CopyDBSnapshot in the vault, or SnapshotQuotaExceeded and the retrier's next attempt."""
                r.attempts += 1
                if run.rds_in_flight < QUOTA:
                    r.start = now
                    run.rds_in_flight += 1
                    run.max_rds_in_flight = max(run.max_rds_in_flight, run.rds_in_flight)
                    push(now + r.duration, COPY_END, r.rid)
                    push(now + r.duration + r.delay, SEEN, r.rid)
                    return
                run.refused += 1
                if r.attempts > retrier.max_attempts:  # retries exhausted: Catch -> FinishFailed, which gives back
                    r.failed = "retries"
                    give_back(r, now)
                else:
                    push(now + retrier.delay(r.attempts, rng), ATTEMPT, r.rid)

            def resumed(now: float) -> None:
                while handed_tokens:
                    r = reps[handed_tokens.pop(0).removeprefix("token-")]
                    took(r, now)

            def took(r: Replication, now: float) -> None:
                run.held += 1
                run.max_slots_held = max(run.max_slots_held, run.held)
                if r.queued_at is not None:
                    r.queue_wait = now - r.queued_at
                rds_copy(r, now)

            def give_back(r: Replication, now: float) -> None:
                run.held -= 1
                if fair is None:
                    slot_use.give_back(settings[r.stack], r.rid, POOL)
                    resumed(now)
                else:
                    slot_pools.release("vault", POOL, r.rid)
                    for rid in fair.grant(account_of):
                        took(reps[rid], now)

            def expire(r: Replication, now: float) -> None:
                """The AcquireSlot re-check after MAX_SLOT_WAIT_HOURS: the slot if it is its turn, else
                SlotWaitExpired -> FinishFailed, which takes it out of the queue (give_back_everything)."""
                if r.attempts or r.queued_at is None:
                    return  # handed a slot before
                queued_ms = int(r.queued_at * 1000)
                if fair is None:
                    s = settings[r.stack]
                    if slot_use.take_slot(s, r.rid, POOL, queued_ms):
                        took(r, now)
                        return
                    slot_pools.leave_queue(s.slots_table, POOL, waiter_entry(queued_ms, r.rid))
                else:
                    slot_pools.leave_queue("vault", POOL, waiter_entry(queued_ms, r.rid))
                    fair.leave(r.account, r.rid)
                r.failed = "wait"
                r.queue_wait = now - r.queued_at

            def arrive(r: Replication, now: float) -> None:
                """The execution's AcquireSlot: a slot at once, or a place in the queue on its task token."""
                queued_ms = int(now * 1000)
                if fair is None:
                    s = settings[r.stack]
                    if slot_use.take_slot(s, r.rid, POOL, None):
                        took(r, now)
                        return
                    r.queued_at = now
                    push(now + expiry, EXPIRE, r.rid)
                    slot_pools.enqueue(s.slots_table, POOL, waiter_entry(queued_ms, r.rid), r.rid, f"token-{r.rid}")
                    slot_use.wake_waiters(POOL, s)  # as acquire_slot does after its enqueue
                    resumed(now)
                else:
                    if not fair.waiting and slot_pools.try_acquire("vault", POOL, r.rid, QUOTA):
                        taken = Waiter(replication_id=r.rid, source_account=r.account, queued_at_ms=queued_ms)
                        fair.note(account_of, taken)
                        took(r, now)
                        return
                    r.queued_at = now
                    push(now + expiry, EXPIRE, r.rid)
                    fair.enqueue(r, queued_ms)
                    fair.note(account_of)
                    for rid in fair.grant(account_of):
                        took(reps[rid], now)

            for r in reps.values():
                push(r.arrival, ARRIVE, r.rid)
            while run.events:
                now, _, action, rid = heapq.heappop(run.events)
                r = reps[rid]
                if action == ARRIVE:
                    arrive(r, now)
                elif action == ATTEMPT:
                    rds_copy(r, now)
                elif action == COPY_END:
                    run.rds_in_flight -= 1
                elif action == EXPIRE:
                    expire(r, now)
                else:
                    run.makespan = max(run.makespan, now)
                    give_back(r, now)
            if fair is not None:
                run.fair_checks = fair.checked
    finally:
        slot_use.stepfunctions.send_task_success = original  # type: ignore[assignment]
    return run


def summary(run: Run, copy_seconds: float, recheck: int) -> dict[str, Any]:
    reps = list(run.replications.values())
    n = len(reps)
    done = [r for r in reps if r.start is not None]
    waits: dict[str, list[float]] = {}
    for r in done:
        waits.setdefault(r.account, []).append(r.start - r.arrival)  # type: ignore[operator]
    medians = sorted(statistics.median(w) for w in waits.values())
    rechecks = sum(math.floor(r.queue_wait / recheck) for r in reps)
    lo, hi = medians[0], medians[-1]
    return {
        "design": run.design,
        "makespan": run.makespan,
        "ideal": math.ceil(n / QUOTA) * copy_seconds,
        "replicated": len(done),
        "failed_retries": sum(r.failed == "retries" for r in reps),
        "failed_wait": sum(r.failed == "wait" for r in reps),
        "refused": run.refused,
        "max_rds": run.max_rds_in_flight,
        "max_held": run.max_slots_held,
        "median_min": lo,
        "median_max": hi,
        "spread": hi / lo - 1 if lo > 0 else math.inf,
        "median_p95": medians[max(0, math.ceil(0.95 * len(medians)) - 1)],
        "lambdas": run.refused + rechecks,
        "transitions": run.refused + 2 * rechecks,
        "starts": {r.rid: r.start for r in reps},
        "fair_checks": run.fair_checks,
    }


HEADER = (
    "| design | makespan | ideal | ratio | replicated | failed: retries / slot wait | refused copy calls | "
    "max in flight at RDS | max slots held (all pools) | median wait per account: min | max | spread (max/min - 1) | "
    "p95 of medians | extra Lambda calls | extra transitions |\n" + "|---" * 15 + "|"
)


def row(s: dict[str, Any]) -> str:
    h = 3600
    return (
        f"| {s['design']} | {s['makespan'] / h:.2f} h | {s['ideal'] / h:.2f} h | {s['makespan'] / s['ideal']:.3f} | "
        f"{s['replicated']} | {s['failed_retries']} / {s['failed_wait']} | {s['refused']} | {s['max_rds']} | "
        f"{s['max_held']} | "
        f"{s['median_min'] / h:.2f} h | {s['median_max'] / h:.2f} h | {s['spread'] * 100:.1f} % | "
        f"{s['median_p95'] / h:.2f} h | {s['lambdas']} | {s['transitions']} |"
    )


def scenario(args: argparse.Namespace, stagger_minutes: float, backend: str, quiet: bool = False) -> list[dict]:
    work = workload(args.accounts, args.snapshots, args.copy_minutes * 60, stagger_minutes * 60, args.burst_seconds,
                    args.seed)  # fmt: skip
    retrier, recheck = asl_retrier(), recheck_seconds()
    results = []
    if not quiet:
        print(
            f"\nScenario: account i's burst at i x {stagger_minutes:g} min, MAX_SLOT_WAIT_HOURS "
            f"{args.max_slot_wait_hours} ({backend} DynamoDB)\n"
        )
        print(HEADER)
    for design in DESIGNS:
        began = time.perf_counter()
        run = simulate(design, work, backend, args.seed, args.per_account_cap, retrier, args.max_slot_wait_hours)
        s = summary(run, args.copy_minutes * 60, recheck)
        s["wall"] = time.perf_counter() - began
        results.append(s)
        if not quiet:
            print(row(s), flush=True)
    if not quiet:
        walls = ", ".join(f"{s['design']} {s['wall']:.0f} s" for s in results)
        checks = results[-1]["fair_checks"]
        print(f"\n(wall time: {walls}; fair_grants on the heads checked against the whole queue {checks} times)")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--snapshots", type=int, default=200, help="per account")
    parser.add_argument("--copy-minutes", type=float, default=30)
    parser.add_argument("--burst-seconds", type=float, default=20, help="how long one account's burst of events lasts")
    parser.add_argument("--stagger-minutes", type=float, nargs="+", default=[0, 1], help="one scenario each")
    parser.add_argument("--per-account-cap", type=int, default=None, help="fair_grants' per_account_cap")
    parser.add_argument(
        "--max-slot-wait-hours",
        type=int,
        default=Settings(mapping_table="m", history_table="h").max_slot_wait_hours,
        help="the stacks' MAX_SLOT_WAIT_HOURS (default: the stack's default)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="10 accounts x 40 snapshots")
    parser.add_argument("--backend", choices=("memory", "moto"), default="memory")
    parser.add_argument("--verify", action="store_true", help="--quick on both backends: the same schedule")
    args = parser.parse_args()
    if args.quick or args.verify:
        args.accounts, args.snapshots = 10, 40
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")
    retrier = asl_retrier()
    print(
        f"{args.accounts} workload accounts x {args.snapshots} snapshots into one vault account and region "
        f"(RDS quota {QUOTA} copies in flight), copies of {args.copy_minutes:g} min (+-10 %), seed {args.seed}; "
        f"RunStep's SnapshotQuotaExceeded retrier: {retrier.interval:g} s x {retrier.rate:g}^n, at most "
        f"{retrier.max_delay:g} s, full jitter, {retrier.max_attempts} retries; per-account cap {args.per_account_cap}"
    )
    for stagger in args.stagger_minutes:
        if args.verify:
            began = time.perf_counter()
            memory = scenario(args, stagger, "memory", quiet=True)
            moto = scenario(args, stagger, "moto", quiet=True)
            for a, b in zip(memory, moto, strict=True):
                if a["starts"] != b["starts"] or a["refused"] != b["refused"]:
                    raise SystemExit(f"stagger {stagger:g}: {a['design']} differs between the backends")
            print(f"stagger {stagger:g} min: every design's schedule identical on both backends "
                  f"({len(memory[0]['starts'])} replications each, {time.perf_counter() - began:.0f} s)")  # fmt: skip
        else:
            scenario(args, stagger, args.backend)


if __name__ == "__main__":
    main()
