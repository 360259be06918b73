"""Replication plans: the steps and cleanup for every kind of source and target, refusals, tags and names."""

from __future__ import annotations

import re

import pytest
from factories import OTHER_ROLE, ROLE, source_snapshot

from replicator.mapping import Encryption, KeyUsage, MappingTarget
from replicator.planning import PlanStep, ReplicationPlan, StepAction, plan_replication
from replicator.rules import ReplicationRefused
from replicator.snapshots import (
    REPLICA_PREFIX,
    TAG_MANAGED_BY,
    TAG_REPLICATION_ID,
    TAG_SOURCE_ACCOUNT,
    TAG_SOURCE_ARN,
    TAG_SOURCE_DATABASE,
    SnapshotKind,
    SourceSnapshot,
    parse_snapshot_arn,
)

SRC = "123456789012"  # source account
TGT = "210987654321"  # target account
OTHER = "345678901234"
SRC_REGION = "us-east-1"

SOURCE_CMK = f"arn:aws:kms:us-east-1:{SRC}:key/11111111-1111-1111-1111-111111111111"
SOURCE_AWS_RDS_KEY = f"arn:aws:kms:us-east-1:{SRC}:key/22222222-2222-2222-2222-222222222222"
SHARE_KEY = f"arn:aws:kms:us-east-1:{SRC}:key/33333333-3333-3333-3333-333333333333"
KEY_SRC_EU = f"arn:aws:kms:eu-west-1:{SRC}:key/44444444-4444-4444-4444-444444444444"
KEY_SRC_USE1 = f"arn:aws:kms:us-east-1:{SRC}:key/55555555-5555-5555-5555-555555555555"
KEY_TGT_EU = f"arn:aws:kms:eu-west-1:{TGT}:key/66666666-6666-6666-6666-666666666666"
KEY_TGT_USE1 = f"arn:aws:kms:us-east-1:{TGT}:key/77777777-7777-7777-7777-777777777777"
TGT_AWS_RDS_ALIAS = f"arn:aws:kms:us-east-1:{TGT}:alias/aws/rds"
TRANSFER_KEY = f"arn:aws:kms:eu-west-1:{SRC}:key/88888888-8888-8888-8888-888888888888"  # source account, target region

COPY, SHARE, UNSHARE, DELETE = StepAction.COPY, StepAction.SHARE, StepAction.UNSHARE, StepAction.DELETE
INSTANCE, CLUSTER = SnapshotKind.INSTANCE, SnapshotKind.CLUSTER


def make_source(
    identifier: str,
    snapshot_type: str,
    *,
    kind: SnapshotKind = INSTANCE,
    encrypted: bool = True,
    kms_key_id: str | None = SOURCE_CMK,
    aws_managed: bool = False,
    status: str = "available",
    tags: dict[str, str] | None = None,
) -> SourceSnapshot:
    return source_snapshot(
        identifier,
        snapshot_type,
        kind=kind,
        account_id=SRC,
        region=SRC_REGION,
        status=status,
        encrypted=encrypted,
        kms_key_id=kms_key_id if encrypted else None,
        kms_key_aws_managed=aws_managed,
        engine="aurora-postgresql" if kind is CLUSTER else "postgres",
        database_identifier="reports" if kind is CLUSTER else "orders",
        tags=tags or {},
    )


DB_AUTOMATED = make_source("rds:orders-2026-11-24-03-10", "automated")
DB_MANUAL_CMK = make_source("ledger-final-2026-11-24", "manual")
DB_MANUAL_AWS_RDS = make_source("ledger-aws-key", "manual", kms_key_id=SOURCE_AWS_RDS_KEY, aws_managed=True)
DB_AWSBACKUP = make_source("awsbackup:job-4a9d2c7e-61b3-8f05-e2d4-9c1b7a3f5e60", "awsbackup")
CLUSTER_MANUAL = make_source("inventory-2026-11-24-pre-release", "manual", kind=CLUSTER)
CLUSTER_AUTOMATED = make_source("rds:reports-2026-11-24-04-00", "automated", kind=CLUSTER)
DB_AUTOMATED_PLAIN = make_source("rds:orders-2026-11-24-03-10", "automated", encrypted=False)
DB_MANUAL_PLAIN = make_source("ledger-plain", "manual", encrypted=False)
CLUSTER_MANUAL_PLAIN = make_source("inventory-plain", "manual", kind=CLUSTER, encrypted=False)

