"""One vault role for every workload account of an organization (target-account-role.yaml in organization mode,
TrustedOrganizationId; issue 17, docs/organization.md): two replicator stacks in two accounts of the organization
replicate into the vault through the same role, each replica tagged with its account, and neither account can
delete, re-tag or claim the other's replicas. moto evaluates no IAM policy: the emulation's RoleTrust (the trust's
conditions, aws:PrincipalOrgID from Doubles.organization_of) and AssumedRoleTagConditions (the role's Deny
statements on the replicas' tags and the session's) stand in for IAM."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from support import (
    CROSS_ACCOUNT,
    OTHER_WORKLOAD,
    SOURCE_ACCOUNT,
    TARGET_ACCOUNT,
    burst,
    seed_workload,
    send_snapshot_events,
    wait_for_records,
)

from replicator.snapshots import MANAGED_BY, TAG_COMPLETE, TAG_MANAGED_BY, TAG_SOURCE_ACCOUNT
from replicator_cli.local.cloud import HOME_REGION, LOCAL_EXTERNAL_ID
from replicator_cli.local.emulation import emulation
from replicator_cli.local.provision import account_client

ORGANIZATION = "o-a1b2c3d4e5"
OUTSIDER = "555566667777"  # an account outside the organization
VAULT_REGION = "eu-west-1"
MANAGED = {"Key": TAG_MANAGED_BY, "Value": MANAGED_BY}


def assume(
    role_arn: str, account: str, tags: dict[str, str] | None = None, external_id: str = LOCAL_EXTERNAL_ID
) -> Any:
    """The credentials of a session of the role, assumed from `account` with these session tags."""
    kwargs: dict[str, Any] = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    return account_client("sts", HOME_REGION, account).assume_role(
        RoleArn=role_arn, RoleSessionName="rds-snapshot-replicator", ExternalId=external_id, **kwargs
    )["Credentials"]


def vault_rds_as(role_arn: str, account: str) -> Any:
    """RDS in the vault's region, as workload account `account`'s replicator acts there (its session tagged with
    its own account, as aws/sessions.py does)."""
    credentials = assume(role_arn, account, {TAG_SOURCE_ACCOUNT: account})
    return boto3.client(
        "rds",
        region_name=VAULT_REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def replicas_by_account() -> dict[str, list[dict[str, Any]]]:
    """The vault's replicas (snaprep-*), by their replicator:source-account tag (absent: "")."""
    rds = account_client("rds", VAULT_REGION, TARGET_ACCOUNT)
    found: dict[str, list[dict[str, Any]]] = {}
    for snapshot in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]:
        if snapshot["DBSnapshotIdentifier"].startswith("snaprep-"):
            tags = {
                t["Key"]: t["Value"]
                for t in rds.list_tags_for_resource(ResourceName=snapshot["DBSnapshotArn"])["TagList"]
            }
            found.setdefault(tags.get(TAG_SOURCE_ACCOUNT, ""), []).append({**snapshot, "Tags": tags})
    return found


def refused(call: Any) -> str:
    with pytest.raises(ClientError) as error:
        call()
    return str(error.value.response["Error"]["Code"])


