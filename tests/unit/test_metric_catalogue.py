"""The metric catalogue (replicator.observability.METRICS) is the one list of what the code emits: every metric the
sources emit is in it, with its unit, and every entry is emitted somewhere; the dimension sets emitted are the ones
it lists. Found by reading the sources' syntax trees (`ast`), not by running every path."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from replicator.aws.dynamodb import slot_pools
from replicator.coverage import TargetCoverage
from replicator.observability import METRICS, NAMESPACE, PER_POOL, PER_TARGET, SERVICE_ONLY, MetricUnit, metrics
from replicator.usecases.coverage import CoverageReport, publish_coverage
from replicator.usecases.reconcile import publish_pools

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "layers" / "replicator" / "replicator", ROOT / "functions", ROOT / "src" / "replicator_cli"]
# publish_metrics itself adds the metrics its callers name (their tuples are read instead)
PASS_THROUGH = {("observability.py", "publish_metrics")}


@dataclass(frozen=True)
class Emitted:
    name: str
    unit: str | None  # MetricUnit's member name, when the source says it literally
    where: str


class Unreadable(Exception):
    """An emission whose metric name cannot be read from the source: name it literally."""


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _unit(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "MetricUnit":
        return node.attr
    return None


def _metric_tuple(node: ast.AST) -> tuple[str, str] | None:
    """("Name", MetricUnit.X, ...): a metric as publish_metrics (and the reconciler's loop) takes it."""
    if not isinstance(node, ast.Tuple) or len(node.elts) < 2 or (unit := _unit(node.elts[1])) is None:
        return None
    first = node.elts[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value, unit
    raise Unreadable(f"line {node.lineno}: a metric whose name is not a literal")


def _dict_values(tree: ast.Module, name: str) -> list[str]:
    """The values of the dict literal assigned to `name` (METRIC_BY_STATUS)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Dict):
            continue
        if any(isinstance(target, ast.Name) and target.id == name for target in node.targets):
            values = node.value.values
            if not all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in values):
                raise Unreadable(f"line {node.lineno}: {name} maps to something else than literal names")
            return [str(v.value) for v in values if isinstance(v, ast.Constant)]
    raise Unreadable(f"{name} is not a dict literal")


def _loop_values(
    name: str, unit_name: str | None, call: ast.Call, parents: dict[ast.AST, ast.AST]
) -> list[tuple[str, str | None]]:
    """`for name, unit, ... in (("A", MetricUnit.Count, ...), ...)` around `call`: the names (and units) it binds."""
    node = parents.get(call)
    while node is not None:
        if isinstance(node, ast.For) and isinstance(node.target, ast.Tuple):
            bound = [t.id if isinstance(t, ast.Name) else None for t in node.target.elts]
            if name in bound and isinstance(node.iter, (ast.Tuple, ast.List)):
                at = bound.index(name)
                unit_at = bound.index(unit_name) if unit_name in bound else None
                found: list[tuple[str, str | None]] = []
                for row in node.iter.elts:
                    cell = row.elts[at] if isinstance(row, ast.Tuple) else None
                    if not isinstance(cell, ast.Constant) or not isinstance(cell.value, str):
                        raise Unreadable(f"line {row.lineno}: not a literal metric name")
                    unit = row.elts[unit_at] if isinstance(row, ast.Tuple) and unit_at is not None else None
                    found.append((cell.value, _unit(unit)))
                return found
        node = parents.get(node)
    raise Unreadable(f"line {call.lineno}: the metric name `{name}` is not bound by a loop over literals")


def _function_of(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> str | None:
    enclosing = parents.get(node)
    while enclosing is not None and not isinstance(enclosing, ast.FunctionDef):
        enclosing = parents.get(enclosing)
    return enclosing.name if enclosing is not None else None


def _called(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return call.func.id if isinstance(call.func, ast.Name) else None


def emitted_in(source: str, filename: str = "<source>") -> list[Emitted]:
    """The metrics a module emits: `add_metric(name=...)` (a literal, a METRIC_BY_STATUS-like dict's values, a loop
    over literal tuples) and, in a module that calls publish_metrics, its ("Name", MetricUnit.X, value) tuples."""
    tree = ast.parse(source, filename)
    parents = _parents(tree)
    found: list[Emitted] = []
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    for call in calls:
        if _called(call) != "add_metric" or (Path(filename).name, _function_of(call, parents)) in PASS_THROUGH:
            continue
        arguments = {k.arg: k.value for k in call.keywords}
        name, unit = arguments.get("name"), arguments.get("unit")
        where = f"{filename}:{call.lineno}"
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            found.append(Emitted(name.value, _unit(unit), where))
        elif isinstance(name, ast.Subscript) and isinstance(name.value, ast.Name):
            found += [Emitted(n, _unit(unit), where) for n in _dict_values(tree, name.value.id)]
        elif isinstance(name, ast.Name):
            unit_name = unit.id if isinstance(unit, ast.Name) else None
            found += [Emitted(n, u or _unit(unit), where) for n, u in _loop_values(name.id, unit_name, call, parents)]
        else:
            raise Unreadable(f"{where}: cannot tell which metric this emits; name it literally")
    if any(_called(call) == "publish_metrics" for call in calls):
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple) and (metric := _metric_tuple(node)) is not None:
                found.append(Emitted(metric[0], metric[1], f"{filename}:{node.lineno}"))
    return found


def emitted() -> list[Emitted]:
    found: list[Emitted] = []
    for folder in SOURCES:
        for path in sorted(folder.rglob("*.py")):
            found += emitted_in(path.read_text(), str(path.relative_to(ROOT)))
    return found


def test_every_metric_the_code_emits_is_in_the_catalogue_with_its_unit() -> None:
    found = emitted()
    assert {e.name for e in found} >= {"ReplicationsSucceeded", "ReplicationDuration", "CopiesInFlight"}  # it reads
    missing = sorted({f"{e.name} ({e.where})" for e in found if e.name not in METRICS})
    assert missing == [], "emitted but not in observability.METRICS"
    wrong_unit = sorted(
        f"{e.name} ({e.where}): {e.unit}, the catalogue says {METRICS[e.name].unit.name}"
        for e in found
        if e.unit is not None and MetricUnit[e.unit] is not METRICS[e.name].unit
    )
    assert wrong_unit == []


def test_every_catalogue_entry_is_emitted_somewhere() -> None:
    assert sorted(set(METRICS) - {e.name for e in emitted()}) == []


def test_the_catalogue_is_sound() -> None:
    for name, spec in METRICS.items():
        assert spec.dimensions, name
        assert all("service" in names for names in spec.dimensions), name
        assert spec.description, name


# --- the reader itself: it finds each way of emitting, and refuses what it cannot read --------------------------------

SAMPLE = """
METRIC_BY_STATUS = {"ok": "Good", "ko": "Bad"}

def f(report):
    metrics.add_metric(name="Literal", unit=MetricUnit.Seconds, value=1)
    metrics.add_metric(name=METRIC_BY_STATUS[report.status], unit=MetricUnit.Count, value=1)
    for name, unit, items in (("Looped", MetricUnit.Count, report.a), ("Other", MetricUnit.Bytes, report.b)):
        metrics.add_metric(name=name, unit=unit, value=len(items))
    publish_metrics([("Published", MetricUnit.Count, 2)], pool="p")
"""


def test_the_reader_finds_every_way_of_emitting() -> None:
    assert sorted({(e.name, e.unit) for e in emitted_in(SAMPLE)}) == [
        ("Bad", "Count"),
        ("Good", "Count"),
        ("Literal", "Seconds"),
        ("Looped", "Count"),
        ("Other", "Bytes"),
        ("Published", "Count"),
    ]


@pytest.mark.parametrize(
    "source",
    [
        "metrics.add_metric(name=make_name(), unit=MetricUnit.Count, value=1)",
        "def f(name):\n    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)",
        "for name, n in ((make(), 1),):\n    metrics.add_metric(name=name, unit=MetricUnit.Count, value=n)",
        "publish_metrics([(prefix + 'X', MetricUnit.Count, 1)])",
    ],
)
def test_the_reader_refuses_a_name_it_cannot_read(source: str) -> None:
    with pytest.raises(Unreadable):
        emitted_in(source)


# --- the dimension sets emitted, as CloudWatch receives them (EMF) ----------------------------------------------------


@pytest.fixture
def flushed(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each metric set flushed (instead of printed)."""
    sets: list[dict[str, Any]] = []

    def flush(provider: AmazonCloudWatchEMFProvider, raise_on_empty_metrics: bool = False) -> None:
        if provider.metric_set:
            sets.append(dict(provider.serialize_metric_set()))
        provider.clear_metrics()

    monkeypatch.setattr(AmazonCloudWatchEMFProvider, "flush_metrics", flush)
    return sets


def _data(sets: list[dict[str, Any]]) -> Iterator[tuple[str, str, frozenset[str], dict[str, str], float]]:
    """(namespace, name, dimension names, dimensions, value) of each metric of each set (one value each here)."""
    for metric_set in sets:
        for directive in metric_set["_aws"]["CloudWatchMetrics"]:
            for group in directive["Dimensions"]:
                dimensions = {d: str(metric_set[d]) for d in group}
                for metric in directive["Metrics"]:
                    name, values = metric["Name"], metric_set[metric["Name"]]
                    for value in values if isinstance(values, list) else [values]:
                        yield directive["Namespace"], name, frozenset(group), dimensions, value


def _assert_catalogued(sets: list[dict[str, Any]]) -> None:
    for namespace, name, names, _, _ in _data(sets):
        assert namespace == NAMESPACE
        assert names in METRICS[name].dimensions, (name, sorted(names))


def test_the_function_wide_metrics_carry_service_only(flushed: list[dict[str, Any]]) -> None:
    metrics.add_metric(name="ReplicationsSucceeded", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
    assert [(name, names) for _, name, names, _, _ in _data(flushed)] == [("ReplicationsSucceeded", SERVICE_ONLY)]
    _assert_catalogued(flushed)


def test_coverage_is_published_per_target_and_in_total(flushed: list[dict[str, Any]]) -> None:
    targets = [
        TargetCoverage(target="210987654321/us-west-2", covered=3, uncovered=1, oldest_replica_age_seconds=7200.0),
        TargetCoverage(target="123456789012/eu-west-1", covered=2, uncovered=0, oldest_replica_age_seconds=3600.0),
    ]
    publish_coverage(CoverageReport(targets=targets))
    _assert_catalogued(flushed)
    seen = {(name, names, dims.get("target", "")): value for _, name, names, dims, value in _data(flushed)}
    assert seen[("UncoveredDatabases", PER_TARGET, "210987654321/us-west-2")] == 1
    assert seen[("UncoveredDatabases", SERVICE_ONLY, "")] == 1
    assert seen[("CoveredDatabases", SERVICE_ONLY, "")] == 5
    assert seen[("OldestReplicaAgeSeconds", SERVICE_ONLY, "")] == 7200.0


def test_copy_slot_pools_are_published_per_pool(flushed: list[dict[str, Any]]) -> None:
    items: list[dict[str, Any]] = [
        {"pool": "210987654321#us-west-2#instance", "entry": "slots", "holders": {"a": "l1", "b": "l2"}},
        {"pool": "210987654321#us-west-2#instance", "entry": "wait#000000000000001#c"},
        {"pool": "210987654321#us-west-2#instance", "entry": "wait#000000000000002#d"},
        {"pool": "123456789012#eu-west-1#cluster", "entry": "slots", "holders": {}},
        {"pool": "share#arn:aws:rds:us-east-1:123456789012:snapshot:s", "entry": "210987654321", "users": {"a"}},
        {"pool": "lineage#x", "entry": "base"},
    ]
    pools = slot_pools.occupancy(items)
    assert pools == {"210987654321#us-west-2#instance": (2, 2), "123456789012#eu-west-1#cluster": (0, 0)}

    publish_pools(pools)

    _assert_catalogued(flushed)
    seen = {(name, dims["pool"]): value for _, name, names, dims, value in _data(flushed) if names == PER_POOL}
    assert seen == {
        ("CopiesInFlight", "210987654321/us-west-2/instance"): 2,
        ("CopiesWaiting", "210987654321/us-west-2/instance"): 2,
        ("CopiesInFlight", "123456789012/eu-west-1/cluster"): 0,
        ("CopiesWaiting", "123456789012/eu-west-1/cluster"): 0,
    }
