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
- shared fair: the vault's coordinator as built (coordinator.yaml), the real modules: each replication asks for a
  slot through aws/dynamodb/shared_slot_pool.py (holds, then request_slot, as AcquireSlot does), each write to the
  vault's table is a stream record that GrantSlots' event source mapping batches (BatchSize, the batching window and
  the key filter read from coordinator.yaml) into an invocation of the real usecases/grant_slots.py (pools_touched,
  grant_slots: the pool item, the holders' requests, the waiting index, copy_slots.fair_grants and grant_counts, one
  transaction per grant; optional --per-account-cap), each `Copy Slot Granted` event it puts wakes the replication
  once SlotGranted's check (holds) finds the grant, and a copy's end or an expired wait deletes the request
  (give_back_request). Its extra Lambda calls count the coordinator's invocations and SlotGranted's calls too.

Simulated: time (an event loop), the RDS quota and copies (30 min +-10 %, the same copy for a snapshot in every
design), the detection of a copy's end (the adaptive wait's delay, wait_bench.replay: the project's check loop),
Step Functions' task-token callback (the bench receives send_task_success) and its retrier. A replication's wait is
from its snapshot's event to the copy accepted by RDS. A waiting AcquireSlot re-checks every hour
(SlotRecheckSeconds: two transitions, one Lambda call), counted as burst_makespan.py does; each refused RunStep
attempt is one Lambda call and one state transition (Step Functions bills retries as transitions).

DynamoDB: the slot code runs unchanged, but by default over in-process stand-ins: `_MemoryTable` for the few requests
slot_pools makes (today, shared FIFO: each condition and update expression matched exactly; any other request
raises), `VaultTable` for the vault's table (shared fair: coordinator.yaml's key schema and `waiting` index, the
expressions evaluated by moto's own DynamoDB expression code). moto's in-process DynamoDB takes about 9 ms a request,
scans every item for a Query of the index and deep-copies every table on each transaction, which makes 10,000
replications per design take hours here. `--backend moto` runs the same bench on moto, and `--verify` runs the
--quick size on both and checks that every replication starts its copy at the same simulated second.

The coordinator's invocations dominate the run time: each reads and weighs every waiting request of the pool, and
one follows each copy's end, so 10,000 replications cost about 10,000 passes over thousands of waiters. Not
simulated (as in the other designs, counted only): the hourly re-checks of a waiting AcquireSlot, whose writes would
add invocations of their own.

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
import logging
import math
import os
import random
import re
import statistics
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import wait_bench
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import DynamodbException as MotoDynamodbError
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table as MotoTable
from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.parsing.validators import UpdateExpressionValidator

from replicator import observability
from replicator.aws import eventbridge
from replicator.aws.dynamodb import shared_slot_pool, slot_pools
from replicator.copy_slots import CopyQuotas, waiter_entry
from replicator.execution import WaitPolicy
from replicator.settings import Settings
from replicator.usecases import grant_slots as coordinator
from replicator.usecases import slots as slot_use
from replicator.waiting import EXPECTED_SECONDS_PER_GB
from replicator_cli.local.provision import load_template

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


COORDINATOR = load_template(ROOT / "coordinator.yaml")["Resources"]
COORDINATOR_TABLE = COORDINATOR["SharedSlotPoolTable"]["Properties"]


@dataclass(frozen=True)
class StreamMapping:
    """GrantSlots' event source mapping on the vault table's stream, as coordinator.yaml declares it: batches of at
    most `batch_size` records, each invoked at most `window` seconds after its first record, of the records whose
    partition key starts with `prefix` (the workloads' requests), one invocation at a time."""

    batch_size: int
    window: float
    prefix: str


