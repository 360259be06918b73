"""EventBridge: each outcome published as an event, and snapshots sent to the start function (backfill, retry)."""

from __future__ import annotations

import json

from ..events import (
    DETAIL_TYPE_FAILED,
    DETAIL_TYPE_REQUESTED,
    DETAIL_TYPE_SLOT_GRANTED,
    DETAIL_TYPE_SUCCEEDED,
    EVENT_SOURCE,
)
from ..history import ReplicationRecord, ReplicationStatus
from .sessions import home_client

_BATCH = 10  # PutEvents takes at most 10 entries


class OutcomeNotPublished(Exception):
    pass


class RequestsRefused(Exception):
    pass


def request_replications(snapshot_arns: list[str], requested_by: str, retry_failed: bool = False) -> None:
    """Send snapshots to the replicator's start function (`Snapshot Replication Requested` on the default bus)."""
    events = home_client("events")
    for start in range(0, len(snapshot_arns), _BATCH):
        entries = [
            {
                "Source": EVENT_SOURCE,
                "DetailType": DETAIL_TYPE_REQUESTED,
                "Detail": json.dumps({"SourceArn": arn, "requested_by": requested_by, "retry_failed": retry_failed}),
                "Resources": [arn],
                "EventBusName": "default",
            }
            for arn in snapshot_arns[start : start + _BATCH]
        ]
        response = events.put_events(Entries=entries)
        if response.get("FailedEntryCount"):
            refused = [e for e in response["Entries"] if e.get("ErrorCode")]
            raise RequestsRefused(f"EventBridge refused {len(refused)} event(s): {refused[0]}")


def publish_outcome(event_bus_name: str, record: ReplicationRecord) -> None:
    """The outcome event, for alerting rules (skipped outcomes publish nothing)."""
    if record.status is ReplicationStatus.SKIPPED:
        return
    detail_type = DETAIL_TYPE_SUCCEEDED if record.status is ReplicationStatus.SUCCEEDED else DETAIL_TYPE_FAILED
    detail = record.model_dump_json(exclude_none=True, exclude={"plan", "progress"})
    response = home_client("events").put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": detail_type,
                "Detail": detail,
                "EventBusName": event_bus_name,
                "Resources": [arn for arn in (record.source_arn, record.replica_arn) if arn],
            }
        ]
    )
    if response.get("FailedEntryCount"):
        raise OutcomeNotPublished(f"EventBridge refused the outcome event: {response['Entries']}")


def announce_slot_granted(bus_arn: str, replication_id: str, pool: str) -> None:
    """Wake a workload account's waiting replication: `Copy Slot Granted` on that account's default bus in its home
    region (its bus policy lets the vault account send this detail type only)."""
    response = home_client("events").put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": DETAIL_TYPE_SLOT_GRANTED,
                "Detail": json.dumps({"replication_id": replication_id, "pool": pool}),
                "EventBusName": bus_arn,
            }
        ]
    )
    if response.get("FailedEntryCount"):
        raise OutcomeNotPublished(f"EventBridge refused the grant event for {replication_id}: {response['Entries']}")
