"""What a user sees when something goes wrong: one line saying what and how to fix it, and the documented exit
code (context.py); the traceback only with --debug.

The root command group translates the errors no command turned into a message itself: AWS refusing or unreachable
(botocore), a file that cannot be read or written, an invalid model at the door (pydantic), and anything unexpected.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)
from pydantic import ValidationError
from typer import Abort, Exit
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from replicator.mapping import describe_validation_error

from .context import AwsError, CliError, get_context


def _aws_message(error: Exception) -> str:
    if isinstance(error, NoRegionError):
        return "no AWS region: pass --region, or set AWS_REGION (or a region in your AWS profile)"
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials: pass --profile, or set AWS_PROFILE / AWS_ACCESS_KEY_ID (aws configure)"
    if isinstance(error, ProfileNotFound):
        return f"{error}: see `aws configure list-profiles`"
    if isinstance(error, EndpointConnectionError):
        return f"{error}: is the endpoint up (AWS_ENDPOINT_URL, `replicator local start`) and the region right?"
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "a call")
        return f"AWS refused {operation}: {info.get('Code', '?')}: {info.get('Message', error)}"
    return f"AWS: {error}"


# the root's options that take a value, and its flags: accepted anywhere on the line, as the AWS CLI's are
GLOBAL_OPTIONS = frozenset(
    {
        "--profile",
        "--region",
        "--stack-name",
        "--mapping-table",
        "--history-table",
        "--slots-table",
        "--state-machine-arn",
        "--external-id",
        "--output",
        "-o",
    }
)
GLOBAL_FLAGS = frozenset({"--debug", "--verbose", "-v", "--no-color"})


def hoist_global_options(args: list[str]) -> list[str]:
    """`args` with the global options moved before the command (`replicator status --region eu-west-1` as
    `replicator --region eu-west-1 status`); what follows `--` is left alone."""
    hoisted: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_FLAGS:
            hoisted.append(arg)
        elif name in GLOBAL_OPTIONS:
            hoisted.append(arg)
            if "=" not in arg and index + 1 < len(args):
                index += 1
                hoisted.append(args[index])
        else:
            rest.append(arg)
        index += 1
    return hoisted + rest


class TranslatedErrors(TyperGroup):
    """The root group: global options anywhere on the line, and every command's unhandled error as a one-line
    message and an exit code."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(list(args)))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            error.show()  # one line on stderr (typer would draw a panel around it)
            raise Exit(error.exit_code) from error
        except (ClickException, Exit, Abort):
            raise  # usage errors (typer shows them with the usage line, exit 2), exits meant as they are
        except Exception as error:  # broad on purpose: the CLI's last boundary, even a bug ends in one line and exit 1
            if _debug(ctx):
                raise  # --debug: the traceback
            translated = _translated(error)
            translated.show()
            raise Exit(translated.exit_code) from error


def _translated(error: Exception) -> CliError:
    if isinstance(error, BotoCoreError | ClientError):
        return AwsError(_aws_message(error))
    if isinstance(error, OSError):
        where = f" {error.filename}" if getattr(error, "filename", None) else ""
        return AwsError(f"cannot use{where}: {error.strerror or error}")
    if isinstance(error, ValidationError):
        return CliError(f"invalid: {describe_validation_error(error)}")
    return CliError(f"unexpected {type(error).__name__}: {error} (run again with --debug for the traceback)")


def _debug(ctx: Any) -> bool:
    return get_context(ctx).debug
