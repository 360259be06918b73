"""Where the CLI acts (AWS profile and region, the stack's table names: from its outputs, or given as flags) and how
it speaks: results on stdout in the chosen --output format, messages on stderr, documented exit codes.

Exit codes (as the README documents them): 0 done; 1 a check failed or something was refused (CliError); 2 a usage
error (a bad option or value, typer's own); 3 AWS refused or could not be reached, or a file could not be read or
written (AwsError).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import typer
import yaml
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape

# typer (0.26 and newer, pinned in pyproject.toml) vendors click and shows only its own ClickException as a message;
# it exports no public name for it
from typer._click.exceptions import ClickException

from replicator.aws import cloudformation
from replicator.aws.sessions import caller_account, configured_region, use_defaults
from replicator.destinations import AllowedDestinations, parse_accounts
from replicator.observability import logger

DEFAULT_STACK = "rds-snapshot-replicator"
# template.yaml names its state machines after the stack: `<stack>-replication`, `<stack>-restore-test`
REPLICATION_SUFFIX = "-replication"
RESTORE_TEST_SUFFIX = "-restore-test"


EXIT_OK = 0
EXIT_FAILED = 1  # a check failed, a replication or a change was refused
EXIT_USAGE = 2  # typer's own for a bad option or value
EXIT_AWS = 3  # AWS refused or could not be reached; a file could not be read or written


class CliError(ClickException):
    """A refusal or failure shown to the user as one clear message (exit status 1)."""

    exit_code = EXIT_FAILED

    def show(self, file: Any = None) -> None:
        # the message as written: brackets in it (`pip install 'pkg[extra]'`) are text, not rich markup
        _stderr().print(f"[red]error[/]: {escape(self.format_message())}", highlight=False, soft_wrap=True)


class AwsError(CliError):
    """AWS refused a call or could not be reached, or a file could not be read or written (exit status 3)."""

    exit_code = EXIT_AWS


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"
    csv = "csv"  # commands whose result is rows (status, coverage, mappings list...)


def interactive() -> bool:
    """Whether a question can be asked (a terminal on stdin); tests replace it."""
    return sys.stdin.isatty()


def _color() -> bool:
    return "NO_COLOR" not in os.environ


def _stderr() -> Console:
    return Console(stderr=True, no_color=not _color(), highlight=False, soft_wrap=True)


@contextmanager
def logs_to_stderr() -> Iterator[None]:
    """The layer's log lines (a region not listed...) on stderr while the command runs: stdout stays parseable."""
    handler = logger.registered_handler
    previous = handler.setStream(sys.stderr) if isinstance(handler, logging.StreamHandler) else None
    try:
        yield
    finally:
        if previous is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous)


def as_csv(rows: Any) -> str:
    """Rows (a list of objects) as CSV: a header of every field, nested values as JSON."""
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise CliError("--output csv: this command's result is not a list of rows; use json or yaml")
    fields: dict[str, None] = {}
    for row in rows:
        fields.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return buffer.getvalue() if rows else ""


