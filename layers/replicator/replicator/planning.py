"""Planning a replication: from a source snapshot and one mapping target, the steps (pure, no AWS calls).

The plans follow AWS's documented copy rules (docs/performance.md, "The copy rules the plans rest on"): every
cross-region copy is taken from the native snapshot, never from a copy, so that it can be incremental against the
lineage's previous copy in the destination, which is kept (the lineage's base) until the next copy is available.

- same account: one copy, into the target region (its replicas are the lineage's bases);
- another account, a shareable source (manual, customer managed key or unencrypted): share it, and the target
  account copies it straight into the target region (one step; if AWS refuses it, the fallback stages an in-region
  copy in the target account first);
- another account, an unshareable source (automated, AWS Backup, aws/rds key): the source account copies it across
  regions with the transfer key (`transfer_kms_key_arn`, a key of the target region the target account may use),
  keeps that copy as the lineage's base, shares it there, and the target account copies it in-region;
- another account, same region: share (after an in-region re-encrypting copy if unshareable) and copy;
- without a transfer key, an encrypted unshareable source takes the older path (in-region re-encrypting copy with
  `share_kms_key_arn`, share, staging copy, cross-region copy of the staging copy: full transfers, said in the plan).
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
    TAG_LINEAGE_BASE,
    TAG_MANAGED_BY,
    TAG_REPLICATION_ID,
    TAG_SOURCE_ACCOUNT,
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

    @property
    def crosses_account_and_region(self) -> bool:
        """A copy of another account's (shared) snapshot straight into another region: AWS's single step."""
        if self.action is not StepAction.COPY or not self.source_arn:
            return False
        return account_of(self.source_arn) != self.account_id and region_of(self.source_arn) != self.region

    @property
    def slot_pool(self) -> str:
        """The copy quota this copy counts against (copy_slots.py): its destination account and region, and the
        snapshot kind."""
        if self.action is not StepAction.COPY:
            raise ValueError(f"only copies take slots, not {self.action}")
        return f"{self.account_id}#{self.region}#{self.kind.value}"

    def describe(self) -> str:
        return self.purpose or f"{self.action} {self.snapshot_identifier} in {self.account_id}/{self.region}"


class PlanShape(StrEnum):
    SAME_ACCOUNT = "same-account"
    SHARED_IN_REGION = "shared-in-region"  # another account, the same region
    SINGLE_STEP = "single-step"  # a shareable source, copied by the target account straight into its region
    STAGED = "staged"  # a shareable source through an in-region staging copy (AWS refused the single step)
    TRANSFER_FIRST = "transfer-first"  # an unshareable source, copied across regions by the source account first
    REENCRYPTED_STAGED = "reencrypted-staged"  # the older path for unshareable sources (full transfers)

    @property
    def path(self) -> str:
        """The copies and shares of this shape, in order, as a user reads them."""
        return _PATHS[self]


_PATHS = {
    PlanShape.SAME_ACCOUNT: "copy",
    PlanShape.SHARED_IN_REGION: "share → copy",
    PlanShape.SINGLE_STEP: "share → cross-region copy",
    PlanShape.STAGED: "share → stage → cross-region copy",
    PlanShape.TRANSFER_FIRST: "cross-region copy → share → copy",
    PlanShape.REENCRYPTED_STAGED: "re-encrypt → share → stage → cross-region copy",
}


class LineageBase(BaseModel):
    """The copy a lineage keeps so that its next copy can be incremental (AWS: the most recent copy of the same
    source in the destination, under the same key). A new key or plan shape is a new lineage."""

    model_config = ConfigDict(frozen=True)

    lineage: str  # source database and destination: one base at a time
    signature: str  # the key and the plan's shape: a change starts a new lineage (its first copy is full)
    step_index: int  # the copy step that makes the base
    intermediate: bool  # True: a copy made only to be the base (older ones are deleted); False: the replica itself


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
    shape: PlanShape = PlanShape.SAME_ACCOUNT
    # the single-step copy's replacement, if AWS refuses it: these steps instead of the last one, and their cleanup
    fallback_steps: list[PlanStep] = Field(default_factory=list)
    fallback_cleanup: list[PlanStep] = Field(default_factory=list)
    base: LineageBase | None = None
    note: str = ""  # what the user should know about this plan's cost (e.g. full transfers, and how to avoid them)

    @property
    def cross_account(self) -> bool:
        return self.target_account_id != self.source.account_id

    @property
    def slot_pools(self) -> list[str]:
        """The copy quotas this plan's copies count against, each once."""
        return sorted({s.slot_pool for s in self.steps if s.action is StepAction.COPY})

    def next_copy(self, index: int) -> PlanStep | None:
        """The first copy step at or after `index` (the steps before it, shares, need no slot)."""
        return next((s for s in self.steps[index:] if s.action is StepAction.COPY), None)

    def route(self, fallback: bool) -> ReplicationPlan:
        """The plan as carried out: its steps, or (after AWS refused the single step) the fallback's."""
        if not fallback or not self.fallback_steps:
            return self
        return self.model_copy(
            update={
                "steps": [*self.steps[:-1], *self.fallback_steps],
                "cleanup": [*self.cleanup, *self.fallback_cleanup],
                "shape": PlanShape.STAGED,
                "fallback_steps": [],
                "fallback_cleanup": [],
            }
        )

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
        for step in [*self.steps, *self.cleanup, *self.fallback_steps, *self.fallback_cleanup]:
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
            expected = [plan_replication(source, self.target, single_step=s) for s in (True, False)]
        except ReplicationRefused as refused:
            found.append(f"no plan can be made for this source and target: {refused.reason}")
        else:
            if self not in expected:
                found.append("the plan differs from the one the planner makes for its source and target")
        return found


