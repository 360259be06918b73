"""The vault account's role for the shared copy-slot pool (target-account-role.yaml with SharedSlotPoolTableArn): a
workload account may tag its session only with its own account (the trust policy's sts:TagSession statement), and
that session may touch only the items of its own partition (SharedCopySlotRequests: dynamodb:LeadingKeys and the
principal tag). moto evaluates no IAM policy: this is the emulation's RoleTrust and AssumedRoleDynamoDBConditions.

The callers here use moto's default credentials, account 123456789012: the replicator's own (SOURCE_ACCOUNT)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.cloudformation.models import cloudformation_backends
from support import SOURCE_ACCOUNT, TARGET_ACCOUNT, base_scenario

from replicator_cli.local.cloud import HOME_REGION, LOCAL_EXTERNAL_ID
from replicator_cli.local.emulation import emulation
from replicator_cli.local.provision import load_template

POOL_ROLE_NAME = "rds-snapshot-replicator-pool"
POOL_TABLE = "shared-copy-slots"
OTHER_TABLE = "vault-notes"
TAG = "replicator:source-account"
OTHER_ACCOUNT = "333333333333"
OWN = f"account#{SOURCE_ACCOUNT}"
THEIRS = f"account#{OTHER_ACCOUNT}"


@pytest.fixture(scope="module")
def vault() -> Iterator[dict[str, Any]]:
    """The emulation, with a second copy of target-account-role.yaml in the vault account (its shared copy-slot
    pool parameter set) and two tables there: the pool, and another one no policy of that role names."""
    with emulation(base_scenario(), run=False) as up:
        table_arn = f"arn:aws:dynamodb:{HOME_REGION}:{TARGET_ACCOUNT}:table/{POOL_TABLE}"
        stack = cloudformation_backends[TARGET_ACCOUNT][HOME_REGION].create_stack(
            name="rds-snapshot-replicator-pool-role",
            template=json.dumps(load_template(up.cloud.root / "target-account-role.yaml")),
            parameters={
                "ReplicatorRolePattern": up.cloud.stack.outputs["ReplicatorRolePattern"],
                "ExternalId": LOCAL_EXTERNAL_ID,
                "RoleName": POOL_ROLE_NAME,
                "SharedSlotPoolTableArn": table_arn,
            },
        )
        assert stack.status == "CREATE_COMPLETE"
        role_arn = next(o["OutputValue"] for o in stack.outputs or [] if o["OutputKey"] == "RoleArn")
        # the tables are the vault's own: made through the scenario's target role there (no DynamoDB statement)
        owner = dynamodb(assume(up.runner.role_arns[TARGET_ACCOUNT]))
        for name in (POOL_TABLE, OTHER_TABLE):
            owner.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        yield {"up": up, "role_arn": role_arn, "target_role_arn": up.runner.role_arns[TARGET_ACCOUNT]}


def assume(role_arn: str, **tags: str) -> dict[str, Any]:
    """The credentials of a session of the role, assumed with moto's default credentials and these session tags."""
    kwargs: dict[str, Any] = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    return boto3.client("sts").assume_role(
        RoleArn=role_arn, RoleSessionName="rds-snapshot-replicator", ExternalId=LOCAL_EXTERNAL_ID, **kwargs
    )["Credentials"]


