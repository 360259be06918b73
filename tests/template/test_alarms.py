"""The alarms watch what the code publishes (the RPO alarm: the coverage audit's total of uncovered databases), and the
scheduled functions read the history through its indexes, never a scan."""

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


def test_no_scheduled_function_may_scan_the_history():
    """The audit reads the database index, the reconciler the unsettled index: on AWS a scan of the history by
    either would be refused, so neither can grow with months of history."""
    from iam_policies import role_statements

    cfn = template()
    for function in ("ReconcileFunction", "AuditCoverageFunction", "StartReplicationFunction"):
        role = cfn["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
        for statement in role_statements(cfn, role):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if "dynamodb:Scan" in actions:
                assert {"Fn::GetAtt": ["HistoryTable", "Arn"]} not in resources, (function, statement.get("Sid"))
