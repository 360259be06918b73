"""The dashboard (template.yaml ReplicatorDashboard) shows only metrics the code emits: every metric of a widget, in a
`metrics` array or a SEARCH expression, is in replicator.observability.METRICS with its namespace and one of the
dimension sets it is emitted with (or one of the few AWS metrics listed here); every alarm of the stack is on it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from iam_policies import ACCOUNT, REGION, STACK, resolve, template

from replicator.observability import METRICS, NAMESPACE, SERVICE

# the AWS metrics a widget may show, with the dimension names they have
AWS_METRICS: dict[tuple[str, str], frozenset[frozenset[str]]] = {
    ("AWS/States", "ExecutionsFailed"): frozenset({frozenset({"StateMachineArn"})}),
    ("AWS/States", "ExecutionsAborted"): frozenset({frozenset({"StateMachineArn"})}),
    ("AWS/States", "ExecutionsTimedOut"): frozenset({frozenset({"StateMachineArn"})}),
}
# what the dashboard is for (issue 13): it must keep showing these
REQUIRED = {
    "ReplicationsSucceeded",
    "ReplicationsFailed",
    "ReplicationsSkipped",
    "ReplicationDuration",
    "CopiesInFlight",
    "CopiesWaiting",
    "UncoveredDatabases",
    "OldestReplicaAgeSeconds",
    "PlanTampering",
    "CleanupFailed",
    "SingleStepRefused",
}
_SEARCH = re.compile(r"SEARCH\(\s*'((?:[^'\\]|\\.)*)'")
_SCHEMA = re.compile(r"\{([^}]*)\}")
_METRIC_NAME = re.compile(r"""MetricName\s*=\s*(?:"([^"]*)"|([\w.-]+))""")


@dataclass(frozen=True)
class Shown:
    """A metric a widget shows (`dimensions` holds the values a `metrics` array gives; a SEARCH gives names only)."""

    where: str
    namespace: str
    name: str
    dimension_names: frozenset[str]
    dimensions: tuple[tuple[str, str], ...] = ()


@cache
def cfn() -> dict[str, Any]:
    return template()


def dashboard() -> dict[str, Any]:
    return cfn()["Resources"]["ReplicatorDashboard"]["Properties"]


def body() -> dict[str, Any]:
    text = resolve(dashboard()["DashboardBody"], cfn())
    assert isinstance(text, str)
    return json.loads(text)


def _searched(expression: str, where: str) -> tuple[list[Shown], list[str]]:
    """The metrics a SEARCH expression asks for: its schema `{Namespace,dim,...}` and its MetricName."""
    shown, problems = [], []
    for query in _SEARCH.findall(expression):
        schema, name = _SCHEMA.search(query), _METRIC_NAME.search(query)
        if schema is None or name is None:
            problems.append(f"{where}: a SEARCH must name its schema {{Namespace,dimensions}} and MetricName: {query}")
            continue
        namespace, *names = [part.strip().strip('"') for part in schema.group(1).split(",")]
        shown.append(Shown(where, namespace, name.group(1) or name.group(2), frozenset(names)))
    if "SEARCH" in expression and not _SEARCH.search(expression):
        problems.append(f"{where}: a SEARCH expression not read: {expression}")
    return shown, problems


def _from_array(row: list[Any], previous: list[Any], where: str) -> Shown:
    """["Namespace", "Name", "dim", "value", ..., {options}]; "." repeats the previous row's element."""
    parts = [p for p in row if not isinstance(p, dict)]
    parts = [previous[i] if p == "." and i < len(previous) else p for i, p in enumerate(parts)]
    namespace, name, *pairs = parts
    dimensions = tuple(zip(pairs[0::2], pairs[1::2], strict=True))
    return Shown(where, namespace, name, frozenset(d for d, _ in dimensions), dimensions)


