"""Thin access to KMS: which keys are AWS managed, and whether a mapping's key can be used."""

from __future__ import annotations

from botocore.exceptions import ClientError

from .sessions import client, error_code


def is_aws_managed_key(key_id: str, region: str) -> bool:
    """True for the account's default aws/rds key (and for a key we cannot read: sharing it would fail too)."""
    try:
        metadata = client("kms", region).describe_key(KeyId=key_id)["KeyMetadata"]
    except ClientError as error:
        if error_code(error) in ("NotFoundException", "AccessDeniedException"):
            return True
        raise
    return metadata.get("KeyManager") == "AWS"


def key_problem(key_arn: str, region: str, role_arn: str | None) -> str | None:
    """Why a replica cannot be encrypted with `key_arn` in `region`, or None when the key is usable."""
    try:
        metadata = client("kms", region, role_arn).describe_key(KeyId=key_arn)["KeyMetadata"]
    except ClientError as error:
        code = error_code(error)
        if code == "NotFoundException":
            return f"KMS key {key_arn} does not exist in {region}"
        if code == "AccessDeniedException":
            return f"the target role may not use KMS key {key_arn} (kms:DescribeKey denied)"
        raise
    if metadata.get("KeyState") != "Enabled":
        return f"KMS key {key_arn} is {metadata.get('KeyState')}, not Enabled"
    return None
