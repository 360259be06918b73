"""Why a mapping is refused, and what the stack allows: each bad field named by its target (account / region) and
the option that sets it, the target accounts the stack allows, the role names its policy lets the replicator assume.

Every write of `mappings put`, `put-all`, `delete` and `import` goes through validate(): nothing is written unless
the whole mapping is valid.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from rich.markup import escape

from replicator.mapping import RegionMapping, destination, role_account

from .context import CliContext, CliError

# the replicator's IAM policy allows assuming only roles named with the stack's TargetRoleNamePrefix (template.yaml)
DEFAULT_ROLE_NAME_PREFIX = "rds-snapshot-replicator-"

# the restore-test options: the restore_test field each sets -> its option
RESTORE_TEST_OPTIONS = {
    "every_days": "--restore-test-every-days",
    "instance_class": "--restore-test-instance-class",
    "subnet_group": "--restore-test-subnet-group",
    "security_group_ids": "--restore-test-security-group",
    "max_minutes": "--restore-test-max-minutes",
    "databases": "--restore-test-database",
}

# which option sets which field, so that a refusal names what to type
_OPTION_OF_FIELD = {
    "source_region": "SOURCE_REGION",
    "target_region": "--target-region",
    "role_arn": "--role-arn",
    "encryption.enabled": "--encrypt / --no-encrypt",
    "encryption.kms_key_arn": "--kms-key-arn",
    "encryption.key_usage": "--key-usage",
    "encryption": "--encrypt / --kms-key-arn",
    "share_kms_key_arn": "--share-kms-key-arn",
    "transfer_kms_key_arn": "--transfer-kms-key-arn",
    "copy_tags": "--copy-tags / --no-copy-tags",
    "retention_days": "--retention-days",
    "keep_last": "--keep-last",
    "rpo_hours": "--rpo-hours",
    "selection.min_interval_hours": "--min-interval-hours",
    **{f"restore_test.{field}": option for field, option in RESTORE_TEST_OPTIONS.items()},
    "security_group_ids": "--restore-test-security-group",  # the model's own check names the field first
    "restore_test": "--restore-test-every-days / --no-restore-test",
}


def with_flag_spelling(text: str) -> str:
    """`text` with the option that sets encrypted_only named once: the rules name the item's value, the command
    line spells it --key-usage encrypted-only."""
    if "--key-usage encrypted-only" in text:
        return text
    return re.sub(r"'?\bencrypted_only\b'?", lambda m: f"{m.group(0)} (--key-usage encrypted-only)", text, count=1)


def _target_of(item: dict[str, Any], index: Any) -> str:
    """'target ACCOUNT / REGION' of targets[index] in a raw item (the index when there is no such target)."""
    targets = item.get("targets") if isinstance(item, dict) else None
    if isinstance(index, int) and isinstance(targets, list) and 0 <= index < len(targets):
        target = targets[index]
        if isinstance(target, dict):
            return f"target {describe_target(target)}"
    return f"targets.{index}"


def _where(loc: tuple[Any, ...], item: dict[str, Any]) -> tuple[str, str]:
    """(where, field): the target a pydantic error location points into (named by account and region, not by its
    index) and the field within it; ('', path) outside the targets."""
    if len(loc) >= 2 and loc[0] == "targets":
        return _target_of(item, loc[1]), ".".join(str(p) for p in loc[2:])
    return "", ".".join(str(p) for p in loc)


def _error_line(where: str, field: str, message: str) -> str:
    return ": ".join(part for part in (where, field, message) if part) if (where or field) else f"mapping: {message}"


def describe_errors(error: ValidationError, item: dict[str, Any]) -> str:
    """One line naming each bad field by its target (account / region) and what is wrong with it."""
    parts = []
    for found in error.errors():
        where, field = _where(tuple(found["loc"]), item)
        parts.append(_error_line(where, field, found["msg"].removeprefix("Value error, ")))
    return "; ".join(parts)


def _refusal(error: ValidationError, item: dict[str, Any], new_target: tuple[int, dict[str, str]] | None = None) -> str:
    """The refusal, each bad field with its target and the option that sets it. `new_target` = (index of the target
    the options made, the options of its fields made from the command's options, e.g. "selection.exclude.1" ->
    --exclude-tag): searched first, the longest field first, for that target's errors only."""
    lines = []
    for found in error.errors():
        loc = tuple(found["loc"])
        path = ".".join(str(p) for p in loc)
        message = found["msg"].removeprefix("Value error, ")
        where, field = _where(loc, item)
        option = None
        if new_target is not None and f"{path}.".startswith(f"targets.{new_target[0]}."):
            made = sorted(new_target[1].items(), key=lambda fo: -len(fo[0]))
            option = next((o for f, o in made if field == f or field.startswith(f + ".")), None)
        if option is None:
            option = next((o for f, o in _OPTION_OF_FIELD.items() if field == f or message.startswith(f)), None)
        hint = f" (option {option})" if option else ""
        lines.append(f"  {with_flag_spelling(_error_line(where, field, message))}{hint}")
    return "invalid mapping, nothing written:\n" + "\n".join(lines)


