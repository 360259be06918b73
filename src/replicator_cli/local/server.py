"""`replicator local start | stop | env`: the emulation as a background process, a local cloud to try every command on.

`start` runs moto's server on 127.0.0.1 (never another address) with the doubles and the stack provisioned from
template.yaml, optionally seeded with the demo's sample databases, snapshots, keys and mappings; it prints the
`export` lines that point the AWS CLI and `replicator` at it. The process writes its state (pid, port, what to
export) to a file of its own, which `stop` reads to end exactly that process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess  # nosec B404 - starts this package's own server module
import sys
import threading
import time
from pathlib import Path
from typing import Any

STACK_NAME = "replicator"  # provision()'s default: the stack the CLI reads its tables from (REPLICATOR_STACK)
_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105 - moto's fake credentials, for the local emulation only
    "AWS_SESSION_TOKEN": "testing",  # nosec B105 - as above
}


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rds-snapshot-replicator"


def state_file(port: int) -> Path:
    return state_dir() / f"local-{port}.json"


def read_state(port: int) -> dict[str, Any] | None:
    """The running emulation on `port` (None: none, or its process is gone)."""
    path = state_file(port)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not _alive(int(state.get("pid", 0))):
        path.unlink(missing_ok=True)  # left by a process that was killed
        return None
    return state


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def export_lines(state: dict[str, Any]) -> list[str]:
    return [f"export {name}={value}" for name, value in state["env"].items()]


def serve(port: int, with_samples: bool, copy_seconds: float, log_level: str = "ERROR") -> None:
    """The background process: the emulation until SIGTERM, its state file while it runs; the functions' logs (at
    `log_level`) in its log file."""
    from .cloud import LOCAL_EXTERNAL_ID, LocalCloud, find_root  # moto: the emulation's extra, loaded here only

    root = find_root()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from .scenario import Scenario, ScenarioRunner, stack_parameters

    demo = Scenario.load(root / "scenarios" / "demo.yaml") if with_samples else None
    # the samples' stack parameters too (AllowedTargetAccounts: the demo's second account)
    parameters = stack_parameters(demo) if demo else {}
    with LocalCloud(
        root, copy_seconds=copy_seconds, poll_seconds=1, log_level=log_level, port=port, parameters=parameters
    ) as cloud:
        if demo is not None:
            ScenarioRunner(demo, cloud, root / "scenarios").seed()
        env = {
            "AWS_ENDPOINT_URL": cloud.endpoint,
            **_CREDENTIALS,
            "AWS_DEFAULT_REGION": cloud.stack.region,
            "AWS_REGION": cloud.stack.region,
            "REPLICATOR_STACK": STACK_NAME,
            "REPLICATOR_EXTERNAL_ID": LOCAL_EXTERNAL_ID,
        }
        state = {
            "pid": os.getpid(),
            "port": port,
            "endpoint": cloud.endpoint,
            "env": env,
            "samples": with_samples,
            "log": str(log_file(port)),
            "log_level": log_level,
        }
        path = state_file(port)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, indent=2))
        try:
            while not stop.wait(1.0):
                pass
        finally:
            path.unlink(missing_ok=True)


def log_file(port: int) -> Path:
    return state_dir() / f"local-{port}.log"


def spawn(
    port: int, with_samples: bool, copy_seconds: float, log_level: str = "ERROR", timeout: float = 180.0
) -> dict[str, Any]:
    """Start the background process and wait until its stack is provisioned; its output goes to a log file."""
    log = log_file(port)
    log.parent.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "replicator_cli.local.server",
        "--port",
        str(port),
        "--copy-seconds",
        str(copy_seconds),
        "--log-level",
        log_level,
    ]
    if with_samples:
        args.append("--with-samples")
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603  # nosec B603 - this package's own module, fixed arguments
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(port)
        if state is not None and state["pid"] == process.pid:
            return state
        if process.poll() is not None:
            tail = "\n".join(log.read_text().splitlines()[-8:])
            raise RuntimeError(f"the local cloud exited ({process.returncode}); {log}:\n{tail}")
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"the local cloud did not come up within {timeout:.0f} s; see {log}")


def terminate(state: dict[str, Any], timeout: float = 30.0) -> bool:
    """End the process the state names; True when it is gone."""
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            state_file(int(state["port"])).unlink(missing_ok=True)
            return True
        time.sleep(0.2)
    return False


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="The replicator's local cloud (started by `replicator local start`)")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--with-samples", action="store_true")
    parser.add_argument("--copy-seconds", type=float, default=2.0)
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], default="ERROR")
    options = parser.parse_args()
    serve(options.port, options.with_samples, options.copy_seconds, options.log_level)


if __name__ == "__main__":
    main()
