"""`replicator prune`: delete (or, with --dry-run, list) replicas outside their mapping target's retention, and
the transfer bases no mapping target copies against any more."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from replicator.aws import rds
from replicator.aws.dynamodb import region_mappings
from replicator.aws.sessions import RoleNotAssumable, caller_account
from replicator.mapping import ALL_REGIONS, RegionMapping, parse_mapping_item
from replicator.retention import RetentionRule
from replicator.settings import Settings
from replicator.usecases.prune import PruneReport, PruneResult, prune_replicas

from .context import CliError, OutputFormat, get_context


@dataclass
class Examined:
    """One account and region where mapping targets with a retention put replicas: the rules that apply there (by
    source region, "*" for the mapping of every other region) and how many replicas they were applied to."""

    account: str
    region: str
    role_arn: str | None
    rules: dict[str, RetentionRule] = field(default_factory=dict)
    replicas: int | None = None  # None: the replicas could not be listed (the prune reports why)

    @property
    def where(self) -> str:
        return f"{self.account}/{self.region}"

    def rules_text(self) -> str:
        return ", ".join(f"{rule.describe()} (mapping {source})" for source, rule in sorted(self.rules.items()))

    def as_data(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "region": self.region,
            "replicas": self.replicas,
            "rules": [
                {"source_region": source, **rule.model_dump(exclude_none=True), "rule": rule.describe()}
                for source, rule in sorted(self.rules.items())
            ],
        }


def examine(mapping_table: str, own_account: str) -> list[Examined]:
    """Where the mapping targets with a retention put replicas, their rules, and how many replicas the replicator
    made from a source those rules cover are there: what the prune looks at (as the prune does, nothing is examined
    under an invalid mapping: the prune reports it)."""
    mappings: dict[str, RegionMapping] = {}
    invalid: set[str] = set()
    for item in region_mappings.mapping_items(mapping_table):
        try:
            mapping = parse_mapping_item(item)
        except ValidationError:
            invalid.add(str(item.get("source_region")))
            continue
        mappings[mapping.source_region] = mapping
    places: dict[tuple[str, str], Examined] = {}
    for mapping in mappings.values():
        for target in mapping.targets:
            if target.retention.given:
                key = (target.account_id(own_account), target.target_region)
                place = places.setdefault(key, Examined(key[0], key[1], target.role_arn))
                place.rules[mapping.source_region] = target.retention
    for place in places.values():
        try:
            listed = rds.list_replicas(place.region, place.role_arn)
        except (RoleNotAssumable, ClientError):  # an AWS refusal
            continue  # the prune lists them again, and reports why it cannot
        place.replicas = sum(
            1 for r in listed if r.made_by_replicator and _ruled_by(r.source_region, mappings, invalid) in place.rules
        )
    return sorted(places.values(), key=lambda p: (p.account, p.region))


def _ruled_by(region: str | None, mappings: dict[str, RegionMapping], invalid: set[str]) -> str | None:
    """The mapping whose targets' rules apply to the replicas of `region`: its own, else "*" (None: an invalid one)."""
    if region is None or region in invalid:
        return None
    if region in mappings:
        return region
    return None if ALL_REGIONS in invalid else ALL_REGIONS


def examined_line(places: list[Examined]) -> str:
    """What the prune looked at, in a sentence: how many replicas, where, by which rule (of which mapping)."""
    if not places:
        return "no mapping target sets a retention (retention_days, keep_last): no replica examined"
    counted = sum(p.replicas or 0 for p in places)
    where = "; ".join(
        f"{p.where}, {p.replicas if p.replicas is not None else '?'} replica(s) by {p.rules_text()}" for p in places
    )
    return f"examined {counted} replica(s) in {len(places)} account/region(s): {where}"


def _done(result: PruneResult, dry_run: bool) -> str:
    if result.error:
        return f"not deleted: {result.error}"
    return "would delete" if dry_run else ("deleted" if result.deleted else "kept")


