"""Planning a replication: from a source snapshot and one mapping target, the list of steps (pure, no AWS calls).

Same account: one copy, in the target region.
Another account (AWS's sharing rules):
  1. automated, AWS Backup and aws/rds-encrypted snapshots cannot be shared: copy to a manual snapshot first,
     re-encrypted with the mapping's share key (a customer managed key the target account may use);
  2. share that snapshot (or the source itself, when it is shareable) with the target account;
  3. in the target account, copy the shared snapshot in the source region (always allowed), then
  4. copy that staging copy to the target region with the mapping's key.
  The intermediate copy, the share and the staging copy are removed afterwards (cleanup steps).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .destinations import AllowedDestinations
from .mapping import MappingTarget, account_of, region_of
from .rules import ReplicationRefused, decide_encryption
from .snapshots import (
    MANAGED_BY,
    REPLICA_PREFIX,
    TAG_MANAGED_BY,
    TAG_REPLICATION_ID,
    TAG_SOURCE_ARN,
    TAG_SOURCE_DATABASE,
    SnapshotKind,
    SourceSnapshot,
    replica_identifier,
    replication_id,
    snapshot_arn,
)


class StepAction(StrEnum):
    COPY = "copy"
    SHARE = "share"
    UNSHARE = "unshare"
    DELETE = "delete"


class PlanStep(BaseModel):
    """One AWS action, made in one account and region."""

    model_config = ConfigDict(frozen=True)

    action: StepAction
    kind: SnapshotKind
    account_id: str  # the account the call acts in
    role_arn: str | None = None  # role assumed for the call; None = the replicator's own credentials
    region: str  # the region the call is made in
    snapshot_identifier: str  # snapshot created (copy) or acted on (share, unshare, delete)
    source_arn: str | None = None  # copy: the snapshot copied
    kms_key_id: str | None = None  # copy: key of the new snapshot; None = unencrypted (or the source's key in-region)
    encrypted: bool = False  # copy: whether the new snapshot is encrypted (what an existing one must be to be adopted)
    tags: dict[str, str] = Field(default_factory=dict)  # copy: tags of the new snapshot
    share_with: str | None = None  # share / unshare: the account
    purpose: str = ""
    partition: str = "aws"

    @property
    def snapshot_arn(self) -> str:
        return snapshot_arn(self.kind, self.region, self.account_id, self.snapshot_identifier, self.partition)

    @property
    def source_region(self) -> str | None:
        return region_of(self.source_arn) if self.source_arn else None

    def describe(self) -> str:
        return self.purpose or f"{self.action} {self.snapshot_identifier} in {self.account_id}/{self.region}"


class ReplicationPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    replication_id: str
    source: SourceSnapshot
    target: MappingTarget
    target_account_id: str
    replica_arn: str
    replica_encrypted: bool
    steps: list[PlanStep]
    cleanup: list[PlanStep] = Field(default_factory=list)

    @property
    def cross_account(self) -> bool:
        return self.target_account_id != self.source.account_id

    def problems(self, allowed: AllowedDestinations) -> list[str]:
        """Why this plan is not one the replicator would make for its source and target (empty: it is).

        Tasks act only on stored plans that pass this check: a plan altered where it is stored cannot share a
        snapshot with another account (or with `all`), act in another account or delete another snapshot.
        """
        found = []
        source = self.source
        if source.account_id != allowed.own_account:
            found.append(f"the source {source.arn} is not a snapshot of this account ({allowed.own_account})")
        if refusal := allowed.refusal(self.target_account_id):
            found.append(refusal)
        accounts = {source.account_id, self.target_account_id}
        for step in [*self.steps, *self.cleanup]:
            if step.account_id not in accounts:
                found.append(
                    f"step '{step.describe()}' acts in account {step.account_id}, not the source's or target's"
                )
            if step.role_arn not in (None, self.target.role_arn):
                found.append(f"step '{step.describe()}' uses role {step.role_arn}, not the target's")
            if step.action in (StepAction.SHARE, StepAction.UNSHARE) and step.share_with != self.target_account_id:
                found.append(f"step '{step.describe()}' shares with {step.share_with!r}, not the target account")
            own = step.snapshot_identifier.startswith(REPLICA_PREFIX) or (
                step.action in (StepAction.SHARE, StepAction.UNSHARE) and step.snapshot_identifier == source.identifier
            )
            if not own:
                found.append(
                    f"step '{step.describe()}' acts on {step.snapshot_identifier}, not a snapshot of this plan"
                )
        try:
            expected = plan_replication(source, self.target)
        except ReplicationRefused as refused:
            found.append(f"no plan can be made for this source and target: {refused.reason}")
        else:
            if expected != self:
                found.append("the plan differs from the one the planner makes for its source and target")
        return found


def replica_tags(source: SourceSnapshot, rid: str, copy_tags: bool) -> dict[str, str]:
    """Tags of every snapshot the replicator makes: the source's own (if asked) plus the replicator's markers."""
    tags = {}
    if copy_tags:
        tags = {k: v for k, v in source.tags.items() if not k.startswith(("aws:", "replicator:"))}
    tags.update({TAG_SOURCE_ARN: source.arn, TAG_REPLICATION_ID: rid, TAG_MANAGED_BY: MANAGED_BY})
    if source.database_identifier:
        tags[TAG_SOURCE_DATABASE] = source.database_identifier
    return tags


def plan_replication(source: SourceSnapshot, target: MappingTarget) -> ReplicationPlan:
    """The steps that replicate `source` to `target`; ReplicationRefused names what to change when none can."""
    if source.status != "available":
        raise ReplicationRefused(f"the source snapshot is '{source.status}', not 'available'")
    target_account = target.account_id(source.account_id)
    decision = decide_encryption(source.kind, source.encrypted, target.encryption)
    rid = replication_id(source.arn, target_account, target.target_region)
    tags = replica_tags(source, rid, target.copy_tags)
    replica_id = replica_identifier(source, target_account, target.target_region)
    final_key = decision.kms_key_arn if decision.encrypt else None

    def copy(account: str, role: str | None, region: str, src_arn: str, ident: str, key: str | None, why: str):
        return PlanStep(
            action=StepAction.COPY,
            kind=source.kind,
            account_id=account,
            role_arn=role,
            region=region,
            snapshot_identifier=ident,
            source_arn=src_arn,
            kms_key_id=key,
            encrypted=key is not None or source.encrypted,
            tags=tags,
            purpose=why,
            partition=source.partition,
        )

    steps: list[PlanStep] = []
    cleanup: list[PlanStep] = []
    if target_account == source.account_id:
        steps.append(
            copy(
                target_account,
                target.role_arn,
                target.target_region,
                source.arn,
                replica_id,
                final_key,
                f"copy to {target.target_region}",
            )
        )
    else:
        shared_arn, shared_id = source.arn, source.identifier
        if not source.shareable_as_is:
            share_key = _share_key(source, target, target_account)
            shared_id = replica_identifier(source, target_account, target.target_region, "share")
            shared_arn = snapshot_arn(source.kind, source.region, source.account_id, shared_id, source.partition)
            why = "copy to a manual snapshot that can be shared" + (
                " (re-encrypted with the share key)" if share_key else ""
            )
            steps.append(copy(source.account_id, None, source.region, source.arn, shared_id, share_key, why))
            cleanup.append(_step(StepAction.DELETE, source, source.account_id, None, source.region, shared_id))
        else:
            cleanup.append(
                _step(StepAction.UNSHARE, source, source.account_id, None, source.region, shared_id, target_account)
            )
        steps.append(
            _step(
                StepAction.SHARE,
                source,
                source.account_id,
                None,
                source.region,
                shared_id,
                target_account,
                f"share with account {target_account}",
            )
        )
        role = target.role_arn
        if target.target_region == source.region:
            steps.append(
                copy(
                    target_account,
                    role,
                    source.region,
                    shared_arn,
                    replica_id,
                    final_key,
                    "copy into the target account",
                )
            )
        else:
            # AWS always allows an in-region copy of a shared snapshot; the target account's default aws/rds key
            # holds the staging copy until the cross-region copy re-encrypts it with the mapping's key.
            staging_id = replica_identifier(source, target_account, target.target_region, "stage")
            default_key = f"arn:{source.partition}:kms:{source.region}:{target_account}:alias/aws/rds"
            staging_key = default_key if source.encrypted else None
            staging_arn = snapshot_arn(source.kind, source.region, target_account, staging_id, source.partition)
            steps.append(
                copy(
                    target_account,
                    role,
                    source.region,
                    shared_arn,
                    staging_id,
                    staging_key,
                    "copy into the target account",
                )
            )
            steps.append(
                copy(
                    target_account,
                    role,
                    target.target_region,
                    staging_arn,
                    replica_id,
                    final_key,
                    f"copy to {target.target_region}",
                )
            )
            cleanup.append(_step(StepAction.DELETE, source, target_account, role, source.region, staging_id))
    return ReplicationPlan(
        replication_id=rid,
        source=source,
        target=target,
        target_account_id=target_account,
        replica_arn=snapshot_arn(source.kind, target.target_region, target_account, replica_id, source.partition),
        replica_encrypted=decision.encrypt,
        steps=steps,
        cleanup=cleanup,
    )


_UNSHAREABLE = {
    "manual": "encrypted with the default aws/rds key",
    "automated": "an automated snapshot",
    "awsbackup": "an AWS Backup snapshot",
    "shared": "a snapshot shared from another account",
}


def _share_key(source: SourceSnapshot, target: MappingTarget, target_account: str) -> str | None:
    """The key an unshareable snapshot is re-encrypted with before sharing (None for an unencrypted source)."""
    if not source.encrypted:
        return None
    key = target.share_kms_key_arn
    reason = _UNSHAREABLE.get(source.snapshot_type, f"a {source.snapshot_type} snapshot")
    if key is None:
        raise ReplicationRefused(
            f"the source snapshot is {reason} and cannot be shared with account {target_account} as it is; set "
            f"share_kms_key_arn to a customer managed KMS key in account {source.account_id}, region {source.region}, "
            f"whose key policy lets account {target_account} use it",
            field="share_kms_key_arn",
        )
    if region_of(key) != source.region or account_of(key) != source.account_id:
        raise ReplicationRefused(
            f"share_kms_key_arn must be a key in the source account {source.account_id} and region {source.region}, "
            f"not {account_of(key)}/{region_of(key)}",
            field="share_kms_key_arn",
        )
    return key


def _step(
    action: StepAction,
    source: SourceSnapshot,
    account: str,
    role: str | None,
    region: str,
    identifier: str,
    share_with: str | None = None,
    purpose: str = "",
) -> PlanStep:
    return PlanStep(
        action=action,
        kind=source.kind,
        account_id=account,
        role_arn=role,
        region=region,
        snapshot_identifier=identifier,
        share_with=share_with,
        purpose=purpose or f"{action} {identifier}",
        partition=source.partition,
    )
