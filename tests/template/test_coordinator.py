"""coordinator.yaml, the vault's shared copy-slot pool: what its design relies on, checked on the template itself."""

from __future__ import annotations

import json

from iam_policies import template

from replicator.copy_slots import CopyQuotas

CFN = template("coordinator.yaml")
RESOURCES = CFN["Resources"]
FUNCTION = RESOURCES["GrantSlotsFunction"]["Properties"]


def test_the_table_streams_both_images_and_indexes_only_the_waiting_requests():
    table = RESOURCES["SharedSlotPoolTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}  # a release shows its old image
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "waiting"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["waiting_pool", "arrival"]
    assert RESOURCES["SharedSlotPoolTable"]["DeletionPolicy"] == "Retain"  # slots of running replications


def test_the_coordinator_runs_one_pass_at_a_time_on_the_workloads_requests_and_keeps_what_fails():
    assert FUNCTION["ReservedConcurrentExecutions"] == 1
    stream = FUNCTION["Events"]["PoolChanged"]["Properties"]
    assert stream["Stream"] == {"Fn::GetAtt": ["SharedSlotPoolTable", "StreamArn"]}
    (pattern,) = [json.loads(f["Pattern"]) for f in stream["FilterCriteria"]["Filters"]]
    assert pattern == {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "account#"}]}}}}  # not its own pool items
    assert stream["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailedBatchesQueue", "Arn"]}
    assert stream["MaximumRetryAttempts"] >= 1


def test_a_failing_coordinator_reaches_a_person():
    alarms = {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {
        (a["Namespace"], a["MetricName"], a["Dimensions"][0]["Value"].get("Ref") or str(a["Dimensions"][0]["Value"]))
        for a in alarms.values()
    }
    assert ("AWS/Lambda", "Errors", "GrantSlotsFunction") in watched
    assert any(ns == "AWS/SQS" and "FailedBatchesQueue" in value for ns, _, value in watched)
    topic = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
    assert all(a["AlarmActions"] == [topic] for a in alarms.values())
    assert RESOURCES["AlarmEmailSubscription"]["Properties"]["TopicArn"] == topic


def test_the_grant_event_is_the_only_one_the_coordinator_may_put_on_a_workloads_bus():
    statements = RESOURCES["GrantSlotsRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (events,) = [s for s in statements if any(a.startswith("events:") for a in s["Action"])]
    assert events["Action"] == ["events:PutEvents"]
    assert events["Condition"]["StringEquals"] == {
        "events:detail-type": "Copy Slot Granted",
        "events:source": "rds-snapshot-replicator",
    }
    # and a workload's bus admits the vault for that event only (template.yaml's SlotGrantedBusPolicy)
    policy = template()["Resources"]["SlotGrantedBusPolicy"]
    assert policy["Condition"] == "HasSharedSlotPool"
    assert policy["Properties"]["Statement"]["Condition"]["StringEquals"] == events["Condition"]["StringEquals"]


def test_the_coordinator_reads_the_table_and_writes_only_by_updates():
    """It makes no item but by an update (a pool's first grant makes its item), reads the holders' requests in
    batches, and may neither put nor delete an item: a workload's request is the workload's to delete."""
    statements = RESOURCES["GrantSlotsRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (pools,) = [s for s in statements if s["Sid"] == "Pools"]
    assert sorted(pools["Action"]) == [
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ]
    assert pools["Resource"] == [
        {"Fn::GetAtt": ["SharedSlotPoolTable", "Arn"]},
        {"Fn::Sub": "${SharedSlotPoolTable.Arn}/index/waiting"},
    ]


def test_the_pools_quotas_default_to_rds_quotas():
    parameters = CFN["Parameters"]
    assert parameters["InstanceCopyQuota"]["Default"] == CopyQuotas().instance
    assert parameters["ClusterCopyQuota"]["Default"] == CopyQuotas().cluster
    assert FUNCTION["Environment"]["Variables"]["POOL_INSTANCE_COPY_QUOTA"] == {"Ref": "InstanceCopyQuota"}
    assert FUNCTION["Environment"]["Variables"]["POOL_CLUSTER_COPY_QUOTA"] == {"Ref": "ClusterCopyQuota"}
    assert parameters["PerAccountCap"]["Default"] == 0  # no cap unless asked