def _name_and_place(arn: str) -> str:
    """A snapshot ARN as its name, and under it (dim) its account and region: the table stays within 120 columns
    (--output json gives the ARNs)."""
    parts = arn.split(":", 6)
    if len(parts) < 7:
        return escape(arn)
    return f"{escape(parts[6])}\n[dim]{parts[4]}/{parts[3]}[/]"


def render(report: PruneReport, dry_run: bool) -> Table:
    title = "Replicas outside their retention" + (" (dry run: nothing deleted)" if dry_run else "")
    table = Table(title=title, title_justify="left")
    table.add_column("replica [dim](account/region)[/]", overflow="fold", max_width=40)
    table.add_column("source snapshot", overflow="fold", max_width=32)
    table.add_column("created", no_wrap=True)
    table.add_column("why", overflow="fold")
    table.add_column("done", overflow="fold")
    for result in report.results:
        done = escape(_done(result, dry_run))
        why = f"unused base: {result.reason}" if result.what == "base" else result.reason
        table.add_row(
            _name_and_place(result.replica_arn),
            _name_and_place(result.source_arn) if result.source_arn else "-",
            result.created_at.strftime("%Y-%m-%d %H:%M"),
            escape(why),
            f"[red]{done}[/]" if result.error else done,
        )
    return table


def _row(result: PruneResult, dry_run: bool) -> dict[str, Any]:
    return {**result.model_dump(mode="json"), "done": _done(result, dry_run)}


def prune(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted, delete nothing")] = False,
) -> None:
    """Delete the replicas outside their mapping target's retention (retention_days, keep_last), and the transfer
    bases no mapping target copies against any more (its target removed, its transfer key changed).

    Does what the scheduled prune function does; only snapshots the replicator made (its tags and its history) are
    ever deleted. Says what it examined: how many replicas, in which accounts and regions, by which rule.

    --output json / yaml: what was examined, and each replica deleted (or that would be); csv: one row each.

    Example: replicator prune --dry-run
    """
    cli = get_context(ctx)
    try:
        slots_table = cli.slots_table
    except CliError:
        slots_table = ""  # tables given by name without --slots-table: the bases are not looked at
    own_account = caller_account()
    settings = Settings(
        mapping_table=cli.mapping_table,
        history_table=cli.history_table,
        slots_table=slots_table,
        account_id=own_account,
    )
    places = examine(cli.mapping_table, own_account)
    report = prune_replicas(settings, dry_run=dry_run)
    done = report.results if dry_run else [r for r in report.results if r.deleted]
    bases = sum(1 for r in done if r.what == "base")
    verb = "would delete" if dry_run else "deleted"
    summary = f"{verb} {len(done) - bases} replica(s)" + (f" and {bases} unused base(s)" if bases else "")
    failed = [r for r in report.results if r.error]
    data = {
        "dry_run": dry_run,
        "examined": [p.as_data() for p in places],
        "bases_examined": bool(slots_table),
        "examined_replicas": sum(p.replicas or 0 for p in places),
        "pruned_replicas": len(done) - bases,  # deleted, or (dry run) that would be
        "pruned_bases": bases,
        "failed": len(failed),
        "results": [_row(r, dry_run) for r in report.results],
        "problems": report.problems,
    }

    def table(console: Console) -> None:
        if report.results:
            console.print(render(report, dry_run))
        console.print(examined_line(places), markup=False, highlight=False, soft_wrap=True)
        console.print(summary, markup=False, highlight=False)

    cli.emit(data["results"] if cli.output is OutputFormat.csv else data, table=table)
    if cli.machine_output:
        cli.err.print(f"{examined_line(places)}; {summary}", markup=False)
    if not slots_table:
        cli.err.print("unused bases not looked at: give --slots-table (or the stack) to prune them too")
    if report.problems or failed:
        raise CliError("; ".join([*report.problems, *(f"{r.replica_arn}: {r.error}" for r in failed)]))
