"""Where the CLI acts: AWS profile and region, and the stack's table names (from its outputs, or given as flags)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import boto3
import typer

# typer (0.26 and newer, pinned in pyproject.toml) vendors click and shows only its own ClickException as a message;
# it exports no public name for it
from typer._click.exceptions import ClickException

from replicator.destinations import AllowedDestinations, parse_accounts

DEFAULT_STACK = "rds-snapshot-replicator"


class CliError(ClickException):
    """A refusal or failure shown to the user as one clear message (exit status 1)."""


@dataclass
class CliContext:
    profile: str | None = None
    region: str | None = None
    stack_name: str = DEFAULT_STACK
    mapping_table_flag: str | None = None
    history_table_flag: str | None = None
    slots_table_flag: str | None = None
    state_machine_flag: str | None = None
    _outputs: dict[str, str] | None = field(default=None, repr=False)

    def configure(self) -> None:
        """Make profile and region the default of every boto3 client (the layer's AWS access uses them too)."""
        if self.profile or self.region:
            boto3.setup_default_session(profile_name=self.profile, region_name=self.region)

    @property
    def home_region(self) -> str:
        return self.region or boto3.session.Session().region_name or "us-east-1"

    def _stack_output(self, key: str) -> str:
        if self._outputs is None:
            try:
                stack = boto3.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"][0]
            except Exception as error:
                raise CliError(
                    f"cannot read the outputs of stack {self.stack_name} ({error}); pass --stack-name, or the table "
                    "names with --mapping-table / --history-table"
                ) from error
            self._outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if key not in self._outputs:
            raise CliError(f"stack {self.stack_name} has no output {key}: is it the replicator's stack?")
        return self._outputs[key]

    def destinations(self) -> AllowedDestinations | None:
        """The accounts the stack lets replicas go to (its outputs); None when there is no stack to read them from
        (tables given by name, or a stack deployed before AllowedTargetAccounts existed)."""
        try:
            accounts = self._stack_output("AllowedTargetAccounts")
            organization = self._stack_output("AllowedOrganizationId")
        except CliError:
            return None
        own = boto3.client("sts").get_caller_identity()["Account"]
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


def get_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        obj = CliContext()
        ctx.find_root().obj = obj
    return obj