OFF = Encryption()
SAME_ACCOUNT_EU = MappingTarget(target_region="eu-west-1", encryption=Encryption(enabled=True, kms_key_arn=KEY_SRC_EU))
SAME_ACCOUNT_EU_OFF = MappingTarget(target_region="eu-west-1", encryption=OFF)
SAME_ACCOUNT_SAME_REGION = MappingTarget(
    target_region="us-east-1", encryption=Encryption(enabled=True, kms_key_arn=KEY_SRC_USE1)
)
CROSS_ACCOUNT_SAME_REGION = MappingTarget(
    target_region="us-east-1",
    role_arn=ROLE,
    encryption=Encryption(enabled=True, kms_key_arn=KEY_TGT_USE1),
    share_kms_key_arn=SHARE_KEY,
)
CROSS_ACCOUNT_EU = MappingTarget(
    target_region="eu-west-1",
    role_arn=ROLE,
    encryption=Encryption(enabled=True, kms_key_arn=KEY_TGT_EU),
    share_kms_key_arn=SHARE_KEY,
)
CROSS_ACCOUNT_EU_TRANSFER = CROSS_ACCOUNT_EU.model_copy(update={"transfer_kms_key_arn": TRANSFER_KEY})
CROSS_ACCOUNT_EU_OFF = MappingTarget(target_region="eu-west-1", role_arn=ROLE, share_kms_key_arn=SHARE_KEY)
CROSS_ACCOUNT_SAME_REGION_OFF = MappingTarget(target_region="us-east-1", role_arn=ROLE)
CROSS_ACCOUNT_EU_NO_SHARE_KEY = CROSS_ACCOUNT_EU.model_copy(update={"share_kms_key_arn": None})
CROSS_ACCOUNT_EU_OFF_NO_SHARE_KEY = CROSS_ACCOUNT_EU_OFF.model_copy(update={"share_kms_key_arn": None})
CROSS_ACCOUNT_SAME_REGION_NO_SHARE_KEY = CROSS_ACCOUNT_SAME_REGION.model_copy(update={"share_kms_key_arn": None})
SHARE_KEY_IN_TARGET_REGION = CROSS_ACCOUNT_EU.model_copy(update={"share_kms_key_arn": KEY_SRC_EU})
SHARE_KEY_OF_TARGET_ACCOUNT = CROSS_ACCOUNT_EU.model_copy(update={"share_kms_key_arn": KEY_TGT_USE1})
CROSS_ACCOUNT_EU_ENCRYPTED_ONLY = MappingTarget(
    target_region="eu-west-1",
    role_arn=ROLE,
    encryption=Encryption(enabled=True, kms_key_arn=KEY_TGT_EU, key_usage=KeyUsage.ENCRYPTED_ONLY),
)


def _rows(steps: list[PlanStep]) -> list[tuple]:
    return [(s.action, s.account_id, s.region, s.kms_key_id) for s in steps]


# the steps and cleanups of the plans below, by what they do; rows are (action, account, region, kms_key_id)
NOTHING: list[tuple] = []
COPY_TO_EU = [(COPY, SRC, "eu-west-1", KEY_SRC_EU)]
COPY_TO_EU_PLAIN = [(COPY, SRC, "eu-west-1", None)]
COPY_IN_REGION = [(COPY, SRC, "us-east-1", KEY_SRC_USE1)]
SHARE_COPY_IN_REGION = [(SHARE, SRC, "us-east-1", None), (COPY, TGT, "us-east-1", KEY_TGT_USE1)]
SHARE_COPY_IN_REGION_PLAIN = [(SHARE, SRC, "us-east-1", None), (COPY, TGT, "us-east-1", None)]
REENCRYPT_SHARE_COPY_IN_REGION = [
    (COPY, SRC, "us-east-1", SHARE_KEY),
    (SHARE, SRC, "us-east-1", None),
    (COPY, TGT, "us-east-1", KEY_TGT_USE1),
]
SHARE_COPY_TO_EU = [(SHARE, SRC, "us-east-1", None), (COPY, TGT, "eu-west-1", KEY_TGT_EU)]
SHARE_COPY_TO_EU_PLAIN = [(SHARE, SRC, "us-east-1", None), (COPY, TGT, "eu-west-1", None)]
COPY_SHARE_COPY_PLAIN = [*COPY_TO_EU_PLAIN, (SHARE, SRC, "eu-west-1", None), (COPY, TGT, "eu-west-1", None)]
COPY_SHARE_COPY_TO_EU = [*COPY_SHARE_COPY_PLAIN[:2], (COPY, TGT, "eu-west-1", KEY_TGT_EU)]
UNSHARE_SOURCE = [(UNSHARE, SRC, "us-east-1", None)]
UNSHARE_EU_COPY = [(UNSHARE, SRC, "eu-west-1", None)]
DELETE_INTERMEDIATE = [(DELETE, SRC, "us-east-1", None)]
TRANSFER_SHARE_COPY = [(COPY, SRC, "eu-west-1", TRANSFER_KEY), (SHARE, SRC, "eu-west-1", None), *SHARE_COPY_TO_EU[1:]]
REENCRYPT_SHARE_STAGE_COPY = [
    *REENCRYPT_SHARE_COPY_IN_REGION[:2],
    (COPY, TGT, "us-east-1", TGT_AWS_RDS_ALIAS),
    (COPY, TGT, "eu-west-1", KEY_TGT_EU),
]
DELETE_INTERMEDIATE_AND_STAGED = [(DELETE, SRC, "us-east-1", None), (DELETE, TGT, "us-east-1", None)]
# the sources that cannot be shared as they are (automated, AWS Backup, the aws/rds key), by name
UNSHAREABLE = [
    ("db-automated", DB_AUTOMATED),
    ("db-awsbackup", DB_AWSBACKUP),
    ("db-manual-aws-rds-key", DB_MANUAL_AWS_RDS),
    ("cluster-automated", CLUSTER_AUTOMATED),
]

