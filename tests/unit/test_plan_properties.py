"""Property test: whatever the source and the mapping, a plan never makes an unencrypted replica of an encrypted
source, nor a step AWS would reject for encryption or sharing reasons; and every plan but the staging ones takes its
cross-region copy from the native snapshot (so that it can be incremental) and copies nothing in the source region.

Each plan is replayed on a small model of AWS's rules (from shared/reference/aws-facts.md):
- a copy of an encrypted snapshot to another region or from another account needs KmsKeyId;
- an unencrypted cluster snapshot cannot be encrypted by copying it;
- a DB instance snapshot copied with a key becomes encrypted with it;
- only manual snapshots not encrypted with the default aws/rds key can be shared;
- another account can copy a snapshot only if it was shared with it.
"""

from dataclasses import dataclass

from factories import source_snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from replicator.mapping import Encryption, KeyUsage, MappingTarget
from replicator.planning import PlanShape, ReplicationPlan, StepAction, plan_replication
from replicator.rules import ReplicationRefused
from replicator.snapshots import SnapshotKind, SourceSnapshot

SRC, TGT = "123456789012", "210987654321"
REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]


@dataclass
class Sim:
    kind: SnapshotKind
    account: str
    snapshot_type: str
    encrypted: bool
    aws_managed_key: bool
    shared_with: set[str]


