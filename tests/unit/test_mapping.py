"""Region mapping items: what is accepted, and how a rejected item's error names the bad field."""

from __future__ import annotations

from typing import Any

import pytest
from factories import OTHER_ACCOUNT, OTHER_ROLE, ROLE, SOURCE_ACCOUNT, TARGET_ACCOUNT
from pydantic import ValidationError

from replicator.mapping import (
    ALL_REGIONS,
    Encryption,
    KeyUsage,
    MappingTarget,
    RegionMapping,
    account_of,
    describe_validation_error,
    parse_mapping_item,
    region_of,
)

ROLE_SAME_ACCOUNT_OTHER_NAME = f"arn:aws:iam::{TARGET_ACCOUNT}:role/path/to/OtherReplicationRole"
KEY_EU_WEST_1 = f"arn:aws:kms:eu-west-1:{TARGET_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_EU_CENTRAL_1 = f"arn:aws:kms:eu-central-1:{OTHER_ACCOUNT}:key/0987dcba-09ba-43dc-65fe-0987654321ba"
KEY_US_WEST_2 = f"arn:aws:kms:us-west-2:{SOURCE_ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab"
SHARE_KEY = f"arn:aws:kms:us-east-1:{SOURCE_ACCOUNT}:key/5555aaaa-55aa-55aa-55aa-5555aaaa5555"


def _target_summary(target: MappingTarget) -> tuple:
    enc = target.encryption
    return (
        target.target_region,
        target.account_id(SOURCE_ACCOUNT),
        enc.enabled,
        enc.kms_key_arn,
        enc.key_usage,
        target.copy_tags,
        target.share_kms_key_arn,
    )


# --- valid items ------------------------------------------------------------------------------------------------------

VALID_ITEMS = {
    "own-region-minimal-target-defaults": (
        {"source_region": "us-east-1", "targets": [{"target_region": "us-west-2"}]},
        "us-east-1",
        [("us-west-2", SOURCE_ACCOUNT, False, None, KeyUsage.ALL, True, None)],
    ),
    "all-regions-star-item": (
        {"source_region": ALL_REGIONS, "targets": [{"target_region": "eu-west-1"}], "description": "everything"},
        "*",
        [("eu-west-1", SOURCE_ACCOUNT, False, None, KeyUsage.ALL, True, None)],
    ),
    "several-targets-mixed-accounts-and-encryption": (
        {
            "source_region": "us-east-1",
            "targets": [
                {"target_region": "eu-west-1", "role_arn": ROLE, "share_kms_key_arn": SHARE_KEY},
                {"target_region": "us-west-2", "encryption": {"enabled": True, "kms_key_arn": KEY_US_WEST_2}},
                {
                    "target_region": "eu-central-1",
                    "role_arn": OTHER_ROLE,
                    "copy_tags": False,
                    "encryption": {"enabled": True, "kms_key_arn": KEY_EU_CENTRAL_1, "key_usage": "encrypted_only"},
                },
            ],
            "updated_at": "2026-11-24T10:00:00Z",
        },
        "us-east-1",
        [
            ("eu-west-1", TARGET_ACCOUNT, False, None, KeyUsage.ALL, True, SHARE_KEY),
            ("us-west-2", SOURCE_ACCOUNT, True, KEY_US_WEST_2, KeyUsage.ALL, True, None),
            ("eu-central-1", OTHER_ACCOUNT, True, KEY_EU_CENTRAL_1, KeyUsage.ENCRYPTED_ONLY, False, None),
        ],
    ),
    "with-role-arn-other-account-encrypted": (
        {
            "source_region": "us-east-1",
            "targets": [
                {
                    "target_region": "eu-west-1",
                    "role_arn": ROLE,
                    "encryption": {"enabled": True, "kms_key_arn": KEY_EU_WEST_1},
                }
            ],
        },
        "us-east-1",
        [("eu-west-1", TARGET_ACCOUNT, True, KEY_EU_WEST_1, KeyUsage.ALL, True, None)],
    ),
    "encryption-explicitly-off-same-region": (
        {"source_region": "eu-west-1", "targets": [{"target_region": "eu-west-1", "encryption": {"enabled": False}}]},
        "eu-west-1",
        [("eu-west-1", SOURCE_ACCOUNT, False, None, KeyUsage.ALL, True, None)],
    ),
    "encryption-off-key-kept": (
        {
            "source_region": "us-east-1",
            "targets": [{"target_region": "eu-west-1", "encryption": {"enabled": False, "kms_key_arn": KEY_EU_WEST_1}}],
        },
        "us-east-1",
        [("eu-west-1", SOURCE_ACCOUNT, False, KEY_EU_WEST_1, KeyUsage.ALL, True, None)],
    ),
    "key-usage-encrypted-only": (
        {
            "source_region": "us-east-1",
            "targets": [
                {
                    "target_region": "eu-west-1",
                    "encryption": {"enabled": True, "kms_key_arn": KEY_EU_WEST_1, "key_usage": "encrypted_only"},
                }
            ],
        },
        "us-east-1",
        [("eu-west-1", SOURCE_ACCOUNT, True, KEY_EU_WEST_1, KeyUsage.ENCRYPTED_ONLY, True, None)],
    ),
    "same-region-different-accounts": (
        {
            "source_region": "us-east-1",
            "targets": [{"target_region": "eu-west-1"}, {"target_region": "eu-west-1", "role_arn": ROLE}],
        },
        "us-east-1",
        [
            ("eu-west-1", SOURCE_ACCOUNT, False, None, KeyUsage.ALL, True, None),
            ("eu-west-1", TARGET_ACCOUNT, False, None, KeyUsage.ALL, True, None),
        ],
    ),
    "same-region-two-roles-in-different-accounts": (
        {
            "source_region": "us-east-1",
            "targets": [
                {"target_region": "eu-west-1", "role_arn": ROLE},
                {"target_region": "eu-west-1", "role_arn": OTHER_ROLE},
            ],
        },
        "us-east-1",
        [
            ("eu-west-1", TARGET_ACCOUNT, False, None, KeyUsage.ALL, True, None),
            ("eu-west-1", OTHER_ACCOUNT, False, None, KeyUsage.ALL, True, None),
        ],
    ),
    "govcloud-region-names": (
        {"source_region": "us-gov-west-1", "targets": [{"target_region": "us-gov-east-1"}]},
        "us-gov-west-1",
        [("us-gov-east-1", SOURCE_ACCOUNT, False, None, KeyUsage.ALL, True, None)],
    ),
    "long-region-names": (
        {"source_region": "ap-southeast-2", "targets": [{"target_region": "ap-northeast-3"}]},
        "ap-southeast-2",
        [("ap-northeast-3", SOURCE_ACCOUNT, False, None, KeyUsage.ALL, True, None)],
    ),
}