def shown_metrics(dashboard_body: dict[str, Any]) -> tuple[list[Shown], list[str]]:
    """Every metric the widgets show, and what could not be read."""
    shown: list[Shown] = []
    problems: list[str] = []
    for index, widget in enumerate(dashboard_body["widgets"]):
        properties = widget.get("properties", {})
        where = f"widget {index} ({properties.get('title', widget['type'])})"
        previous: list[Any] = []
        for row in properties.get("metrics", []) if widget["type"] == "metric" else []:
            options = next((p for p in row if isinstance(p, dict)), {})
            if "expression" in options:
                found, unread = _searched(options["expression"], where)
                shown += found
                problems += unread
                continue
            try:
                metric = _from_array(row, previous, where)
            except ValueError:
                problems.append(f"{where}: not a metric array: {row}")
                continue
            previous = [p for p in row if not isinstance(p, dict)]
            shown.append(metric)
    return shown, problems


def metric_problems(dashboard_body: dict[str, Any]) -> list[str]:
    """Why a dashboard body shows a metric the code does not emit as shown (none: it is right)."""
    shown, problems = shown_metrics(dashboard_body)
    for metric in shown:
        key = (metric.namespace, metric.name)
        if metric.namespace == NAMESPACE:
            spec = METRICS.get(metric.name)
            if spec is None:
                problems.append(f"{metric.where}: {metric.name} is not emitted (not in observability.METRICS)")
            elif metric.dimension_names not in spec.dimensions:
                emitted = [sorted(d) for d in spec.dimensions]
                problems.append(
                    f"{metric.where}: {metric.name} with dimensions {sorted(metric.dimension_names)}; "
                    f"it is emitted with {emitted}"
                )
            elif dict(metric.dimensions).get("service", SERVICE) != SERVICE:
                problems.append(f"{metric.where}: {metric.name}'s service is {SERVICE}")
        elif key in AWS_METRICS:
            if metric.dimension_names not in AWS_METRICS[key]:
                problems.append(f"{metric.where}: {metric.namespace} {metric.name}: dimensions not those AWS gives")
        elif metric.name in METRICS:
            problems.append(f"{metric.where}: {metric.name} is in namespace {NAMESPACE}, not {metric.namespace}")
        else:
            problems.append(f"{metric.where}: {metric.namespace} {metric.name} is neither emitted nor an AWS metric")
    return problems


# --- the dashboard as it is ----------------------------------------------------------------------------------------


def test_the_dashboard_is_named_after_the_stack_and_its_body_is_json() -> None:
    assert resolve(dashboard()["DashboardName"], cfn()) == f"{STACK}-replication"
    assert body()["widgets"]


def test_every_metric_a_widget_shows_is_one_the_code_emits() -> None:
    shown, _ = shown_metrics(body())
    assert {m.name for m in shown if m.namespace == NAMESPACE} >= REQUIRED
    assert metric_problems(body()) == []


def test_the_pools_and_targets_are_searched_since_they_are_not_known_at_deploy_time() -> None:
    shown, _ = shown_metrics(body())
    searched = {(m.name, m.dimension_names) for m in shown if not m.dimensions}
    assert ("CopiesInFlight", frozenset({"service", "pool"})) in searched
    assert ("CopiesWaiting", frozenset({"service", "pool"})) in searched
    assert ("UncoveredDatabases", frozenset({"service", "target"})) in searched
    assert ("OldestReplicaAgeSeconds", frozenset({"service", "target"})) in searched


