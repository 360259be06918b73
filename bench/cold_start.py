"""Cold start: how long each handler module takes to import in a fresh interpreter, against a bare boto3 handler,
and how big each built function and the layer are.

Import time: `python -X importtime -c "import app"` in a fresh process per run (cumulative microseconds of the
handler module `app`, as Python reports it), median of --runs runs per handler, with tracing on and off (the stack's
Tracing parameter), all handlers and the baseline interleaved in each round so that a noisy machine affects them
alike. Sizes: of `sam build`'s output
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
ENV = {"AWS_DEFAULT_REGION": "us-east-1"}
TRACING = {"on": "false", "off": "true"}  # POWERTOOLS_TRACE_DISABLED as the stack's Tracing parameter sets it


def import_microseconds(function_dir: Path, tracing: str = "off") -> int:
    """Cumulative import time of `app` from `function_dir`, in a fresh interpreter."""
    code = f"import sys; sys.path[0:0] = [{str(function_dir)!r}, {str(LAYER)!r}]; import app"
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **ENV, "POWERTOOLS_TRACE_DISABLED": TRACING[tracing]},
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
        times: dict[tuple[str, str], list[int]] = {(n, t): [] for n in handlers for t in TRACING}
        for _ in range(args.runs):
            for name, directory in handlers.items():
                for tracing in TRACING:
                    times[(name, tracing)].append(import_microseconds(directory, tracing))
    base = statistics.median(times[("bare boto3 handler (baseline)", "off")])
    print(f"Handler import time, median of {args.runs} fresh interpreters (Python {sys.version.split()[0]})\n")
    print("| handler | tracing on (ms) | vs baseline | tracing off (ms) | vs baseline |")
    print("|---|---|---|---|---|")
    for name in handlers:
        on, off = (statistics.median(times[(name, t)]) for t in TRACING)
        print(f"| {name} | {on / 1000:.0f} | {on / base:.1f}x | {off / 1000:.0f} | {off / base:.1f}x |")
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