@pytest.mark.parametrize(("item", "source_region", "targets"), VALID_ITEMS.values(), ids=list(VALID_ITEMS))
def test_valid_item_is_parsed(item: dict[str, Any], source_region: str, targets: list[tuple]) -> None:
    mapping = parse_mapping_item(item)

    assert isinstance(mapping, RegionMapping)
    assert mapping.source_region == source_region
    assert [_target_summary(t) for t in mapping.targets] == targets


@pytest.mark.parametrize(("item", "source_region", "targets"), VALID_ITEMS.values(), ids=list(VALID_ITEMS))
def test_valid_item_survives_a_json_round_trip(item: dict[str, Any], source_region: str, targets: list[tuple]) -> None:
    mapping = parse_mapping_item(item)

    assert parse_mapping_item(mapping.model_dump(mode="json")) == mapping


def test_target_defaults() -> None:
    target = MappingTarget(target_region="eu-west-1")

    assert target.role_arn is None
    assert target.encryption == Encryption(enabled=False, kms_key_arn=None, key_usage=KeyUsage.ALL)
    assert target.copy_tags is True
    assert target.share_kms_key_arn is None


@pytest.mark.parametrize(
    ("role_arn", "expected_account"),
    [
        pytest.param(None, SOURCE_ACCOUNT, id="no-role-is-this-account"),
        pytest.param(ROLE, TARGET_ACCOUNT, id="role-names-the-account"),
        pytest.param(ROLE_SAME_ACCOUNT_OTHER_NAME, TARGET_ACCOUNT, id="role-with-path"),
    ],
)
def test_target_account_id(role_arn: str | None, expected_account: str) -> None:
    target = MappingTarget(target_region="eu-west-1", role_arn=role_arn)

    assert target.account_id(SOURCE_ACCOUNT) == expected_account


