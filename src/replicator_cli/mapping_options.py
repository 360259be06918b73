"""The options of `mappings put` and `put-all` that describe one target: each declared once (TargetOptions' fields
are the commands' options), checked at the door (usage errors, exit 2, before anything is read), and made into the
target item that the mapping's validation then checks whole."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from replicator.mapping import ROLE_ARN, KeyUsage
from replicator.restore_testing import RestoreTest

from . import validation
from .context import AwsError, CliContext, CliError
from .mapping_refusals import DEFAULT_ROLE_NAME_PREFIX, RESTORE_TEST_OPTIONS

# the options that make the one include rule (selection.include[0]) out of the simple selection options
_INCLUDE_OPTIONS = {
    "databases": "--include-db",
    "tags": "--include-tag",
    "engines": "--include-engine",
    "snapshot_types": "--snapshot-types",
}


def role_arn_option(value: str | None) -> str | None:
    """--role-arn: an IAM role ARN (typer callback; a usage error otherwise, before anything is read)."""
    if value is None or ROLE_ARN.match(value):
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


def _option(*declarations: str, **settings: Any) -> dict[str, Any]:
    """A TargetOptions field's metadata: the commands' option that gives it (with_target_options reads it)."""
    return {"option": typer.Option(*declarations, **settings)}


def _restore_test(field: str, metavar: str, help: str) -> dict[str, Any]:
    """A restore-test option: named in RESTORE_TEST_OPTIONS, its value checked by the RestoreTest model."""
    return _option(RESTORE_TEST_OPTIONS[field], metavar=metavar, callback=_restore_test_option(field), help=help)


def _attribute(field: str) -> str:
    """The TargetOptions attribute of a restore_test field (its option's name)."""
    return RESTORE_TEST_OPTIONS[field].removeprefix("--").replace("-", "_")


@dataclass(frozen=True)
class TargetOptions:
    """The options of `mappings put` and `put-all` that describe one target (with_target_options makes them the
    commands' options, in this order)."""

    target_region: str = dataclasses.field(
        metadata=_option(
            "--target-region",
            callback=validation.region,
            metavar="REGION",
            help="Region of the replicas (an AWS region with RDS)",
        )
    )
    role_arn: str | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--role-arn",
            callback=role_arn_option,
            metavar="ARN",
            help=(
                "IAM role in the target account, arn:aws:iam::ACCOUNT:role/NAME, NAME starting with the stack's "
                "TargetRoleNamePrefix (absent: this account)"
            ),
        ),
    )
    encrypt: bool | None = dataclasses.field(  # None: not given (--kms-key-arn turns it on)
        default=None,
        metadata=_option(
            "--encrypt/--no-encrypt",
            show_default=False,
            help="Encrypt replicas with --kms-key-arn (given a key, on; --no-encrypt with a key is refused)",
        ),
    )
    kms_key_arn: str | None = dataclasses.field(
        default=None,
        metadata=_option("--kms-key-arn", metavar="ARN", help="KMS key ARN in the target region; implies --encrypt"),
    )
    key_usage: str = dataclasses.field(  # a KeyUsage once read (the callback makes it one)
        default="all",
        metadata=_option(
            "--key-usage",
            metavar="[all|encrypted-only]",
            callback=_key_usage_option,
            help="all: encrypt every replica; encrypted-only (or encrypted_only): only replicas of encrypted sources",
        ),
    )
    copy_tags: bool = dataclasses.field(
        default=True, metadata=_option("--copy-tags/--no-copy-tags", help="Copy the source snapshot's tags")
    )
    share_kms_key_arn: str | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--share-kms-key-arn",
            help="Cross-account: customer managed key in the source account and region, usable by the target account",
        ),
    )
    transfer_kms_key_arn: str | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--transfer-kms-key-arn",
            help=(
                "Cross-account, another region: customer managed key of the source account in the target region, "
                "usable by the target account; automated, AWS Backup and aws/rds snapshots then cross regions "
                "incrementally"
            ),
        ),
    )
    retention_days: int | None = dataclasses.field(
        default=None, metadata=_option("--retention-days", help="Delete replicas older than this (replicator prune)")
    )
    keep_last: int | None = dataclasses.field(
        default=None, metadata=_option("--keep-last", help="Keep this many newest replicas per source database")
    )
    include_db: list[str] | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--include-db",
            metavar="PATTERN",
            help=(
                "Selection: replicate only DB instances / clusters whose identifier matches one of these patterns "
                "(shell-style, e.g. 'prod-*'; repeatable). All --include-* options and --snapshot-types make ONE "
                "include rule: a snapshot must match every one of them given"
            ),
        ),
    )
    exclude_db: list[str] | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--exclude-db",
            metavar="PATTERN",
            help=(
                "Selection: leave out databases matching one of these patterns (repeatable). Each --exclude-* "
                "option is its own exclude rule: a snapshot matching any of them is left out"
            ),
        ),
    )
    include_tag: list[str] | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--include-tag",
            metavar="KEY[=V1,V2]",
            help=(
                "Selection: only databases with this tag, KEY (any value) or KEY=V1,V2 (one of these values, "
                "patterns); repeatable: every --include-tag must hold"
            ),
        ),
    )
    exclude_tag: list[str] | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--exclude-tag",
            metavar="KEY[=V1,V2]",
            help="Selection: leave out databases with this tag (KEY or KEY=V1,V2); repeatable: any of them excludes",
        ),
    )
    include_engine: list[str] | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--include-engine",
            metavar="PATTERN",
            help="Selection: only these engines (patterns, e.g. 'aurora-*', postgres; repeatable)",
        ),
    )
    exclude_engine: list[str] | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--exclude-engine", metavar="PATTERN", help="Selection: leave out these engines (patterns; repeatable)"
        ),
    )
    snapshot_types: list[str] | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--snapshot-types",
            metavar="TYPES",
            help="Selection: only these snapshot types, comma-separated: automated,manual,awsbackup",
        ),
    )
    exclude_snapshot_types: list[str] | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--exclude-snapshot-types",
            metavar="TYPES",
            help="Selection: leave out these snapshot types (automated,manual,awsbackup)",
        ),
    )
    min_interval_hours: float | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--min-interval-hours",
            metavar="HOURS",
            help="Selection: at most one replica per source database per this many hours (the first snapshot wins)",
        ),
    )
    selection_file: Path | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--selection-file",
            metavar="FILE",
            exists=True,
            dir_okay=False,
            help=(
                "A YAML or JSON selection block (include / exclude rule lists, min_interval_hours), for selections "
                "the options above cannot say; not with them"
            ),
        ),
    )
    rpo_hours: float | None = dataclasses.field(
        default=None,
        metadata=_option(
            "--rpo-hours",
            metavar="HOURS",
            help="Each selected database must have a replica here younger than this (replicator coverage)",
        ),
    )
    restore_test_every_days: int | None = dataclasses.field(
        default=None,
        metadata=_restore_test(
            "every_days",
            "DAYS",
            "Restore tests: restore each selected database's newest replica here once per DAYS days, check it, "
            "delete it (sets up restore_test; the target role must allow it: RestoreTests=allowed)",
        ),
    )
    restore_test_instance_class: str | None = dataclasses.field(
        default=None,
        metadata=_restore_test(
            "instance_class",
            "CLASS",
            "Restore tests: the restored database's class (absent: the smallest burstable class offered)",
        ),
    )
    restore_test_subnet_group: str | None = dataclasses.field(
        default=None,
        metadata=_restore_test(
            "subnet_group",
            "NAME",
            "Restore tests: DB subnet group in the target account and region (absent: the default VPC's)",
        ),
    )
    restore_test_security_group: list[str] | None = dataclasses.field(
        default=None,
        metadata=_restore_test(
            "security_group_ids",
            "SG_ID",
            "Restore tests: a VPC security group of the restored database, sg-... (repeatable, at most 5)",
        ),
    )
    restore_test_max_minutes: float | None = dataclasses.field(
        default=None,
        metadata=_restore_test(
            "max_minutes",
            "MINUTES",
            "Restore tests: a restore not available after this many minutes fails, and is deleted (default 120)",
        ),
    )
    restore_test_database: list[str] | None = dataclasses.field(
        default=None,
        metadata=_restore_test(
            "databases",
            "PATTERN",
            "Restore tests: only the selected databases matching these patterns (repeatable; default all)",
        ),
    )
    no_restore_test: bool = dataclasses.field(
        default=False,
        metadata=_option(
            "--no-restore-test",
            help=(
                "Remove the target's restore tests (without a restore-test option, a replaced target keeps its "
                "restore_test; the options change only the fields they name)"
            ),
        ),
    )
    description: str | None = dataclasses.field(default=None, metadata=_option("--description", help="Free text"))
    replace: bool = dataclasses.field(
        default=False, metadata=_option("--replace", help="Drop the mapping's other targets")
    )
    yes: bool = dataclasses.field(
        default=False,
        metadata=_option(
            "--yes",
            "-y",
            help=(
                "Replace a target with the same account and region without asking (required with --output json / "
                "yaml, or when stdin is not a terminal)"
            ),
        ),
    )

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
        for field in RESTORE_TEST_OPTIONS:
            value = getattr(self, _attribute(field))
            if value is not None and value != []:
                given[field] = list(value) if isinstance(value, list) else value
        return given

    def check_restore_test_options(self) -> None:
        """--no-restore-test with an option that sets a restore-test field: a usage error (before anything is read)."""
        if self.no_restore_test and (given := self.restore_test_given()):
            options = ", ".join(RESTORE_TEST_OPTIONS[f] for f in given)
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
            options = ", ".join(RESTORE_TEST_OPTIONS[f] for f in given)
            raise typer.BadParameter(
                f"target {described} has no restore test to change with {options}: add --restore-test-every-days N "
                "(how often each database's newest replica is restored, e.g. 7) to set one up",
                param_hint="'--restore-test-every-days'",
            )
        made = {f"restore_test.{f}": RESTORE_TEST_OPTIONS[f] for f in given}
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