# (source, target) -> steps, cleanup, replica encrypted; rows are (action, account, region, kms_key_id)
PLANS = [
    # --- same account: one copy in the target region ---
    pytest.param(DB_AUTOMATED, SAME_ACCOUNT_EU, COPY_TO_EU, NOTHING, True, id="same-account-cross-region-db-automated"),
    pytest.param(
        DB_MANUAL_CMK, SAME_ACCOUNT_EU, COPY_TO_EU, NOTHING, True, id="same-account-cross-region-db-manual-cmk"
    ),
    pytest.param(DB_AWSBACKUP, SAME_ACCOUNT_EU, COPY_TO_EU, NOTHING, True, id="same-account-cross-region-awsbackup"),
    pytest.param(
        CLUSTER_MANUAL, SAME_ACCOUNT_EU, COPY_TO_EU, NOTHING, True, id="same-account-cross-region-cluster-manual"
    ),
    pytest.param(
        DB_AUTOMATED,
        SAME_ACCOUNT_SAME_REGION,
        COPY_IN_REGION,
        NOTHING,
        True,
        id="same-account-same-region-db-automated",
    ),
    pytest.param(
        DB_MANUAL_PLAIN,
        SAME_ACCOUNT_EU_OFF,
        COPY_TO_EU_PLAIN,
        NOTHING,
        False,
        id="same-account-cross-region-plain-unencrypted",
    ),
    pytest.param(
        DB_MANUAL_PLAIN,
        SAME_ACCOUNT_EU,
        COPY_TO_EU,
        NOTHING,
        True,
        id="same-account-plain-instance-encrypted-by-key-usage-all",
    ),
    # --- another account, same region: share + one copy in the target account ---
    pytest.param(
        DB_MANUAL_CMK,
        CROSS_ACCOUNT_SAME_REGION,
        SHARE_COPY_IN_REGION,
        UNSHARE_SOURCE,
        True,
        id="cross-account-same-region-db-manual-cmk",
    ),
    pytest.param(
        DB_MANUAL_PLAIN,
        CROSS_ACCOUNT_SAME_REGION_OFF,
        SHARE_COPY_IN_REGION_PLAIN,
        UNSHARE_SOURCE,
        False,
        id="cross-account-same-region-db-manual-plain",
    ),
    pytest.param(
        DB_AUTOMATED,
        CROSS_ACCOUNT_SAME_REGION,
        REENCRYPT_SHARE_COPY_IN_REGION,
        DELETE_INTERMEDIATE,
        True,
        id="cross-account-same-region-db-automated",
    ),
    # --- another account, another region, shareable source: share, then one copy straight into the target region ---
    pytest.param(
        DB_MANUAL_CMK,
        CROSS_ACCOUNT_EU,
        SHARE_COPY_TO_EU,
        UNSHARE_SOURCE,
        True,
        id="cross-account-cross-region-db-manual-cmk",
    ),
    pytest.param(
        CLUSTER_MANUAL,
        CROSS_ACCOUNT_EU,
        SHARE_COPY_TO_EU,
        UNSHARE_SOURCE,
        True,
        id="cross-account-cross-region-cluster-manual",
    ),
    pytest.param(
        DB_MANUAL_PLAIN,
        CROSS_ACCOUNT_EU_OFF,
        SHARE_COPY_TO_EU_PLAIN,
        UNSHARE_SOURCE,
        False,
        id="cross-account-cross-region-db-manual-plain",
    ),
    pytest.param(
        CLUSTER_MANUAL_PLAIN,
        CROSS_ACCOUNT_EU_ENCRYPTED_ONLY,
        SHARE_COPY_TO_EU_PLAIN,
        UNSHARE_SOURCE,
        False,
        id="cross-account-cross-region-cluster-plain-encrypted-only",
    ),
    # --- another account, another region, unshareable source with a transfer key: the source account copies it
    # across regions (kept as the base), shares it there, the target account copies it in its region ---
    *[
        pytest.param(
            source,
            CROSS_ACCOUNT_EU_TRANSFER,
            TRANSFER_SHARE_COPY,
            UNSHARE_EU_COPY,
            True,
            id=f"cross-account-cross-region-{name}-transfer-first",
        )
        for name, source in UNSHAREABLE
    ],
    # --- the same without a transfer key: the older path (in-region re-encrypting copy, share, staging, copy) ---
    *[
        pytest.param(
            source,
            CROSS_ACCOUNT_EU,
            REENCRYPT_SHARE_STAGE_COPY,
            DELETE_INTERMEDIATE_AND_STAGED,
            True,
            id=f"cross-account-cross-region-{name}-reencrypted-staged",
        )
        for name, source in UNSHAREABLE
    ],
    # --- an unencrypted unshareable source needs no key: transfer-first, unencrypted ---
    pytest.param(
        DB_AUTOMATED_PLAIN,
        CROSS_ACCOUNT_EU_OFF,
        COPY_SHARE_COPY_PLAIN,
        UNSHARE_EU_COPY,
        False,
        id="cross-account-cross-region-db-automated-plain",
    ),
    pytest.param(
        DB_AUTOMATED_PLAIN,
        MappingTarget(
            target_region="eu-west-1", role_arn=ROLE, encryption=Encryption(enabled=True, kms_key_arn=KEY_TGT_EU)
        ),
        COPY_SHARE_COPY_TO_EU,
        UNSHARE_EU_COPY,
        True,
        id="cross-account-cross-region-db-automated-plain-encrypted-at-the-end",
    ),
]