@pytest.mark.parametrize(
    ("arn", "account", "region"),
    [
        pytest.param(KEY_EU_WEST_1, TARGET_ACCOUNT, "eu-west-1", id="kms-key"),
        pytest.param(ROLE, TARGET_ACCOUNT, "", id="iam-role-is-global"),
        pytest.param(
            "arn:aws:rds:us-east-1:123456789012:snapshot:rds:x", SOURCE_ACCOUNT, "us-east-1", id="rds-snapshot"
        ),
    ],
)
def test_account_of_and_region_of(arn: str, account: str, region: str) -> None:
    assert account_of(arn) == account
    assert region_of(arn) == region


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(Encryption(), id="encryption"),
        pytest.param(MappingTarget(target_region="eu-west-1"), id="target"),
        pytest.param(
            parse_mapping_item({"source_region": "*", "targets": [{"target_region": "eu-west-1"}]}), id="item"
        ),
    ],
)
def test_models_are_frozen(model: Any) -> None:
    field = next(iter(type(model).model_fields))
    with pytest.raises(ValidationError):
        setattr(model, field, getattr(model, field))


# --- invalid items ----------------------------------------------------------------------------------------------------


def _item(**target: Any) -> dict[str, Any]:
    """A valid us-east-1 item with one eu-west-1 target, with `target`'s keys replaced."""
    return {"source_region": "us-east-1", "targets": [{"target_region": "eu-west-1", **target}]}