def _key(account: str, region: str, name: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{name}-0000-0000-0000-000000000000"


@st.composite
def cases(draw):
    kind = draw(st.sampled_from(list(SnapshotKind)))
    snapshot_type = draw(st.sampled_from(["manual", "automated", "awsbackup"]))
    encrypted = draw(st.booleans())
    aws_managed = encrypted and draw(st.booleans())
    identifier = {"manual": "orders-1", "automated": "rds:orders-1", "awsbackup": "awsbackup:job-1"}[snapshot_type]
    source = source_snapshot(
        identifier,
        snapshot_type,
        kind=kind,
        account_id=SRC,
        encrypted=encrypted,
        kms_key_id=_key(SRC, "us-east-1", "source") if encrypted else None,
        kms_key_aws_managed=aws_managed,
        engine_version="16.3",
        tags={"team": "x"},
    )
    region = draw(st.sampled_from(REGIONS))
    cross_account = draw(st.booleans())
    account = TGT if cross_account else SRC
    enabled = draw(st.booleans())
    encryption = Encryption(
        enabled=enabled,
        kms_key_arn=_key(account, region, "target") if enabled else None,
        key_usage=draw(st.sampled_from(list(KeyUsage))),
    )
    target = MappingTarget(
        target_region=region,
        role_arn=f"arn:aws:iam::{TGT}:role/rds-snapshot-replicator-target" if cross_account else None,
        encryption=encryption,
        copy_tags=draw(st.booleans()),
        share_kms_key_arn=_key(SRC, "us-east-1", "share") if draw(st.booleans()) else None,
        transfer_kms_key_arn=_key(SRC, region, "transfer") if draw(st.booleans()) else None,
    )
    return source, target, draw(st.booleans()), draw(st.booleans())


def replay(source: SourceSnapshot, plan: ReplicationPlan) -> dict[str, Sim]:
    """Run the plan's steps on the model of AWS; an AssertionError is a step AWS would reject."""
    world = {
        source.arn: Sim(
            source.kind, SRC, source.snapshot_type, source.encrypted, source.kms_key_aws_managed, shared_with=set()
        )
    }
    for step in plan.steps:
        if step.action is StepAction.COPY:
            assert step.source_arn in world, f"copy of {step.source_arn}, which does not exist"
            origin = world[step.source_arn]
            moves = step.source_region != step.region or origin.account != step.account_id
            if origin.account != step.account_id:
                assert step.account_id in origin.shared_with, "copy of a snapshot not shared with this account"
            if origin.encrypted and moves:
                assert step.kms_key_id, "encrypted copy to another region or from another account without KmsKeyId"
            if origin.kind is SnapshotKind.CLUSTER and not origin.encrypted:
                assert not step.kms_key_id, "an unencrypted cluster snapshot cannot be encrypted by copy"
            encrypted = origin.encrypted or bool(step.kms_key_id)
            aws_managed = (
                step.kms_key_id.endswith("alias/aws/rds") if step.kms_key_id else origin.aws_managed_key
            ) and encrypted
            world[step.snapshot_arn] = Sim(origin.kind, step.account_id, "manual", encrypted, aws_managed, set())
        elif step.action is StepAction.SHARE:
            shared = world[step.snapshot_arn]
            assert shared.snapshot_type == "manual", f"AWS cannot share a {shared.snapshot_type} snapshot"
            assert not (shared.encrypted and shared.aws_managed_key), "AWS cannot share an aws/rds-encrypted snapshot"
            shared.shared_with.add(step.share_with)
    return world


def _plan_or_refusal(
    source: SourceSnapshot, target: MappingTarget, single_step: bool = True, fallback: bool = False
) -> ReplicationPlan | ReplicationRefused:
    """The plan as carried out: planned with or without the single step, and (if AWS refused it) its fallback."""
    try:
        return plan_replication(source, target, single_step=single_step).route(fallback)
    except ReplicationRefused as refused:
        return refused


@settings(max_examples=400, deadline=None)
@given(cases())
def test_no_plan_makes_an_unencrypted_replica_of_an_encrypted_source_or_a_step_aws_rejects(case):
    source, target, single_step, fallback = case
    plan = _plan_or_refusal(source, target, single_step, fallback)
    if isinstance(plan, ReplicationRefused):
        assert plan.reason
        return
    world = replay(source, plan)
    replica = world[plan.replica_arn]
    if source.encrypted:
        assert replica.encrypted
        assert plan.steps[-1].kms_key_id == target.encryption.kms_key_arn
    if source.kind is SnapshotKind.CLUSTER and not source.encrypted:
        assert not replica.encrypted
    assert replica.encrypted == plan.replica_encrypted
    assert replica.account == target.account_id(SRC)
    assert plan.replica_arn.split(":")[3] == target.target_region
    # cleanup removes what the plan made besides the replica and the lineage's base, and undoes every share
    made = {s.snapshot_arn for s in plan.steps if s.action is StepAction.COPY} - {plan.replica_arn}
    kept = {plan.steps[plan.base.step_index].snapshot_arn} if plan.base and plan.base.intermediate else set()
    deleted = {s.snapshot_arn for s in plan.cleanup if s.action is StepAction.DELETE}
    assert deleted == made - kept
    for share in (s for s in plan.steps if s.action is StepAction.SHARE):
        unshared = {s.snapshot_arn for s in plan.cleanup if s.action is StepAction.UNSHARE}
        assert share.snapshot_arn in unshared or share.snapshot_arn in deleted
    # what keeps transfers incremental and automated backups running (docs/performance.md)
    if plan.shape not in (PlanShape.STAGED, PlanShape.REENCRYPTED_STAGED):
        for step in (s for s in plan.steps if s.action is StepAction.COPY and s.source_region != s.region):
            assert step.source_arn == source.arn, "a cross-region copy of a copy is never incremental"
        if target.target_region != source.region:
            assert all(s.region == target.target_region for s in plan.steps if s.action is StepAction.COPY)


@settings(max_examples=200, deadline=None)
@given(cases())
def test_a_refusal_happens_only_when_no_valid_plan_exists(case):
    source, target, single_step, _ = case
    refused = _plan_or_refusal(source, target, single_step)
    if isinstance(refused, ReplicationRefused):
        encryption = target.encryption
        reasons = [
            source.encrypted and not encryption.enabled,
            source.kind is SnapshotKind.CLUSTER
            and not source.encrypted
            and encryption.enabled
            and encryption.key_usage is KeyUsage.ALL,
            target.account_id(SRC) != SRC
            and source.encrypted
            and not source.shareable_as_is
            and target.share_kms_key_arn is None
            and (target.transfer_kms_key_arn is None or target.target_region == source.region),
        ]
        assert any(reasons), f"refused without cause: {refused.reason}"
        assert refused.field
