"""`replicator mappings ...`: edit, list, check, export and import region mappings (the product's Edit Region Mapping).

Every write goes through RegionMapping, the model the Lambdas read with: an invalid mapping is refused with the
field, the option to change and the fix, and nothing is written.
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from replicator.aws import tables
from replicator.history import utc_now
from replicator.mapping import ALL_REGIONS, KeyUsage, RegionMapping, account_of, describe_validation_error
from replicator.selection import Selection

from .context import CliContext, CliError, get_context

app = typer.Typer(help="Region mappings: where each source region's snapshots are replicated to.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

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
}

# the options that make the one include rule (selection.include[0]) out of the simple selection options
_INCLUDE_OPTIONS = {
    "databases": "--include-db",
    "tags": "--include-tag",
    "engines": "--include-engine",
    "snapshot_types": "--snapshot-types",
}


class KeyUsageOption(StrEnum):
    all = "all"
    encrypted_only = "encrypted-only"


def _refusal(error: ValidationError, new_target: tuple[int, dict[str, str]] | None = None) -> str:
    """The refusal, each bad field with the option that sets it. `new_target` = (index of the target the options
    made, the options of its fields made from the command's options, e.g. "selection.exclude.1" -> --exclude-tag):
    searched first, the longest field first, for that target's errors only."""
    lines = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        field = path.split(".", 2)[-1] if path.startswith("targets.") else path
        option = None
        if new_target is not None and f"{path}.".startswith(f"targets.{new_target[0]}."):
            made = sorted(new_target[1].items(), key=lambda fo: -len(fo[0]))
            option = next((o for f, o in made if field == f or field.startswith(f + ".")), None)
        if option is None:
            option = next((o for f, o in _OPTION_OF_FIELD.items() if field == f or message.startswith(f)), None)
        hint = f" (option {option})" if option else ""
        lines.append(f"  {path or 'mapping'}: {message}{hint}")
    return "invalid mapping, nothing written:\n" + "\n".join(lines)


def validate(item: dict[str, Any], new_target: tuple[int, dict[str, str]] | None = None) -> RegionMapping:
    try:
        return RegionMapping.model_validate(item)
    except ValidationError as error:
        raise CliError(_refusal(error, new_target)) from error


def _same_destination(
    target: dict[str, Any], role_arn: str | None, target_region: str, own_account: str | None = None
) -> bool:
    """Whether `target` replicates to the same account and region (no role = `own_account`, as the Lambda reads it)."""
    role = target.get("role_arn")
    same_account = (account_of(role) if role else own_account) == (account_of(role_arn) if role_arn else own_account)
    return same_account and target.get("target_region") == target_region


@dataclass(frozen=True)
class TargetOptions:
    """The options of `mappings put` and `put-all` that describe one target."""

    target_region: str
    role_arn: str | None = None
    encrypt: bool = False
    kms_key_arn: str | None = None
    key_usage: KeyUsageOption = KeyUsageOption.all
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
    description: str | None = None
    replace: bool = False

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

    def target(self, selection: dict[str, Any] | None = None) -> dict[str, Any]:
        """The target item (`selection` as made by selection())."""
        target: dict[str, Any] = {
            "target_region": self.target_region,
            "encryption": {
                "enabled": self.encrypt,
                "key_usage": KeyUsage(self.key_usage.value.replace("-", "_")).value,
            },
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


def _selection_file(file: Path) -> dict[str, Any]:
    """A `selection` block from a YAML or JSON file: the block itself, or a document with a `selection` key."""
    try:
        document = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise CliError(f"--selection-file {file}: cannot read it: {error}") from error
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
        err_console.print(
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


def _put(ctx: typer.Context, source_region: str, options: TargetOptions) -> None:
    cli = get_context(ctx)
    selection, made = options.selection()  # before anything is read: a usage error is refused first
    existing = tables.mapping_item(cli.mapping_table, source_region) or {}
    target = options.target(selection)
    current = list(existing.get("targets", []))
    # a role in this account and no role are the same account: such a target is replaced, not added beside
    own_account = boto3.client("sts").get_caller_identity()["Account"] if current else None
    replaced = [t for t in current if _same_destination(t, options.role_arn, options.target_region, own_account)]
    others = [] if options.replace else current
    kept = [t for t in others if not _same_destination(t, options.role_arn, options.target_region, own_account)]
    item: dict[str, Any] = {
        "source_region": source_region,
        "targets": [*kept, target],
        "updated_at": utc_now().isoformat(timespec="seconds"),
    }
    if options.description or existing.get("description"):
        item["description"] = options.description or existing["description"]
    mapping = validate(item, (len(kept), made))
    refuse_disallowed_accounts(cli, [mapping])
    tables.put_mapping(cli.mapping_table, mapping)
    verb = "replaced" if replaced else "added"
    where = "all regions without their own mapping" if source_region == ALL_REGIONS else source_region
    console.print(f"{verb} target {_describe_target(target)} for {where} ({len(mapping.targets)} target(s) now)")
    if replaced and (lost := _settings_lost(_plain(replaced[0]), target)):
        console.print(
            f"note: the replaced target had {'; '.join(lost)}, which the new one does not have "
            "(put it again with their options to keep them)",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )


def _settings_lost(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The settings of a replaced target that its replacement lacks (put replaces a target whole)."""
    lost = []
    if old.get("encryption", {}).get("enabled") and not new.get("encryption", {}).get("enabled"):
        lost.append(f"encryption with {old['encryption'].get('kms_key_arn')}")
    for field in ("share_kms_key_arn", "transfer_kms_key_arn", "retention_days", "keep_last", "rpo_hours"):
        if old.get(field) is not None and new.get(field) is None:
            lost.append(f"{field} {old[field]}")
    if old.get("selection") is not None and new.get("selection") is None:
        try:
            described = Selection.model_validate(old["selection"]).describe()
        except ValidationError:
            described = json.dumps(old["selection"])
        lost.append(f"selection ({described})")
    return lost


def _describe_target(target: dict[str, Any]) -> str:
    account = account_of(target["role_arn"]) if target.get("role_arn") else "this account"
    return f"{account} / {target.get('target_region')}"


def _target_options_signature(
    target_region: Annotated[str, typer.Option("--target-region", help="Region of the replicas")],
    role_arn: Annotated[
        str | None, typer.Option("--role-arn", help="IAM role in the target account (absent: this account)")
    ] = None,
    encrypt: Annotated[
        bool, typer.Option("--encrypt/--no-encrypt", help="Encrypt replicas with --kms-key-arn")
    ] = False,
    kms_key_arn: Annotated[str | None, typer.Option("--kms-key-arn", help="KMS key ARN in the target region")] = None,
    key_usage: Annotated[
        KeyUsageOption,
        typer.Option(
            "--key-usage", help="all: encrypt every replica; encrypted-only: only replicas of encrypted sources"
        ),
    ] = KeyUsageOption.all,
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
    description: Annotated[str | None, typer.Option("--description", help="Free text")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Drop the mapping's other targets")] = False,
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
    source_region: Annotated[str, typer.Argument(help="Source region, e.g. us-east-1")],
    **options: Any,
) -> None:
    """Add a target to SOURCE_REGION's mapping, or replace its target with the same account and region.

    A replaced target is replaced whole: settings not given again (retention, selection, RPO...) are dropped, and
    the output names them.

    Example: replicator mappings put us-east-1 --target-region us-west-2 --encrypt
    --kms-key-arn arn:aws:kms:us-west-2:123456789012:key/... --key-usage all --retention-days 35
    --include-db 'prod-*' --exclude-tag backup=none --rpo-hours 26
    """
    _put(ctx, source_region, TargetOptions(**options))


@app.command("put-all")
@_with_target_options
def put_all(ctx: typer.Context, **options: Any) -> None:
    """Set the mapping for all regions without their own ("*", the product's Set Mapping for All Regions)."""
    _put(ctx, ALL_REGIONS, TargetOptions(**options))


@app.command("list")
def list_mappings(ctx: typer.Context) -> None:
    """A table of every mapping, one row per target (invalid items are shown with their error), with each target's
    selection and RPO."""
    cli = get_context(ctx)
    table = Table(title=f"Region mappings ({cli.mapping_table})")
    columns = (
        "source region",
        "target account",
        "target region",
        "encryption",
        "copy tags",
        "share / transfer key",
        "retention",
        "selection",
        "rpo",
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    for item in tables.mapping_items(cli.mapping_table):
        try:
            mapping = RegionMapping.model_validate(item)
        except ValidationError as error:
            table.add_row(
                str(item.get("source_region")),
                "[red]invalid[/]",
                "",
                describe_validation_error(error),
                *[""] * (len(columns) - 4),
            )
            continue
        for target in mapping.targets:
            encryption = "off"
            if target.encryption.enabled:
                encryption = f"{target.encryption.kms_key_arn} ({target.encryption.key_usage.value})"
            table.add_row(
                mapping.source_region,
                account_of(target.role_arn) if target.role_arn else "this account",
                target.target_region,
                encryption,
                "yes" if target.copy_tags else "no",
                " / ".join(k for k in (target.share_kms_key_arn, target.transfer_kms_key_arn) if k),
                target.retention.describe() if target.retention.given else "kept",
                escape(target.selection.describe()) if target.selection else "every snapshot",
                f"{target.rpo_hours:g} h" if target.rpo_hours is not None else "-",
            )
    console.print(table)


def _load_item(ctx: typer.Context, source_region: str) -> dict[str, Any]:
    item = tables.mapping_item(get_context(ctx).mapping_table, source_region)
    if item is None:
        raise CliError(f"no mapping for {source_region}")
    return item


@app.command("show")
def show(
    ctx: typer.Context,
    source_region: Annotated[str, typer.Argument(help="Source region, or '*'")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of YAML")] = False,
) -> None:
    """Print one mapping item (YAML, or JSON with --json), then the incremental bases kept for its targets."""
    item = _plain(_load_item(ctx, source_region))
    typer.echo(json.dumps(item, indent=2) if as_json else yaml.safe_dump(item, sort_keys=False))
    if as_json:
        return
    from .status import read_bases, render_bases

    bases = read_bases(get_context(ctx))
    mine = [b for b in bases or [] if source_region == ALL_REGIONS or b.lineage.split("#")[3] == source_region]
    if mine:
        console.print(render_bases(mine))


@app.command("delete")
def delete(
    ctx: typer.Context,
    source_region: Annotated[str, typer.Argument(help="Source region, or '*'")],
    target_region: Annotated[str | None, typer.Option("--target-region", help="Delete only this target")] = None,
    role_arn: Annotated[
        str | None, typer.Option("--role-arn", help="... in this account (with --target-region)")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete SOURCE_REGION's mapping, or only one of its targets."""
    cli = get_context(ctx)
    item = _load_item(ctx, source_region)
    if target_region is None:
        if not yes:
            typer.confirm(f"Delete the whole mapping of {source_region}?", abort=True)
        tables.delete_mapping(cli.mapping_table, source_region)
        console.print(f"deleted the mapping of {source_region}")
        return
    targets = item.get("targets", [])
    kept = [t for t in targets if not _same_destination(t, role_arn, target_region)]
    if len(kept) == len(targets):
        wanted = _describe_target({"role_arn": role_arn, "target_region": target_region})
        raise CliError(f"the mapping of {source_region} has no target {wanted}")
    if not kept:
        tables.delete_mapping(cli.mapping_table, source_region)
        console.print(f"deleted the last target, and so the mapping of {source_region}")
        return
    tables.put_mapping(cli.mapping_table, validate({**item, "targets": kept}))
    console.print(f"deleted target {target_region} from {source_region} ({len(kept)} target(s) left)")


def _plain(item: Any) -> Any:
    """DynamoDB's Decimals and sets as plain JSON values."""
    return json.loads(json.dumps(item, default=lambda v: int(v) if float(v).is_integer() else float(v)))


@app.command("check")
def check(
    ctx: typer.Context,
    source_region: Annotated[str | None, typer.Argument(help="Check only this source region")] = None,
) -> None:
    """Pre-flight: can each target's role be assumed, its keys used, and every database's snapshots be replicated?

    For each source region (its own mapping, or '*'), lists the databases there now and checks, per target: the
    role, the KMS key (exists in the target region, enabled, usable by the role), the share key, that each engine
    version is offered in the target region, and which databases the encryption rules would refuse.
    Exit status 1 when anything would fail.
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
    own_account = boto3.client("sts").get_caller_identity()["Account"]
    reports = check_mappings(pairs, own_account)
    failed = 0
    for report in reports:
        table = Table(title=report.label, title_justify="left")
        table.add_column("check")
        table.add_column("ok")
        table.add_column("detail", overflow="fold")
        for c in report.checks:
            table.add_row(c.subject, "[green]ok[/]" if c.ok else "[red]FAIL[/]", c.detail)
            failed += 0 if c.ok else 1
        console.print(table)
    if failed:
        console.print(f"[red]{failed} check(s) would fail[/]")
        raise typer.Exit(1)
    console.print("[green]every check passed[/]")


@app.command("export")
def export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Output file: .yaml/.yml or .json")],
) -> None:
    """Write every mapping to FILE (YAML or JSON, by extension), e.g. to keep the configuration in git."""
    items = [_plain(i) for i in tables.mapping_items(get_context(ctx).mapping_table)]
    document = {"mappings": items}
    text = (
        json.dumps(document, indent=2) + "\n" if file.suffix == ".json" else yaml.safe_dump(document, sort_keys=False)
    )
    file.write_text(text)
    console.print(f"exported {len(items)} mapping(s) to {file}")


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="File written by export (YAML or JSON)")],
    prune: Annotated[bool, typer.Option("--prune", help="Also delete mappings that are not in FILE")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff, write nothing")] = False,
) -> None:
    """Validate every mapping in FILE, show the diff against the table, then write them (all or nothing)."""
    cli = get_context(ctx)
    document = yaml.safe_load(file.read_text()) or {}
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
            errors.append(f"  mappings[{index}] ({region}): {describe_validation_error(error)}")
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
    changes = 0
    for mapping in mappings:
        new = _comparable(mapping.model_dump(mode="json", exclude_none=True))
        old = current.get(mapping.source_region)
        if old is None:
            console.print(f"[green]+ {mapping.source_region}[/] (new, {len(mapping.targets)} target(s))")
        elif _comparable(old) != new:
            console.print(f"[yellow]~ {mapping.source_region}[/]")
            before = yaml.safe_dump(_comparable(old), sort_keys=True).splitlines()
            after = yaml.safe_dump(new, sort_keys=True).splitlines()
            for line in list(difflib.unified_diff(before, after, lineterm="", n=1))[2:]:
                console.print(f"    {line}", markup=False, highlight=False)
        else:
            continue
        changes += 1
    removed = [r for r in current if r not in set(regions)]
    for region in removed:
        console.print(f"[red]- {region}[/]" if prune else f"  {region} (not in {file}, kept; --prune deletes it)")
    changes += len(removed) if prune else 0
    if dry_run:
        console.print(f"dry run: {changes} change(s), nothing written")
        return
    for mapping in mappings:
        if _comparable(mapping.model_dump(mode="json", exclude_none=True)) != _comparable(
            current.get(mapping.source_region) or {}
        ):
            tables.put_mapping(cli.mapping_table, mapping)
    if prune:
        for region in removed:
            tables.delete_mapping(cli.mapping_table, region)
    console.print(f"imported {file}: {changes} change(s)")


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