def dynamodb(credentials: dict[str, Any]) -> Any:
    return boto3.client(
        "dynamodb",
        region_name=HOME_REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def key(pk: str, sk: str = "pool#r-1") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def refused(code: str) -> Any:
    return pytest.raises(ClientError, match=code)


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_the_session_may_be_tagged_only_with_the_callers_own_account(vault):
    assert assume(vault["role_arn"], **{TAG: SOURCE_ACCOUNT})["AccessKeyId"]
    with refused("AccessDenied") as error:
        assume(vault["role_arn"], **{TAG: OTHER_ACCOUNT})
    assert error_code(error) == "AccessDenied"
    assert "sts:TagSession" in str(error.value)
    # aws:TagKeys: no other tag, even beside the right one
    with refused("AccessDenied"):
        assume(vault["role_arn"], **{TAG: SOURCE_ACCOUNT, "team": "storage"})
    # every target role takes the tag (the replicator tags all its sessions), with the caller's account only
    assert assume(vault["target_role_arn"], **{TAG: SOURCE_ACCOUNT})["AccessKeyId"]
    with refused("AccessDenied"):
        assume(vault["target_role_arn"], **{TAG: OTHER_ACCOUNT})


def test_a_tagged_session_reads_and_writes_only_its_own_accounts_items(vault):
    client = dynamodb(assume(vault["role_arn"], **{TAG: SOURCE_ACCOUNT}))
    client.put_item(TableName=POOL_TABLE, Item={**key(OWN), "waiting_pool": {"S": "p"}})
    assert client.get_item(TableName=POOL_TABLE, Key=key(OWN), ConsistentRead=True)["Item"]["waiting_pool"] == {
        "S": "p"
    }
    client.update_item(
        TableName=POOL_TABLE,
        Key=key(OWN),
        UpdateExpression="SET rechecked_at = :now",
        ExpressionAttributeValues={":now": {"S": "2026-01-01T00:00:00Z"}},
    )
    client.delete_item(TableName=POOL_TABLE, Key=key(OWN))
    assert "Item" not in client.get_item(TableName=POOL_TABLE, Key=key(OWN), ConsistentRead=True)

    # another account's partition: nothing, whatever the action
    with refused("AccessDeniedException") as error:
        client.put_item(TableName=POOL_TABLE, Item=key(THEIRS))
    assert error_code(error) == "AccessDeniedException"
    assert f"table/{POOL_TABLE}" in str(error.value)
    with refused("AccessDeniedException"):
        client.get_item(TableName=POOL_TABLE, Key=key(THEIRS))
    with refused("AccessDeniedException"):
        client.update_item(
            TableName=POOL_TABLE,
            Key=key(THEIRS),
            UpdateExpression="SET lease = :l",
            ExpressionAttributeValues={":l": {"S": "forged"}},
        )
    with refused("AccessDeniedException"):
        client.delete_item(TableName=POOL_TABLE, Key=key(THEIRS))
    with refused("AccessDeniedException"):
        query(client, THEIRS)
    # the coordinator's pool items: no workload writes them
    with refused("AccessDeniedException"):
        client.put_item(TableName=POOL_TABLE, Item=key("pool#x", "slots"))
    with refused("AccessDeniedException"):
        client.delete_item(TableName=POOL_TABLE, Key=key("pool#x", "slots"))


def test_a_tagged_session_queries_its_own_partition_only(vault):
    client = dynamodb(assume(vault["role_arn"], **{TAG: SOURCE_ACCOUNT}))
    client.put_item(TableName=POOL_TABLE, Item=key(OWN, "pool#r-2"))
    assert [i["sk"]["S"] for i in query(client, OWN)["Items"]] == ["pool#r-2"]
    client.delete_item(TableName=POOL_TABLE, Key=key(OWN, "pool#r-2"))
    with refused("AccessDeniedException"):
        query(client, THEIRS)
    with refused("AccessDeniedException"):  # the older KeyConditions form names the partition too
        client.query(
            TableName=POOL_TABLE,
            KeyConditions={"pk": {"AttributeValueList": [{"S": THEIRS}], "ComparisonOperator": "EQ"}},
        )


def query(client: Any, pk: str) -> Any:
    return client.query(
        TableName=POOL_TABLE,
        KeyConditionExpression="#pk = :pk AND begins_with(sk, :pool)",
        ExpressionAttributeNames={"#pk": "pk"},
        ExpressionAttributeValues={":pk": {"S": pk}, ":pool": {"S": "pool#"}},
    )


def test_an_untagged_session_of_the_role_is_refused_the_pool_entirely(vault):
    client = dynamodb(assume(vault["role_arn"]))  # the AssumeRole statement needs no tag
    for own_or_theirs in (OWN, THEIRS):
        with refused("AccessDeniedException"):
            client.put_item(TableName=POOL_TABLE, Item=key(own_or_theirs))
        with refused("AccessDeniedException"):
            client.get_item(TableName=POOL_TABLE, Key=key(own_or_theirs))


def test_tables_the_role_does_not_name_and_roles_without_the_pool_are_not_evaluated(vault):
    """The double's limit (AssumedRoleDynamoDBConditions): only a table a dynamodb statement of the role names is
    evaluated. A control: IAM would refuse these, the emulation must not start refusing what it allowed."""
    tagged = dynamodb(assume(vault["role_arn"], **{TAG: SOURCE_ACCOUNT}))
    tagged.put_item(TableName=OTHER_TABLE, Item=key(THEIRS))
    assert tagged.get_item(TableName=OTHER_TABLE, Key=key(THEIRS))["Item"]
    untagged_target = dynamodb(assume(vault["target_role_arn"]))
    untagged_target.put_item(TableName=POOL_TABLE, Item=key(THEIRS, "control"))
    untagged_target.delete_item(TableName=POOL_TABLE, Key=key(THEIRS, "control"))
