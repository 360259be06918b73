"""What a restore test's database would be placed in, read in the target account (through its role) and region:
the DB subnet group and the VPC security groups a mapping target's restore_test names, and whether the target role
lets restore tests run (its `replicator:restore-tests` tag). Read only: `replicator mappings check` asks these
before any test restores anything."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from .sessions import client, error_code

TAG_RESTORE_TESTS = "replicator:restore-tests"  # set by target-account-role.yaml: allowed | denied

_SUBNET_GROUP_NOT_FOUND = {"DBSubnetGroupNotFoundFault", "DBSubnetGroupNotFound"}
_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


class NotReadable(Exception):
    """The call was refused (the role does not allow it): what it would have read is unknown."""


@dataclass(frozen=True)
class SubnetGroup:
    name: str
    vpc_id: str
    status: str


def subnet_group(name: str, region: str, role_arn: str | None) -> SubnetGroup | None:
    """The DB subnet group `name` in the region (None: there is none)."""
    try:
        found = client("rds", region, role_arn).describe_db_subnet_groups(DBSubnetGroupName=name)["DBSubnetGroups"]
    except ClientError as error:
        if error_code(error) in _SUBNET_GROUP_NOT_FOUND:
            return None
        if error_code(error) in _ACCESS_DENIED:
            raise NotReadable(f"rds:DescribeDBSubnetGroups refused: {error}") from error
        raise
    if not found:
        return None
    group = found[0]
    return SubnetGroup(
        name=group.get("DBSubnetGroupName", name),
        vpc_id=group.get("VpcId", ""),
        status=group.get("SubnetGroupStatus", ""),
    )


def security_groups(group_ids: list[str], region: str, role_arn: str | None) -> dict[str, str]:
    """The VPC of each of these security groups that exists in the region (a missing one is not in the result)."""
    if not group_ids:
        return {}
    ec2 = client("ec2", region, role_arn)
    try:
        pages = ec2.get_paginator("describe_security_groups").paginate(
            Filters=[{"Name": "group-id", "Values": list(group_ids)}]
        )
        return {g["GroupId"]: g.get("VpcId", "") for page in pages for g in page.get("SecurityGroups", [])}
    except ClientError as error:
        if error_code(error) in _ACCESS_DENIED:
            raise NotReadable(f"ec2:DescribeSecurityGroups refused: {error}") from error
        raise


def restore_tests_mode(role_arn: str, region: str) -> str | None:
    """The target role's RestoreTests parameter (its `replicator:restore-tests` tag: allowed | denied), read with
    the role's own credentials as the prune reads its ReplicaDeletion; None: the role has no such tag (made from an
    older target-account-role.yaml)."""
    role_name = role_arn.rsplit("/", 1)[-1]
    try:
        tags = client("iam", region, role_arn).list_role_tags(RoleName=role_name).get("Tags", [])
    except ClientError as error:
        if error_code(error) in _ACCESS_DENIED | {"NoSuchEntity"}:
            raise NotReadable(f"iam:ListRoleTags refused: {error}") from error
        raise
    return next((t["Value"] for t in tags if t["Key"] == TAG_RESTORE_TESTS), None)


def offered_instance_classes(engine: str, engine_version: str, region: str, role_arn: str | None) -> set[str]:
    """The DB instance classes the region offers for this engine version (as the restore test's task reads them)."""
    rds = client("rds", region, role_arn)
    offered: set[str] = set()
    try:
        for page in rds.get_paginator("describe_orderable_db_instance_options").paginate(
            Engine=engine, EngineVersion=engine_version
        ):
            offered.update(option["DBInstanceClass"] for option in page["OrderableDBInstanceOptions"])
    except ClientError as error:
        if error_code(error) in _ACCESS_DENIED:
            raise NotReadable(f"rds:DescribeOrderableDBInstanceOptions refused: {error}") from error
        raise
    return offered