@pytest.mark.parametrize(("source", "target", "steps", "cleanup", "encrypted"), PLANS)
def test_plan_steps_and_cleanup(
    source: SourceSnapshot, target: MappingTarget, steps: list[tuple], cleanup: list[tuple], encrypted: bool
) -> None:
    plan = plan_replication(source, target)

    assert _rows(plan.steps) == steps
    assert _rows(plan.cleanup) == cleanup
    assert plan.replica_encrypted is encrypted
    assert plan.target_account_id == target.account_id(SRC)
    assert plan.cross_account is (target.role_arn is not None)
    assert all(step.kind is source.kind for step in [*plan.steps, *plan.cleanup])


@pytest.mark.parametrize(("source", "target", "steps", "cleanup", "encrypted"), PLANS)
def test_plan_is_a_connected_chain(
    source: SourceSnapshot, target: MappingTarget, steps: list[tuple], cleanup: list[tuple], encrypted: bool
) -> None:
    """Each copy reads the snapshot the previous step made or shared; the last copy makes the replica; cleanup
    undoes exactly the intermediate snapshots and the share; calls in the target account use the role."""
    plan = plan_replication(source, target)

    current_arn = source.arn
    shared: PlanStep | None = None
    for step in plan.steps:
        if step.action is COPY:
            assert step.source_arn == current_arn
            current_arn = step.snapshot_arn
        else:
            assert step.action is SHARE
            assert step.snapshot_arn == current_arn
            assert step.share_with == plan.target_account_id
            shared = step
    assert current_arn == plan.replica_arn
    assert plan.steps[-1].action is COPY
    assert plan.steps[-1].region == target.target_region

    made = {s.snapshot_arn for s in plan.steps if s.action is COPY}
    kept = {plan.steps[plan.base.step_index].snapshot_arn} if plan.base and plan.base.intermediate else set()
    for step in plan.cleanup:
        if step.action is DELETE:
            assert step.snapshot_arn in made
            assert step.snapshot_arn != plan.replica_arn
        else:
            assert step.action is UNSHARE
            assert shared is not None
            assert step.snapshot_arn == shared.snapshot_arn
            assert step.share_with == plan.target_account_id
    deleted = {s.snapshot_arn for s in plan.cleanup if s.action is DELETE}
    assert deleted == made - {plan.replica_arn} - kept  # every intermediate but the lineage's base

    for step in [*plan.steps, *plan.cleanup]:
        expected_role = target.role_arn if step.account_id == plan.target_account_id else None
        assert step.role_arn == expected_role
        assert step.describe()


@pytest.mark.parametrize(("source", "target", "steps", "cleanup", "encrypted"), PLANS)
def test_replica_arn_points_at_the_target(
    source: SourceSnapshot, target: MappingTarget, steps: list[tuple], cleanup: list[tuple], encrypted: bool
) -> None:
    plan = plan_replication(source, target)

    assert parse_snapshot_arn(plan.replica_arn) == (
        source.kind,
        target.target_region,
        target.account_id(SRC),
        plan.steps[-1].snapshot_identifier,
    )


# --- refusals ---------------------------------------------------------------------------------------------------------

REFUSALS = [
    pytest.param(
        DB_AUTOMATED,
        CROSS_ACCOUNT_EU_NO_SHARE_KEY,
        "share_kms_key_arn",
        ["an automated snapshot", f"account {SRC}, region us-east-1", f"account {TGT}"],
        id="automated-without-share-key",
    ),
    pytest.param(
        DB_AWSBACKUP,
        CROSS_ACCOUNT_SAME_REGION_NO_SHARE_KEY,
        "share_kms_key_arn",
        ["an AWS Backup snapshot", f"account {SRC}, region us-east-1"],
        id="awsbackup-without-share-key",
    ),
    pytest.param(
        DB_MANUAL_AWS_RDS,
        CROSS_ACCOUNT_EU_NO_SHARE_KEY,
        "share_kms_key_arn",
        ["encrypted with the default aws/rds key", f"account {SRC}, region us-east-1"],
        id="aws-rds-key-without-share-key",
    ),
    pytest.param(
        CLUSTER_AUTOMATED,
        CROSS_ACCOUNT_EU_NO_SHARE_KEY,
        "share_kms_key_arn",
        [f"account {SRC}, region us-east-1"],
        id="cluster-automated-without-share-key",
    ),
    pytest.param(
        DB_AUTOMATED,
        SHARE_KEY_IN_TARGET_REGION,
        "share_kms_key_arn",
        [f"source account {SRC} and region us-east-1", f"not {SRC}/eu-west-1"],
        id="share-key-in-the-wrong-region",
    ),
    pytest.param(
        DB_AUTOMATED,
        SHARE_KEY_OF_TARGET_ACCOUNT,
        "share_kms_key_arn",
        [f"source account {SRC} and region us-east-1", f"not {TGT}/us-east-1"],
        id="share-key-in-the-target-account",
    ),
    *[
        pytest.param(
            make_source("ledger-final-2026-11-24", "manual", status=status),
            SAME_ACCOUNT_EU,
            None,
            [f"'{status}', not 'available'"],
            id=f"source-status-{status}",
        )
        for status in ["creating", "copying", "deleting", "failed"]
    ],
    pytest.param(
        DB_MANUAL_CMK,
        CROSS_ACCOUNT_EU_OFF,
        "encryption.enabled",
        ["encrypted", "encryption.enabled"],
        id="encrypted-source-encryption-off",
    ),
    pytest.param(
        CLUSTER_MANUAL_PLAIN,
        CROSS_ACCOUNT_EU,
        "encryption.key_usage",
        ["cluster", "encrypted_only"],
        id="plain-cluster-key-usage-all",
    ),
]