def stream_mapping() -> StreamMapping:
    function = COORDINATOR["GrantSlotsFunction"]["Properties"]
    source = function["Events"]["PoolChanged"]["Properties"]
    (pattern,) = [json.loads(f["Pattern"]) for f in source["FilterCriteria"]["Filters"]]
    prefixes = pattern.get("dynamodb", {}).get("Keys", {}).get("pk", {}).get("S", [{}])
    prefix = prefixes[0].get("prefix") if len(prefixes) == 1 else None
    if not prefix or pattern != {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": prefix}]}}}}:
        raise SystemExit(f"GrantSlots' stream filter changed ({pattern}): update the bench")
    if function["ReservedConcurrentExecutions"] != 1:
        raise SystemExit("GrantSlots no longer runs one pass at a time: update the bench")
    return StreamMapping(source["BatchSize"], source["MaximumBatchingWindowInSeconds"], prefix)


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


# ---------------------------------------------------------------------------------------------------------------
# VaultTable: coordinator.yaml's shared copy-slot table in memory, for the real coordinator and workload modules

_SERIALIZE, _DESERIALIZE = TypeSerializer().serialize, TypeDeserializer().deserialize
_KEY_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(:[A-Za-z0-9_]+)\s*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# a document path's first element (a name or a #placeholder, not after a dot, not a :value) in an expression
_TOP_LEVEL = re.compile(r"(?<![\w.#:])#?[A-Za-z_][A-Za-z0-9_]*")
_NOT_ATTRIBUTES = {  # the expression grammar's own words: functions, operators, clauses
    "set", "remove", "add", "delete", "and", "or", "not", "between", "in", "attribute_exists",
    "attribute_not_exists", "attribute_type", "begins_with", "contains", "size", "if_not_exists", "list_append",
}  # fmt: skip


def _dynamodb_error(code: str, operation: str, message: str = "", reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": message or code}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, operation)  # type: ignore[arg-type]


def _plain_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_copy(v) for v in value]
    if isinstance(value, set):
        return set(value)
    return value


def _plain_of(value: DynamoType) -> Any:
    """A moto attribute value as the boto3 resource returns it (numbers as Decimal)."""
    kind = value.type
    if kind == "S" or kind == "BOOL":
        return value.value
    if kind == "N":
        return Decimal(value.value)
    if kind == "M":
        return {k: _plain_of(v) for k, v in value.value.items()}
    if kind == "L":
        return [_plain_of(v) for v in value.value]
    return _DESERIALIZE(value.to_json())


class VaultTable:
    """An in-memory stand-in for the boto3 Table resource of coordinator.yaml's SharedSlotPoolTable (its key schema,
    attribute definitions and `waiting` index read from the template), with exactly the calls of
    usecases/grant_slots.py and aws/dynamodb/shared_slot_pool.py: get_item, put_item, update_item, delete_item,
    query of the `waiting` index (`waiting_pool = :pool`, in its sort key's order), and on meta.client
    batch_get_item and transact_write_items; the resource's plain values in and out (numbers read as Decimal).

    Condition and update expressions are evaluated by moto's own DynamoDB code (moto.dynamodb.comparisons'
    condition parser; moto.dynamodb.parsing's update parser, validator and executor, as moto's UpdateItem runs
    them), so an expression means what it means on moto and fails as it fails there: ConditionalCheckFailedException,
    TransactionCanceledException with its CancellationReasons (all or nothing), ValidationException (an invalid
    document path, a key updated, overlapping paths). They run on a moto Item of only the attributes the expression
    names (its paths' first elements, and the key): nothing else can change its outcome, and the pool item's maps
    of every account would otherwise make each write cost milliseconds (moto checks the item's size on each attribute
    set and copies the item). What else it adds is speed: items are kept as plain values, the index kept sorted as
    items change (moto's Query scans and sorts every item, its transactions deep-copy the table), parsed update
    expressions reused (moto's validator works on a copy). Any other call, argument, index or key condition raises.
    `--verify` runs the quick size on it and on moto: every copy starts at the same simulated second."""

    def __init__(self, name: str, definition: dict[str, Any]) -> None:
        self.name = name
        self._schema = MotoTable(
            name,
            account_id=VAULT,
            region=REGION,
            schema=definition["KeySchema"],
            attr=definition["AttributeDefinitions"],
            global_indexes=definition["GlobalSecondaryIndexes"],
        )
        self._key_attrs: list[str] = list(self._schema.table_key_attrs)
        (index,) = definition["GlobalSecondaryIndexes"]
        if index["Projection"]["ProjectionType"] != "ALL":
            raise SystemExit("the waiting index no longer projects every attribute: update VaultTable")
        index_keys = {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}
        self._index_name, self._index_hash, self._index_range = (
            index["IndexName"],
            index_keys["HASH"],
            index_keys["RANGE"],
        )
        self._items: dict[tuple[str, ...], tuple[dict[str, Any], bool]] = {}  # each item, and whether it is flat
        self._index: dict[str, list[tuple[str, tuple[str, ...]]]] = {}  # index hash -> [(sort key, table key)]
        self._parsed: dict[str, Any] = {}
        self.meta = SimpleNamespace(
            client=SimpleNamespace(batch_get_item=self._batch_get_item, transact_write_items=self._transact_write_items)
        )

    # -- keys, items, expressions

    def _key(self, key: dict[str, Any]) -> tuple[str, ...]:
        if set(key) != set(self._key_attrs) or not all(isinstance(key[a], str) for a in self._key_attrs):
            raise _dynamodb_error("ValidationException", "Key", f"not a key of this table: {key}")
        return tuple(key[a] for a in self._key_attrs)

    def _key_of(self, item: dict[str, Any]) -> dict[str, Any]:
        return {a: item[a] for a in self._key_attrs if a in item}

    def _named(self, names: dict[str, str] | None, *expressions: str | None) -> set[str]:
        """The top-level attributes the expressions name (the first element of each document path), and the key."""
        found = set(self._key_attrs)
        for expression in expressions:
            for token in _TOP_LEVEL.findall(expression or ""):
                if token.startswith("#"):
                    if not names or token not in names:
                        raise _dynamodb_error("ValidationException", "Expression", f"{token} is not defined")
                    found.add(names[token])
                elif token.lower() not in _NOT_ATTRIBUTES:
                    found.add(token)
        return found

    @staticmethod
    def _new_moto_item(key: tuple[str, ...], attrs: dict[str, Any]) -> Item:
        """A moto Item made as Item.__init__ makes one, but neither tracked by moto (its models keep every instance
        made, for their resets: a leak of every write here) nor with moto's LimitedSizeDict as attributes (which sums
        the whole item's size on every attribute set, for its 400 KB limit: most of a write's cost otherwise; these
        items are a few KB)."""
        item = object.__new__(Item)
        item.hash_key = DynamoType({"S": key[0]})
        item.range_key = DynamoType({"S": key[1]}) if len(key) > 1 else None
        item.attrs = {a: DynamoType(v) for a, v in attrs.items()}  # type: ignore[assignment]
        return item

    def _moto_item(self, key: tuple[str, ...], item: dict[str, Any] | None, named: set[str]) -> Item | None:
        if item is None:
            return None
        return self._new_moto_item(key, {a: _SERIALIZE(item[a]) for a in named if a in item})

    @staticmethod
    def _values(values: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if values is None else {k: _SERIALIZE(v) for k, v in values.items()}

    def _condition(self, found: Item | None, condition: str | None, names: Any, values: Any) -> bool:
        if condition is None:
            return True
        try:
            return bool(get_filter_expression(condition, names, self._values(values)).expr(found))
        except MotoDynamodbError as error:
            raise _dynamodb_error("ValidationException", "ConditionExpression", str(error.message)) from error

    def _updated(
        self, key: tuple[str, ...], item: dict[str, Any] | None, found: Item | None, expression: str, names: Any,
        values: Any, named: set[str],
    ) -> dict[str, Any]:  # fmt: skip
        """The item after the update: moto's validator and executor on `found` (the named attributes of `item`, or
        a new item of the key alone), then those attributes put back in a copy of the item."""
        if expression not in self._parsed:
            self._parsed[expression] = UpdateExpressionParser.make(expression)
        if found is None:
            found = self._new_moto_item(key, {a: {"S": v} for a, v in zip(self._key_attrs, key, strict=True)})
        try:
            validated = UpdateExpressionValidator(
                self._parsed[expression],
                expression_attribute_names=names,
                expression_attribute_values=self._values(values),
                item=found,
                table=self._schema,
            ).validate()
            validated.normalize()
            UpdateExpressionExecutor(validated, found, names).execute()
        except MotoDynamodbError as error:
            raise _dynamodb_error("ValidationException", "UpdateItem", str(error.message)) from error
        result = {a: v for a, v in (item or {}).items() if a not in named}
        result.update({a: _plain_of(v) for a, v in found.attrs.items()})
        return result

    def _store(self, key: tuple[str, ...], item: dict[str, Any] | None) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            old_hash, old_sort = old[0].get(self._index_hash), old[0].get(self._index_range)
            if old_hash is not None and old_sort is not None:
                entries = self._index[old_hash]
                del entries[bisect.bisect_left(entries, (old_sort, key))]
        if item is None:
            return
        self._items[key] = (item, not any(isinstance(v, dict | list | set) for v in item.values()))
        new_hash, new_sort = item.get(self._index_hash), item.get(self._index_range)
        if new_hash is not None and new_sort is not None:
            if not isinstance(new_hash, str) or not isinstance(new_sort, str):  # the index's keys are strings
                raise _dynamodb_error("ValidationException", "PutItem", "index key attribute of the wrong type")
            bisect.insort(self._index.setdefault(new_hash, []), (new_sort, key))

    def _read(self, key: tuple[str, ...], projection: str | None = None) -> dict[str, Any] | None:
        found = self._items.get(key)
        if found is None:
            return None
        item, flat = found
        if projection is not None:
            names = [n.strip() for n in projection.split(",")]
            if not all(_NAME.match(n) for n in names):
                raise NotImplementedError(f"VaultTable: ProjectionExpression {projection!r}")
            return {n: _plain_copy(item[n]) for n in names if n in item}
        return dict(item) if flat else _plain_copy(item)

    def _write(
        self, kind: str, request: dict[str, Any], operation: str
    ) -> tuple[tuple[str, ...], bool, dict[str, Any] | bool | None]:
        """A write's key, whether its condition holds, and the item it leaves (None: deleted; False: unchanged, or
        its condition failed); nothing is stored yet."""
        names, values = request.get("ExpressionAttributeNames"), request.get("ExpressionAttributeValues")
        condition, update = request.get("ConditionExpression"), request.get("UpdateExpression")
        key = self._key(self._key_of(request["Item"]) if kind == "Put" else request["Key"])
        current = self._items.get(key)
        item = None if current is None else current[0]
        named = self._named(names, condition, update)
        found = self._moto_item(key, item, named)
        if not self._condition(found, condition, names, values):
            return key, False, False
        if kind == "Put":
            return key, True, {a: _DESERIALIZE(_SERIALIZE(v)) for a, v in request["Item"].items()}
        if kind == "Update":
            return key, True, self._updated(key, item, found, update, names, values, named)
        return key, True, None if kind == "Delete" else False

    # -- the Table resource's calls

    def get_item(self, Key: dict[str, Any], ConsistentRead: bool = False) -> dict[str, Any]:
        item = self._read(self._key(Key))
        return {} if item is None else {"Item": item}

    def put_item(self, **request: Any) -> dict[str, Any]:
        return self._single("Put", request, {"Item"})

    def update_item(self, **request: Any) -> dict[str, Any]:
        return self._single("Update", request, {"Key", "UpdateExpression"})

    def delete_item(self, **request: Any) -> dict[str, Any]:
        return self._single("Delete", request, {"Key"})

    def _single(self, kind: str, request: dict[str, Any], required: set[str]) -> dict[str, Any]:
        known = required | {"ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues"}
        if not required <= set(request) <= known:
            raise NotImplementedError(f"VaultTable: {kind}Item with {sorted(request)}")
        key, holds, item = self._write(kind, request, f"{kind}Item")
        if not holds:
            raise _dynamodb_error("ConditionalCheckFailedException", f"{kind}Item", "The conditional request failed")
        self._store(key, item if item is not False else None)
        return {}

    def query(
        self,
        KeyConditionExpression: str,
        ExpressionAttributeValues: dict[str, Any],
        IndexName: str | None = None,
        ConsistentRead: bool = False,
    ) -> dict[str, Any]:
        """The `waiting` index by its partition, in its sort key's order, in one page (DynamoDB pages at 1 MB:
        shared_slot_pool reads every page)."""
        if IndexName != self._index_name:
            raise NotImplementedError(f"VaultTable: a query of {IndexName or 'the table'}")
        if ConsistentRead:
            raise _dynamodb_error("ValidationException", "Query", "Consistent reads are not supported on GSIs")
        match = _KEY_CONDITION.match(KeyConditionExpression)
        if match is None or match[1] != self._index_hash or set(ExpressionAttributeValues) != {match[2]}:
            raise NotImplementedError(f"VaultTable: KeyConditionExpression {KeyConditionExpression!r}")
        found = [self._read(key) for _, key in self._index.get(ExpressionAttributeValues[match[2]], [])]
        return {"Items": found, "Count": len(found), "ScannedCount": len(found)}

    # -- the client's calls (a resource's client takes and returns plain values, as boto3's does)

    def _batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((name, request),) = RequestItems.items()
        if name != self.name or set(request) - {"Keys", "ConsistentRead", "ProjectionExpression"}:
            raise NotImplementedError(f"VaultTable: BatchGetItem {name} {sorted(request)}")
        keys = [self._key(k) for k in request["Keys"]]
        if not 0 < len(keys) <= 100:
            raise _dynamodb_error("ValidationException", "BatchGetItem", "1 to 100 keys")
        if len(set(keys)) != len(keys):
            raise _dynamodb_error(
                "ValidationException", "BatchGetItem", "Provided list of item keys contains duplicates"
            )
        found = [self._read(k, request.get("ProjectionExpression")) for k in keys]
        return {"Responses": {name: [i for i in found if i is not None]}, "UnprocessedKeys": {}}

    def _transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        """All or nothing: every condition checked on the items as they are, then every write made."""
        if not 0 < len(TransactItems) <= 100:
            raise _dynamodb_error("ValidationException", "TransactWriteItems", "1 to 100 items")
        known = {"TableName", "Key", "Item", "UpdateExpression", "ConditionExpression", "ExpressionAttributeNames",
                 "ExpressionAttributeValues"}  # fmt: skip
        writes: list[tuple[tuple[str, ...], dict[str, Any] | bool | None]] = []
        reasons: list[str] = []
        for action in TransactItems:
            ((kind, request),) = action.items()
            if request.get("TableName") != self.name:
                raise NotImplementedError(f"VaultTable: a transaction on {request.get('TableName')}")
            if kind not in ("Put", "Update", "Delete", "ConditionCheck") or set(request) - known:
                raise NotImplementedError(f"VaultTable: {kind} {sorted(request)}")
            key, holds, item = self._write(kind, request, "TransactWriteItems")
            if key in [k for k, _ in writes]:
                raise _dynamodb_error("ValidationException", "TransactWriteItems",
                                      "Transaction request cannot include multiple operations on one item")  # fmt: skip
            writes.append((key, item))
            reasons.append("None" if holds else "ConditionalCheckFailed")
        if any(r != "None" for r in reasons):
            raise _dynamodb_error("TransactionCanceledException", "TransactWriteItems", reasons=reasons)
        for key, item in writes:
            if item is not False:
                self._store(key, item)  # type: ignore[arg-type]
        return {}


class Backend:
    """Where the slot tables live: the in-process stand-in, or moto's DynamoDB (inside mock_aws)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.registry: dict[str, _MemoryTable] = {}
        self.vaults: dict[str, VaultTable] = {}
        self._original = slot_pools.dynamodb_table, shared_slot_pool.dynamodb_table

    def __enter__(self) -> Backend:
        if self.kind == "memory":
            slot_pools.dynamodb_table = self.registry.__getitem__  # type: ignore[assignment]
            shared_slot_pool.dynamodb_table = self.vaults.__getitem__  # the coordinator's table (coordinator_table)
        else:
            self._mock = mock_aws()
            self._mock.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kind == "memory":
            slot_pools.dynamodb_table, shared_slot_pool.dynamodb_table = self._original  # type: ignore[assignment]
        else:
            self._mock.stop()

    def create_vault(self, name: str) -> Any:
        """coordinator.yaml's SharedSlotPoolTable: a VaultTable, or the same table on moto (a boto3 Table)."""
        definition = COORDINATOR_TABLE
        if self.kind == "memory":
            self.vaults[name] = VaultTable(name, definition)
            return self.vaults[name]
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            **{k: definition[k] for k in ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes")},
        )
        return boto3.resource("dynamodb", region_name="us-east-1").Table(name)

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
    coordinator_calls: int = 0  # GrantSlots' invocations (shared fair)
    slot_granted_calls: int = 0  # SlotGranted's, one per grant event (shared fair)
    events: list = field(default_factory=list)


class _Vault:
    """The shared fair design as deployed (coordinator.yaml), the real modules on simulated time: each workload asks,
    checks and gives back through aws/dynamodb/shared_slot_pool.py (request_slot, holds, give_back_request, as
    AcquireSlot, SlotGranted and the give-backs call them); each write is a stream record (its old and new images)
    that GrantSlots' event source mapping batches (StreamMapping) into a real coordinator invocation
    (usecases/grant_slots.py: pools_touched, then grant_slots); each `Copy Slot Granted` event it puts wakes its
    replication once SlotGranted's check (holds) finds the grant."""

    def __init__(self, table: Any, cap: int | None, mapping: StreamMapping) -> None:
        self.table, self.mapping = table, mapping
        self.settings = coordinator.CoordinatorSettings(table_name=table.name, per_account_cap=cap)
        self.records: list[dict[str, Any]] = []
        self.scheduled = False  # an invocation is due (the batching window of the oldest record not yet read)
        self.invocations = 0
        self.announced: list[tuple[str, str]] = []  # (bus, replication id) of each Copy Slot Granted event put

    def _record(self, key: dict[str, str], old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if not str(key["pk"]).startswith(self.mapping.prefix) or old == new:
            return
        images = {"Keys": {k: _SERIALIZE(v) for k, v in key.items()}}
        for name, image in (("OldImage", old), ("NewImage", new)):
            if image is not None:
                images[name] = {k: _SERIALIZE(v) for k, v in image.items()}
        event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        self.records.append({"eventName": event, "dynamodb": images})

    def _request(self, key: dict[str, str]) -> dict[str, Any] | None:
        return self.table.get_item(Key=key, ConsistentRead=True).get("Item")

    def holds(self, r: Replication) -> bool:
        return shared_slot_pool.holds(self.table, r.account, POOL, r.rid)

    def ask(self, r: Replication, queued_ms: int) -> None:
        key = shared_slot_pool.request_key(r.account, POOL, r.rid)
        old = self._request(key)
        shared_slot_pool.request_slot(self.table, r.account, POOL, r.rid, queued_ms, REGION)
        self._record(key, old, self._request(key))

    def give_back(self, r: Replication) -> None:
        key = shared_slot_pool.request_key(r.account, POOL, r.rid)
        old = self._request(key)
        shared_slot_pool.give_back_request(self.table, r.account, POOL, r.rid)
        self._record(key, old, None)

    def invoke(self) -> list[tuple[str, str]]:
        """GrantSlots on the records of the window, BatchSize at a time; the (account, replication id) of each
        grant event, in order."""
        self.scheduled = False
        woken: list[tuple[str, str]] = []
        while self.records:
            batch, self.records = self.records[: self.mapping.batch_size], self.records[self.mapping.batch_size :]
            for result in coordinator.grant_slots(self.settings, coordinator.pools_touched(batch)):
                if result.in_flight > QUOTA:
                    raise SystemExit(f"the coordinator has {result.in_flight} slots of {QUOTA} in flight")
            self.invocations += 1
            for bus, rid in self.announced:
                woken.append((bus.split(":")[4], rid))  # arn:aws:events:<region>:<account>:event-bus/default
            self.announced.clear()
        return woken


class _CoordinatorQuiet:
    """While the bench runs the coordinator: its grant events go to the bench (not EventBridge), its metrics and
    its per-pass log line nowhere (they would print EMF and JSON lines on stdout)."""

    def __init__(self, announced: list[tuple[str, str]]) -> None:
        self.announced = announced

    def __enter__(self) -> None:
        self.saved = (eventbridge.announce_slot_granted, coordinator.metrics, coordinator.publish_metrics)
        self.level = observability.logger.log_level
        eventbridge.announce_slot_granted = lambda bus, rid, pool: self.announced.append((bus, rid))  # type: ignore[assignment]
        coordinator.metrics = SimpleNamespace(add_metric=lambda **_: None)  # type: ignore[assignment]
        coordinator.publish_metrics = lambda *_, **__: None  # type: ignore[assignment]
        observability.logger.setLevel(logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        eventbridge.announce_slot_granted, coordinator.metrics, coordinator.publish_metrics = self.saved  # type: ignore[assignment]
        observability.logger.setLevel(self.level)


ARRIVE, ATTEMPT, COPY_END, SEEN, EXPIRE, PASS = range(6)


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
    run = Run(design, reps)
    handed_tokens: list[str] = []
    original = slot_use.stepfunctions.send_task_success
    slot_use.stepfunctions.send_task_success = lambda token, output: handed_tokens.append(token) or True  # type: ignore[assignment]
    seq = 0
    mapping = stream_mapping()
    vault: _Vault | None = None

    def push(t: float, action: int, rid: str) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(run.events, (t, seq, action, rid))

    try:
        with Backend(backend_kind) as backend, _CoordinatorQuiet(announced := []):
            stacks = sorted({r.stack for r in reps.values()})
            if design == "shared fair":  # the vault's table (coordinator.yaml) and its coordinator: the real modules
                vault = _Vault(backend.create_vault("vault"), cap, mapping)
                vault.announced = announced
                settings = {}
            elif design == "today":  # one table per stack, each pool believing it owns the vault's quota
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

            def stream(now: float) -> None:
                """A write to the vault's table: the coordinator is invoked when its batching window ends."""
                assert vault is not None
                if vault.records and not vault.scheduled:
                    vault.scheduled = True
                    push(now + mapping.window, PASS, "")

            def coordinate(now: float) -> None:
                """GrantSlots' invocations, then SlotGranted for each grant event: resumed if the grant is real."""
                assert vault is not None
                for account, rid in vault.invoke():
                    r = reps[rid]
                    if r.account != account or not vault.holds(r):
                        raise SystemExit(f"a Copy Slot Granted event for {rid} with no grant behind it")
                    run.slot_granted_calls += 1
                    took(r, now)
                run.coordinator_calls = vault.invocations

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
                if vault is None:
                    slot_use.give_back(settings[r.stack], r.rid, POOL)
                    resumed(now)
                else:  # the request deleted: the stream tells the coordinator
                    vault.give_back(r)
                    stream(now)

            def expire(r: Replication, now: float) -> None:
                """The AcquireSlot re-check after MAX_SLOT_WAIT_HOURS: the slot if it is its turn, else
                SlotWaitExpired -> FinishFailed, which takes it out of the queue (give_back_everything)."""
                if r.attempts or r.queued_at is None:
                    return  # handed a slot before
                queued_ms = int(r.queued_at * 1000)
                if vault is None:
                    s = settings[r.stack]
                    if slot_use.take_slot(s, r.rid, POOL, queued_ms):
                        took(r, now)
                        return
                    slot_pools.leave_queue(s.slots_table, POOL, waiter_entry(queued_ms, r.rid))
                else:
                    if vault.holds(r):  # granted, its event lost: the re-check finds the grant (never here)
                        took(r, now)
                        return
                    vault.give_back(r)  # FinishFailed's give_back_everything: its request deleted
                    stream(now)
                r.failed = "wait"
                r.queue_wait = now - r.queued_at

            def arrive(r: Replication, now: float) -> None:
                """The execution's AcquireSlot: a slot at once, or a place in the queue on its task token."""
                queued_ms = int(now * 1000)
                if vault is None:
                    s = settings[r.stack]
                    if slot_use.take_slot(s, r.rid, POOL, None):
                        took(r, now)
                        return
                    r.queued_at = now
                    push(now + expiry, EXPIRE, r.rid)
                    slot_pools.enqueue(s.slots_table, POOL, waiter_entry(queued_ms, r.rid), r.rid, f"token-{r.rid}")
                    slot_use.wake_waiters(POOL, s)  # as acquire_slot does after its enqueue
                    resumed(now)
                else:  # granted already? (AcquireSlot reads the pool item) If not, it asks and waits
                    if vault.holds(r):
                        took(r, now)
                        return
                    r.queued_at = now
                    push(now + expiry, EXPIRE, r.rid)
                    vault.ask(r, queued_ms)
                    stream(now)

            for r in reps.values():
                push(r.arrival, ARRIVE, r.rid)
            while run.events:
                now, _, action, rid = heapq.heappop(run.events)
                if action == PASS:
                    coordinate(now)
                    continue
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
        # the coordinator's invocations and SlotGranted's calls too (none in the other designs)
        "lambdas": run.refused + rechecks + run.coordinator_calls + run.slot_granted_calls,
        "transitions": run.refused + 2 * rechecks,
        "starts": {r.rid: r.start for r in reps},
        "coordinator_calls": run.coordinator_calls,
        "slot_granted_calls": run.slot_granted_calls,
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
        fair = results[-1]
        print(
            f"\n(wall time: {walls}; shared fair: {fair['coordinator_calls']} GrantSlots invocations, "
            f"{fair['slot_granted_calls']} SlotGranted calls, in its extra Lambda calls)"
        )
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
