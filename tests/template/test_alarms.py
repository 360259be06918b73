"""The alarms watch what the code publishes: the RPO alarm the coverage audit's total of uncovered databases."""

from __future__ import annotations

from iam_policies import template


def test_the_rpo_alarm_watches_the_total_the_audit_publishes():
    alarm = template()["Resources"]["RpoBreachedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("SnapshotReplicator", "UncoveredDatabases")
    # the total over every target (usecases/coverage.py publish_coverage: service only), not one target's
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "rds-snapshot-replicator"}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["AlarmActions"]  # it reaches the alarm topic


def test_the_coverage_audit_runs_on_its_schedule_parameter():
    cfn = template()
    function = cfn["Resources"]["AuditCoverageFunction"]["Properties"]
    assert function["Events"]["Scheduled"]["Properties"]["Schedule"] == {"Ref": "CoverageAuditSchedule"}
    assert cfn["Parameters"]["CoverageAuditSchedule"]["Default"] == "rate(1 hour)"