def replica_tags(source: SourceSnapshot, rid: str, copy_tags: bool) -> dict[str, str]:
    """Tags of every snapshot the replicator makes: the source's own (if asked) plus the replicator's markers."""
    tags = {}
    if copy_tags:
        tags = {k: v for k, v in source.tags.items() if not k.startswith(("aws:", "replicator:"))}
    tags.update(
        {
            TAG_SOURCE_ARN: source.arn,
            TAG_SOURCE_ACCOUNT: source.account_id,
            TAG_REPLICATION_ID: rid,
            TAG_MANAGED_BY: MANAGED_BY,
        }
    )
    if source.database_identifier:
        tags[TAG_SOURCE_DATABASE] = source.database_identifier
    return tags


def lineage_of(source: SourceSnapshot, account: str, region: str, for_account: str | None = None) -> str:
    """One lineage per source database and destination (account, region): one base at a time. A transfer copy (in
    the source account) serves one target account: its lineage names it, so that two targets in one region never
    take each other's base away while the other still copies from it."""
    database = source.database_identifier or source.arn
    lineage = f"lineage#{source.kind.value}#{source.account_id}#{source.region}#{database}#{account}#{region}"
    return f"{lineage}#for#{for_account}" if for_account else lineage


class LineageId(BaseModel):
    """A lineage's parts, read back from its name (lineage_of)."""

    kind: SnapshotKind
    source_account: str
    source_region: str
    database: str
    account: str  # where its copies are made
    region: str
    for_account: str | None = None  # a transfer copy's target account


def parse_lineage(lineage: str) -> LineageId | None:
    """The parts of a name lineage_of made; None for anything else."""
    parts = lineage.split("#")
    if len(parts) not in (7, 9) or parts[0] != "lineage" or (len(parts) == 9 and parts[7] != "for"):
        return None
    try:
        kind = SnapshotKind(parts[1])
    except ValueError:
        return None
    for_account = parts[8] if len(parts) == 9 else None
    return LineageId(
        kind=kind, source_account=parts[2], source_region=parts[3], database=parts[4], account=parts[5],
        region=parts[6], for_account=for_account,
    )  # fmt: skip


def lineage_tag(lineage: str) -> str:
    """A lineage as an RDS tag value (which allows letters, digits, spaces and _.:/=+-@, not '#')."""
    return lineage.removeprefix("lineage#").replace("#", "/")


