"""Cold start: how long each handler module takes to import in a fresh interpreter, against a bare boto3 handler,
and how big each built function and the layer are.

Import time: `python -X importtime -c "import app"` in a fresh process per run (cumulative microseconds of the
handler module `app`, as Python reports it), median of --runs runs per handler, all handlers and the baseline
interleaved in each round so that a noisy machine affects them alike. Sizes: of `sam build`'s output
(.aws-sam/build), when it exists (`make build`).

    python bench/cold_start.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "replicator"
BASELINE = '"""A bare handler: boto3 only."""\nimport boto3\n\n\ndef lambda_handler(event, context):\n    return {}\n'
ENV = {"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}


def import_microseconds(function_dir: Path) -> int:
    """Cumulative import time of `app` from `function_dir`, in a fresh interpreter."""
    code = f"import sys; sys.path[0:0] = [{str(function_dir)!r}, {str(LAYER)!r}]; import app"
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **ENV},
    )
    for line in completed.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == "app":
            return int(parts[1])
    raise RuntimeError(f"no import time for app in {function_dir}")


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Path(tmp) / "baseline"
        baseline.mkdir()
        (baseline / "app.py").write_text(BASELINE)
        handlers = {"bare boto3 handler (baseline)": baseline}
        handlers |= {d.name: d for d in sorted((ROOT / "functions").iterdir()) if (d / "app.py").exists()}
        times: dict[str, list[int]] = {name: [] for name in handlers}
        for _ in range(args.runs):
            for name, directory in handlers.items():
                times[name].append(import_microseconds(directory))
    base = statistics.median(times["bare boto3 handler (baseline)"])
    print(f"Handler import time, median of {args.runs} fresh interpreters (Python {sys.version.split()[0]})\n")
    print("| handler | import (ms) | vs baseline |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median / 1000:.0f} | {median / base:.1f}x |")
    build = ROOT / ".aws-sam" / "build"
    if build.exists():
        print("\nBuilt sizes (`sam build`, unzipped)\n")
        print("| artifact | size (MB) |")
        print("|---|---|")
        for artifact in sorted(p for p in build.iterdir() if p.is_dir()):
            print(f"| {artifact.name} | {size_mb(artifact):.2f} |")
    else:
        print("\n(no .aws-sam/build: run `make build` for the sizes)")


if __name__ == "__main__":
    main()