def test_one_vault_role_serves_the_organizations_workload_accounts_each_held_to_its_own_replicas():
    names = ["orders-a1", "orders-a2"]
    theirs = ["billing-b1", "billing-b2"]
    spec = burst(
        names,
        mappings=[CROSS_ACCOUNT],
        organization_id=ORGANIZATION,
        instance_copy_quota=20,
        shared_slot_pool_account=TARGET_ACCOUNT,  # the organization's layout: the vault's pool, through the same role
        shared_pool_instance_quota=1,
        timeout_seconds=180,
    )
    with emulation(spec, run=False) as up:
        cloud = up.cloud
        vault_role = up.runner.role_arns[TARGET_ACCOUNT]  # the scenario's one vault role, in organization mode
        cloud.doubles.organization_of[OTHER_WORKLOAD] = ORGANIZATION
        stack_b = cloud.add_stack(
            OTHER_WORKLOAD,
            "replicator-b",
            {
                "AllowedTargetAccounts": TARGET_ACCOUNT,
                "SharedSlotPoolTableArn": cloud.coordinator.table_arn,
                "SharedSlotPoolRoleArn": vault_role,
            },
        )
        seed_workload(stack_b, OTHER_WORKLOAD, theirs, vault_role, up.runner.key_arns["vault-eu"])

        up.runner.send(up.runner.events())
        send_snapshot_events(OTHER_WORKLOAD, theirs)
        records = up.runner.wait()
        records_b = wait_for_records(stack_b, OTHER_WORKLOAD, len(theirs))

        # both accounts replicate through the same role, their copies taking turns in the vault's pool of one
        assert [r.status.value for r in records] == ["SUCCEEDED"] * 2, [r.reason for r in records]
        assert [r["status"] for r in records_b] == ["SUCCEEDED"] * 2, [r.get("reason") for r in records_b]
        assert cloud.doubles.copy_clock.max_in_flight[(TARGET_ACCOUNT, VAULT_REGION, False)] == 1
        assert cloud.doubles.copy_clock.quota_refusals == 0
        # every replica names its account
        replicas = replicas_by_account()
        assert sorted(replicas) == sorted([SOURCE_ACCOUNT, OTHER_WORKLOAD]), replicas.keys()
        assert len(replicas[SOURCE_ACCOUNT]) == len(replicas[OTHER_WORKLOAD]) == 2
        mine, ours_b = replicas[SOURCE_ACCOUNT][0], replicas[OTHER_WORKLOAD][0]
        assert mine["Tags"][TAG_COMPLETE] == "true"

        # the attack: B's replicator, through the vault role, goes for this account's replicas
        b = vault_rds_as(vault_role, OTHER_WORKLOAD)
        assert refused(lambda: b.delete_db_snapshot(DBSnapshotIdentifier=mine["DBSnapshotIdentifier"])) == (
            "AccessDenied"
        )
        claim = [{"Key": TAG_SOURCE_ACCOUNT, "Value": OTHER_WORKLOAD}]  # re-tag it as B's, then delete it
        assert refused(lambda: b.add_tags_to_resource(ResourceName=mine["DBSnapshotArn"], Tags=claim)) == (
            "AccessDenied"
        )
        unfinish = [{"Key": TAG_COMPLETE, "Value": "false"}]
        assert refused(lambda: b.add_tags_to_resource(ResourceName=mine["DBSnapshotArn"], Tags=unfinish)) == (
            "AccessDenied"
        )
        assert refused(
            lambda: b.remove_tags_from_resource(ResourceName=mine["DBSnapshotArn"], TagKeys=[TAG_SOURCE_ACCOUNT])
        ) == ("AccessDenied")
        # ...nor make a copy in this account's name (which this account's retention would later trust)
        assert refused(
            lambda: b.copy_db_snapshot(
                SourceDBSnapshotIdentifier=ours_b["DBSnapshotArn"],
                TargetDBSnapshotIdentifier="snaprep-in-their-name",
                Tags=[{"Key": TAG_SOURCE_ACCOUNT, "Value": SOURCE_ACCOUNT}],
            )
        ) == ("AccessDenied")
        # ...nor restore this account's replica, nor delete its test database
        theirs_tags = [{"Key": TAG_SOURCE_ACCOUNT, "Value": OTHER_WORKLOAD}, MANAGED]
        assert refused(
            lambda: b.restore_db_instance_from_db_snapshot(
                DBInstanceIdentifier="snaptest-theirs",
                DBSnapshotIdentifier=mine["DBSnapshotIdentifier"],
                Tags=theirs_tags,
            )
        ) == ("AccessDenied")
        a = vault_rds_as(vault_role, SOURCE_ACCOUNT)
        a.restore_db_instance_from_db_snapshot(
            DBInstanceIdentifier="snaptest-mine",
            DBSnapshotIdentifier=mine["DBSnapshotIdentifier"],
            Tags=[{"Key": TAG_SOURCE_ACCOUNT, "Value": SOURCE_ACCOUNT}, MANAGED],
        )
        assert refused(lambda: b.delete_db_instance(DBInstanceIdentifier="snaptest-mine", SkipFinalSnapshot=True)) == (
            "AccessDenied"
        )
        a.delete_db_instance(DBInstanceIdentifier="snaptest-mine", SkipFinalSnapshot=True)  # its own: allowed
        assert replicas_by_account()[SOURCE_ACCOUNT] == replicas[SOURCE_ACCOUNT]  # untouched, tags and all

        # B does what it must with its own: a copy in its name, a delete (its retention)
        b.copy_db_snapshot(
            SourceDBSnapshotIdentifier=ours_b["DBSnapshotArn"],
            TargetDBSnapshotIdentifier="snaprep-their-own-copy",
            Tags=[{"Key": TAG_SOURCE_ACCOUNT, "Value": OTHER_WORKLOAD}, MANAGED],
        )
        b.delete_db_snapshot(DBSnapshotIdentifier=ours_b["DBSnapshotIdentifier"])
        assert len(replicas_by_account()[OTHER_WORKLOAD]) == 2  # one deleted, one copied

        # who may use the role at all: the organization's replicators, each tagged with its own account
        assert refused(lambda: assume(vault_role, OTHER_WORKLOAD)) == "AccessDenied"  # untagged
        assert refused(lambda: assume(vault_role, OTHER_WORKLOAD, {TAG_SOURCE_ACCOUNT: SOURCE_ACCOUNT})) == (
            "AccessDenied"
        )
        assert refused(lambda: assume(vault_role, OUTSIDER, {TAG_SOURCE_ACCOUNT: OUTSIDER})) == "AccessDenied"
        assert refused(
            lambda: assume(vault_role, OTHER_WORKLOAD, {TAG_SOURCE_ACCOUNT: OTHER_WORKLOAD}, external_id="guess")
        ) == ("AccessDenied")
        assert assume(vault_role, SOURCE_ACCOUNT, {TAG_SOURCE_ACCOUNT: SOURCE_ACCOUNT})["AccessKeyId"]  # control
