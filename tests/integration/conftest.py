"""Fixtures of the integration tests (helpers in support.py)."""

from collections.abc import Iterator
from typing import Any

import pytest
from support import run_in_cloud

from replicator_cli.local.cloud import LocalCloud


@pytest.fixture
def run_scenario() -> Iterator[Any]:
    """run_scenario(dict, before_events=None) -> Run, with the emulation up until the test ends."""
    clouds: list[LocalCloud] = []
    yield lambda spec, before_events=None: run_in_cloud(spec, clouds, before_events)
    for cloud in clouds:
        cloud.__exit__(None, None, None)
