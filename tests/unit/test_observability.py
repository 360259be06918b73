"""Tracing off (stack parameter Tracing = PassThrough) means the X-Ray SDK is not even imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LAYER = Path(__file__).resolve().parents[2] / "layers" / "replicator"
PROBE = (
    "import sys; import replicator.observability as o; "
    "print(type(o.tracer).__name__, 'aws_xray_sdk.core' in sys.modules)"
)


@pytest.mark.parametrize(
    ("disabled", "expected"),
    [("true", "UntracedHandlers False"), ("false", "Tracer True"), (None, "Tracer True")],
)
def test_the_x_ray_sdk_is_imported_only_when_tracing_is_on(disabled: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "POWERTOOLS_TRACE_DISABLED"}
    env.update(PYTHONPATH=str(LAYER), AWS_DEFAULT_REGION="us-east-1")
    if disabled is not None:
        env["POWERTOOLS_TRACE_DISABLED"] = disabled
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == expected


def test_untraced_handlers_are_left_as_they_are() -> None:
    from replicator.observability import UntracedHandlers

    def handler(event: dict, context: object) -> dict:
        return event

    assert UntracedHandlers().capture_lambda_handler(handler) is handler
