"""DynamoDB's atomic conditional writes (AtomicDynamoDBWrites)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from unittest.mock import patch


class AtomicDynamoDBWrites:
    """DynamoDB checks a write's condition and writes atomically, so of two concurrent conditional writes one fails:
    moto 5.2.5 checks the condition and then writes, with no lock, so both can succeed. This serializes moto's
    DynamoDB writes (PutItem, UpdateItem, DeleteItem, TransactWriteItems: the copy slots rely on it)."""

    WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def _atomic(self, original: Callable) -> Callable:
        lock = self._lock

        def write(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(*args, **kwargs)

        return write

    def install(self, patches: ExitStack) -> None:
        """Over moto's DynamoDBBackend write methods."""
        from moto.dynamodb.models import DynamoDBBackend

        for name in self.WRITES:
            patches.enter_context(patch.object(DynamoDBBackend, name, self._atomic(getattr(DynamoDBBackend, name))))
