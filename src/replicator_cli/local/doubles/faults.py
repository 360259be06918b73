"""AWS errors on chosen API actions (the FaultInjector)."""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

from moto.core.exceptions import ServiceException
from moto.core.responses import BaseResponse
from moto.core.utils import camelcase_to_underscores


class InjectedFault(ServiceException):
    """An AWS error made by the FaultInjector (defined outside moto, so that moto serializes it for any service)."""


@dataclass
class _Fault:
    code: str
    message: str
    remaining: int
    skip: int


class FaultInjector:
    """AWS APIs fail at times (Throttling, SnapshotQuotaExceeded, KMSKeyNotAccessibleFault...): moto 5.2.5 always
    answers. This makes (service, action) fail the next N times with a chosen AWS error:
    `fail("rds", "copy_db_snapshot", "Throttling", times=2, skip=1)`.

    It sees every request made to the emulation, so it also counts them (`requests`, for bench/replication_cost.py).
    """

    def __init__(self) -> None:
        self.faults: dict[tuple[str, str], _Fault] = {}
        self.injected: list[tuple[str, str, str]] = []  # (service, action, code) of every failure made
        self.requests: Counter[tuple[str, str]] = Counter()  # (service, action) -> requests seen
        self._lock = threading.Lock()

    def install(self, patches: ExitStack) -> None:
        """Every request to the emulation passes here first (moto's BaseResponse.call_action)."""
        faults = self
        original = BaseResponse.call_action

        def call_action(response: BaseResponse) -> Any:
            action = camelcase_to_underscores(response._get_action())
            fault = faults.take(response.service_name or "", action)
            if fault is not None:

                def failing() -> None:
                    raise InjectedFault(fault.code, fault.message)

                setattr(response, action, failing)  # this request only: the instance shadows the class's method
            return original(response)

        patches.enter_context(patch.object(BaseResponse, "call_action", call_action))

    def fail(self, service: str, action: str, code: str, times: int = 1, skip: int = 0, message: str = "") -> None:
        with self._lock:
            self.faults[(service, action)] = _Fault(code, message or f"injected {code}", times, skip)

    def take(self, service: str, action: str) -> _Fault | None:
        with self._lock:
            self.requests[(service, action)] += 1
            fault = self.faults.get((service, action))
            if fault is None or fault.remaining <= 0:
                return None
            if fault.skip > 0:
                fault.skip -= 1
                return None
            fault.remaining -= 1
            self.injected.append((service, action, fault.code))
            return fault