def _csv_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def to_plain(data: Any) -> Any:
    """Models, enums, datetimes and sets as JSON's types (what --output json and yaml print)."""
    return json.loads(json.dumps(data, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@dataclass
class CliContext:
    profile: str | None = None
    region: str | None = None
    stack_name: str = DEFAULT_STACK
    mapping_table_flag: str | None = None
    history_table_flag: str | None = None
    slots_table_flag: str | None = None
    state_machine_flag: str | None = None
    output: OutputFormat = OutputFormat.table
    debug: bool = False
    verbose: bool = False
    restore_test_state_machine_flag: str | None = None  # `restore-test run --restore-test-state-machine-arn`
    _stack: cloudformation.Stack | None = field(default=None, repr=False)

    @property
    def out(self) -> Console:
        """Results (stdout): tables within 120 columns unless the terminal says otherwise."""
        width = None if sys.stdout.isatty() else 120
        return Console(width=width, no_color=not _color(), highlight=False)

    @property
    def err(self) -> Console:
        """Messages, progress and warnings (stderr): never mixed into the results."""
        return _stderr()

    def emit(self, data: Any, table: Callable[[Console], None] | None = None) -> None:
        """Print a command's result: as JSON or YAML (`data`, whole) with --output json / yaml, else with `table`
        (rich, for people; `data` pretty-printed when the command has no table)."""
        if self.output is OutputFormat.json:
            typer.echo(json.dumps(to_plain(data), indent=2, sort_keys=False))
        elif self.output is OutputFormat.csv:
            typer.echo(as_csv(to_plain(data)), nl=False)
        elif self.output is OutputFormat.yaml:
            typer.echo(yaml.safe_dump(to_plain(data), sort_keys=False, allow_unicode=True), nl=False)
        elif table is not None:
            table(self.out)
        else:
            self.out.print_json(data=to_plain(data))

    @property
    def log_level(self) -> str:
        """The functions' log level where the CLI runs them (the emulation): their errors only; INFO with --verbose,
        everything with --debug."""
        return "DEBUG" if self.debug else "INFO" if self.verbose else "ERROR"

    @property
    def machine_output(self) -> bool:
        return self.output is not OutputFormat.table

    def confirm(self, question: str, refusal: str, yes: bool) -> None:
        """Ask `question` (stderr) before a destructive change; without --yes where no one can answer (json / yaml /
        csv output, stdin not a terminal) the change is refused: `refusal` says what was not done."""
        if yes:
            return
        if self.machine_output or not interactive():
            why = f"--output {self.output.value}" if self.machine_output else "stdin is not a terminal"
            raise CliError(f"{refusal} ({why}, nothing written): pass --yes to go ahead")
        typer.confirm(question, default=False, abort=True, err=True)

    def configure(self) -> None:
        """Make profile and region the default of every boto3 client (the layer's AWS access uses them too)."""
        if self.profile or self.region:
            use_defaults(self.profile, self.region)

    @property
    def home_region(self) -> str:
        return self.region or configured_region() or "us-east-1"

    def _read_stack(self) -> cloudformation.Stack:
        """The stack's outputs and parameters, read once."""
        if self._stack is None:
            try:
                self._stack = cloudformation.describe_stack(self.stack_name)
            except (ClientError, BotoCoreError) as error:  # no such stack, refused, no region or credentials
                raise CliError(
                    f"cannot read the outputs of stack {self.stack_name} ({error}); pass --stack-name, or the table "
                    "names with --mapping-table / --history-table"
                ) from error
        return self._stack

    def _stack_output(self, key: str) -> str:
        outputs = self._read_stack().outputs
        if key not in outputs:
            raise CliError(f"stack {self.stack_name} has no output {key}: is it the replicator's stack?")
        return outputs[key]

    def stack_parameter(self, key: str) -> str | None:
        """One of the stack's parameters; None when it has no such parameter or cannot be read (tables given by
        name, no permission)."""
        try:
            return self._read_stack().parameters.get(key)
        except CliError:
            return None

    def destinations(self) -> AllowedDestinations | None:
        """The accounts the stack lets replicas go to (its outputs); None when there is no stack to read them from
        (tables given by name, or a stack deployed before AllowedTargetAccounts existed)."""
        try:
            accounts = self._stack_output("AllowedTargetAccounts")
            organization = self._stack_output("AllowedOrganizationId")
        except CliError:
            return None
        own = caller_account()
        return AllowedDestinations(
            own_account=own, accounts=parse_accounts(accounts), organization_id=organization or None
        )

    @cached_property
    def mapping_table(self) -> str:
        return self.mapping_table_flag or self._stack_output("MappingTableName")

    @cached_property
    def history_table(self) -> str:
        return self.history_table_flag or self._stack_output("HistoryTableName")

    @cached_property
    def slots_table(self) -> str:
        return self.slots_table_flag or self._stack_output("CopySlotsTableName")

    @cached_property
    def state_machine_arn(self) -> str:
        return self.state_machine_flag or self._stack_output("StateMachineArn")

    @cached_property
    def restore_test_state_machine_arn(self) -> str:
        """The restore-test state machine: --restore-test-state-machine-arn, else the stack's output, else named
        after the replication state machine as template.yaml names both (`<stack>-replication`,
        `<stack>-restore-test`); a CliError naming the flag when none of these says (a stack deployed before restore
        tests, and no replication state machine of that name)."""
        if self.restore_test_state_machine_flag:
            return self.restore_test_state_machine_flag
        try:
            return self._stack_output("RestoreTestStateMachineArn")
        except CliError as error:
            missing = error
        try:
            replication = self.state_machine_arn
        except CliError:
            replication = ""
        if replication.endswith(REPLICATION_SUFFIX):
            return replication.removesuffix(REPLICATION_SUFFIX) + RESTORE_TEST_SUFFIX
        raise CliError(
            f"{missing.format_message()} (a stack deployed before restore tests has none: deploy the current "
            "template.yaml, or pass --restore-test-state-machine-arn)"
        ) from missing


def get_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        obj = CliContext()
        ctx.find_root().obj = obj
    return obj
