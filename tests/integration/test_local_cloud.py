"""`replicator local start | env | stop`: a local cloud in the background on 127.0.0.1, which the other commands work
against through the `export` lines it prints (as a user's shell would use them)."""

from __future__ import annotations

import json
import os
import socket
import subprocess  # nosec B404 - runs this project's own CLI
import sys
import time
from pathlib import Path

from support import ROOT

CLI = Path(sys.executable).parent / "replicator"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, exported: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REPLICATOR_"))}
    env["XDG_STATE_HOME"] = str(tmp_path)  # the pid file of this test's cloud only
    for line in exported.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # nosec B603 - a fixed command line
        [str(CLI), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_a_local_cloud_runs_in_the_background_and_every_command_works_against_it(tmp_path):
    port = str(_free_port())
    started = _run(_env(tmp_path), "local", "start", "--port", port, "--with-samples", "--copy-seconds", "0.5")
    assert started.returncode == 0, started.stderr
    assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in started.stdout.splitlines()
    log = tmp_path / "rds-snapshot-replicator" / f"local-{port}.log"
    assert f"the functions' logs (ERROR and above; -v or --debug for more): {log}" in started.stderr
    env = _env(tmp_path, started.stdout)
    state = json.loads((tmp_path / "rds-snapshot-replicator" / f"local-{port}.json").read_text())
    try:
        sam_env = tmp_path / "env.local.json"
        again = _run(env, "local", "env", "--port", port, "--sam-env", str(sam_env))
        assert again.stdout == started.stdout  # the same settings, from its state file
        # what `sam local invoke --env-vars` needs for the local stack: every function's resolved environment
        functions = json.loads(sam_env.read_text())
        expected = json.loads((ROOT / "events" / "env.json").read_text())["Parameters"]
        assert set(expected) - set(functions["StartReplicationFunction"]) == set()
        assert functions["StartReplicationFunction"]["STATE_MACHINE_ARN"].endswith(
            ":stateMachine:replicator-replication"
        )
        assert "already runs" in _run(env, "local", "start", "--port", port).stderr

        # the demo's mapping is there, and checking it reaches the emulated target account and engine catalog
        checked = _run(env, "mappings", "check")
        assert "Traceback" not in checked.stderr
        # the demo's postgres 11.22 (not offered in eu-west-1) and unencrypted cluster fail their checks; the rest pass
        assert checked.returncode == 1
        assert "3 check(s) would fail" in checked.stdout + checked.stderr
        sent = _run(env, "backfill", "--source-region", "us-east-1")
        assert sent.returncode == 0, sent.stderr
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = json.loads(_run(env, "coverage", "-o", "json").stdout or "[]")
            if sum(row["verdict"] == "ok" for row in rows) >= 8:
                break
            time.sleep(2)
        assert sum(row["verdict"] == "ok" for row in rows) >= 8, rows  # replicated by the background cloud
        records = json.loads(_run(env, "status", "-o", "json").stdout)
        watched = _run(env, "status", "--watch", "--interval", "0.2", "--refreshes", "2")
        assert watched.returncode == 0, watched.stderr
        assert "SUCCEEDED" in watched.stdout
        assert "Traceback" not in watched.stderr
        checked_as_data = _run(env, "mappings", "check", "-o", "json")
        assert checked_as_data.returncode == 1
        verdicts = json.loads(checked_as_data.stdout)
        assert verdicts
        assert "Traceback" not in checked_as_data.stderr
        assert {r["status"] for r in records} >= {"SUCCEEDED", "FAILED", "SKIPPED"}
        pruned = _run(env, "prune", "--dry-run")
        assert pruned.returncode == 0, pruned.stderr
        retried = _run(env, "retry", "--failed", "--dry-run", "-o", "json")
        assert "Traceback" not in retried.stderr
        failed = [r for r in records if r["status"] == "FAILED"]
        # only what the demo refuses by design: postgres 11.22 in eu-west-1, unencrypted Aurora with key usage all
        by_design = ("refused: postgres 11.22 is not offered", "refused: the source Aurora cluster snapshot is")
        assert all(r["reason"].startswith(by_design) for r in failed), [r["reason"] for r in failed]
        assert len(json.loads(retried.stdout)["retried"]) == len(failed)
    finally:
        stopped = _run(env, "local", "stop", "--port", port)
    assert stopped.returncode == 0, stopped.stderr
    assert not (tmp_path / "rds-snapshot-replicator" / f"local-{port}.json").exists()
    try:
        os.kill(state["pid"], 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
    assert _run(env, "local", "stop", "--port", port).returncode == 1  # nothing left to stop
