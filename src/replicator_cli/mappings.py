"""`replicator mappings ...`: edit, list, check, export and import region mappings (the product's Edit Region Mapping).

Every write goes through RegionMapping, the model the Lambdas read with: an invalid mapping is refused with the
target, the field, the option to change and the fix, and nothing is written (mapping_refusals.py). Option values the
AWS CLI would refuse (a region botocore does not know, a role ARN that is not one) are refused at the door as usage
errors, exit 2 (mapping_options.py, the options of put and put-all); what replacing a target changes is shown first
(mapping_changes.py).

Results go to stdout in the global --output format (cli.emit); confirmations, notes and warnings to stderr, so that
`-o json` prints only the result.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from replicator.aws.dynamodb import region_mappings
from replicator.aws.sessions import caller_account
from replicator.history import utc_now
from replicator.mapping import ALL_REGIONS, RegionMapping, destination

from . import validation
from .context import AwsError, CliContext, CliError, OutputFormat, get_context
from .mapping_changes import TargetDiff, comparable, confirm_replacement, plain, settings_lost
from .mapping_options import TargetOptions, read_document, role_arn_option, with_target_options
from .mapping_refusals import (
    describe_errors,
    describe_target,
    refuse_disallowed_accounts,
    same_destination,
    validate,
    warn_role_name_prefix,
    with_flag_spelling,
)

app = typer.Typer(help="Region mappings: where each source region's snapshots are replicated to.", no_args_is_help=True)


def _refuse_csv(cli: CliContext, command: str) -> None:
    """--output csv is for results that are rows: refused before anything is read or written."""
    if cli.output is OutputFormat.csv:
        raise typer.BadParameter(
            f"csv is for results that are rows (mappings list, mappings check); use json or yaml with {command}",
            param_hint="'--output'",
        )


# --- put -----------------------------------------------------------------------------------------------------------


def _put(ctx: typer.Context, source_region: str, options: TargetOptions) -> None:
    cli = get_context(ctx)
    _refuse_csv(cli, "mappings put")
    options = options.with_encryption(cli)
    options.check_restore_test_options()
    selection, made = options.selection()  # before anything is read: a usage error is refused first
    existing = region_mappings.mapping_item(cli.mapping_table, source_region) or {}
    current = list(existing.get("targets", []))
    # a role in this account and no role are the same account: such a target is replaced, not added beside
    own_account = caller_account() if current else None
    replaced = [t for t in current if same_destination(t, options.role_arn, options.target_region, own_account)]
    described = describe_target({"role_arn": options.role_arn, "target_region": options.target_region})
    restore_test, restore_made = options.restore_test(replaced[0].get("restore_test") if replaced else None, described)
    target = options.target(selection, plain(restore_test) if restore_test is not None else None)
    others = [] if options.replace else current
    kept = [t for t in others if not same_destination(t, options.role_arn, options.target_region, own_account)]
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
    old = plain(replaced[0]) if replaced else None
    diff = TargetDiff.between(old, written) if old is not None else TargetDiff()
    if diff:
        confirm_replacement(cli, f"{describe_target(target)} of {where}", diff, options.yes)

    region_mappings.put_mapping(cli.mapping_table, mapping)

    verb = "replaced" if replaced else "added"
    lost = settings_lost(old, target) if old is not None else []

    def confirmation(_: Console) -> None:
        cli.err.print(
            f"{verb} target {describe_target(target)} for {where} ({len(mapping.targets)} target(s) now)",
            markup=False,
        )
        if removed:
            dropped_targets = ", ".join(describe_target(t) for t in removed)
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
            "removed_targets": [plain(t) for t in removed],
            "targets": len(mapping.targets),
        },
        table=confirmation,
    )


@app.command("put")
@with_target_options
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
@with_target_options
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
                    "target_account": destination(target.role_arn, target.target_region, own_account)[0],
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
    items = region_mappings.mapping_items(cli.mapping_table)
    role_less = any(isinstance(t, dict) and not t.get("role_arn") for i in items for t in i.get("targets", []) or [])
    rows = _list_rows(items, _caller_account() if cli.machine_output and role_less else None)
    cli.emit(rows, table=lambda out: _print_list(out, f"Region mappings ({cli.mapping_table})", rows))


def _load_item(ctx: typer.Context, source_region: str) -> dict[str, Any]:
    item = region_mappings.mapping_item(get_context(ctx).mapping_table, source_region)
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
    item = plain(_load_item(ctx, source_region))

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
            callback=role_arn_option,
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
        region_mappings.delete_mapping(cli.mapping_table, source_region)
        result: dict[str, Any] = {
            "source_region": source_region,
            "deleted": "mapping",
            "target": None,
            "targets_left": 0,
        }
        message = f"deleted the mapping of {source_region}"
    else:
        targets = item.get("targets", [])
        kept = [t for t in targets if not same_destination(t, role_arn, target_region)]
        wanted = describe_target({"role_arn": role_arn, "target_region": target_region})
        if len(kept) == len(targets):
            raise CliError(f"the mapping of {source_region} has no target {wanted}")
        gone = [plain(t) for t in targets if t not in kept]
        if kept:
            region_mappings.put_mapping(cli.mapping_table, validate({**item, "targets": kept}))
            message = f"deleted target {target_region} from {source_region} ({len(kept)} target(s) left)"
        else:
            region_mappings.delete_mapping(cli.mapping_table, source_region)
            message = f"deleted the last target, and so the mapping of {source_region}"
        result = {
            "source_region": source_region,
            "deleted": "target" if kept else "mapping",
            "target": gone[0] if len(gone) == 1 else gone,
            "targets_left": len(kept),
        }
    cli.emit(result, table=lambda _: cli.err.print(message, markup=False))


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
    items = {item["source_region"]: item for item in region_mappings.mapping_items(cli.mapping_table)}
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
            "detail": with_flag_spelling(c.detail),
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
                table.add_row(escape(c.subject), ok, escape(with_flag_spelling(c.detail)))
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
    items = [plain(i) for i in region_mappings.mapping_items(cli.mapping_table)]
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
    document = read_document(file, "") or {}
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
    current = {i["source_region"]: plain(i) for i in region_mappings.mapping_items(cli.mapping_table)}
    added: list[str] = []
    changed: dict[str, list[str]] = {}
    for mapping in mappings:
        new = comparable(mapping.model_dump(mode="json", exclude_none=True))
        old = current.get(mapping.source_region)
        if old is None:
            added.append(mapping.source_region)
        elif comparable(old) != new:
            before = yaml.safe_dump(comparable(old), sort_keys=True).splitlines()
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
                region_mappings.put_mapping(cli.mapping_table, mapping)
        if prune:
            for region in removed:
                region_mappings.delete_mapping(cli.mapping_table, region)
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
