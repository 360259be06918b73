"""IAM, read through a target-account role: what that account allows the replicator to do with finished replicas."""

from __future__ import annotations

from botocore.exceptions import ClientError

from .sessions import client, error_code

TAG_REPLICA_DELETION = "replicator:replica-deletion"  # set by target-account-role.yaml: retention | never


def replica_deletion(role_arn: str, region: str) -> str | None:
    """The target role's ReplicaDeletion mode, read from its own tags with its own credentials; None if unreadable
    (a role made from an older target-account-role.yaml: deleting is tried, and IAM decides)."""
    role_name = role_arn.rsplit("/", 1)[-1]
    try:
        tags = client("iam", region, role_arn).list_role_tags(RoleName=role_name).get("Tags", [])
    except ClientError as error:
        if error_code(error) in ("AccessDenied", "AccessDeniedException", "NoSuchEntity"):
            return None
        raise
    return next((t["Value"] for t in tags if t["Key"] == TAG_REPLICA_DELETION), None)
