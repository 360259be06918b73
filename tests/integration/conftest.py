"""Fixtures of the integration tests (helpers in support.py)."""

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from support import scenario_run


@pytest.fixture
def run_scenario() -> Iterator[Any]:
    """run_scenario(dict, before_events=None) -> Run, with the emulation up until the test ends."""
    with ExitStack() as up:
        yield lambda spec, before_events=None: up.enter_context(scenario_run(spec, before_events))
