"""`replicator local run` and `replicator local demo`, driven through typer's runner."""

import json

import yaml
from support import ROOT, base_scenario
from typer.testing import CliRunner

from replicator_cli.main import app

runner = CliRunner()


def _scenario_file(tmp_path, **overrides):
    spec = base_scenario(**overrides)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


EXPECT_SUCCESS = [{"snapshot": "rds:orders-2026-11-24-03-10", "target_region": "us-west-2", "status": "SUCCEEDED"}]


def test_local_run_prints_one_json_line_per_outcome(tmp_path):
    result = runner.invoke(app, ["local", "run", str(_scenario_file(tmp_path, expect=EXPECT_SUCCESS))])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]  # every line of stdout, and nothing else
    assert len(lines) == 1
    assert lines[0]["status"] == "SUCCEEDED"
    assert lines[0]["met"] is True
    assert lines[0]["replica_arn"].startswith("arn:aws:rds:us-west-2:123456789012:snapshot:snaprep-orders-")
    assert "every expected outcome happened" in result.stderr  # the verdict, for people


def test_local_run_follows_the_global_output(tmp_path):
    path = str(_scenario_file(tmp_path, expect=EXPECT_SUCCESS))

    as_json = runner.invoke(app, ["local", "run", path, "--output", "json"])
    assert as_json.exit_code == 0, as_json.output
    (outcome,) = json.loads(as_json.stdout)  # one document: a list of the outcomes
    assert (outcome["status"], outcome["met"], outcome["target_region"]) == ("SUCCEEDED", True, "us-west-2")

    as_table = runner.invoke(app, ["-o", "table", "local", "run", path])
    assert as_table.exit_code == 0, as_table.output
    assert "1 of 1 expected outcomes: every expected outcome happened" in as_table.stdout
    assert "SUCCEEDED ✓" in as_table.stdout
    assert as_table.stderr == ""

    refused = runner.invoke(app, ["local", "run", path, "--table", "-o", "yaml"])
    assert refused.exit_code == 2
    assert "Traceback" not in refused.output
    assert "--table and --output yaml: choose one" in refused.stderr


def test_local_run_exits_non_zero_when_an_expected_outcome_does_not_happen(tmp_path):
    expect = [{"snapshot": "rds:orders-2026-11-24-03-10", "target_region": "us-west-2", "status": "FAILED"}]
    result = runner.invoke(app, ["-o", "yaml", "local", "run", str(_scenario_file(tmp_path, expect=expect))])
    assert result.exit_code == 1
    (outcome,) = yaml.safe_load(result.stdout)
    assert outcome["status"] == "SUCCEEDED"
    assert outcome["expected"] == "FAILED"
    assert outcome["met"] is False
    assert "0 of 1 expected outcomes: some expected outcomes did not happen" in result.stderr


def test_local_run_says_an_expected_outcome_that_never_came(tmp_path):
    expect = [{"snapshot": "rds:never-taken", "target_region": "us-west-2", "status": "SUCCEEDED"}]
    result = runner.invoke(app, ["local", "run", str(_scenario_file(tmp_path, expect=expect))])
    assert result.exit_code == 1
    *outcomes, missing = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["status"] for o in outcomes] == ["SUCCEEDED"]
    assert missing == {
        "missing": {**expect[0], "target_account": None, "reason_contains": None, "replica_encrypted": None}
    }


def test_local_run_refuses_an_invalid_scenario_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ndatabases: [{id: a, kind: spaceship}]\n")
    result = runner.invoke(app, ["local", "run", str(path)])
    assert result.exit_code != 0
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_demo_shows_every_expected_outcome(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, ["local", "demo"])
    assert result.exit_code == 0, result.output
    assert "every expected outcome happened" in result.output
    replications, restores = result.output.split("Restore tests (the scheduler's run after the replications)")
    assert replications.count("SUCCEEDED ✓") == 7
    assert replications.count("FAILED ✓") == 2  # two refusals, as expected
    assert replications.count("SKIPPED ✓") == 1  # a dev database the vault's selection leaves out
    # the vault's replicas restored (an instance, an AWS Backup replica, an Aurora cluster); ledger has none
    assert restores.count("SUCCEEDED ✓") == 3
    assert restores.count("SKIPPED ✓") == 1
    assert "cluster, db.t4g.medium" in restores
    assert "14 of 14 expected outcomes: every expected outcome happened" in result.output
    # tables within 120 columns: names shortened, each row's snapshot type and the path its copies took
    assert max(len(line) for line in result.output.splitlines()) <= 120
    assert "re-encrypt → share → stage →" in result.output
    assert "awsbackup" in result.output


def test_demo_as_data(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, ["local", "demo", "--output", "json"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    outcomes = [item for item in items if "restore_test" not in item]
    assert len(outcomes) == 10
    assert all(o["met"] for o in outcomes)
    assert sorted({o["status"] for o in outcomes}) == ["FAILED", "SKIPPED", "SUCCEEDED"]
    restore_tests = [item["restore_test"] for item in items if "restore_test" in item]
    assert len(restore_tests) == 4
    assert all(t["met"] for t in restore_tests)
    assert all(t["restore_seconds"] > 0 for t in restore_tests if t["status"] == "SUCCEEDED")
    assert "14 of 14 expected outcomes: every expected outcome happened" in result.stderr


def test_local_run_keeps_the_functions_logs_off_stdout(tmp_path):
    """A separate process, with --debug or -v (anywhere on the line): the functions log every step (INFO and above
    with -v), all of it on stderr; stdout is the outcomes only (JSON lines by default, one JSON document with
    --output json)."""
    import subprocess  # nosec B404 - runs this project's own CLI
    import sys
    from pathlib import Path

    cli = Path(sys.executable).parent / "replicator"
    path = str(_scenario_file(tmp_path, expect=EXPECT_SUCCESS))
    json_lines = lambda out: [json.loads(line) for line in out.splitlines()]  # noqa: E731
    for args, parse in (
        (["--debug", "local", "run", path], json_lines),
        (["--debug", "local", "run", path, "-o", "json"], json.loads),
        (["local", "run", path, "-v"], json_lines),
    ):
        done = subprocess.run(  # nosec B603 - a fixed command line
            [str(cli), *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        (outcome,) = parse(done.stdout)
        assert outcome["status"] == "SUCCEEDED"
        logged = {json.loads(line)["level"] for line in done.stderr.splitlines() if line.startswith('{"level"')}
        assert "INFO" in logged, args  # the functions' JSON logs: there, on stderr (without either flag: none)
        assert "-v" not in args or "DEBUG" not in logged
        assert '"level"' not in done.stdout


def test_demo_prints_results_on_stdout_and_no_log_line_anywhere():
    """`make demo` as a user runs it: a separate process (the functions' Logger is made when the CLI imports the
    package, before the emulation sets the demo's LogLevel), stdout and stderr kept apart."""
    import subprocess  # nosec B404 - runs this project's own CLI
    import sys
    from pathlib import Path

    cli = Path(sys.executable).parent / "replicator"
    done = subprocess.run(  # nosec B603 - a fixed command line
        [str(cli), "local", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every expected outcome happened" in done.stdout
    for stream in (done.stdout, done.stderr):
        assert '{"level"' not in stream  # the handlers' JSON logs (ERROR level: none in the demo)
        assert "No Moto CloudFormation support" not in stream
        assert "Tried to parse" not in stream
