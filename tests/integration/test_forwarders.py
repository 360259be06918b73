"""Every source region: forwarder.yaml itself, provisioned in other regions of the emulation, sends their snapshot
events to the replicator's bus in its home region, where they are replicated by their own region's mapping.

One emulation for the module: the replicator in us-east-1 with mappings for us-east-1 and eu-west-1 (no "*"),
forwarders in eu-west-1 and ap-southeast-2, one in sa-east-1 pointed at a bus that does not exist, none in us-west-2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto.rds.models import rds_backends
from support import SOURCE_ACCOUNT, Run, scenario_run

from replicator_cli.local.cloud import LocalCloud
from replicator_cli.local.provision import LocalForwarder
from replicator_cli.local.scenario import ScenarioRunner, snapshot_event

HOME_BUS = f"arn:aws:events:us-east-1:{SOURCE_ACCOUNT}:event-bus/default"
MISSING_BUS = f"arn:aws:events:us-east-1:{SOURCE_ACCOUNT}:event-bus/no-such-bus"
EU_AUTOMATED = "rds:orders-eu-2026-11-24-03-10"
EU_BACKUP = "awsbackup:job-7c1e5a93-24d8-4b6f-a0e2-5d9f8c3b1a47"
SYDNEY = "ledger-syd-final-2026-11-24"  # ap-southeast-2: a forwarder, but no mapping
OREGON = "billing-or-final-2026-11-24"  # us-west-2: no forwarder
SAO_PAULO = "audit-sp-final-2026-11-24"  # sa-east-1: a forwarder that cannot deliver

# (snapshot, its type, its region): the events raised, each on its own region's default bus
RAISED = [
    (EU_AUTOMATED, "automated", "eu-west-1"),
    (EU_BACKUP, "awsbackup", "eu-west-1"),
    (SYDNEY, "manual", "ap-southeast-2"),
    (OREGON, "manual", "us-west-2"),
    (SAO_PAULO, "manual", "sa-east-1"),
]


def _scenario() -> dict:
    return {
        "name": "forwarders",
        "copy_seconds": 1.0,
        "poll_seconds": 1,
        "timeout_seconds": 60,
        "keys": [
            {"name": "dr-west", "region": "us-west-2"},
            {"name": "dr-frankfurt", "region": "eu-central-1"},
        ],
        "databases": [
            {"id": "orders-eu", "region": "eu-west-1", "encrypted": True},
            {"id": "ledger-syd", "region": "ap-southeast-2"},
            {"id": "billing-or", "region": "us-west-2"},
            {"id": "audit-sp", "region": "sa-east-1"},
        ],
        "snapshots": [
            {"id": EU_AUTOMATED, "database": "orders-eu", "type": "automated"},
            {"id": EU_BACKUP, "database": "orders-eu", "type": "awsbackup"},
            {"id": SYDNEY, "database": "ledger-syd"},
            {"id": OREGON, "database": "billing-or"},
            {"id": SAO_PAULO, "database": "audit-sp"},
        ],
        "mappings": [
            {
                "source_region": "us-east-1",
                "targets": [
                    {"target_region": "us-west-2", "encryption": {"enabled": True, "kms_key_arn": "{{key:dr-west}}"}}
                ],
            },
            {
                "source_region": "eu-west-1",
                "targets": [
                    {
                        "target_region": "eu-central-1",
                        "encryption": {"enabled": True, "kms_key_arn": "{{key:dr-frankfurt}}"},
                    }
                ],
            },
        ],
        "events": [],  # raised in their own regions by _raise_in_source_regions
        "expect": [
            {
                "snapshot": EU_AUTOMATED,
                "target_region": "eu-central-1",
                "status": "SUCCEEDED",
                "replica_encrypted": True,
            },
            {"snapshot": EU_BACKUP, "target_region": "eu-central-1", "status": "SUCCEEDED", "replica_encrypted": True},
            {"snapshot": SYDNEY, "status": "SKIPPED", "reason_contains": "no region mapping for ap-southeast-2"},
        ],
    }


@dataclass
class Forwarded:
    run: Run
    forwarders: dict[str, LocalForwarder]  # region -> stack
    event_ids: dict[str, str]  # snapshot -> the id EventBridge gave its event in the snapshot's region

    def records_of(self, snapshot: str) -> list:
        return [r for r in self.run.records if r.source_arn and r.source_arn.endswith(":" + snapshot)]


@pytest.fixture(scope="module")
def forwarded() -> Iterator[Forwarded]:
    forwarders: dict[str, LocalForwarder] = {}
    event_ids: dict[str, str] = {}

    def raise_in_source_regions(cloud: LocalCloud, runner: ScenarioRunner) -> None:
        for region in ("eu-west-1", "ap-southeast-2"):
            forwarders[region] = cloud.add_forwarder(region)
        forwarders["sa-east-1"] = cloud.add_forwarder("sa-east-1", home_event_bus_arn=MISSING_BUS)
        for snapshot, kind, region in RAISED:
            event = snapshot_event(runner.snapshot_arns[snapshot], kind, region, SOURCE_ACCOUNT)
            (event_ids[snapshot],) = runner.send([event], region=region)

    with scenario_run(_scenario(), raise_in_source_regions) as run:
        yield Forwarded(run, forwarders, event_ids)


def test_the_stack_names_its_bus_for_the_forwarders(forwarded):
    assert forwarded.run.cloud.stack.outputs["HomeEventBusArn"] == HOME_BUS
    assert forwarded.forwarders["eu-west-1"].outputs["Forwarding"] == "yes"


def test_a_snapshot_in_a_forwarded_region_is_replicated_by_that_regions_mapping(forwarded):
    (record,) = forwarded.records_of(EU_AUTOMATED)  # one target: eu-west-1's, not us-east-1's (us-west-2)
    assert record.status.value == "SUCCEEDED", record.reason
    assert record.source_region == "eu-west-1"
    assert record.target_region == "eu-central-1"
    replica = rds_backends[SOURCE_ACCOUNT]["eu-central-1"].database_snapshots[record.replica_arn.rsplit(":", 1)[1]]
    assert replica.kms_key_id == forwarded.run.runner.key_arns["dr-frankfurt"]
    copies = forwarded.run.cloud.doubles.copy_clock.started
    assert not [arn for arn in copies if ":us-west-2:" in arn], "the home region's mapping was used"


def test_the_event_arrives_unchanged_from_the_source_regions_forwarder(forwarded):
    (record,) = forwarded.records_of(EU_AUTOMATED)
    event_id = forwarded.event_ids[EU_AUTOMATED]
    assert record.event_id == event_id  # the event raised in eu-west-1, not a new one made in us-east-1
    rule_name = forwarded.forwarders["eu-west-1"].resources["RdsSnapshotCompletedForwarder"]
    rule = f"arn:aws:events:eu-west-1:{SOURCE_ACCOUNT}:rule/{rule_name}"
    assert (rule, HOME_BUS, event_id) in forwarded.run.cloud.doubles.event_bus_targets.delivered


def test_a_backup_job_in_a_forwarded_region_keeps_its_recovery_point(forwarded):
    # AWS Backup names the recovery point only in `resources`: a forwarder that lost it would make this FAILED
    (record,) = forwarded.records_of(EU_BACKUP)
    assert record.status.value == "SUCCEEDED", record.reason
    assert record.source_region == "eu-west-1"
    assert record.target_region == "eu-central-1"


def test_a_region_without_a_mapping_and_without_a_star_mapping_is_not_replicated(forwarded):
    (record,) = forwarded.records_of(SYDNEY)
    assert record.status.value == "SKIPPED"
    assert record.reason == "no region mapping for ap-southeast-2 and no '*' mapping: nothing to replicate"
    assert record.event_id == forwarded.event_ids[SYDNEY]  # it did arrive, through ap-southeast-2's forwarder
    assert not [arn for arn in forwarded.run.cloud.doubles.copy_clock.started if "ledger-syd" in arn]


def test_without_a_forwarder_a_regions_events_never_reach_the_replicator(forwarded):
    assert forwarded.records_of(OREGON) == []
    delivered = forwarded.run.cloud.doubles.event_bus_targets.delivered
    assert forwarded.event_ids[OREGON] not in [event_id for _, _, event_id in delivered]


def test_an_event_that_cannot_be_forwarded_waits_in_the_forwarders_dead_letter_queue(forwarded):
    assert forwarded.records_of(SAO_PAULO) == []
    sqs = boto3.client("sqs", region_name="sa-east-1")
    url = forwarded.forwarders["sa-east-1"].outputs["UndeliveredEventsQueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    event = json.loads(message["Body"])
    assert event["id"] == forwarded.event_ids[SAO_PAULO]
    assert event["detail"]["SourceArn"] == forwarded.run.runner.snapshot_arns[SAO_PAULO]
    undelivered = forwarded.run.cloud.doubles.event_bus_targets.undelivered
    (why,) = [why for _, bus, why in undelivered if bus == MISSING_BUS]
    assert why == f"event bus {MISSING_BUS} does not exist"


def test_the_forwarders_role_serves_only_the_forwarders_rules(forwarded):
    # another rule of the same region and account given the forwarder's role: EventBridge may not assume it
    events = boto3.client("events", region_name="eu-west-1")
    forwarder = forwarded.forwarders["eu-west-1"]
    role_arn = boto3.client("iam").get_role(RoleName=forwarder.resources["ForwardRole"])["Role"]["Arn"]
    events.put_rule(Name="not-the-forwarder", EventPattern=json.dumps({"source": ["test.other"]}))
    events.put_targets(Rule="not-the-forwarder", Targets=[{"Id": "home", "Arn": HOME_BUS, "RoleArn": role_arn}])
    events.put_events(Entries=[{"Source": "test.other", "DetailType": "Test", "Detail": "{}"}])
    refused = [why for rule, _, why in forwarded.run.cloud.doubles.event_bus_targets.undelivered if "not-the" in rule]
    assert refused == [f"role {role_arn} does not let EventBridge assume it for rule "
                       f"arn:aws:events:eu-west-1:{SOURCE_ACCOUNT}:rule/not-the-forwarder"]  # fmt: skip


def test_in_the_home_region_the_forwarder_forwards_nothing(forwarded):
    home = forwarded.run.cloud.add_forwarder("us-east-1")
    assert home.outputs["Forwarding"].startswith("no")
    assert "RdsSnapshotCompletedForwarder" not in home.resources
    assert "ForwardRole" not in home.resources
    rules = boto3.client("events", region_name="us-east-1").list_rules()["Rules"]
    assert not [r for r in rules if r["Name"].startswith(home.name)]
