"""A stored plan is acted on only if it is the plan the planner makes for its source and target, to an allowed
destination: each way of altering a plan where it is stored is caught, with a reason a person can read."""

from __future__ import annotations

import pytest
from factories import source_snapshot

from replicator.destinations import AllowedDestinations, parse_accounts
from replicator.mapping import Encryption, MappingTarget, RegionMapping
from replicator.planning import ReplicationPlan, StepAction, plan_replication
from replicator.snapshots import SourceSnapshot

SRC, TGT, OTHER = "123456789012", "210987654321", "345678901234"
ROLE = f"arn:aws:iam::{TGT}:role/rds-snapshot-replicator-target"
SHARE_KEY = f"arn:aws:kms:us-east-1:{SRC}:key/33333333-3333-3333-3333-333333333333"
VAULT_KEY = f"arn:aws:kms:eu-west-1:{TGT}:key/66666666-6666-6666-6666-666666666666"
DR_KEY = f"arn:aws:kms:us-west-2:{SRC}:key/44444444-4444-4444-4444-444444444444"
ALLOWED = AllowedDestinations(own_account=SRC, accounts=frozenset({TGT}))


def _source(identifier: str, snapshot_type: str) -> SourceSnapshot:
    return source_snapshot(
        identifier,
        snapshot_type,
        account_id=SRC,
        kms_key_id=f"arn:aws:kms:us-east-1:{SRC}:key/11111111-1111-1111-1111-111111111111",
        database_identifier="orders",
    )


CROSS_ACCOUNT = MappingTarget(
    target_region="eu-west-1",
    role_arn=ROLE,
    encryption=Encryption(enabled=True, kms_key_arn=VAULT_KEY),
    share_kms_key_arn=SHARE_KEY,
)
SAME_ACCOUNT = MappingTarget(target_region="us-west-2", encryption=Encryption(enabled=True, kms_key_arn=DR_KEY))

AUTOMATED = plan_replication(_source("rds:orders-2026-11-24-03-10", "automated"), CROSS_ACCOUNT)  # copy share copy copy
MANUAL = plan_replication(_source("ledger-final", "manual"), CROSS_ACCOUNT)  # share copy copy, unshare afterwards
SAME = plan_replication(_source("rds:orders-2026-11-24-03-10", "automated"), SAME_ACCOUNT)  # one copy


def _step_index(plan: ReplicationPlan, action: StepAction) -> int:
    return next(i for i, s in enumerate(plan.steps) if s.action is action)


def _with_step(plan: ReplicationPlan, action: StepAction, **changes: object) -> ReplicationPlan:
    index = _step_index(plan, action)
    steps = list(plan.steps)
    steps[index] = steps[index].model_copy(update=changes)
    return plan.model_copy(update={"steps": steps})


@pytest.mark.parametrize("plan", [AUTOMATED, MANUAL, SAME], ids=["automated-cross-account", "manual", "same-account"])
def test_the_planners_own_plans_pass(plan: ReplicationPlan) -> None:
    assert plan.problems(ALLOWED) == []