@pytest.mark.parametrize(("source", "target", "field", "fragments"), REFUSALS)
def test_refusals(source: SourceSnapshot, target: MappingTarget, field: str | None, fragments: list[str]) -> None:
    with pytest.raises(ReplicationRefused) as caught:
        plan_replication(source, target)

    assert caught.value.field == field
    for fragment in fragments:
        assert fragment in caught.value.reason


@pytest.mark.parametrize(
    ("source", "target", "first_step"),
    [
        pytest.param(
            DB_MANUAL_CMK,
            CROSS_ACCOUNT_EU_NO_SHARE_KEY,
            (SHARE, SRC, "us-east-1", None),
            id="manual-cmk-shared-as-is",
        ),
        pytest.param(
            DB_MANUAL_PLAIN,
            CROSS_ACCOUNT_EU_OFF_NO_SHARE_KEY,
            (SHARE, SRC, "us-east-1", None),
            id="manual-plain-shared-as-is",
        ),
        pytest.param(
            DB_AUTOMATED_PLAIN,
            CROSS_ACCOUNT_EU_OFF_NO_SHARE_KEY,
            (COPY, SRC, "eu-west-1", None),
            id="automated-plain-copied-unencrypted",
        ),
        pytest.param(DB_AUTOMATED, SAME_ACCOUNT_EU, (COPY, SRC, "eu-west-1", KEY_SRC_EU), id="same-account-automated"),
    ],
)
def test_no_share_key_needed(source: SourceSnapshot, target: MappingTarget, first_step: tuple) -> None:
    plan = plan_replication(source, target)

    assert _rows(plan.steps)[0] == first_step
    assert all(step.kms_key_id != SHARE_KEY for step in plan.steps)


# --- tags ---------------------------------------------------------------------------------------------------------

SOURCE_TAGS = {
    "team": "payments",
    "env": "prod",
    "aws:backup:source-resource": "arn:aws:rds:us-east-1:123456789012:db:orders",
    "replicator:note": "not copied",
}
TAGGED_SOURCES = [
    pytest.param(make_source("rds:orders-2026-11-24-03-10", "automated", tags=SOURCE_TAGS), id="db-automated"),
    pytest.param(make_source("ledger-final-2026-11-24", "manual", tags=SOURCE_TAGS), id="db-manual"),
    pytest.param(make_source("inventory-2026", "manual", kind=CLUSTER, tags=SOURCE_TAGS), id="cluster-manual"),
]
TAG_TARGETS = [
    pytest.param(SAME_ACCOUNT_EU, id="same-account"),
    pytest.param(CROSS_ACCOUNT_EU, id="cross-account-cross-region"),
    pytest.param(CROSS_ACCOUNT_SAME_REGION, id="cross-account-same-region"),
]


@pytest.mark.parametrize("target", TAG_TARGETS)
@pytest.mark.parametrize(
    ("copy_tags", "expected_source_tags"),
    [
        pytest.param(True, {"team": "payments", "env": "prod"}, id="copy-tags"),
        pytest.param(False, {}, id="no-copy-tags"),
    ],
)
@pytest.mark.parametrize("source", TAGGED_SOURCES)
def test_copy_step_tags(
    source: SourceSnapshot, target: MappingTarget, copy_tags: bool, expected_source_tags: dict[str, str]
) -> None:
    plan = plan_replication(source, target.model_copy(update={"copy_tags": copy_tags}))

    expected = {
        **expected_source_tags,
        TAG_SOURCE_ARN: source.arn,
        TAG_SOURCE_ACCOUNT: source.account_id,  # whose replica: a vault in organization mode checks it
        TAG_REPLICATION_ID: plan.replication_id,
        TAG_MANAGED_BY: "rds-snapshot-replicator",
    }
    if source.database_identifier:  # retention's keep_last counts replicas per source database
        expected[TAG_SOURCE_DATABASE] = source.database_identifier
    copies = [s for s in plan.steps if s.action is COPY]
    assert copies
    for step in copies:
        assert step.tags == expected
        assert not any(k.startswith("aws:") for k in step.tags)
    # share / unshare / delete steps create no snapshot, so they carry no tags (PlanStep.tags is for copies)
    for step in [*plan.steps, *plan.cleanup]:
        if step.action is not COPY:
            assert step.tags == {}


