"""`replicator mappings ...`: edit, list, check, export and import region mappings (the product's Edit Region Mapping).

Every write goes through RegionMapping, the model the Lambdas read with: an invalid mapping is refused with the
target, the field, the option to change and the fix, and nothing is written. Option values the AWS CLI would refuse
(a region botocore does not know, a role ARN that is not one) are refused at the door as usage errors (exit 2).

Results go to stdout in the global --output format (cli.emit); confirmations, notes and warnings to stderr, so that
`-o json` prints only the result.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
import yaml
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from replicator.aws import tables
from replicator.aws.sessions import caller_account
from replicator.history import utc_now
from replicator.mapping import ALL_REGIONS, KeyUsage, MappingTarget, RegionMapping
from replicator.restore_testing import RestoreTest
from replicator.selection import Selection

from . import validation
from .context import AwsError, CliContext, CliError, OutputFormat, get_context

app = typer.Typer(help="Region mappings: where each source region's snapshots are replicated to.", no_args_is_help=True)

# the replicator's IAM policy allows assuming only roles named with the stack's TargetRoleNamePrefix (template.yaml)
DEFAULT_ROLE_NAME_PREFIX = "rds-snapshot-replicator-"
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/(?P<name>[\w+=,.@/-]{1,512})$")

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
    "restore_test.every_days": "--restore-test-every-days",
    "restore_test.instance_class": "--restore-test-instance-class",
    "restore_test.subnet_group": "--restore-test-subnet-group",
    "restore_test.security_group_ids": "--restore-test-security-group",
    "restore_test.max_minutes": "--restore-test-max-minutes",
    "restore_test.databases": "--restore-test-database",
    "security_group_ids": "--restore-test-security-group",  # the model's own check names the field first
    "restore_test": "--restore-test-every-days / --no-restore-test",
}

# the restore-test options: (the restore_test field each sets, its option)
RESTORE_TEST_OPTIONS = {
    "restore_test_every_days": ("every_days", "--restore-test-every-days"),
    "restore_test_instance_class": ("instance_class", "--restore-test-instance-class"),
    "restore_test_subnet_group": ("subnet_group", "--restore-test-subnet-group"),
    "restore_test_security_group": ("security_group_ids", "--restore-test-security-group"),
    "restore_test_max_minutes": ("max_minutes", "--restore-test-max-minutes"),
    "restore_test_database": ("databases", "--restore-test-database"),
}

# the options that make the one include rule (selection.include[0]) out of the simple selection options
_INCLUDE_OPTIONS = {
    "databases": "--include-db",
    "tags": "--include-tag",
    "engines": "--include-engine",
    "snapshot_types": "--snapshot-types",
}

# a target's settings in the order a diff lists them
_SETTINGS = (
    "role_arn",
    "encryption.enabled",
    "encryption.kms_key_arn",
    "encryption.key_usage",
    "copy_tags",
    "share_kms_key_arn",
    "transfer_kms_key_arn",
    "retention_days",
    "keep_last",
    "selection",
    "rpo_hours",
    "restore_test",
)


# --- checks at the door --------------------------------------------------------------------------------------------


def role_account(role_arn: str) -> str:
    """The account of a role ARN, read safely: the account field of an ARN-like text, else the text itself (a
    hand-edited item's malformed role stands for itself and is never an IndexError)."""
    if match := _ROLE_ARN.match(role_arn):
        return match["account"]
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else role_arn


def _role_arn_option(value: str | None) -> str | None:
    """--role-arn: an IAM role ARN (typer callback; a usage error otherwise, before anything is read)."""
    if value is None or _ROLE_ARN.match(value):
        return value
    account = value if re.fullmatch(r"\d{12}", value.strip()) else "210987654321"
    raise typer.BadParameter(
        f"'{value}' is not an IAM role ARN such as arn:aws:iam::{account.strip()}:role/"
        f"{DEFAULT_ROLE_NAME_PREFIX}target (the role in the target account; without --role-arn: this account)"
    )


def _key_usage_option(value: str | KeyUsage) -> KeyUsage:
    """--key-usage: all, encrypted-only (the flag's spelling) or encrypted_only (the mapping item's)."""
    try:
        return KeyUsage(str(value).strip().lower().replace("-", "_"))
    except ValueError:
        raise typer.BadParameter(
            f"'{value}' is not one of 'all', 'encrypted-only' (encrypted_only, the mapping item's spelling, is "
            "accepted too)"
        ) from None


# what a restore-test option's value must look like, where the model's rule is a pattern
_RESTORE_TEST_SHAPES = {
    "instance_class": "is not a DB instance class such as db.t4g.micro",
    "subnet_group": "is not a DB subnet group name (letters, digits, spaces, '.', '_' and '-')",
}


def _restore_test_option(field: str) -> Callable[[Any], Any]:
    """A typer callback checking one restore-test option's value with the RestoreTest model's own rules: a usage
    error naming the option, the value and what is wrong, before anything is read."""

    def check(value: Any) -> Any:
        if value is None or value == []:
            return None
        data: dict[str, Any] = {"every_days": 1, field: value} if field != "every_days" else {field: value}
        try:
            RestoreTest.model_validate(data)
        except ValidationError as error:
            raise typer.BadParameter(
                "; ".join(_restore_test_problem(field, value, e) for e in error.errors())
            ) from None
        return value

    return check


def _restore_test_problem(field: str, value: Any, found: Any) -> str:
    message = str(found["msg"]).removeprefix("Value error, ").removeprefix(f"{field}: ")
    if found["type"] == "value_error":
        return message  # the model's own sentence names the value
    loc = tuple(found["loc"])
    shown = value[loc[1]] if len(loc) > 1 and isinstance(value, list) and isinstance(loc[1], int) else value
    if found["type"] == "string_pattern_mismatch" and field in _RESTORE_TEST_SHAPES:
        return f"{shown!r} {_RESTORE_TEST_SHAPES[field]}"
    if isinstance(shown, list):
        return f"{message} (restore_test.{field})"
    return f"{shown!r}: {message} (restore_test.{field})"


def _with_flag_spelling(text: str) -> str:
    """`text` with the option that sets encrypted_only named once: the rules name the item's value, the command
    line spells it --key-usage encrypted-only."""
    if "--key-usage encrypted-only" in text:
        return text
    return re.sub(r"'?\bencrypted_only\b'?", lambda m: f"{m.group(0)} (--key-usage encrypted-only)", text, count=1)


def _refuse_csv(cli: CliContext, command: str) -> None:
    """--output csv is for results that are rows: refused before anything is read or written."""
    if cli.output is OutputFormat.csv:
        raise typer.BadParameter(
            f"csv is for results that are rows (mappings list, mappings check); use json or yaml with {command}",
            param_hint="'--output'",
        )


# --- refusals: the target, the field, the option -------------------------------------------------------------------


def _target_of(item: dict[str, Any], index: Any) -> str:
    """'target ACCOUNT / REGION' of targets[index] in a raw item (the index when there is no such target)."""
    targets = item.get("targets") if isinstance(item, dict) else None
    if isinstance(index, int) and isinstance(targets, list) and 0 <= index < len(targets):
        target = targets[index]
        if isinstance(target, dict):
            return f"target {_describe_target(target)}"
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
        lines.append(f"  {_with_flag_spelling(_error_line(where, field, message))}{hint}")
    return "invalid mapping, nothing written:\n" + "\n".join(lines)


def validate(item: dict[str, Any], new_target: tuple[int, dict[str, str]] | None = None) -> RegionMapping:
    try:
        return RegionMapping.model_validate(item)
    except ValidationError as error:
        raise CliError(_refusal(error, item, new_target)) from error


def _same_destination(
    target: dict[str, Any], role_arn: str | None, target_region: str, own_account: str | None = None
) -> bool:
    """Whether `target` replicates to the same account and region (no role = `own_account`, as the Lambda reads it)."""
    role = target.get("role_arn")
    same_account = (role_account(role) if role else own_account) == (
        role_account(role_arn) if role_arn else own_account
    )
    return same_account and target.get("target_region") == target_region


@dataclass(frozen=True)
class TargetOptions:
    """The options of `mappings put` and `put-all` that describe one target."""

    target_region: str
    role_arn: str | None = None
    encrypt: bool | None = None  # None: not given (--kms-key-arn turns it on)
    kms_key_arn: str | None = None
    key_usage: KeyUsage = KeyUsage.ALL
    copy_tags: bool = True
    share_kms_key_arn: str | None = None
    transfer_kms_key_arn: str | None = None
    retention_days: int | None = None
    keep_last: int | None = None
    include_db: list[str] | None = None
    exclude_db: list[str] | None = None
    include_tag: list[str] | None = None
    exclude_tag: list[str] | None = None
    include_engine: list[str] | None = None
    exclude_engine: list[str] | None = None
    snapshot_types: list[str] | None = None
    exclude_snapshot_types: list[str] | None = None
    min_interval_hours: float | None = None
    selection_file: Path | None = None
    rpo_hours: float | None = None
    restore_test_every_days: int | None = None
    restore_test_instance_class: str | None = None
    restore_test_subnet_group: str | None = None
    restore_test_security_group: list[str] | None = None
    restore_test_max_minutes: float | None = None
    restore_test_database: list[str] | None = None
    no_restore_test: bool = False
    description: str | None = None
    replace: bool = False
    yes: bool = False

    def with_encryption(self, cli: CliContext) -> TargetOptions:
        """--kms-key-arn implies --encrypt (said on stderr); with --no-encrypt it is a usage error."""
        if not self.kms_key_arn or self.encrypt is True:
            return self
        if self.encrypt is False:
            raise typer.BadParameter(
                "cannot be combined with --no-encrypt: a key turns encryption on; drop --no-encrypt to encrypt the "
                "replicas with it, or drop --kms-key-arn to leave them unencrypted",
                param_hint="'--kms-key-arn'",
            )
        cli.err.print("note: --kms-key-arn given: encryption on", markup=False)
        return dataclasses.replace(self, encrypt=True)

    def selection(self) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """The target's `selection` (None: every snapshot) and, for a refusal, which option made which of its
        fields. The simple options make at most one include rule, every option given in it (a snapshot must match
        them all: each --include-tag, and one of the values of each other option); and one exclude rule per
        --exclude-db / --exclude-engine / --exclude-snapshot-types option and per --exclude-tag (a snapshot matching
        any of them is left out)."""
        simple = {
            "--include-db": self.include_db,
            "--exclude-db": self.exclude_db,
            "--include-tag": self.include_tag,
            "--exclude-tag": self.exclude_tag,
            "--include-engine": self.include_engine,
            "--exclude-engine": self.exclude_engine,
            "--snapshot-types": self.snapshot_types,
            "--exclude-snapshot-types": self.exclude_snapshot_types,
            "--min-interval-hours": self.min_interval_hours,
        }
        given = [option for option, value in simple.items() if value is not None and value != []]
        if self.selection_file is not None:
            if given:
                raise typer.BadParameter(
                    f"cannot be combined with {', '.join(given)}: put the whole selection in the file",
                    param_hint="'--selection-file'",
                )
            return _selection_file(self.selection_file), {"selection": "--selection-file"}
        include: dict[str, Any] = {}
        if self.include_db:
            include["databases"] = list(self.include_db)
        if self.include_tag:
            include["tags"] = [_tag_match(text) for text in self.include_tag]
        if self.include_engine:
            include["engines"] = list(self.include_engine)
        if self.snapshot_types:
            include["snapshot_types"] = _types(self.snapshot_types)
        options: dict[str, str] = {}
        selection: dict[str, Any] = {}
        if include:
            selection["include"] = [include]
            options["selection.include.0"] = " / ".join(_INCLUDE_OPTIONS[f] for f in include)
            options.update({f"selection.include.0.{f}": _INCLUDE_OPTIONS[f] for f in include})
        exclude: list[tuple[str, dict[str, Any]]] = []
        if self.exclude_db:
            exclude.append(("--exclude-db", {"databases": list(self.exclude_db)}))
        exclude.extend(("--exclude-tag", {"tags": [_tag_match(text)]}) for text in self.exclude_tag or [])
        if self.exclude_engine:
            exclude.append(("--exclude-engine", {"engines": list(self.exclude_engine)}))
        if self.exclude_snapshot_types:
            exclude.append(("--exclude-snapshot-types", {"snapshot_types": _types(self.exclude_snapshot_types)}))
        if exclude:
            selection["exclude"] = [rule for _, rule in exclude]
            options.update({f"selection.exclude.{i}": option for i, (option, _) in enumerate(exclude)})
        if self.min_interval_hours is not None:
            selection["min_interval_hours"] = self.min_interval_hours
        return selection or None, options

    def restore_test_given(self) -> dict[str, Any]:
        """The restore_test fields the options give (field -> value)."""
        given: dict[str, Any] = {}
        for attribute, (field, _) in RESTORE_TEST_OPTIONS.items():
            value = getattr(self, attribute)
            if value is not None and value != []:
                given[field] = list(value) if isinstance(value, list) else value
        return given

    def check_restore_test_options(self) -> None:
        """--no-restore-test with an option that sets a restore-test field: a usage error (before anything is read)."""
        if self.no_restore_test and (given := self.restore_test_given()):
            options = ", ".join(RESTORE_TEST_OPTIONS[f"restore_test_{_attribute(f)}"][1] for f in given)
            raise typer.BadParameter(
                f"cannot be combined with {options}: drop --no-restore-test to set the restore test, or the "
                "other options to remove it",
                param_hint="'--no-restore-test'",
            )

    def restore_test(self, existing: Any, described: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """The target's `restore_test` (None: no restore tests) and, for a refusal, which option made which field.

        Unlike the other settings, the replaced target's restore_test is kept when no restore-test option is given:
        the options change only the fields they name (a list option replaces the whole list), --no-restore-test
        removes it. A target without one gets one only with --restore-test-every-days (its one required field)."""
        if self.no_restore_test:
            return None, {}
        given = self.restore_test_given()
        current = dict(existing) if isinstance(existing, dict) else None
        if not given:
            return current, {}
        if current is None and "every_days" not in given:
            options = ", ".join(RESTORE_TEST_OPTIONS[f"restore_test_{_attribute(f)}"][1] for f in given)
            raise typer.BadParameter(
                f"target {described} has no restore test to change with {options}: add --restore-test-every-days N "
                "(how often each database's newest replica is restored, e.g. 7) to set one up",
                param_hint="'--restore-test-every-days'",
            )
        made = {f"restore_test.{f}": RESTORE_TEST_OPTIONS[f"restore_test_{_attribute(f)}"][1] for f in given}
        return {**(current or {}), **given}, made

    def target(
        self, selection: dict[str, Any] | None = None, restore_test: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The target item (`selection` as made by selection(), `restore_test` by restore_test())."""
        target: dict[str, Any] = {
            "target_region": self.target_region,
            "encryption": {"enabled": bool(self.encrypt), "key_usage": KeyUsage(self.key_usage).value},
            "copy_tags": self.copy_tags,
        }
        if self.kms_key_arn:
            target["encryption"]["kms_key_arn"] = self.kms_key_arn
        optional = {
            "role_arn": self.role_arn,
            "share_kms_key_arn": self.share_kms_key_arn,
            "transfer_kms_key_arn": self.transfer_kms_key_arn,
            "retention_days": self.retention_days,
            "keep_last": self.keep_last,
            "selection": selection,
            "rpo_hours": self.rpo_hours,
            "restore_test": restore_test,
        }
        target.update({k: v for k, v in optional.items() if v is not None})
        return target


def _attribute(field: str) -> str:
    """The TargetOptions attribute (without its restore_test_ prefix) of a restore_test field."""
    return {"security_group_ids": "security_group", "databases": "database"}.get(field, field)


def _tag_match(text: str) -> dict[str, Any]:
    """KEY (any value) or KEY=V1[,V2...] (one of these values, shell-style patterns) as a tag match."""
    key, has_values, values = text.partition("=")
    return {"key": key.strip(), "values": [v.strip() for v in values.split(",")] if has_values else []}


def _types(texts: list[str]) -> list[str]:
    """--snapshot-types automated,manual (and/or repeated) as a list of types."""
    return [t.strip() for text in texts for t in text.split(",") if t.strip()]


def _read_document(file: Path, what: str) -> Any:
    """A YAML or JSON file's document (JSON when it is named .json). A file that cannot be read, or is not valid
    YAML / JSON, is a file error (exit 3) naming the file and the line and column of the syntax error."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise AwsError(f"{what}cannot read {file}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    except OSError as error:
        raise AwsError(f"{what}cannot read {file}: {error.strerror or error}") from error
    if file.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise AwsError(
                f"{what}cannot read {file}: not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
            ) from error
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        context = getattr(error, "context", None)
        raise AwsError(
            f"{what}cannot read {file}: not valid YAML{at}: {problem}" + (f" ({context})" if context else "")
        ) from error


def _selection_file(file: Path) -> dict[str, Any]:
    """A `selection` block from a YAML or JSON file: the block itself, or a document with a `selection` key."""
    document = _read_document(file, "--selection-file: ")
    if isinstance(document, dict) and set(document) == {"selection"}:
        document = document["selection"]
    if not isinstance(document, dict):
        raise CliError(
            f"--selection-file {file}: expected a selection (a mapping with include / exclude / min_interval_hours)"
        )
    return document


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
    try:
        stack = boto3.client("cloudformation").describe_stacks(StackName=cli.stack_name)["Stacks"][0]
    except (ClientError, BotoCoreError):  # no such stack, refused, no region or credentials: the default
        return DEFAULT_ROLE_NAME_PREFIX, False
    parameters = {p.get("ParameterKey"): p.get("ParameterValue") for p in stack.get("Parameters", [])}
    prefix = parameters.get("TargetRoleNamePrefix")
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


# --- put -----------------------------------------------------------------------------------------------------------


def _settings(target: dict[str, Any]) -> dict[str, Any]:
    """A target's settings (defaults filled in by the model, encryption's fields as encryption.*), but its region."""
    try:
        data = MappingTarget.model_validate(target).model_dump(mode="json", exclude_none=True)
    except ValidationError:
        data = dict(target)
    settings: dict[str, Any] = {}
    for key, value in data.items():
        if key == "encryption" and isinstance(value, dict):
            settings.update({f"encryption.{k}": v for k, v in value.items()})
        elif key != "target_region":
            settings[key] = value
    return settings


def _shown(setting: str, value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if setting == "selection":
        try:
            return Selection.model_validate(value).describe()
        except ValidationError:
            return json.dumps(value)
    if setting == "restore_test" and isinstance(value, dict):
        return describe_restore_test(value)
    return value if isinstance(value, str) else json.dumps(value)


def describe_restore_test(value: dict[str, Any]) -> str:
    """A restore_test in one line: 'every 7 days, databases prod-*, db.t4g.micro, subnet group dr, sg-..., at most
    60 minutes' (the defaults left out)."""
    try:
        test = RestoreTest.model_validate(value)
    except ValidationError:
        return json.dumps(value)
    parts = [f"every {test.every_days} day{'s' if test.every_days != 1 else ''}"]
    if test.databases != ["*"]:
        parts.append(f"databases {', '.join(test.databases)}")
    if test.instance_class:
        parts.append(test.instance_class)
    if test.subnet_group:
        parts.append(f"subnet group {test.subnet_group}")
    if test.security_group_ids:
        parts.append(", ".join(test.security_group_ids))
    parts.append(f"at most {test.max_minutes:g} minutes")
    return ", ".join(parts)


@dataclass
class TargetDiff:
    """What replacing a target changes: settings changed, dropped (the new target lacks them), added."""

    changed: dict[str, tuple[Any, Any]] = dataclasses.field(default_factory=dict)
    dropped: dict[str, Any] = dataclasses.field(default_factory=dict)
    added: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def between(cls, old: dict[str, Any], new: dict[str, Any]) -> TargetDiff:
        before, after = _settings(old), _settings(new)
        order = [*_SETTINGS, *sorted((set(before) | set(after)) - set(_SETTINGS))]
        diff = cls()
        for setting in order:
            if setting in before and setting not in after:
                diff.dropped[setting] = before[setting]
            elif setting in after and setting not in before:
                diff.added[setting] = after[setting]
            elif setting in before and before[setting] != after[setting]:
                diff.changed[setting] = (before[setting], after[setting])
        return diff

    def __bool__(self) -> bool:
        return bool(self.changed or self.dropped or self.added)

    def lines(self) -> list[str]:
        return [
            *(f"~ {s}: {_shown(s, old)} -> {_shown(s, new)}" for s, (old, new) in self.changed.items()),
            *(f"- {s}: {_shown(s, value)} (dropped)" for s, value in self.dropped.items()),
            *(f"+ {s}: {_shown(s, value)}" for s, value in self.added.items()),
        ]

    def as_result(self) -> dict[str, Any]:
        return {
            "changed": {s: {"from": old, "to": new} for s, (old, new) in self.changed.items()},
            "dropped": self.dropped,
            "added": self.added,
        }


def _confirm_replacement(cli: CliContext, described: str, diff: TargetDiff, yes: bool) -> None:
    """Show what replacing the target changes (stderr) and ask; refused without --yes where no one can answer
    (json / yaml output, stdin not a terminal)."""
    cli.err.print(f"put replaces target {described} whole:", markup=False)
    for line in diff.lines():
        cli.err.print(f"  {line}", markup=False)
    cli.confirm("Replace it?", f"would replace target {described}", yes)


def _put(ctx: typer.Context, source_region: str, options: TargetOptions) -> None:
    cli = get_context(ctx)
    _refuse_csv(cli, "mappings put")
    options = options.with_encryption(cli)
    options.check_restore_test_options()
    selection, made = options.selection()  # before anything is read: a usage error is refused first
    existing = tables.mapping_item(cli.mapping_table, source_region) or {}
    current = list(existing.get("targets", []))
    # a role in this account and no role are the same account: such a target is replaced, not added beside
    own_account = caller_account() if current else None
    replaced = [t for t in current if _same_destination(t, options.role_arn, options.target_region, own_account)]
    described = _describe_target({"role_arn": options.role_arn, "target_region": options.target_region})
    restore_test, restore_made = options.restore_test(replaced[0].get("restore_test") if replaced else None, described)
    target = options.target(selection, _plain(restore_test) if restore_test is not None else None)
    others = [] if options.replace else current
    kept = [t for t in others if not _same_destination(t, options.role_arn, options.target_region, own_account)]
    removed = [t for t in current if t not in kept and t not in replaced]
    item: dict[str, Any] = {
        "source_region": source_region,
        "targets": [*kept, target],
        "updated_at": utc_now().isoformat(timespec="seconds"),
    }
    if options.description or existing.get("description"):
        item["description"] = options.description or existing["description"]
    mapping = validate(item, (len(kept), {**made, **restore_made}))
    refuse_disallowed_accounts(cli, [mapping])
    warn_role_name_prefix(cli, options.role_arn)
    where = "all regions without their own mapping" if source_region == ALL_REGIONS else source_region
    written = mapping.targets[-1].model_dump(mode="json", exclude_none=True)
    old = _plain(replaced[0]) if replaced else None
    diff = TargetDiff.between(old, written) if old is not None else TargetDiff()
    if diff:
        _confirm_replacement(cli, f"{_describe_target(target)} of {where}", diff, options.yes)

    tables.put_mapping(cli.mapping_table, mapping)

    verb = "replaced" if replaced else "added"
    lost = _settings_lost(old, target) if old is not None else []

    def confirmation(_: Console) -> None:
        cli.err.print(
            f"{verb} target {_describe_target(target)} for {where} ({len(mapping.targets)} target(s) now)",
            markup=False,
        )
        if removed:
            dropped_targets = ", ".join(_describe_target(t) for t in removed)
            cli.err.print(f"--replace: removed the other target(s) {dropped_targets}", markup=False)
        if lost:
            cli.err.print(
                f"note: the replaced target had {'; '.join(lost)}, which the new one does not have "
                "(put it again with their options to keep them)",
                markup=False,
            )

    cli.emit(
        {
            "source_region": source_region,
            "action": verb,
            "replaced": bool(replaced),
            "target": written,
            **diff.as_result(),
            "removed_targets": [_plain(t) for t in removed],
            "targets": len(mapping.targets),
        },
        table=confirmation,
    )


def _settings_lost(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The settings of a replaced target that its replacement lacks (put replaces a target whole)."""
    lost = []
    if old.get("encryption", {}).get("enabled") and not new.get("encryption", {}).get("enabled"):
        lost.append(f"encryption with {old['encryption'].get('kms_key_arn')}")
    for setting in ("share_kms_key_arn", "transfer_kms_key_arn", "retention_days", "keep_last", "rpo_hours"):
        if old.get(setting) is not None and new.get(setting) is None:
            lost.append(f"{setting} {old[setting]}")
    if old.get("selection") is not None and new.get("selection") is None:
        lost.append(f"selection ({_shown('selection', old['selection'])})")
    return lost


def _describe_target(target: dict[str, Any]) -> str:
    role = target.get("role_arn")
    account = role_account(role) if isinstance(role, str) and role else "this account"
    return f"{account} / {target.get('target_region')}"


def _target_options_signature(
    target_region: Annotated[
        str,
        typer.Option(
            "--target-region",
            callback=validation.region,
            metavar="REGION",
            help="Region of the replicas (an AWS region with RDS)",
        ),
    ],
    role_arn: Annotated[
        str | None,
        typer.Option(
            "--role-arn",
            callback=_role_arn_option,
            metavar="ARN",
            help=(
                "IAM role in the target account, arn:aws:iam::ACCOUNT:role/NAME, NAME starting with the stack's "
                "TargetRoleNamePrefix (absent: this account)"
            ),
        ),
    ] = None,
    encrypt: Annotated[
        bool | None,
        typer.Option(
            "--encrypt/--no-encrypt",
            show_default=False,
            help="Encrypt replicas with --kms-key-arn (given a key, on; --no-encrypt with a key is refused)",
        ),
    ] = None,
    kms_key_arn: Annotated[
        str | None,
        typer.Option("--kms-key-arn", metavar="ARN", help="KMS key ARN in the target region; implies --encrypt"),
    ] = None,
    key_usage: Annotated[
        str,
        typer.Option(
            "--key-usage",
            metavar="[all|encrypted-only]",
            callback=_key_usage_option,
            help=("all: encrypt every replica; encrypted-only (or encrypted_only): only replicas of encrypted sources"),
        ),
    ] = "all",
    copy_tags: Annotated[
        bool, typer.Option("--copy-tags/--no-copy-tags", help="Copy the source snapshot's tags")
    ] = True,
    share_kms_key_arn: Annotated[
        str | None,
        typer.Option(
            "--share-kms-key-arn",
            help="Cross-account: customer managed key in the source account and region, usable by the target account",
        ),
    ] = None,
    transfer_kms_key_arn: Annotated[
        str | None,
        typer.Option(
            "--transfer-kms-key-arn",
            help=(
                "Cross-account, another region: customer managed key of the source account in the target region, "
                "usable by the target account; automated, AWS Backup and aws/rds snapshots then cross regions "
                "incrementally"
            ),
        ),
    ] = None,
    retention_days: Annotated[
        int | None, typer.Option("--retention-days", help="Delete replicas older than this (replicator prune)")
    ] = None,
    keep_last: Annotated[
        int | None, typer.Option("--keep-last", help="Keep this many newest replicas per source database")
    ] = None,
    include_db: Annotated[
        list[str] | None,
        typer.Option(
            "--include-db",
            metavar="PATTERN",
            help=(
                "Selection: replicate only DB instances / clusters whose identifier matches one of these patterns "
                "(shell-style, e.g. 'prod-*'; repeatable). All --include-* options and --snapshot-types make ONE "
                "include rule: a snapshot must match every one of them given"
            ),
        ),
    ] = None,
    exclude_db: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-db",
            metavar="PATTERN",
            help=(
                "Selection: leave out databases matching one of these patterns (repeatable). Each --exclude-* "
                "option is its own exclude rule: a snapshot matching any of them is left out"
            ),
        ),
    ] = None,
    include_tag: Annotated[
        list[str] | None,
        typer.Option(
            "--include-tag",
            metavar="KEY[=V1,V2]",
            help=(
                "Selection: only databases with this tag, KEY (any value) or KEY=V1,V2 (one of these values, "
                "patterns); repeatable: every --include-tag must hold"
            ),
        ),
    ] = None,
    exclude_tag: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-tag",
            metavar="KEY[=V1,V2]",
            help="Selection: leave out databases with this tag (KEY or KEY=V1,V2); repeatable: any of them excludes",
        ),
    ] = None,
    include_engine: Annotated[
        list[str] | None,
        typer.Option(
            "--include-engine",
            metavar="PATTERN",
            help="Selection: only these engines (patterns, e.g. 'aurora-*', postgres; repeatable)",
        ),
    ] = None,
    exclude_engine: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-engine", metavar="PATTERN", help="Selection: leave out these engines (patterns; repeatable)"
        ),
    ] = None,
    snapshot_types: Annotated[
        list[str] | None,
        typer.Option(
            "--snapshot-types",
            metavar="TYPES",
            help="Selection: only these snapshot types, comma-separated: automated,manual,awsbackup",
        ),
    ] = None,
    exclude_snapshot_types: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-snapshot-types",
            metavar="TYPES",
            help="Selection: leave out these snapshot types (automated,manual,awsbackup)",
        ),
    ] = None,
    min_interval_hours: Annotated[
        float | None,
        typer.Option(
            "--min-interval-hours",
            metavar="HOURS",
            help="Selection: at most one replica per source database per this many hours (the first snapshot wins)",
        ),
    ] = None,
    selection_file: Annotated[
        Path | None,
        typer.Option(
            "--selection-file",
            metavar="FILE",
            exists=True,
            dir_okay=False,
            help=(
                "A YAML or JSON selection block (include / exclude rule lists, min_interval_hours), for selections "
                "the options above cannot say; not with them"
            ),
        ),
    ] = None,
    rpo_hours: Annotated[
        float | None,
        typer.Option(
            "--rpo-hours",
            metavar="HOURS",
            help="Each selected database must have a replica here younger than this (replicator coverage)",
        ),
    ] = None,
    restore_test_every_days: Annotated[
        int | None,
        typer.Option(
            "--restore-test-every-days",
            metavar="DAYS",
            callback=_restore_test_option("every_days"),
            help=(
                "Restore tests: restore each selected database's newest replica here once per DAYS days, check it, "
                "delete it (sets up restore_test; the target role must allow it: RestoreTests=allowed)"
            ),
        ),
    ] = None,
    restore_test_instance_class: Annotated[
        str | None,
        typer.Option(
            "--restore-test-instance-class",
            metavar="CLASS",
            callback=_restore_test_option("instance_class"),
            help="Restore tests: the restored database's class (absent: the smallest burstable class offered)",
        ),
    ] = None,
    restore_test_subnet_group: Annotated[
        str | None,
        typer.Option(
            "--restore-test-subnet-group",
            metavar="NAME",
            callback=_restore_test_option("subnet_group"),
            help="Restore tests: DB subnet group in the target account and region (absent: the default VPC's)",
        ),
    ] = None,
    restore_test_security_group: Annotated[
        list[str] | None,
        typer.Option(
            "--restore-test-security-group",
            metavar="SG_ID",
            callback=_restore_test_option("security_group_ids"),
            help="Restore tests: a VPC security group of the restored database, sg-... (repeatable, at most 5)",
        ),
    ] = None,
    restore_test_max_minutes: Annotated[
        float | None,
        typer.Option(
            "--restore-test-max-minutes",
            metavar="MINUTES",
            callback=_restore_test_option("max_minutes"),
            help="Restore tests: a restore not available after this many minutes fails, and is deleted (default 120)",
        ),
    ] = None,
    restore_test_database: Annotated[
        list[str] | None,
        typer.Option(
            "--restore-test-database",
            metavar="PATTERN",
            callback=_restore_test_option("databases"),
            help="Restore tests: only the selected databases matching these patterns (repeatable; default all)",
        ),
    ] = None,
    no_restore_test: Annotated[
        bool,
        typer.Option(
            "--no-restore-test",
            help=(
                "Remove the target's restore tests (without a restore-test option, a replaced target keeps its "
                "restore_test; the options change only the fields they name)"
            ),
        ),
    ] = False,
    description: Annotated[str | None, typer.Option("--description", help="Free text")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Drop the mapping's other targets")] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help=(
                "Replace a target with the same account and region without asking (required with --output json / "
                "yaml, or when stdin is not a terminal)"
            ),
        ),
    ] = False,
) -> None:
    """Only its signature is used: the target options `put` and `put-all` share (typer reads a command's options
    from its signature)."""


def _with_target_options(command: Callable[..., None]) -> Callable[..., None]:
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
    shared = list(inspect.signature(_target_options_signature, eval_str=True).parameters.values())
    command.__signature__ = inspect.Signature([*own, *shared])  # type: ignore[attr-defined]
    return command


@app.command("put")
@_with_target_options
def put(
    ctx: typer.Context,
    source_region: Annotated[
        str,
        typer.Argument(
            callback=validation.source_region, metavar="SOURCE_REGION", help="Source region, e.g. us-east-1, or '*'"
        ),
    ],
    **options: Any,
) -> None:
    """Add a target to SOURCE_REGION's mapping, or replace its target with the same account and region.

    A replaced target is replaced whole: settings not given again (retention, selection, RPO...) are dropped. The
    changes are shown and confirmed first (--yes to skip the question; required with --output json / yaml or
    without a terminal).

    Example: replicator mappings put us-east-1 --target-region us-west-2
    --kms-key-arn arn:aws:kms:us-west-2:123456789012:key/... --key-usage all --retention-days 35
    --include-db 'prod-*' --exclude-tag backup=none --rpo-hours 26
    """
    _put(ctx, source_region, TargetOptions(**options))


@app.command("put-all")
@_with_target_options
def put_all(ctx: typer.Context, **options: Any) -> None:
    """Set the mapping for all regions without their own ("*", the product's Set Mapping for All Regions)."""
    _put(ctx, ALL_REGIONS, TargetOptions(**options))


# the table's columns: (header, whether it may wrap); only the long texts wrap, so that the short ones stay whole
# within 120 columns
LIST_COLUMNS = (
    ("source\nregion", False),
    ("target\naccount", False),
    ("target\nregion", False),
    ("encryption", False),
    ("key\nusage", False),
    ("copy\ntags", False),
    ("share /\ntransfer key", False),
    ("retention", True),
    ("selection", True),
    ("rpo", False),
    ("restore\ntest", False),
)


def _caller_account() -> str | None:
    try:
        account: str = caller_account()
    except (ClientError, BotoCoreError):  # refused or unreachable: the rows go without the own account
        return None
    return account


def _list_rows(items: list[dict[str, Any]], own_account: str | None) -> list[dict[str, Any]]:
    """One row per target (the target account: the role's, else `own_account`); an invalid item as one row with
    its error."""
    rows: list[dict[str, Any]] = []
    for item in items:
        try:
            mapping = RegionMapping.model_validate(item)
        except ValidationError as error:
            rows.append({"source_region": item.get("source_region"), "error": describe_errors(error, item)})
            continue
        for target in mapping.targets:
            rows.append(
                {
                    "source_region": mapping.source_region,
                    "target_account": role_account(target.role_arn) if target.role_arn else own_account,
                    "role_arn": target.role_arn,
                    "target_region": target.target_region,
                    "encrypted": target.encryption.enabled,
                    "kms_key_arn": target.encryption.kms_key_arn,
                    "key_usage": target.encryption.key_usage.value,
                    "copy_tags": target.copy_tags,
                    "share_kms_key_arn": target.share_kms_key_arn,
                    "transfer_kms_key_arn": target.transfer_kms_key_arn,
                    "retention_days": target.retention_days,
                    "keep_last": target.keep_last,
                    "retention": target.retention.describe() if target.retention.given else None,
                    "selection": target.selection.describe() if target.selection else None,
                    "rpo_hours": target.rpo_hours,
                    "restore_test": (
                        target.restore_test.model_dump(mode="json", exclude_none=True) if target.restore_test else None
                    ),
                }
            )
    return rows


def _print_list(out: Console, title: str, rows: list[dict[str, Any]]) -> None:
    """The rows as a table within the console's width: KMS keys as "key 1", "key 2"... with their ARNs in full
    below it (copyable, never folded), and each invalid item's error below it too. The restore test column (how
    often: 7d) only when a target tests restores: without any, the table is as it was."""
    keys: dict[str, str] = {}
    columns = LIST_COLUMNS if any(row.get("restore_test") for row in rows) else LIST_COLUMNS[:-1]

    def key(arn: str | None) -> str:
        if not arn:
            return ""
        return keys.setdefault(arn, f"key {len(keys) + 1}")

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for header, wraps in columns:
        table.add_column(header, overflow="fold", no_wrap=not wraps)
    invalid: list[tuple[str, str]] = []
    for row in rows:
        if "error" in row:
            invalid.append((str(row["source_region"]), row["error"]))
            cells = [escape(str(row["source_region"])), "[red]invalid[/]", "", "(see below)"]
            table.add_row(*cells, *[""] * (len(columns) - len(cells)))
            continue
        encrypted = row["encrypted"]
        table.add_row(
            row["source_region"],
            row["target_account"] if row["role_arn"] else "this account",
            row["target_region"],
            key(row["kms_key_arn"]) if encrypted else "off",
            row["key_usage"] if encrypted else "-",
            "yes" if row["copy_tags"] else "no",
            " / ".join(key(k) for k in (row["share_kms_key_arn"], row["transfer_kms_key_arn"]) if k),
            row["retention"] or "kept",
            escape(row["selection"] or "every snapshot"),
            f"{row['rpo_hours']:g} h" if row["rpo_hours"] is not None else "-",
            *(
                [f"{row['restore_test']['every_days']}d" if row["restore_test"] else "-"]
                if columns is LIST_COLUMNS
                else []
            ),
        )
    out.print(table)
    for arn, name in keys.items():
        out.print(f"{name}: {arn}", markup=False, soft_wrap=True)
    for region, error in invalid:
        out.print(f"[red]invalid[/] {escape(region)}: {escape(error)}", soft_wrap=True)


@app.command("list")
def list_mappings(ctx: typer.Context) -> None:
    """Every mapping, one row per target: account, region, encryption and key usage, tags, keys, retention,
    selection, RPO and how often restores are tested (an invalid item as one row, its error below the table).
    --output json / yaml / csv: the rows (restore_test in full), the target account resolved for targets in this
    account."""
    cli = get_context(ctx)
    items = tables.mapping_items(cli.mapping_table)
    role_less = any(isinstance(t, dict) and not t.get("role_arn") for i in items for t in i.get("targets", []) or [])
    rows = _list_rows(items, _caller_account() if cli.machine_output and role_less else None)
    cli.emit(rows, table=lambda out: _print_list(out, f"Region mappings ({cli.mapping_table})", rows))


def _load_item(ctx: typer.Context, source_region: str) -> dict[str, Any]:
    item = tables.mapping_item(get_context(ctx).mapping_table, source_region)
    if item is None:
        raise CliError(f"no mapping for {source_region}")
    return item


@app.command("show")
def show(
    ctx: typer.Context,
    source_region: Annotated[str, typer.Argument(help="Source region, or '*'")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Deprecated: the same as --output json (kept for existing scripts)")
    ] = False,
) -> None:
    """Print one mapping item (YAML; --output json / yaml: the item alone), then the incremental bases kept for its
    targets."""
    cli = get_context(ctx)
    if as_json:
        cli.err.print("note: --json is deprecated: use --output json", markup=False)
        cli.output = OutputFormat.json
    _refuse_csv(cli, "mappings show")
    item = _plain(_load_item(ctx, source_region))

    def as_table(out: Console) -> None:
        typer.echo(yaml.safe_dump(item, sort_keys=False))
        from .status import read_bases, render_bases

        bases = read_bases(cli)
        mine = [b for b in bases or [] if source_region == ALL_REGIONS or b.lineage.split("#")[3] == source_region]
        if mine:
            out.print(render_bases(mine))

    cli.emit(item, table=as_table)


@app.command("delete")
def delete(
    ctx: typer.Context,
    source_region: Annotated[str, typer.Argument(help="Source region, or '*'")],
    target_region: Annotated[str | None, typer.Option("--target-region", help="Delete only this target")] = None,
    role_arn: Annotated[
        str | None,
        typer.Option(
            "--role-arn",
            callback=_role_arn_option,
            metavar="ARN",
            help="... in this role's account (with --target-region)",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete SOURCE_REGION's mapping, or only one of its targets."""
    cli = get_context(ctx)
    _refuse_csv(cli, "mappings delete")
    if role_arn is not None and target_region is None:
        raise typer.BadParameter("only with --target-region (the target to delete)", param_hint="'--role-arn'")
    item = _load_item(ctx, source_region)
    if target_region is None:
        cli.confirm(
            f"Delete the whole mapping of {source_region}?", f"would delete the mapping of {source_region}", yes
        )
        tables.delete_mapping(cli.mapping_table, source_region)
        result: dict[str, Any] = {
            "source_region": source_region,
            "deleted": "mapping",
            "target": None,
            "targets_left": 0,
        }
        message = f"deleted the mapping of {source_region}"
    else:
        targets = item.get("targets", [])
        kept = [t for t in targets if not _same_destination(t, role_arn, target_region)]
        wanted = _describe_target({"role_arn": role_arn, "target_region": target_region})
        if len(kept) == len(targets):
            raise CliError(f"the mapping of {source_region} has no target {wanted}")
        gone = [_plain(t) for t in targets if t not in kept]
        if kept:
            tables.put_mapping(cli.mapping_table, validate({**item, "targets": kept}))
            message = f"deleted target {target_region} from {source_region} ({len(kept)} target(s) left)"
        else:
            tables.delete_mapping(cli.mapping_table, source_region)
            message = f"deleted the last target, and so the mapping of {source_region}"
        result = {
            "source_region": source_region,
            "deleted": "target" if kept else "mapping",
            "target": gone[0] if len(gone) == 1 else gone,
            "targets_left": len(kept),
        }
    cli.emit(result, table=lambda _: cli.err.print(message, markup=False))


def _plain(item: Any) -> Any:
    """DynamoDB's Decimals and sets as plain JSON values."""
    return json.loads(json.dumps(item, default=lambda v: int(v) if float(v).is_integer() else float(v)))


@app.command("check")
def check(
    ctx: typer.Context,
    source_region: Annotated[
        str | None, typer.Argument(callback=validation.region, help="Check only this source region")
    ] = None,
) -> None:
    """Pre-flight: can each target's role be assumed, its keys used, and every database's snapshots be replicated?

    For each source region (its own mapping, or '*'), lists the databases there now and checks, per target: the
    role, the KMS key (exists in the target region, enabled, usable by the role), the share key, that each engine
    version is offered in the target region, and which databases the encryption rules would refuse. A target with
    restore tests: its role allows them (RestoreTests=allowed), its subnet group and security groups exist there,
    and the instance class (given, or the smallest offered) is offered for each tested database's engine version.
    --output json / yaml / csv: one row per check. Exit status 1 when anything would fail.
    """
    from .preflight import check_mappings

    cli = get_context(ctx)
    items = {item["source_region"]: item for item in tables.mapping_items(cli.mapping_table)}
    regions = [source_region] if source_region else [r for r in items if r != ALL_REGIONS]
    if not source_region and ALL_REGIONS in items and cli.home_region not in items:
        regions.append(cli.home_region)  # '*' is checked against the home region
    pairs = []
    for region in regions:
        item = items.get(region) or items.get(ALL_REGIONS)
        if item is None:
            raise CliError(f"no mapping for {region} and no '*' mapping")
        pairs.append((region, validate(item)))
    if not pairs:
        raise CliError("no mappings to check")
    own_account = caller_account()
    reports = check_mappings(pairs, own_account)
    rows = [
        {
            "source_region": report.source_region,
            "target_account": report.target_account,
            "target_region": report.target.target_region,
            "check": c.subject,
            "ok": c.ok,
            "detail": _with_flag_spelling(c.detail),
        }
        for report in reports
        for c in report.checks
    ]
    failed = sum(1 for row in rows if not row["ok"])

    def as_tables(out: Console) -> None:
        for report in reports:
            table = Table(title=report.label, title_justify="left")
            table.add_column("check", overflow="fold")
            table.add_column("ok")
            table.add_column("detail", overflow="fold")
            for c in report.checks:
                ok = "[green]ok[/]" if c.ok else "[red]FAIL[/]"
                table.add_row(escape(c.subject), ok, escape(_with_flag_spelling(c.detail)))
            out.print(table)

    cli.emit(rows, table=as_tables)
    if failed:
        cli.err.print(f"[red]{failed} check(s) would fail[/]")
        raise typer.Exit(1)
    cli.err.print("[green]every check passed[/]")


@app.command("export")
def export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Output file: .yaml/.yml or .json")],
) -> None:
    """Write every mapping to FILE (YAML or JSON, by extension), e.g. to keep the configuration in git."""
    cli = get_context(ctx)
    _refuse_csv(cli, "mappings export")
    items = [_plain(i) for i in tables.mapping_items(cli.mapping_table)]
    document = {"mappings": items}
    text = (
        json.dumps(document, indent=2) + "\n"
        if file.suffix.lower() == ".json"
        else yaml.safe_dump(document, sort_keys=False)
    )
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as error:
        raise AwsError(f"cannot write {file}: {error.strerror or error}") from error
    cli.emit(
        {"file": str(file), "mappings": len(items)},
        table=lambda _: cli.err.print(f"exported {len(items)} mapping(s) to {file}", markup=False),
    )


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="File written by export (YAML or JSON)")],
    prune: Annotated[bool, typer.Option("--prune", help="Also delete mappings that are not in FILE")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff, write nothing")] = False,
) -> None:
    """Validate every mapping in FILE, show the diff against the table, then write them (all or nothing).

    A file that cannot be read or parsed: exit status 3, naming the line and column; an invalid mapping: 1."""
    cli = get_context(ctx)
    _refuse_csv(cli, "mappings import")
    document = _read_document(file, "") or {}
    raw = document.get("mappings") if isinstance(document, dict) else None
    if not isinstance(raw, list):
        raise CliError(f"{file}: expected a 'mappings' list, as written by `replicator mappings export`")
    mappings: list[RegionMapping] = []
    errors = []
    for index, item in enumerate(raw):
        try:
            mappings.append(RegionMapping.model_validate(item))
        except ValidationError as error:
            region = item.get("source_region", "?") if isinstance(item, dict) else "?"
            described = describe_errors(error, item if isinstance(item, dict) else {})
            errors.append(f"  mappings[{index}] ({region}): {described}")
    regions = [m.source_region for m in mappings]
    if len(set(regions)) < len(regions):
        errors.append(
            "  two mappings for the same source region: "
            + ", ".join(sorted({r for r in regions if regions.count(r) > 1}))
        )
    if errors:
        raise CliError(f"{file} is invalid, nothing written:\n" + "\n".join(errors))
    refuse_disallowed_accounts(cli, mappings)
    current = {i["source_region"]: _plain(i) for i in tables.mapping_items(cli.mapping_table)}
    added: list[str] = []
    changed: dict[str, list[str]] = {}
    for mapping in mappings:
        new = _comparable(mapping.model_dump(mode="json", exclude_none=True))
        old = current.get(mapping.source_region)
        if old is None:
            added.append(mapping.source_region)
        elif _comparable(old) != new:
            before = yaml.safe_dump(_comparable(old), sort_keys=True).splitlines()
            after = yaml.safe_dump(new, sort_keys=True).splitlines()
            changed[mapping.source_region] = list(difflib.unified_diff(before, after, lineterm="", n=1))[2:]
    removed = [r for r in current if r not in set(regions)]
    changes = len(added) + len(changed) + (len(removed) if prune else 0)
    verbose = not cli.machine_output
    for mapping in mappings:
        region = mapping.source_region
        if verbose and region in added:
            cli.err.print(f"[green]+ {escape(region)}[/] (new, {len(mapping.targets)} target(s))")
        elif verbose and region in changed:
            cli.err.print(f"[yellow]~ {escape(region)}[/]")
            for line in changed[region]:
                cli.err.print(f"    {line}", markup=False)
    for region in removed if verbose else []:
        cli.err.print(
            f"[red]- {escape(region)}[/]" if prune else f"  {region} (not in {file}, kept; --prune deletes it)",
            markup=prune,
        )
    if not dry_run:
        for mapping in mappings:
            if mapping.source_region in added or mapping.source_region in changed:
                tables.put_mapping(cli.mapping_table, mapping)
        if prune:
            for region in removed:
                tables.delete_mapping(cli.mapping_table, region)
    result = {
        "file": str(file),
        "dry_run": dry_run,
        "changes": changes,
        "added": added,
        "changed": changed,
        "removed": removed if prune else [],
        "kept": [] if prune else removed,
    }
    summary = f"dry run: {changes} change(s), nothing written" if dry_run else f"imported {file}: {changes} change(s)"
    cli.emit(result, table=lambda _: cli.err.print(summary, markup=False))


def _comparable(item: dict[str, Any]) -> dict[str, Any]:
    """A mapping without its bookkeeping, with defaults filled in, for diffs."""
    if not item:
        return {}
    try:
        data = RegionMapping.model_validate(item).model_dump(mode="json", exclude_none=True)
    except ValidationError:
        data = dict(item)
    data.pop("updated_at", None)
    return data