@pytest.mark.parametrize(
    ("plan", "fragment"),
    [
        pytest.param(_with_step(MANUAL, StepAction.SHARE, share_with="all"), "shares with 'all'", id="share-public"),
        pytest.param(
            _with_step(MANUAL, StepAction.SHARE, share_with=OTHER), f"shares with '{OTHER}'", id="share-other-account"
        ),
        pytest.param(
            _with_step(AUTOMATED, StepAction.SHARE, snapshot_identifier="prod-customers-final"),
            "acts on prod-customers-final, not a snapshot of this plan",
            id="share-another-snapshot",
        ),
        pytest.param(
            _with_step(SAME, StepAction.COPY, role_arn=f"arn:aws:iam::{OTHER}:role/rds-snapshot-replicator-x"),
            "not the target's",
            id="copy-through-another-role",
        ),
        pytest.param(
            _with_step(SAME, StepAction.COPY, account_id=OTHER), "acts in account 345678901234", id="copy-elsewhere"
        ),
        pytest.param(
            _with_step(SAME, StepAction.COPY, kms_key_id=None, encrypted=False),
            "differs from the one the planner makes",
            id="copy-unencrypted",
        ),
        pytest.param(
            MANUAL.model_copy(
                update={
                    "cleanup": [
                        s.model_copy(update={"snapshot_identifier": "prod-customers-final"}) for s in MANUAL.cleanup
                    ]
                }
            ),
            "acts on prod-customers-final",
            id="cleanup-another-snapshot",
        ),
        pytest.param(
            SAME.model_copy(update={"cleanup": [SAME.steps[0].model_copy(update={"action": StepAction.DELETE})]}),
            "differs from the one the planner makes",
            id="cleanup-deletes-the-replica",
        ),
        pytest.param(
            MANUAL.model_copy(update={"target_account_id": OTHER}),
            "not allowed by the stack parameter",
            id="target-other",
        ),
        pytest.param(
            SAME.model_copy(update={"replication_id": "another-replication-0123456789ab"}),
            "differs from the one the planner makes",
            id="another-replication-id",
        ),
        pytest.param(
            SAME.model_copy(update={"source": SAME.source.model_copy(update={"account_id": OTHER})}),
            "is not a snapshot of this account",
            id="source-of-another-account",
        ),
    ],
)
def test_an_altered_plan_is_caught(plan: ReplicationPlan, fragment: str) -> None:
    problems = plan.problems(ALLOWED)

    assert problems, "an altered plan passed"
    assert any(fragment in p for p in problems), problems


def test_a_plan_to_a_destination_no_longer_allowed_is_caught() -> None:
    only_own = AllowedDestinations(own_account=SRC)

    assert any("AllowedTargetAccounts" in p for p in MANUAL.problems(only_own))
    assert SAME.problems(only_own) == []


@pytest.mark.parametrize(
    ("allowed", "account", "fragment"),
    [
        pytest.param(ALLOWED, SRC, None, id="own-account"),
        pytest.param(ALLOWED, TGT, None, id="listed"),
        pytest.param(ALLOWED, OTHER, "AllowedTargetAccounts (allowed: 123456789012, 210987654321)", id="not-listed"),
        pytest.param(ALLOWED, "all", "not a 12-digit AWS account id", id="all"),
        pytest.param(ALLOWED, "21098765432", "not a 12-digit AWS account id", id="eleven-digits"),
        pytest.param(
            ALLOWED.model_copy(update={"organization_id": "o-a1b2c3d4e5"}), OTHER, None, id="organization-left-to-iam"
        ),
        pytest.param(
            ALLOWED.model_copy(update={"organization_id": "o-a1b2c3d4e5"}),
            "all",
            "not a 12-digit",
            id="organization-never-all",
        ),
    ],
)
def test_allowed_destinations(allowed: AllowedDestinations, account: str, fragment: str | None) -> None:
    refusal = allowed.refusal(account)

    if fragment is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert fragment in refusal


@pytest.mark.parametrize(
    ("text", "accounts"),
    [("", set()), (" ", set()), (TGT, {TGT}), (f"{TGT}, {OTHER}", {TGT, OTHER}), (f"{TGT},,{TGT}", {TGT})],
)
def test_parse_accounts(text: str, accounts: set[str]) -> None:
    assert parse_accounts(text) == accounts


@pytest.mark.parametrize("text", ["all", "1234", f"{TGT},o-a1b2c3d4e5", "arn:aws:iam::210987654321:root"])
def test_parse_accounts_refuses_what_is_not_an_account(text: str) -> None:
    with pytest.raises(ValueError, match="not 12-digit AWS account ids"):
        parse_accounts(text)


@pytest.mark.parametrize(
    ("targets", "own", "repeated"),
    [
        pytest.param([{"target_region": "us-west-2"}, {"target_region": "eu-west-1"}], SRC, None, id="distinct"),
        pytest.param(
            [{"target_region": "us-west-2"}, {"target_region": "us-west-2", "role_arn": f"arn:aws:iam::{SRC}:role/r"}],
            SRC,
            (SRC, "us-west-2"),
            id="no-role-and-own-role",
        ),
        pytest.param(
            [{"target_region": "us-west-2"}, {"target_region": "us-west-2", "role_arn": ROLE}], SRC, None, id="other"
        ),
    ],
)
def test_repeated_destination(targets: list[dict], own: str, repeated: tuple[str, str] | None) -> None:
    mapping = RegionMapping(source_region="us-east-1", targets=targets)

    assert mapping.repeated_destination(own) == repeated
