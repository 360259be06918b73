"""GrantSlots (the vault's coordinator, coordinator.yaml): hand the free slots of a shared copy-slot pool to the
waiting replications of every workload account, fairly (copy_slots.fair_grants), and wake each one granted.

The coordinator alone writes a pool's holders: workload accounts only add and delete their own requests (the vault
role's conditions), so none can take, keep or reorder another account's slots. It runs on the table's stream: a
request arriving, re-checking or given back changes the pool, and each batch looks again at every pool it touched.
A holder whose request is gone gave its slot back (its release, or the reconciler's), even if the stream record that
said so was lost: each pass checks every holder's request (one strongly consistent BatchGetItem). A pool's item is
made by its first grant: a pool without one reads as empty.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from ..aws import eventbridge
from ..aws.dynamodb import shared_slot_pool
from ..aws.dynamodb.slot_pools import pool_label
from ..copy_slots import CopyQuotas, Waiter, fair_grants, grant_counts, is_pool
from ..observability import MetricUnit, logger, metrics, publish_metrics
from ..snapshots import SnapshotKind


class CoordinatorSettings(BaseModel):
    """The coordinator's settings (coordinator.yaml's parameters, through its function's environment)."""

    model_config = ConfigDict(frozen=True)

    table_name: str
    quotas: CopyQuotas = CopyQuotas()
    per_account_cap: int | None = None  # the most slots of a pool one workload account holds at a time
    partition: str = "aws"


class PoolGrants(BaseModel):
    pool: str
    granted: list[str]  # the holders granted a slot in this pass, in order (account#replication id)
    dropped: list[str]  # holders whose request was gone (their slot given back)
    in_flight: int
    waiting: int


def pools_touched(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The pools a stream batch changed, each with the waiting requests its records show (a request just written
    may not be in the eventually consistent index yet: the record's new image stands for it)."""
    pools: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        images = record.get("dynamodb", {})
        for name in ("NewImage", "OldImage"):
            image = images.get(name) or {}
            pool = (image.get("pool") or {}).get("S")
            if not pool or str((image.get("pk") or {}).get("S", "")).startswith("pool#"):
                continue
            if not is_pool(pool):  # written by a workload: a malformed one must not stop every pool's grants
                logger.warning("not a copy-slot pool: ignored", extra={"pool": pool})
                continue
            seen = pools.setdefault(pool, [])
            if name == "NewImage" and "waiting_pool" in image:
                seen.append(_plain(image))
    return pools


def _plain(image: dict[str, Any]) -> dict[str, Any]:
    """A stream image's attributes (DynamoDB JSON) as the table resource returns them (strings and numbers)."""
    plain: dict[str, Any] = {}
    for key, typed in image.items():
        kind, value = next(iter(typed.items()))
        plain[key] = int(value) if kind == "N" else value
    return plain


def grant_slots(settings: CoordinatorSettings, touched: dict[str, list[dict[str, Any]]]) -> list[PoolGrants]:
    return [_grant_pool(settings, pool, seen) for pool, seen in sorted(touched.items())]


def _grant_pool(settings: CoordinatorSettings, pool: str, seen: list[dict[str, Any]]) -> PoolGrants:
    table = shared_slot_pool.coordinator_table(settings.table_name)
    limit = settings.quotas.limit(SnapshotKind(pool.rsplit("#", 1)[1]))
    item = shared_slot_pool.read_pool(table, pool)  # a pool without an item yet reads as empty
    holders: dict[str, dict[str, Any]] = item["holders"]
    existing = shared_slot_pool.existing_requests(table, [{"pk": h["pk"], "sk": h["sk"]} for h in holders.values()])
    dropped = [key for key, h in holders.items() if (str(h["pk"]), str(h["sk"])) not in existing]
    shared_slot_pool.drop_holders(table, pool, dropped)
    held = Counter(str(h["account"]) for key, h in holders.items() if key not in dropped)
    # each request by its key (account from its partition: what IAM holds a workload to), held ones left out
    requests: dict[str, dict[str, Any]] = {}
    for request in [*seen, *shared_slot_pool.waiting_requests(table, pool)]:
        identity = shared_slot_pool.request_identity(request, pool)
        if identity is None:
            logger.warning("not a request of this pool: ignored", extra={"pool": pool, "sk": request.get("sk")})
            continue
        key = shared_slot_pool.holder_key(*identity)
        if key not in holders or key in dropped:
            requests[key] = request
    waiters = [
        Waiter(replication_id=key, source_account=key.split("#", 1)[0], queued_at_ms=int(r["queued_at_ms"]))
        for key, r in requests.items()
    ]
    free = limit - sum(held.values())
    chosen = fair_grants(waiters, dict(held), free, settings.per_account_cap, _counts(item["granted"]))
    granted: list[Waiter] = []
    for waiter in chosen:
        request = requests[waiter.replication_id]
        empty = not held and not granted  # its first grant writes the holders map (and the item if missing)
        if shared_slot_pool.grant(table, pool, request, limit, empty=empty) is None:
            continue  # given back or granted since it was read, or the pool is full (another pass): next one
        granted.append(waiter)
        _announce(settings, pool, waiter.source_account, request)
    accounts_waiting = {w.source_account for w in waiters}
    counts = grant_counts(_counts(item["granted"]), dict(held), accounts_waiting, granted)
    holding = held + Counter(w.source_account for w in granted)
    still_waiting = Counter(w.source_account for w in waiters) - Counter(w.source_account for w in granted)
    accounts = {
        a: {"in_flight": holding.get(a, 0), "waiting": still_waiting.get(a, 0)}
        for a in set(holding) | set(still_waiting)
    }
    shared_slot_pool.save_pool_state(table, pool, counts, accounts)
    metrics.add_metric(name="SharedSlotsGranted", unit=MetricUnit.Count, value=len(granted))
    gone = {str(a): {"in_flight": 0, "waiting": 0} for a in item["accounts"] if a not in accounts}
    for account, now in sorted({**gone, **accounts}.items()):  # an account done with the pool reads 0, once
        publish_metrics(
            [
                ("CopiesInFlight", MetricUnit.Count, now["in_flight"]),
                ("CopiesWaiting", MetricUnit.Count, now["waiting"]),
            ],
            pool=pool_label(pool),
            source_account=account,
        )
    in_flight = sum(holding.values())
    logger.info(
        "shared pool", extra={"pool": pool, "granted": len(granted), "in_flight": in_flight, "dropped": dropped}
    )
    return PoolGrants(
        pool=pool,
        granted=[w.replication_id for w in granted],
        dropped=dropped,
        in_flight=in_flight,
        waiting=len(waiters) - len(granted),
    )


def _counts(raw: dict[str, Any]) -> dict[str, int]:
    return {str(k): int(v) for k, v in raw.items()}


def _announce(settings: CoordinatorSettings, pool: str, account: str, request: dict[str, Any]) -> None:
    """The event that wakes the granted replication (on its own account's bus); if it is lost, the replication's
    own re-check finds the grant (SlotRecheckSeconds), so a refusal here is logged and counted, not retried at the
    cost of other grants."""
    region = str(request.get("home_region", ""))
    bus = f"arn:{settings.partition}:events:{region}:{account}:event-bus/default"
    try:
        eventbridge.announce_slot_granted(bus, str(request["replication_id"]), pool)
    except (ClientError, eventbridge.OutcomeNotPublished) as error:
        logger.warning("grant not announced", extra={"bus": bus, "error": str(error)})
        metrics.add_metric(name="SlotGrantNotAnnounced", unit=MetricUnit.Count, value=1)