def test_every_alarm_of_the_stack_is_on_the_alarm_widget() -> None:
    alarms = {name for name, r in cfn()["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    listed = [arn for w in body()["widgets"] if w["type"] == "alarm" for arn in w["properties"]["alarms"]]
    prefix = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:"
    assert all(arn.startswith(prefix) for arn in listed), listed
    assert sorted(arn.removeprefix(prefix) for arn in listed) == sorted(alarms)


def test_every_metric_widget_is_in_the_stacks_region_and_the_widgets_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for widget in body()["widgets"]:
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == REGION
        assert widget["x"] + widget["width"] <= 24
        cells = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not cells & taken, widget.get("properties", {}).get("title")
        taken |= cells


def test_a_text_widget_says_in_one_line_what_each_widget_answers() -> None:
    widgets = body()["widgets"]
    (text,) = [w["properties"]["markdown"] for w in widgets if w["type"] == "text"]
    answered = re.findall(r"^\* \*\*(.+?)\*\*: \S", text, flags=re.MULTILINE)
    assert answered == [w["properties"]["title"] for w in widgets if w["type"] != "text"]


def test_the_outputs_name_the_dashboard_and_its_console_url() -> None:
    outputs = cfn()["Outputs"]
    assert outputs["DashboardName"]["Value"] == {"Ref": "ReplicatorDashboard"}
    url = resolve(outputs["DashboardUrl"]["Value"], cfn())
    assert url == (
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
        "#dashboards/dashboard/ReplicatorDashboard"
    )


def test_the_alarms_on_the_replicators_metrics_watch_metrics_it_emits() -> None:
    for name, resource in cfn()["Resources"].items():
        props = resource["Properties"]
        if resource["Type"] != "AWS::CloudWatch::Alarm" or props.get("Namespace") != NAMESPACE:
            continue
        dimensions = frozenset(d["Name"] for d in props.get("Dimensions", []))
        assert props["MetricName"] in METRICS, name
        assert dimensions in METRICS[props["MetricName"]].dimensions, name


# --- the check itself: it refuses a widget naming what the code does not emit ---------------------------------------


def _metric_widget(*rows: list[Any]) -> dict[str, Any]:
    return {"widgets": [{"type": "metric", "properties": {"title": "t", "region": REGION, "metrics": list(rows)}}]}


def _search(query: str) -> list[Any]:
    return [{"expression": f"SEARCH('{query}', 'Maximum', 900)", "id": "e"}]


@pytest.mark.parametrize(
    ("wrong", "because"),
    [
        (_metric_widget([NAMESPACE, "ReplicationsLost", "service", SERVICE]), "not emitted"),
        (_metric_widget(["Replicator", "ReplicationsFailed", "service", SERVICE]), "in namespace"),
        (_metric_widget([NAMESPACE, "CopiesInFlight", "service", SERVICE]), "with dimensions"),
        (_metric_widget([NAMESPACE, "ReplicationsFailed", "service", SERVICE, "target", "1/r"]), "with dimensions"),
        (_metric_widget([NAMESPACE, "ReplicationsFailed", "service", "another-service"]), "service is"),
        (
            _metric_widget([NAMESPACE, "ReplicationsFailed", "service", SERVICE], [".", "Replicationz", ".", "."]),
            "not emitted",
        ),
        (_metric_widget(_search('{SnapshotReplicator,pool,service} MetricName="CopiesInFlite"')), "not emitted"),
        (_metric_widget(_search('{SnapshotReplicator,service} MetricName="CopiesInFlight"')), "with dimensions"),
        (_metric_widget(_search('{SnapshotReplicator,target} MetricName="UncoveredDatabases"')), "with dimensions"),
        (_metric_widget(_search('{SnapshotReplicator,pool,service} "CopiesInFlight"')), "must name"),
        (_metric_widget(["AWS/States", "ExecutionsFailed", "StateMachineName", "x"]), "not those AWS gives"),
        (_metric_widget(["AWS/Lambda", "Errors", "FunctionName", "f"]), "neither emitted nor an AWS metric"),
    ],
)
def test_the_check_refuses_a_metric_the_code_does_not_emit(wrong: dict[str, Any], because: str) -> None:
    problems = metric_problems(wrong)
    assert problems
    assert any(because in p for p in problems), problems


def test_the_check_accepts_what_the_code_emits() -> None:
    right = _metric_widget(
        [NAMESPACE, "ReplicationsFailed", "service", SERVICE],
        [".", "ReplicationsSucceeded", ".", "."],
        _search('{SnapshotReplicator,pool,service} MetricName="CopiesWaiting"'),
        _search("{SnapshotReplicator,service,target} MetricName=UncoveredDatabases"),
        ["AWS/States", "ExecutionsFailed", "StateMachineArn", "arn"],
    )
    assert metric_problems(right) == []
