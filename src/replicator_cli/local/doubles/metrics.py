"""CloudWatch's metrics from embedded metric format (EMF) log lines (EmbeddedMetrics)."""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import ExitStack
from typing import Any
from unittest.mock import patch


class EmbeddedMetrics:
    """CloudWatch Logs turns the functions' embedded metric format (EMF) lines into metrics: moto 5.2.5 does not. This
    takes each metric set the functions flush (instead of printing it) and keeps the data, summed per metric name, so
    that tests can assert what an alarm on the metric would see."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.totals: Counter[str] = Counter()
        # every datum as emitted: (namespace, name, its dimensions, value)
        self.data: list[tuple[str, str, dict[str, str], float]] = []

    def install(self, patches: ExitStack) -> None:
        """Over Powertools' AmazonCloudWatchEMFProvider.flush_metrics."""
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

        recorder = self

        def flush_metrics(provider: AmazonCloudWatchEMFProvider, raise_on_empty_metrics: bool = False) -> None:
            if provider.metric_set:
                recorder.record(dict(provider.serialize_metric_set()))
            provider.clear_metrics()

        patches.enter_context(patch.object(AmazonCloudWatchEMFProvider, "flush_metrics", flush_metrics))

    def record(self, metric_set: dict[str, Any]) -> None:
        with self._lock:
            for directive in metric_set.get("_aws", {}).get("CloudWatchMetrics", []):
                dimension_names = [name for group in directive.get("Dimensions", []) for name in group]
                dimensions = {name: str(metric_set.get(name)) for name in dimension_names}
                for metric in directive["Metrics"]:
                    name = metric["Name"]
                    values = metric_set.get(name, [])
                    for value in values if isinstance(values, list) else [values]:
                        self.totals[name] += value
                        self.data.append((directive.get("Namespace", ""), name, dimensions, value))

    def count(self, name: str) -> float:
        with self._lock:
            return self.totals[name]

    def values(self, name: str, **dimensions: str) -> list[float]:
        """The values of `name` emitted with exactly these dimensions besides `service`, oldest first."""
        with self._lock:
            return [
                value
                for _, emitted, dims, value in self.data
                if emitted == name and {k: v for k, v in dims.items() if k != "service"} == dimensions
            ]
