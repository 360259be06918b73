"""Region mapping: where the snapshots of one source region are replicated to, and how they are encrypted.

One item per source region in the mapping table; `source_region` "*" is the mapping for every region without its own
item (the product's "Set Mapping for All Regions"). This model validates an item everywhere it is read or written.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from .restore_testing import RestoreTest
from .retention import RetentionRule
from .selection import Selection

ALL_REGIONS = "*"

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/(?P<name>[\w+=,.@/-]{1,512})$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/[A-Za-z0-9-]+$")


def _region(value: str) -> str:
    if not _REGION.match(value):
        raise ValueError(f"'{value}' is not an AWS region name such as eu-west-1")
    return value


def _source_region(value: str) -> str:
    return value if value == ALL_REGIONS else _region(value)


def _role_arn(value: str) -> str:
    if not ROLE_ARN.match(value):
        raise ValueError(f"'{value}' is not an IAM role ARN such as arn:aws:iam::210987654321:role/SnapshotReplication")
    return value


def _kms_key_arn(value: str) -> str:
    if not _KMS_KEY_ARN.match(value):
        raise ValueError(
            f"'{value}' is not a KMS key ARN such as arn:aws:kms:eu-west-1:210987654321:key/<key-id> "
            "(aliases are not accepted: a replica must name the exact key)"
        )
    return value


Region = Annotated[str, AfterValidator(_region)]
RoleArn = Annotated[str, AfterValidator(_role_arn)]
KmsKeyArn = Annotated[str, AfterValidator(_kms_key_arn)]


def account_of(arn: str) -> str:
    """The account id field of an ARN."""
    return arn.split(":")[4]


def role_account(role_arn: str) -> str:
    """The account of a role ARN, read safely: the account field of an ARN-like text, else the text itself (a
    hand-edited item's malformed role stands for itself and is never an IndexError)."""
    if match := ROLE_ARN.match(role_arn):
        return match["account"]
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else role_arn


def destination(role_arn: str | None, target_region: str, own_account: str | None = None) -> tuple[str | None, str]:
    """The (account, region) a target replicates to: the role's account, or without a role `own_account` (the
    replicator's own, as the Lambdas read it). The one rule for "two targets to the same destination": the mapping
    model refuses them, the start function refuses a mapping whose role in the own account repeats a target without
    one, and `mappings put` replaces the target of the same destination."""
    return (role_account(role_arn) if role_arn else own_account), target_region


def region_of(arn: str) -> str:
    """The region field of an ARN."""
    return arn.split(":")[3]


class KeyUsage(StrEnum):
    """Which snapshots the mapping's key encrypts (the product's "Key usage")."""

    ALL = "all"  # every replica is encrypted, including replicas of unencrypted DB instance snapshots
    ENCRYPTED_ONLY = "encrypted_only"  # only replicas of encrypted sources; unencrypted sources stay unencrypted


class Encryption(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    kms_key_arn: KmsKeyArn | None = None
    key_usage: KeyUsage = KeyUsage.ALL

    @model_validator(mode="after")
    def _key_when_enabled(self) -> Encryption:
        if self.enabled and self.kms_key_arn is None:
            raise ValueError(
                "kms_key_arn is required when encryption is enabled: set it to a KMS key in the target region"
            )
        return self


class MappingTarget(BaseModel):
    """One destination of a source region: account (through a role), region and encryption."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_region: Region
    role_arn: RoleArn | None = Field(
        default=None, description="IAM role in the target account the copy is made with; absent = this account"
    )
    encryption: Encryption = Encryption()
    copy_tags: bool = True
    share_kms_key_arn: KmsKeyArn | None = Field(
        default=None,
        description=(
            "Cross-account only: a customer managed key in the source account and region, usable by the target "
            "account, that automated, AWS Backup and aws/rds-encrypted snapshots are re-encrypted with before "
            "they are shared"
        ),
    )

    transfer_kms_key_arn: KmsKeyArn | None = Field(
        default=None,
        description=(
            "Cross-account, another region: a customer managed key of the source account in the target region, "
            "usable by the target account; automated, AWS Backup and aws/rds-encrypted snapshots are copied across "
            "regions with it first and that copy is kept as the base of the next (incremental) copy"
        ),
    )

    retention_days: int | None = Field(
        default=None, ge=1, le=36500, description="Replicas older than this many days are deleted (by the pruner)"
    )
    keep_last: int | None = Field(
        default=None, ge=1, le=10000, description="Only this many newest replicas per source database are kept"
    )
    selection: Selection | None = Field(
        default=None, description="Which snapshots are replicated to this target (absent: every snapshot)"
    )
    rpo_hours: float | None = Field(
        default=None,
        gt=0,
        le=8760,
        description="Each selected database must have a replica here younger than this (the coverage audit)",
    )
    restore_test: RestoreTest | None = Field(
        default=None, description="Restore the newest replica of each database here on a schedule, check it, delete it"
    )

    @model_validator(mode="after")
    def _key_in_target_region(self) -> MappingTarget:
        key = self.encryption.kms_key_arn
        if key is not None and region_of(key) != self.target_region:
            raise ValueError(
                f"encryption.kms_key_arn is in {region_of(key)} but target_region is {self.target_region}: "
                "a replica can only be encrypted with a KMS key in its own region"
            )
        transfer = self.transfer_kms_key_arn
        if transfer is not None and region_of(transfer) != self.target_region:
            raise ValueError(
                f"transfer_kms_key_arn is in {region_of(transfer)} but target_region is {self.target_region}: the "
                "transfer copy is made in the target region, with a key of that region"
            )
        return self

    def account_id(self, default_account: str) -> str:
        """The account the replica lives in."""
        return account_of(self.role_arn) if self.role_arn else default_account

    @property
    def retention(self) -> RetentionRule:
        """Replicas are kept while either rule keeps them (see retention.py); neither given: kept for ever."""
        return RetentionRule(retention_days=self.retention_days, keep_last=self.keep_last)


class RegionMapping(BaseModel):
    """The mapping item for one source region (or "*" for all regions without their own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_region: Annotated[str, AfterValidator(_source_region)]
    targets: list[MappingTarget] = Field(min_length=1)
    description: str | None = None
    updated_at: str | None = None

    @model_validator(mode="after")
    def _distinct_targets(self) -> RegionMapping:
        if (twice := self.repeated_destination()) is not None:
            raise ValueError(f"two targets replicate to the same account and region {twice[1]}")
        return self

    def repeated_destination(self, own_account: str | None = None) -> tuple[str | None, str] | None:
        """(account, region) that two targets replicate to, if any; with `own_account`, a role in it and no role
        count as the same account (as the Lambdas read them)."""
        seen: set[tuple[str | None, str]] = set()
        for target in self.targets:
            key = destination(target.role_arn, target.target_region, own_account)
            if key in seen:
                return key
            seen.add(key)
        return None


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad field and what is wrong with it, for outcomes and CLI messages."""
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "item"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def parse_mapping_item(item: dict[str, Any]) -> RegionMapping:
    """Validate a raw mapping item (as read from DynamoDB) into a RegionMapping."""
    return RegionMapping.model_validate(item)