# --- identifiers --------------------------------------------------------------------------------------------------

LONG_TAIL = "-".join(["orders"] * 60)  # 419 characters


def _with_hyphen_at(positions: list[int], length: int) -> str:
    chars = ["x"] * length
    for p in positions:
        chars[p] = "-"
    return "".join(chars)


# Room for the body is max - len("snaprep-") - len("-<hash>") [- len("-share"|"-stage")]:
# instance 238 / 232, cluster 46 / 40. A hyphen just before the cut must not end the body.
IDENTIFIER_SOURCES = [
    pytest.param(DB_AUTOMATED, id="db-automated"),
    pytest.param(DB_AWSBACKUP, id="db-awsbackup"),
    pytest.param(DB_MANUAL_AWS_RDS, id="db-manual-aws-rds"),
    pytest.param(CLUSTER_AUTOMATED, id="cluster-automated"),
    pytest.param(make_source("rds:" + LONG_TAIL, "automated"), id="db-very-long"),
    pytest.param(make_source("rds:" + LONG_TAIL, "automated", kind=CLUSTER), id="cluster-very-long"),
    pytest.param(make_source("awsbackup:" + _with_hyphen_at([231, 237], 300), "awsbackup"), id="db-hyphen-at-the-cut"),
    pytest.param(
        make_source("rds:" + _with_hyphen_at([39, 45], 80), "automated", kind=CLUSTER), id="cluster-hyphen-at-the-cut"
    ),
    pytest.param(make_source("rds:Orders__Prod..2026", "automated"), id="db-odd-characters"),
    pytest.param(make_source("rds:---", "automated"), id="db-nothing-left-after-sanitizing"),
]
RDS_IDENTIFIER = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@pytest.mark.parametrize("source", IDENTIFIER_SOURCES)
def test_replica_identifiers_are_valid_rds_names(source: SourceSnapshot) -> None:
    plan = plan_replication(source, CROSS_ACCOUNT_EU)  # intermediate, staging and final copies: every suffix
    created = [s.snapshot_identifier for s in plan.steps if s.action is COPY]

    assert len(created) == 3
    assert [i.rsplit("-", 1)[-1] for i in created[:2]] == ["share", "stage"]
    for identifier in created:
        assert identifier.startswith(REPLICA_PREFIX)
        assert "rds:" not in identifier
        assert "awsbackup:" not in identifier
        assert "--" not in identifier
        assert not identifier.endswith("-")
        assert len(identifier) <= source.kind.max_identifier_length
        assert RDS_IDENTIFIER.match(identifier), identifier


@pytest.mark.parametrize(
    ("source", "expected_length"),
    [
        pytest.param(make_source("rds:orders" + "x" * 400, "automated"), 255, id="instance-255"),
        pytest.param(make_source("rds:orders" + "x" * 400, "automated", kind=CLUSTER), 63, id="cluster-63"),
    ],
)
def test_long_source_identifiers_are_truncated_to_the_limit(source: SourceSnapshot, expected_length: int) -> None:
    plan = plan_replication(source, CROSS_ACCOUNT_EU)

    # the body is cut, the hash and suffix are kept: without a hyphen at the cut the names use the whole room
    assert [len(s.snapshot_identifier) for s in plan.steps if s.action is COPY] == [expected_length] * 3
    for step in plan.steps:
        if step.action is COPY:
            assert step.snapshot_identifier.startswith("snaprep-ordersxxx")
            assert re.search(r"xx-[0-9a-f]{8}(-share|-stage)?$", step.snapshot_identifier)


@pytest.mark.parametrize(
    ("source", "expected_prefix"),
    [
        pytest.param(DB_AUTOMATED, "snaprep-orders-2026-11-24-03-10-", id="rds-prefix-dropped"),
        pytest.param(DB_AWSBACKUP, "snaprep-job-4a9d2c7e-61b3-8f05-e2d4-9c1b7a3f5e60-", id="awsbackup-prefix-dropped"),
        pytest.param(DB_MANUAL_CMK, "snaprep-ledger-final-2026-11-24-", id="manual-kept"),
        pytest.param(make_source("rds:Orders__Prod..2026", "automated"), "snaprep-orders-prod-2026-", id="sanitized"),
        pytest.param(make_source("rds:---", "automated"), "snaprep-snapshot-", id="empty-body-fallback"),
    ],
)
def test_replica_identifier_names_the_source(source: SourceSnapshot, expected_prefix: str) -> None:
    plan = plan_replication(source, SAME_ACCOUNT_EU)

    identifier = plan.steps[-1].snapshot_identifier
    assert identifier.startswith(expected_prefix)
    assert re.fullmatch(r"[0-9a-f]{8}", identifier.removeprefix(expected_prefix))