def _tag_match(text: str) -> dict[str, Any]:
    """KEY (any value) or KEY=V1[,V2...] (one of these values, shell-style patterns) as a tag match."""
    key, has_values, values = text.partition("=")
    return {"key": key.strip(), "values": [v.strip() for v in values.split(",")] if has_values else []}


def _types(texts: list[str]) -> list[str]:
    """--snapshot-types automated,manual (and/or repeated) as a list of types."""
    return [t.strip() for text in texts for t in text.split(",") if t.strip()]


def read_document(file: Path, what: str) -> Any:
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
    document = read_document(file, "--selection-file: ")
    if isinstance(document, dict) and set(document) == {"selection"}:
        document = document["selection"]
    if not isinstance(document, dict):
        raise CliError(
            f"--selection-file {file}: expected a selection (a mapping with include / exclude / min_interval_hours)"
        )
    return document


def with_target_options(command: Callable[..., None]) -> Callable[..., None]:
    """`command` (its own parameters and **options) with TargetOptions' fields as its options: typer reads a
    command's options from its signature."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
    types = typing.get_type_hints(TargetOptions)
    shared = [
        inspect.Parameter(
            field.name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default,
            annotation=Annotated[types[field.name], field.metadata["option"]],
        )
        for field in dataclasses.fields(TargetOptions)
    ]
    command.__signature__ = inspect.Signature([*own, *shared])  # type: ignore[attr-defined]
    return command