def validate(item: dict[str, Any], new_target: tuple[int, dict[str, str]] | None = None) -> RegionMapping:
    try:
        return RegionMapping.model_validate(item)
    except ValidationError as error:
        raise CliError(_refusal(error, item, new_target)) from error


def same_destination(
    target: dict[str, Any], role_arn: str | None, target_region: str, own_account: str | None = None
) -> bool:
    """Whether the (raw) `target` replicates where `role_arn` and `target_region` do (mapping.destination's rule)."""
    role = target.get("role_arn")
    theirs = destination(str(role) if role else None, str(target.get("target_region")), own_account)
    return theirs == destination(role_arn, target_region, own_account)


def describe_target(target: dict[str, Any]) -> str:
    role = target.get("role_arn")
    account = role_account(role) if isinstance(role, str) and role else "this account"
    return f"{account} / {target.get('target_region')}"


def refuse_disallowed_accounts(cli: CliContext, mappings: list[RegionMapping]) -> None:
    """A mapping naming an account the stack does not allow is never written (the Lambdas would refuse it too)."""
    destinations = cli.destinations()
    if destinations is None:
        cli.err.print(
            f"[yellow]warning[/]: target accounts not checked against AllowedTargetAccounts (stack {cli.stack_name} "
            "not readable: pass --stack-name); the replicator refuses replications to accounts the stack does not allow"
        )
        return
    problems = []
    for mapping in mappings:
        for target in mapping.targets:
            account = target.account_id(destinations.own_account)
            if refusal := destinations.refusal(account):
                problems.append(f"  {mapping.source_region} -> {target.target_region}: {refusal}")
    if problems:
        raise CliError("target account not allowed, nothing written:\n" + "\n".join(problems) + " (option --role-arn)")


def _role_name_prefix(cli: CliContext) -> tuple[str, bool]:
    """(the stack's TargetRoleNamePrefix, whether it was read from the stack) - the default when the stack's
    parameters cannot be read (tables given by name, no permission)."""
    prefix = cli.stack_parameter("TargetRoleNamePrefix")  # None: no such stack, refused, no region or credentials
    return (prefix, True) if prefix else (DEFAULT_ROLE_NAME_PREFIX, False)


def warn_role_name_prefix(cli: CliContext, role_arn: str | None) -> None:
    """A warning on stderr when the role's name does not start with the stack's TargetRoleNamePrefix: the
    replicator's own IAM policy allows assuming only such roles, so every replication to the target would fail."""
    if not role_arn or ":role/" not in role_arn:
        return
    name = role_arn.split(":role/", 1)[1]
    prefix, from_stack = _role_name_prefix(cli)
    if name.startswith(prefix):
        return
    whose = (
        f"stack {cli.stack_name}'s TargetRoleNamePrefix"
        if from_stack
        else f"the default TargetRoleNamePrefix (stack {cli.stack_name}'s parameters not readable)"
    )
    cli.err.print(
        f"[yellow]warning[/]: role name {escape(name)} does not start with {whose} '{escape(prefix)}': the "
        f"replicator's IAM policy only allows assuming roles named {escape(prefix)}*, so replications to this target "
        "would fail; name the role with the prefix (target-account-role.yaml does), or deploy the stack with "
        "another TargetRoleNamePrefix"
    )