@pytest.mark.parametrize(
    ("source", "target"),
    [pytest.param(*p.values[:2], id=p.id) for p in PLANS],
)
def test_plans_are_deterministic(source: SourceSnapshot, target: MappingTarget) -> None:
    first = plan_replication(source, target)
    second = plan_replication(source.model_copy(), target.model_copy())

    assert first == second
    assert first.replication_id == second.replication_id
    assert [s.snapshot_identifier for s in first.steps] == [s.snapshot_identifier for s in second.steps]


DISTINCT_TARGETS = [  # one per (account, region); unencrypted, so that every source kind can be planned
    MappingTarget(target_region="eu-west-1"),
    MappingTarget(target_region="us-east-1"),
    MappingTarget(target_region="eu-central-1"),
    MappingTarget(target_region="eu-west-1", role_arn=ROLE),
    MappingTarget(target_region="us-east-1", role_arn=ROLE),
    MappingTarget(target_region="eu-central-1", role_arn=ROLE),
    MappingTarget(target_region="eu-west-1", role_arn=OTHER_ROLE),
]


@pytest.mark.parametrize(
    "source", [DB_AUTOMATED_PLAIN, DB_MANUAL_PLAIN, CLUSTER_MANUAL_PLAIN], ids=lambda s: s.identifier
)
def test_ids_and_names_differ_between_targets(source: SourceSnapshot) -> None:
    plans = [plan_replication(source, t) for t in DISTINCT_TARGETS]

    assert len({p.replication_id for p in plans}) == len(plans)
    assert len({p.replica_arn for p in plans}) == len(plans)
    assert len({p.steps[-1].snapshot_identifier for p in plans}) == len(plans)
    made = [s.snapshot_arn for p in plans for s in p.steps if s.action is COPY]
    assert len(set(made)) == len(made)


def test_ids_differ_between_sources_that_truncate_alike() -> None:
    a = make_source("rds:" + LONG_TAIL + "-a", "automated", kind=CLUSTER)
    b = make_source("rds:" + LONG_TAIL + "-b", "automated", kind=CLUSTER)
    plan_a, plan_b = plan_replication(a, CROSS_ACCOUNT_EU), plan_replication(b, CROSS_ACCOUNT_EU)

    assert plan_a.replication_id != plan_b.replication_id
    for step_a, step_b in zip(plan_a.steps, plan_b.steps, strict=True):
        if step_a.action is COPY:
            assert step_a.snapshot_identifier != step_b.snapshot_identifier


EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.mark.parametrize("source", IDENTIFIER_SOURCES)
@pytest.mark.parametrize("target_region", ["eu-west-1", "ap-southeast-2", "ap-northeast-3"])
def test_replication_id_is_a_valid_execution_name(source: SourceSnapshot, target_region: str) -> None:
    target = MappingTarget(target_region=target_region, role_arn=ROLE, share_kms_key_arn=SHARE_KEY)
    plan = plan_replication(source.model_copy(update={"encrypted": False}), target)

    assert len(plan.replication_id) <= 80
    assert EXECUTION_NAME.match(plan.replication_id)
    assert f"-{target_region}-" in plan.replication_id


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(DB_AUTOMATED, "orders-2026-11-24-03-10-eu-west-1-", id="db-automated"),
        pytest.param(DB_AWSBACKUP, "job-4a9d2c7e-61b3-8f05-e2d4-9c1b7a3f5e60-eu-west-1-", id="awsbackup"),
        pytest.param(CLUSTER_MANUAL, "inventory-2026-11-24-pre-release-eu-west-1-", id="cluster-manual"),
    ],
)
def test_replication_id_reads_as_source_and_region(source: SourceSnapshot, expected: str) -> None:
    plan = plan_replication(source, CROSS_ACCOUNT_EU)

    assert plan.replication_id.startswith(expected)
    assert re.fullmatch(r"[0-9a-f]{12}", plan.replication_id.removeprefix(expected))


def test_plan_carries_its_inputs() -> None:
    plan = plan_replication(DB_AUTOMATED, CROSS_ACCOUNT_EU)

    assert isinstance(plan, ReplicationPlan)
    assert plan.source == DB_AUTOMATED
    assert plan.target == CROSS_ACCOUNT_EU
    assert plan.model_validate(plan.model_dump(mode="json")) == plan


# --- partitions -----------------------------------------------------------------------------------------------------


def test_plan_keeps_the_source_partition() -> None:
    gov = "arn:aws-us-gov"
    source = source_snapshot("rds:orders-1", account_id=SRC, region="us-gov-west-1", partition="aws-us-gov")
    target = MappingTarget(
        target_region="us-gov-east-1",
        role_arn=f"{gov}:iam::{TGT}:role/SnapshotReplication",
        encryption=Encryption(enabled=True, kms_key_arn=f"{gov}:kms:us-gov-east-1:{TGT}:key/abc"),
        share_kms_key_arn=f"{gov}:kms:us-gov-west-1:{SRC}:key/def",
    )
    plan = plan_replication(source, target)

    arns = [plan.replica_arn, *(s.source_arn for s in plan.steps if s.source_arn), *(s.kms_key_id for s in plan.steps)]
    assert all(a.startswith(gov + ":") for a in arns if a)