INVALID_ITEMS = {
    "kms-alias-arn-instead-of-key-arn": (
        _item(encryption={"enabled": True, "kms_key_arn": f"arn:aws:kms:eu-west-1:{TARGET_ACCOUNT}:alias/replicas"}),
        ["targets.0.encryption.kms_key_arn: ", "is not a KMS key ARN", "aliases are not accepted"],
    ),
    "kms-alias-name-instead-of-key-arn": (
        _item(encryption={"enabled": True, "kms_key_arn": "alias/aws/rds"}),
        ["targets.0.encryption.kms_key_arn: 'alias/aws/rds' is not a KMS key ARN"],
    ),
    "bare-key-id-instead-of-key-arn": (
        _item(encryption={"enabled": True, "kms_key_arn": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        ["targets.0.encryption.kms_key_arn: ", "is not a KMS key ARN"],
    ),
    "encryption-enabled-without-key": (
        _item(encryption={"enabled": True}),
        ["targets.0.encryption: ", "kms_key_arn is required when encryption is enabled"],
    ),
    "kms-key-in-another-region-than-target": (
        _item(target_region="eu-central-1", encryption={"enabled": True, "kms_key_arn": KEY_EU_WEST_1}),
        ["targets.0: ", "encryption.kms_key_arn is in eu-west-1 but target_region is eu-central-1"],
    ),
    "kms-key-in-another-region-even-when-disabled": (
        _item(target_region="eu-central-1", encryption={"enabled": False, "kms_key_arn": KEY_EU_WEST_1}),
        ["targets.0: ", "encryption.kms_key_arn is in eu-west-1 but target_region is eu-central-1"],
    ),
    "target-region-without-number": (
        _item(target_region="eu-west"),
        ["targets.0.target_region: 'eu-west' is not an AWS region name"],
    ),
    "target-region-upper-case": (
        _item(target_region="EU-WEST-1"),
        ["targets.0.target_region: 'EU-WEST-1' is not an AWS region name"],
    ),
    "target-region-star-only-valid-as-source": (
        _item(target_region="*"),
        ["targets.0.target_region: '*' is not an AWS region name"],
    ),
    "second-target-region-bad": (
        {"source_region": "us-east-1", "targets": [{"target_region": "eu-west-1"}, {"target_region": "euwest1"}]},
        ["targets.1.target_region: 'euwest1' is not an AWS region name"],
    ),
    "source-region-bad": (
        {"source_region": "Europe", "targets": [{"target_region": "eu-west-1"}]},
        ["source_region: 'Europe' is not an AWS region name"],
    ),
    "source-region-all-spelled-out": (
        {"source_region": "all", "targets": [{"target_region": "eu-west-1"}]},
        ["source_region: 'all' is not an AWS region name"],
    ),
    "source-region-missing": ({"targets": [{"target_region": "eu-west-1"}]}, ["source_region: Field required"]),
    "typo-kms_key-in-encryption": (
        _item(encryption={"enabled": False, "kms_key": KEY_EU_WEST_1}),
        ["targets.0.encryption.kms_key: Extra inputs are not permitted"],
    ),
    "typo-region-in-target": (
        {"source_region": "us-east-1", "targets": [{"region": "eu-west-1"}]},
        ["targets.0.target_region: Field required", "targets.0.region: Extra inputs are not permitted"],
    ),
    "typo-target-at-top-level": (
        {"source_region": "us-east-1", "target": [{"target_region": "eu-west-1"}]},
        ["targets: Field required", "target: Extra inputs are not permitted"],
    ),
    "targets-empty": ({"source_region": "us-east-1", "targets": []}, ["targets: List should have at least 1 item"]),
    "targets-not-a-list": (
        {"source_region": "us-east-1", "targets": "eu-west-1"},
        ["targets: Input should be a valid list"],
    ),
    "duplicate-targets-this-account": (
        {"source_region": "us-east-1", "targets": [{"target_region": "eu-west-1"}, {"target_region": "eu-west-1"}]},
        ["two targets replicate to the same account and region eu-west-1"],
    ),
    "duplicate-targets-two-roles-same-account": (
        {
            "source_region": "us-east-1",
            "targets": [
                {"target_region": "eu-west-1", "role_arn": ROLE},
                {"target_region": "eu-west-1", "role_arn": ROLE_SAME_ACCOUNT_OTHER_NAME, "copy_tags": False},
            ],
        },
        ["two targets replicate to the same account and region eu-west-1"],
    ),
    "role-arn-short-account": (
        _item(role_arn="arn:aws:iam::2109876543:role/SnapshotReplication"),
        ["targets.0.role_arn: ", "is not an IAM role ARN"],
    ),
    "role-arn-is-a-user": (
        _item(role_arn=f"arn:aws:iam::{TARGET_ACCOUNT}:user/alice"),
        ["targets.0.role_arn: ", "is not an IAM role ARN"],
    ),
    "role-name-instead-of-arn": (
        _item(role_arn="SnapshotReplication"),
        ["targets.0.role_arn: 'SnapshotReplication' is not an IAM role ARN"],
    ),
    "share-key-alias": (
        _item(share_kms_key_arn=f"arn:aws:kms:us-east-1:{SOURCE_ACCOUNT}:alias/share"),
        ["targets.0.share_kms_key_arn: ", "is not a KMS key ARN"],
    ),
    "key-usage-unknown-value": (
        _item(encryption={"enabled": True, "kms_key_arn": KEY_EU_WEST_1, "key_usage": "encrypted"}),
        ["targets.0.encryption.key_usage: ", "'all' or 'encrypted_only'"],
    ),
    "copy-tags-not-a-bool": (_item(copy_tags="sometimes"), ["targets.0.copy_tags: "]),
}


@pytest.mark.parametrize(("item", "fragments"), INVALID_ITEMS.values(), ids=list(INVALID_ITEMS))
def test_invalid_item_error_names_the_field(item: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_mapping_item(item)

    text = describe_validation_error(caught.value)
    for fragment in fragments:
        assert fragment in text
    assert "Value error, " not in text
    assert "\n" not in text


def test_duplicate_targets_are_reported_on_the_whole_item() -> None:
    item = {"source_region": "us-east-1", "targets": [{"target_region": "eu-west-1"}, {"target_region": "eu-west-1"}]}
    with pytest.raises(ValidationError) as caught:
        parse_mapping_item(item)

    assert describe_validation_error(caught.value) == (
        "item: two targets replicate to the same account and region eu-west-1"
    )


def test_several_errors_are_joined_on_one_line() -> None:
    item = {
        "source_region": "Europe",
        "targets": [{"target_region": "eu-west", "role_arn": "not-a-role"}],
    }
    with pytest.raises(ValidationError) as caught:
        parse_mapping_item(item)

    parts = describe_validation_error(caught.value).split("; ")
    assert [p.split(": ", 1)[0] for p in parts] == ["source_region", "targets.0.target_region", "targets.0.role_arn"]


def test_encryption_enabled_without_key_is_rejected_directly() -> None:
    with pytest.raises(ValidationError) as caught:
        Encryption(enabled=True)

    assert describe_validation_error(caught.value).startswith("item: kms_key_arn is required")