def plan_replication(source: SourceSnapshot, target: MappingTarget, single_step: bool = True) -> ReplicationPlan:
    """The steps that replicate `source` to `target`; ReplicationRefused names what to change when none can.

    `single_step` False: AWS refused a single-step cross-account, cross-region copy on this route lately, so a
    shareable source takes the staging path from the start.
    """
    if source.status != "available":
        raise ReplicationRefused(f"the source snapshot is '{source.status}', not 'available'")
    target_account = target.account_id(source.account_id)
    decision = decide_encryption(source.kind, source.encrypted, target.encryption)
    rid = replication_id(source.arn, target_account, target.target_region)
    tags = replica_tags(source, rid, target.copy_tags)
    replica_id = replica_identifier(source, target_account, target.target_region)
    final_key = decision.kms_key_arn if decision.encrypt else None
    target_region, role = target.target_region, target.role_arn

    def copy(
        account: str,
        role: str | None,
        region: str,
        src_arn: str,
        ident: str,
        key: str | None,
        why: str,
        base_of: str | None = None,
    ) -> PlanStep:
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
            tags=tags | {TAG_LINEAGE_BASE: lineage_tag(base_of)} if base_of else tags,
            purpose=why,
            partition=source.partition,
        )

    def share(region: str, identifier: str) -> PlanStep:
        why = f"share with account {target_account}"
        return _step(StepAction.SHARE, source, source.account_id, None, region, identifier, target_account, why)

    def unshare(region: str, identifier: str) -> PlanStep:
        return _step(StepAction.UNSHARE, source, source.account_id, None, region, identifier, target_account)

    def replica_base(shape: PlanShape, step_index: int) -> LineageBase:
        return LineageBase(
            lineage=lineage_of(source, target_account, target_region),
            signature=f"{shape.value}#{final_key or 'unencrypted'}",
            step_index=step_index,
            intermediate=False,
        )

    to_target, into_target = f"copy to {target_region}", "copy into the target account"
    steps: list[PlanStep] = []
    cleanup: list[PlanStep] = []
    fallback_steps: list[PlanStep] = []
    fallback_cleanup: list[PlanStep] = []
    base: LineageBase | None = None
    note = ""
    if target_account == source.account_id:
        shape = PlanShape.SAME_ACCOUNT
        steps = [copy(target_account, role, target_region, source.arn, replica_id, final_key, to_target)]
        base = replica_base(shape, 0)
    elif target_region == source.region:
        shape = PlanShape.SHARED_IN_REGION
        shared_arn, shared_id = source.arn, source.identifier
        if source.shareable_as_is:
            cleanup = [unshare(source.region, shared_id)]
        else:
            share_key = _share_key(source, target, target_account)
            shared_id = replica_identifier(source, target_account, target_region, "share")
            shared_arn = snapshot_arn(source.kind, source.region, source.account_id, shared_id, source.partition)
            why = "copy to a manual snapshot that can be shared" + (
                " (re-encrypted with the share key)" if share_key else ""
            )
            steps = [copy(source.account_id, None, source.region, source.arn, shared_id, share_key, why)]
            cleanup = [_step(StepAction.DELETE, source, source.account_id, None, source.region, shared_id)]
        steps += [
            share(source.region, shared_id),
            copy(
                target_account, role, source.region, shared_arn, replica_id, final_key, "copy into the target account"
            ),
        ]
    elif source.shareable_as_is:
        # the target account copies the shared source straight into its region (AWS since 2025); if AWS refuses it,
        # an in-region staging copy in the target account, then a cross-region copy of it (a copy of a copy: full)
        staging_id = replica_identifier(source, target_account, target_region, "stage")
        staging_key = (
            f"arn:{source.partition}:kms:{source.region}:{target_account}:alias/aws/rds" if source.encrypted else None
        )
        staging_arn = snapshot_arn(source.kind, source.region, target_account, staging_id, source.partition)
        staged = [
            copy(
                target_account, role, source.region, source.arn, staging_id, staging_key, "copy into the target account"
            ),
            copy(target_account, role, target_region, staging_arn, replica_id, final_key, to_target),
        ]
        staging_cleanup = [_step(StepAction.DELETE, source, target_account, role, source.region, staging_id)]
        cleanup = [unshare(source.region, source.identifier)]
        if single_step:
            shape = PlanShape.SINGLE_STEP
            why = f"copy into the target account, straight to {target_region}"
            steps = [
                share(source.region, source.identifier),
                copy(target_account, role, target_region, source.arn, replica_id, final_key, why),
            ]
            fallback_steps, fallback_cleanup = staged, staging_cleanup
            base = replica_base(shape, 1)
        else:
            shape = PlanShape.STAGED
            steps = [share(source.region, source.identifier), *staged]
            cleanup += staging_cleanup
            note = (
                f"AWS refused a single-step copy from {source.region} to {target_region} lately: staged through an "
                "in-region copy, whose cross-region copy is full"
            )
    elif (transfer_key := _transfer_key(source, target, target_account)) is not None or not source.encrypted:
        # the source account copies the native snapshot across regions (incremental against the lineage's base,
        # which that copy then becomes), shares it there, and the target account copies it in its own region
        shape = PlanShape.TRANSFER_FIRST
        transfer_id = replica_identifier(source, target_account, target_region, "xfer")
        transfer_arn = snapshot_arn(source.kind, target_region, source.account_id, transfer_id, source.partition)
        why = f"copy to {target_region}, kept as the base of the next copy" + (
            " (transfer key)" if transfer_key else ""
        )
        lineage = lineage_of(source, source.account_id, target_region, for_account=target_account)
        steps = [
            copy(source.account_id, None, target_region, source.arn, transfer_id, transfer_key, why, lineage),
            share(target_region, transfer_id),
            copy(
                target_account, role, target_region, transfer_arn, replica_id, final_key, "copy into the target account"
            ),
        ]
        cleanup = [unshare(target_region, transfer_id)]
        base = LineageBase(
            lineage=lineage,
            signature=f"{shape.value}#{transfer_key or 'unencrypted'}",
            step_index=0,
            intermediate=True,
        )
    else:
        shape = PlanShape.REENCRYPTED_STAGED
        share_key = _share_key(source, target, target_account)
        shared_id = replica_identifier(source, target_account, target_region, "share")
        shared_arn = snapshot_arn(source.kind, source.region, source.account_id, shared_id, source.partition)
        staging_id = replica_identifier(source, target_account, target_region, "stage")
        staging_key = f"arn:{source.partition}:kms:{source.region}:{target_account}:alias/aws/rds"
        staging_arn = snapshot_arn(source.kind, source.region, target_account, staging_id, source.partition)
        steps = [
            copy(source.account_id, None, source.region, source.arn, shared_id, share_key,
                 "copy to a manual snapshot that can be shared (re-encrypted with the share key)"),
            share(source.region, shared_id),
            copy(target_account, role, source.region, shared_arn, staging_id, staging_key, into_target),
            copy(target_account, role, target_region, staging_arn, replica_id, final_key, to_target),
        ]  # fmt: skip
        cleanup = [
            _step(StepAction.DELETE, source, source.account_id, None, source.region, shared_id),
            _step(StepAction.DELETE, source, target_account, role, source.region, staging_id),
        ]
        note = (
            "every cross-region transfer is a full copy: set transfer_kms_key_arn to a customer managed key of account "
            f"{source.account_id} in {target_region} that account {target_account} may use, to make them incremental"
        )
    return ReplicationPlan(
        replication_id=rid,
        source=source,
        target=target,
        target_account_id=target_account,
        replica_arn=snapshot_arn(source.kind, target_region, target_account, replica_id, source.partition),
        replica_encrypted=decision.encrypt,
        shape=shape,
        steps=steps,
        cleanup=cleanup,
        fallback_steps=fallback_steps,
        fallback_cleanup=fallback_cleanup,
        base=base,
        note=note,
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


def _transfer_key(source: SourceSnapshot, target: MappingTarget, target_account: str) -> str | None:
    """The key an encrypted unshareable snapshot is copied across regions with (None: none given, or unencrypted)."""
    key = target.transfer_kms_key_arn
    if key is None or not source.encrypted:
        return None
    if region_of(key) != target.target_region or account_of(key) != source.account_id:
        raise ReplicationRefused(
            f"transfer_kms_key_arn must be a key of the source account {source.account_id} in the target region "
            f"{target.target_region} (whose key policy lets account {target_account} use it), not "
            f"{account_of(key)}/{region_of(key)}",
            field="transfer_kms_key_arn",
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
