"""forwarder.yaml forwards exactly what the replicator starts on, to the bus it is given, and may do nothing else."""

import re
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint

from replicator_cli.local.provision import load_template

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def forwarder() -> dict:
    return load_template(ROOT / "forwarder.yaml")


@pytest.fixture(scope="module")
def replicator() -> dict:
    return load_template(ROOT / "template.yaml")


def _rules(template: dict) -> dict[str, dict]:
    return {name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule"}


def _replicator_rules(replicator: dict) -> list[dict]:
    events = replicator["Resources"]["StartReplicationFunction"]["Properties"]["Events"]
    return [e["Properties"] for e in events.values() if e["Type"] == "EventBridgeRule"]


def _aws_rules(replicator: dict) -> list[dict]:
    """The rules on events AWS raises in each region (not `replicator backfill`'s requests, sent to the home bus)."""
    return [r for r in _replicator_rules(replicator) if r["Pattern"]["source"] != ["rds-snapshot-replicator"]]


def test_forwards_exactly_the_events_the_replicator_starts_on(forwarder, replicator):
    forwarded = sorted((r["EventPattern"] for r in _rules(forwarder).values()), key=repr)
    started_on = sorted((r["Pattern"] for r in _aws_rules(replicator)), key=repr)
    assert len(forwarded) == 2
    assert forwarded == started_on


def test_the_replicators_rules_are_on_the_home_bus_it_publishes(replicator):
    # forwarders send to HomeEventBusArn: the replicator's rules must be on that bus (the default one)
    assert all("EventBusName" not in r for r in _replicator_rules(replicator))
    output = replicator["Outputs"]["HomeEventBusArn"]["Value"]
    assert output == {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}


def test_each_rule_sends_to_the_home_bus_with_the_role_retries_and_a_dead_letter_queue(forwarder, replicator):
    (retry_policy,) = {repr(r["RetryPolicy"]) for r in _replicator_rules(replicator)}
    for name, rule in _rules(forwarder).items():
        assert "EventBusName" not in rule, name  # RDS and AWS Backup raise their events on the default bus
        assert rule["State"] == "ENABLED"
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Ref": "HomeEventBusArn"}, name
        assert target["RoleArn"] == {"Fn::GetAtt": ["ForwardRole", "Arn"]}, name
        assert repr(target["RetryPolicy"]) == retry_policy, name  # the replicator's own: 24 h
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["UndeliveredEventsQueue", "Arn"]}}, name


def test_the_role_may_only_put_events_on_the_home_bus(forwarder):
    role = forwarder["Resources"]["ForwardRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == ["events:PutEvents"]
    assert statement["Resource"] == {"Ref": "HomeEventBusArn"}
    assert "Condition" not in statement


def test_only_eventbridge_acting_for_the_forwarders_rules_may_assume_the_role(forwarder):
    (statement,) = forwarder["Resources"]["ForwardRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    trusted = [arn["Fn::Sub"] for arn in statement["Condition"]["ArnEquals"]["aws:SourceArn"]]
    names = [rule["Name"]["Fn::Sub"] for rule in _rules(forwarder).values()]
    prefix = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
    assert sorted(trusted) == sorted(prefix + name for name in names)


def test_nothing_is_forwarded_in_the_home_region(forwarder):
    condition = forwarder["Conditions"]["AwayFromHome"]
    bus_region = {"Fn::Select": [3, {"Fn::Split": [":", {"Ref": "HomeEventBusArn"}]}]}
    assert condition == {"Fn::Not": [{"Fn::Equals": [bus_region, {"Ref": "AWS::Region"}]}]}
    resources = forwarder["Resources"]
    forwarding = [n for n, r in resources.items() if r["Type"] in ("AWS::Events::Rule", "AWS::IAM::Role")]
    assert len(forwarding) == 3
    assert all(resources[n].get("Condition") == "AwayFromHome" for n in forwarding)


def test_the_dead_letter_queue_is_encrypted_and_kept_14_days_with_an_alarm(forwarder):
    resources = forwarder["Resources"]
    queue = resources["UndeliveredEventsQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 1209600
    alarm = resources["UndeliveredEventsAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["UndeliveredEventsQueue", "QueueName"]}}
    ]
    (statement,) = resources["UndeliveredEventsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        {"Fn::GetAtt": [name, "Arn"]} for name in _rules(forwarder)
    ]


def test_every_checkov_skip_is_justified(forwarder):
    for name, resource in forwarder["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 40, f"{name}: {skip['id']} needs a reason"


def test_cfn_lint_passes():
    text = (ROOT / "forwarder.yaml").read_text()
    assert [str(m) for m in lint(text, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))] == []


def test_make_lints_scans_and_deploys_the_forwarder():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"cfn-lint [^\n]*forwarder\.yaml", makefile)
    assert re.search(r"\$\(CHECKOV\) [^\n]*-f forwarder\.yaml", makefile)
    deploy = makefile.split("\ndeploy-forwarders:", 1)[1].split("\n\n", 1)[0]
    for flag in ("--template-file forwarder.yaml", '--region "$$region"', "--parameter-overrides HomeEventBusArn=",
                 "--capabilities CAPABILITY_IAM", "--no-fail-on-empty-changeset"):  # fmt: skip
        assert flag in deploy