# --- shapes, bases and the single step's fallback -----------------------------------------------------------------

LINEAGE_DB = "lineage#instance#123456789012#us-east-1#orders"


@pytest.mark.parametrize(
    ("source", "target", "single_step", "shape", "base", "note"),
    [
        pytest.param(DB_AUTOMATED, SAME_ACCOUNT_EU, True, "same-account",
                     (f"{LINEAGE_DB}#{SRC}#eu-west-1", f"same-account#{KEY_SRC_EU}", 0, False), "", id="same-account"),
        pytest.param(DB_MANUAL_CMK, CROSS_ACCOUNT_EU, True, "single-step",
                     (f"{LINEAGE_DB}#{TGT}#eu-west-1", f"single-step#{KEY_TGT_EU}", 1, False), "", id="single-step"),
        pytest.param(DB_MANUAL_CMK, CROSS_ACCOUNT_EU, False, "staged", None, "AWS refused a single-step copy",
                     id="single-step-refused-lately"),
        pytest.param(DB_AUTOMATED, CROSS_ACCOUNT_EU_TRANSFER, True, "transfer-first",
                     (f"{LINEAGE_DB}#{SRC}#eu-west-1#for#{TGT}", f"transfer-first#{TRANSFER_KEY}", 0, True), "",
                     id="transfer-first"),
        pytest.param(DB_AUTOMATED_PLAIN, CROSS_ACCOUNT_EU_OFF, True, "transfer-first",
                     (f"{LINEAGE_DB}#{SRC}#eu-west-1#for#{TGT}", "transfer-first#unencrypted", 0, True), "",
                     id="transfer-first-unencrypted"),
        pytest.param(DB_AUTOMATED, CROSS_ACCOUNT_EU, True, "reencrypted-staged", None,
                     "set transfer_kms_key_arn to a customer managed key of account 123456789012 in eu-west-1",
                     id="reencrypted-staged-without-transfer-key"),
        pytest.param(DB_AUTOMATED, CROSS_ACCOUNT_SAME_REGION, True, "shared-in-region", None, "",
                     id="shared-in-region"),
    ],
)  # fmt: skip
def test_plan_shapes_and_the_base_each_keeps(
    source: SourceSnapshot, target: MappingTarget, single_step: bool, shape: str, base: tuple | None, note: str
) -> None:
    plan = plan_replication(source, target, single_step=single_step)

    assert plan.shape.value == shape
    if base is None:
        assert plan.base is None
    else:
        assert plan.base is not None
        assert (plan.base.lineage, plan.base.signature, plan.base.step_index, plan.base.intermediate) == base
    assert note in plan.note
    assert bool(plan.note) is bool(note)


def test_the_single_step_carries_its_fallback_the_staging_path():
    plan = plan_replication(DB_MANUAL_CMK, CROSS_ACCOUNT_EU)

    assert _rows(plan.fallback_steps) == [
        (COPY, TGT, "us-east-1", TGT_AWS_RDS_ALIAS),
        (COPY, TGT, "eu-west-1", KEY_TGT_EU),
    ]
    assert _rows(plan.fallback_cleanup) == [(DELETE, TGT, "us-east-1", None)]
    staged = plan.route(fallback=True)
    assert _rows(staged.steps) == [(SHARE, SRC, "us-east-1", None), *_rows(plan.fallback_steps)]
    assert _rows(staged.cleanup) == [(UNSHARE, SRC, "us-east-1", None), (DELETE, TGT, "us-east-1", None)]
    assert staged.replica_arn == plan.replica_arn
    # the same steps as a plan made without the single step
    direct = plan_replication(DB_MANUAL_CMK, CROSS_ACCOUNT_EU, single_step=False)
    assert staged.steps == direct.steps
    assert staged.cleanup == direct.cleanup
    assert plan.route(fallback=False) is plan


@pytest.mark.parametrize(
    ("transfer_key", "fragments"),
    [
        pytest.param(KEY_SRC_USE1, ["transfer_kms_key_arn is in us-east-1 but target_region is eu-west-1"],
                     id="key-in-the-source-region"),
        pytest.param(KEY_TGT_EU, [f"source account {SRC} in the target region eu-west-1", f"not {TGT}/eu-west-1"],
                     id="key-of-the-target-account"),
    ],
)  # fmt: skip
def test_a_transfer_key_must_be_the_source_accounts_in_the_target_region(transfer_key: str, fragments: list[str]):
    from pydantic import ValidationError

    try:
        target = CROSS_ACCOUNT_EU.model_copy(update={"transfer_kms_key_arn": transfer_key})
        target = MappingTarget.model_validate(target.model_dump())  # the model's own check, as a mapping is read
        with pytest.raises(ReplicationRefused) as caught:
            plan_replication(DB_AUTOMATED, target)
        reason = caught.value.reason
        assert caught.value.field == "transfer_kms_key_arn"
    except ValidationError as error:
        reason = str(error)
    for fragment in fragments:
        assert fragment in reason
