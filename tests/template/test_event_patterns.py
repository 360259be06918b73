"""The trigger rules of template.yaml, checked against events that must and must not start a replication."""

import copy
import json
from pathlib import Path

import pytest
from iam_policies import resolve
from moto.events.models import EventPattern

from replicator_cli.local.provision import load_template

ROOT = Path(__file__).resolve().parents[2]
# events/ also holds env.json, the functions' environment for `sam local invoke`, and the prune function's
# scheduled event (no pattern rule: a Schedule)
EVENT_FILES = sorted(
    p
    for p in (ROOT / "events").glob("*.json")
    if "detail-type" in json.loads(p.read_text()) and json.loads(p.read_text())["source"] != "aws.events"
)


def _rules() -> dict[str, EventPattern]:
    template = load_template(ROOT / "template.yaml")
    function = template["Resources"]["StartReplicationFunction"]
    return {
        # the stack's account (AWS::AccountId) is the events' own: 123456789012
        name: EventPattern.load(json.dumps(resolve(event["Properties"]["Pattern"], template)))
        for name, event in function["Properties"]["Events"].items()
        if event["Type"] == "EventBridgeRule"
    }


def _matching(event: dict) -> list[str]:
    return [name for name, pattern in _rules().items() if pattern.matches_event(event)]


def _event(name: str) -> dict:
    return json.loads((ROOT / "events" / name).read_text())


def test_every_trigger_kind_has_an_event_file():
    assert len(EVENT_FILES) == 6
    ids = {json.loads(p.read_text())["detail"].get("EventID") for p in EVENT_FILES}
    assert ids >= {"RDS-EVENT-0042", "RDS-EVENT-0091", "RDS-EVENT-0075", "RDS-EVENT-0169"}
    assert any(json.loads(p.read_text())["source"] == "aws.backup" for p in EVENT_FILES)


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.name)
def test_each_trigger_event_matches_exactly_one_rule(path):
    assert len(_matching(json.loads(path.read_text()))) == 1


def _rds(event_id: str, identifier: str = "orders-manual-1", detail_type: str = "RDS DB Snapshot Event") -> dict:
    event = copy.deepcopy(_event("rds-db-snapshot-manual.json"))
    event["detail-type"] = detail_type
    event["detail"]["EventID"] = event_id
    event["detail"]["SourceIdentifier"] = identifier
    return event


def _backup(**changes: str) -> dict:
    event = copy.deepcopy(_event("backup-job-completed.json"))
    for key, value in changes.items():
        if key == "detail_type":
            event["detail-type"] = value
        else:
            event["detail"][key] = value
    return event


NOT_TRIGGERS = {
    "creation started (manual)": _rds("RDS-EVENT-0040"),
    "creation started (automated)": _rds("RDS-EVENT-0090"),
    "snapshot deleted": _rds("RDS-EVENT-0041"),
    "cross-region copy started": _rds("RDS-EVENT-0059"),
    "cross-region copy finished": _rds("RDS-EVENT-0060"),
    "cross-region copy canceled": _rds("RDS-EVENT-0061"),
    "same-region copy started": _rds("RDS-EVENT-0196"),
    "same-region copy finished": _rds("RDS-EVENT-0197"),
    "cluster snapshot creation started": _rds("RDS-EVENT-0074", detail_type="RDS DB Cluster Snapshot Event"),
    "the replicator's own DB copy": _rds("RDS-EVENT-0042", identifier="snaprep-orders-manual-1-1a2b3c4d"),
    "the replicator's own cluster copy": _rds(
        "RDS-EVENT-0075", identifier="snaprep-inventory-1-1a2b3c4d-share", detail_type="RDS DB Cluster Snapshot Event"
    ),
    "DB instance event with a snapshot id": _rds("RDS-EVENT-0042", detail_type="RDS DB Instance Event"),
    "backup job running": _backup(state="RUNNING"),
    "backup job failed": _backup(state="FAILED"),
    "backup of an EBS volume": _backup(resourceType="EBS"),
    "backup of a DynamoDB table": _backup(resourceType="DynamoDB"),
    "backup copy job": _backup(detail_type="Copy Job State Change"),
    "the replicator's own outcome event": {
        **_event("rds-db-snapshot-manual.json"),
        "source": "rds-snapshot-replicator",
        "detail-type": "Snapshot Replication Succeeded",
    },
    "the replicator's own failure event": {
        **_event("rds-db-snapshot-manual.json"),
        "source": "rds-snapshot-replicator",
        "detail-type": "Snapshot Replication Failed",
    },
    "the prune function's schedule": _event("scheduled-prune.json"),
    "a snapshot event from another account": {**_rds("RDS-EVENT-0042"), "account": "444455556666"},
    "an automated cluster snapshot of another account": {
        **_rds("RDS-EVENT-0169", detail_type="RDS DB Cluster Snapshot Event"),
        "account": "444455556666",
    },
    "a backup job of another account": {**_backup(), "account": "444455556666"},
    "a replication request from another account": {**_event("replication-requested.json"), "account": "444455556666"},
    "a replication request from another source": {
        **_event("replication-requested.json"),
        "source": "someone-else",
    },
}


@pytest.mark.parametrize("event", NOT_TRIGGERS.values(), ids=NOT_TRIGGERS.keys())
def test_non_trigger_events_match_no_rule(event):
    assert _matching(event) == []
