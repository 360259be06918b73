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
from rich.table import Table

from replicator.aws import tables
from replicator.history import utc_now
from replicator.mapping import ALL_REGIONS, KeyUsage, RegionMapping, account_of, describe_validation_error

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
}


class KeyUsageOption(StrEnum):
    all = "all"
    encrypted_only = "encrypted-only"


def _refusal(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        field = path.split(".", 2)[-1] if path.startswith("targets.") else path
        option = next((o for f, o in _OPTION_OF_FIELD.items() if field == f or message.startswith(f)), None)
        hint = f" (option {option})" if option else ""
        lines.append(f"  {path or 'mapping'}: {message}{hint}")
    return "invalid mapping, nothing written:\n" + "\n".join(lines)


def validate(item: dict[str, Any]) -> RegionMapping:
    try:
        return RegionMapping.model_validate(item)
    except ValidationError as error:
        raise CliError(_refusal(error)) from error


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
    description: str | None = None
    replace: bool = False

    def target(self) -> dict[str, Any]:
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
        }
        target.update({k: v for k, v in optional.items() if v is not None})
        return target


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
    existing = tables.mapping_item(cli.mapping_table, source_region) or {}
    target = options.target()
    others = [] if options.replace else list(existing.get("targets", []))
    # a role in this account and no role are the same account: such a target is replaced, not added beside
    own_account = boto3.client("sts").get_caller_identity()["Account"] if others else None
    kept = [t for t in others if not _same_destination(t, options.role_arn, options.target_region, own_account)]
    item: dict[str, Any] = {
        "source_region": source_region,
        "targets": [*kept, target],
        "updated_at": utc_now().isoformat(timespec="seconds"),
    }
    if options.description or existing.get("description"):
        item["description"] = options.description or existing["description"]
    mapping = validate(item)
    refuse_disallowed_accounts(cli, [mapping])
    tables.put_mapping(cli.mapping_table, mapping)
    verb = "replaced" if len(kept) < len(others) else "added"
    where = "all regions without their own mapping" if source_region == ALL_REGIONS else source_region
    console.print(f"{verb} target {_describe_target(target)} for {where} ({len(mapping.targets)} target(s) now)")


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

    Example: replicator mappings put us-east-1 --target-region us-west-2 --encrypt
    --kms-key-arn arn:aws:kms:us-west-2:123456789012:key/... --key-usage all --retention-days 35
    """
    _put(ctx, source_region, TargetOptions(**options))


@app.command("put-all")
@_with_target_options
def put_all(ctx: typer.Context, **options: Any) -> None:
    """Set the mapping for all regions without their own ("*", the product's Set Mapping for All Regions)."""
    _put(ctx, ALL_REGIONS, TargetOptions(**options))


@app.command("list")
def list_mappings(ctx: typer.Context) -> None:
    """A table of every mapping, one row per target (invalid items are shown with their error)."""
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
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    for item in tables.mapping_items(cli.mapping_table):
        try:
            mapping = RegionMapping.model_validate(item)
        except ValidationError as error:
            table.add_row(
                str(item.get("source_region")), "[red]invalid[/]", "", describe_validation_error(error), "", "", ""
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
