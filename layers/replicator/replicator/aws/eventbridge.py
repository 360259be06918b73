"""EventBridge: publishing each outcome as a `Snapshot Replication Succeeded` / `Failed` event."""

from __future__ import annotations

from ..events import DETAIL_TYPE_FAILED, DETAIL_TYPE_SUCCEEDED, EVENT_SOURCE
from ..history import ReplicationRecord, ReplicationStatus
from .sessions import home_client


class OutcomeNotPublished(Exception):
    pass


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
