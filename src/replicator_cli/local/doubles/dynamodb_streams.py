"""DynamoDB Streams' event source mapping: a table's changes invoke a function, batch after batch
(DynamoDBStreamLambdaTargets)."""

from __future__ import annotations

import threading
from collections import deque
from contextlib import ExitStack
from datetime import datetime
from typing import Any
from unittest.mock import patch

from moto.awslambda_simple.models import LambdaSimpleBackend

from .lambda_dispatch import LambdaDispatcher


class DynamoDBStreamLambdaTargets:
    """Lambda polls a table's stream and invokes the mapped function with the records, one batch at a time per shard
    (the next batch waits for the previous one), retrying a failed batch: moto 5.2.5 invokes the function inside the
    write that made the record, through its Docker-less echo. This invokes the real handler through the
    LambdaDispatcher, outside the write, in order, one batch at a time per function, each failed batch retried up to
    `retries` times (the mapping's MaximumRetryAttempts stands in)."""

    def __init__(self, dispatcher: LambdaDispatcher, retries: int = 3) -> None:
        self.dispatcher = dispatcher
        self.retries = retries
        self.failed_batches: list[str] = []
        self._queues: dict[str, deque[dict[str, Any]]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def install(self, patches: ExitStack) -> None:
        """Over moto's LambdaSimpleBackend.send_dynamodb_items (what a table's stream calls for each mapping)."""
        targets = self

        def send_dynamodb_items(backend: Any, function_arn: str, items: list[Any], source: str) -> str:
            if not targets.dispatcher.knows(function_arn):
                return ""
            targets.enqueue(function_arn, _event(items, source, backend.region_name))
            return "queued"  # moto then forgets the records it passed

        patches.enter_context(patch.object(LambdaSimpleBackend, "send_dynamodb_items", send_dynamodb_items))

    def enqueue(self, function_arn: str, event: dict[str, Any]) -> None:
        with self._lock:
            self._queues.setdefault(function_arn, deque()).append(event)
            worker = self._workers.get(function_arn)
            if worker is not None and worker.is_alive():
                return
            worker = threading.Thread(target=self._drain, args=(function_arn,), name="stream-poller", daemon=True)
            self._workers[function_arn] = worker
            self.dispatcher.track(worker)
        worker.start()

    def _drain(self, function_arn: str) -> None:
        while True:
            with self._lock:
                queue = self._queues[function_arn]
                if not queue:
                    self._workers.pop(function_arn, None)
                    return
                event = queue.popleft()
            for _ in range(1 + self.retries):
                _, error = self.dispatcher.invoke(function_arn, event)
                if not error:
                    break
            else:
                self.failed_batches.append(f"{function_arn}: {error}")


def _event(items: list[Any], source: str, region: str) -> dict[str, Any]:
    """The event Lambda gives the function: the stream records, in order (as moto's own send_dynamodb_items)."""
    records = []
    for item in items:
        record = item.to_json()
        dynamodb = dict(record["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            dynamodb["ApproximateCreationDateTime"] = created.timestamp()
        records.append(
            {
                "eventID": record["eventID"],
                "eventName": record["eventName"],
                "eventVersion": record["eventVersion"],
                "eventSource": record["eventSource"],
                "awsRegion": region,
                "dynamodb": dynamodb,
                "eventSourceARN": source,
            }
        )
    return {"Records": records}
