"""The command line's conventions, as the AWS CLI's: global options anywhere on the line, --version, --output,
--no-color / NO_COLOR, documented exit codes with a one-line message and no traceback unless --debug."""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - runs this project's own CLI
import sys
from pathlib import Path

import pytest
from support import ROOT
from typer.testing import CliRunner

from replicator_cli.errors import hoist_global_options
from replicator_cli.local.cloud import LocalCloud
from replicator_cli.main import app

CLI = Path(sys.executable).parent / "replicator"

HOISTED = [
    (["status", "--region", "eu-west-1"], ["--region", "eu-west-1", "status"]),
    (["status", "--region=eu-west-1", "--debug"], ["--region=eu-west-1", "--debug", "status"]),
    (["coverage", "-o", "json", "--target", "eu-west-1"], ["-o", "json", "coverage", "--target", "eu-west-1"]),
    (["mappings", "list", "--output", "yaml"], ["--output", "yaml", "mappings", "list"]),
    (["backfill", "--source-region", "eu-west-1"], ["backfill", "--source-region", "eu-west-1"]),  # not global
    (["retry", "--", "--region"], ["retry", "--", "--region"]),  # after --: an argument
]


@pytest.mark.parametrize(("given", "parsed"), HOISTED)
def test_global_options_are_taken_anywhere_on_the_line(given, parsed):
    assert hoist_global_options(given) == parsed


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed command in a clean environment: no AWS credentials or profile anywhere."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REPLICATOR_", "NO_COLOR", "FORCE_"))}
    clean.update(
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
        **env,
    )
    return subprocess.run(  # nosec B603 - a fixed command line
        [str(CLI), *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120, check=False
    )


def test_version():
    done = _run("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("replicator ")


def test_an_aws_error_is_one_line_on_stderr_with_exit_code_3_and_the_traceback_only_with_debug():
    done = _run("status", "--mapping-table", "m", "--history-table", "h")
    assert done.returncode == 3
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: no AWS credentials: pass --profile, or set AWS_PROFILE / AWS_ACCESS_KEY_ID (aws configure)"
    ]
    debugged = _run("status", "--mapping-table", "m", "--history-table", "h", "--debug")
    assert "Traceback" in debugged.stderr
    assert "NoCredentialsError" in debugged.stderr


def test_colors_follow_no_color_and_the_flag():
    colored = _run("status", "--mapping-table", "m", "--history-table", "h", FORCE_COLOR="1")
    assert "\x1b[" in colored.stderr  # forced on: the message's color
    for plain in (
        _run("status", "--mapping-table", "m", "--history-table", "h", "--no-color", FORCE_COLOR="1"),
        _run("status", "--mapping-table", "m", "--history-table", "h", FORCE_COLOR="1", NO_COLOR="1"),
    ):
        assert plain.returncode == 3
        assert "\x1b[" not in plain.stderr


def test_a_bad_region_is_a_usage_error_with_a_suggestion():
    result = CliRunner().invoke(app, ["status", "--region", "us-eest-1"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "'us-eest-1' is not an AWS region with RDS: did you mean" in result.output
    assert "us-east-1" in result.output


def test_global_output_after_the_command_on_the_emulation():
    with LocalCloud(ROOT) as cloud:
        tables = ["--mapping-table", cloud.stack.mapping_table, "--history-table", cloud.stack.history_table]
        result = CliRunner().invoke(app, ["coverage", *tables, "--output", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == []  # no mapping: no row, and nothing else on stdout


# every command that answers with a result, as a user would run it on the demo's samples (local start --with-samples)
EVERY_COMMAND = [
    ["mappings", "list"],
    ["mappings", "show", "us-east-1"],
    ["mappings", "check"],
    ["mappings", "export", "{tmp}/mappings.yaml"],
    ["mappings", "import", "{tmp}/mappings.yaml", "--dry-run"],
    ["mappings", "put", "eu-central-1", "--target-region", "eu-west-1"],
    ["mappings", "put-all", "--target-region", "us-west-2"],
    ["mappings", "delete", "eu-central-1", "--yes"],
    ["backfill", "--source-region", "us-east-1"],
    ["status"],
    ["coverage"],
    ["prune", "--dry-run"],
    ["retry", "--failed", "--dry-run"],
    ["reconcile", "--dry-run"],
    ["reindex", "--dry-run"],
    ["restore-test", "run", "--dry-run"],
    ["restore-test", "list"],
]


def test_every_command_answers_with_one_json_document_on_stdout(tmp_path):
    """`--output json` parsed for every command; messages (never results) on stderr, no traceback."""
    from replicator_cli.local.emulation import emulation

    with emulation(ROOT / "scenarios" / "demo.yaml", run=False, root=ROOT) as up:
        cloud = up.cloud
        answered = {}
        for args in EVERY_COMMAND:
            line = [a.format(tmp=tmp_path) for a in args]
            result = CliRunner().invoke(app, ["--stack-name", cloud.stack.name, *line, "-o", "json"])
            assert "Traceback" not in result.output, line
            # mappings check: the demo's two unrestorable databases fail their checks (exit 1), as designed
            assert result.exit_code == (1 if args[:2] == ["mappings", "check"] else 0), (line, result.output)
            answered[" ".join(args[:2])] = json.loads(result.stdout)
    assert answered["mappings list"]
    assert answered["mappings show"]["source_region"] == "us-east-1"
    assert answered["backfill --source-region"]
    assert len(answered) == len(EVERY_COMMAND)


WITHOUT_EMULATION = """
import sys
sys.modules["moto"] = None  # as without the `local` extra: importing it fails
sys.modules["samtranslator"] = None
from replicator_cli.main import app
app(sys.argv[1:], prog_name="replicator")
"""


def test_the_cli_works_without_the_emulation_and_replicator_local_says_how_to_install_it():
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # nosec B603 - a fixed command line
            [sys.executable, "-c", WITHOUT_EMULATION, *args], capture_output=True, text=True, timeout=120, check=False
        )

    assert run("--version").returncode == 0
    assert run("mappings", "--help").returncode == 0  # every other command imports without moto
    local = run("local", "demo")
    assert local.returncode == 1
    assert local.stdout == ""
    assert "Traceback" not in local.stderr
    assert local.stderr.strip() == (
        "error: `replicator local` runs the embedded emulation, an optional extra of the package: "
        "pip install 'rds-snapshot-replicator[local]' (make demo and make test install it)"
    )


def test_the_package_leaves_the_emulation_to_its_local_extra():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = " ".join(project["dependencies"])
    assert "moto" not in required
    assert "aws-sam-translator" not in required
    assert any(d.startswith("moto[server]==") for d in project["optional-dependencies"]["local"])
