"""What a write changes: a replaced target's settings before and after (shown and confirmed before `mappings put`
replaces it), the settings it loses, and mappings as plain, comparable values (the diffs of `mappings import`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from replicator.mapping import MappingTarget, RegionMapping
from replicator.restore_testing import RestoreTest
from replicator.selection import Selection

from .context import CliContext

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


def confirm_replacement(cli: CliContext, described: str, diff: TargetDiff, yes: bool) -> None:
    """Show what replacing the target changes (stderr) and ask; refused without --yes where no one can answer
    (json / yaml output, stdin not a terminal)."""
    cli.err.print(f"put replaces target {described} whole:", markup=False)
    for line in diff.lines():
        cli.err.print(f"  {line}", markup=False)
    cli.confirm("Replace it?", f"would replace target {described}", yes)


def settings_lost(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
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


def plain(item: Any) -> Any:
    """DynamoDB's Decimals and sets as plain JSON values."""
    return json.loads(json.dumps(item, default=lambda v: int(v) if float(v).is_integer() else float(v)))


def comparable(item: dict[str, Any]) -> dict[str, Any]:
    """A mapping without its bookkeeping, with defaults filled in, for diffs."""
    if not item:
        return {}
    try:
        data = RegionMapping.model_validate(item).model_dump(mode="json", exclude_none=True)
    except ValidationError:
        data = dict(item)
    data.pop("updated_at", None)
    return data
