"""IAM: who may assume a role, with which session tags (RoleTrust), an assumed role's tag conditions on RDS snapshots
(AssumedRoleTagConditions) and its conditions on DynamoDB items (AssumedRoleDynamoDBConditions)."""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any
from unittest.mock import patch

from moto.core.responses import BaseResponse
from moto.core.utils import camelcase_to_underscores
from moto.rds.models import rds_backends
from moto.sts.exceptions import STSClientError
from moto.sts.models import AssumedRole, STSBackend
from moto.sts.responses import TokenResponse

from ._policies import (
    as_list,
    required_external_id,
    statements_allow,
    statements_name,
    trust_allows,
    trusts_account,
)
from .faults import InjectedFault

SESSION_TAGS = "replicator_local_session_tags"  # the attribute of moto's AssumedRole that holds its session tags


def assumed_role(access_key: str) -> AssumedRole | None:
    """The role session an access key was issued to by sts:AssumeRole (None: not such a key)."""
    from moto.sts.models import sts_backends

    for partitions in list(sts_backends.values()):
        for backend in list(partitions.values()):
            assumed = backend.get_assumed_role_from_access_key(access_key)
            if assumed is not None:
                return assumed
    return None


def session_tags(assumed: AssumedRole) -> dict[str, str]:
    """The session tags given when the session was made (RoleTrust remembers them)."""
    return dict(getattr(assumed, SESSION_TAGS, None) or {})


def _role(role_arn: str) -> Any:
    """moto's IAM role of an ARN (None: no such role)."""
    from moto.iam.models import iam_backends

    account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
    return next((r for r in iam_backends[account]["aws"].roles.values() if r.name == name), None)


class RoleTrust:
    """STS's AssumeRole succeeds only for a role that exists and whose trust policy lets the caller assume it (with
    the sts:ExternalId it requires): moto 5.2.5 lets anyone assume any role, even one that does not exist. This
    refuses (AccessDenied) a role that does not exist, whose trust policy names no principal of the caller's account,
    or whose trust policy requires an sts:ExternalId other than the one given.

    Session tags (AssumeRole's Tags) need sts:TagSession: moto 5.2.5 ignores them. With tags, this also refuses
    unless an Allow statement of the trust policy for sts:TagSession names the caller's account and its conditions
    hold with aws:RequestTag/<key> (each tag), aws:TagKeys and aws:PrincipalAccount (the caller's account; policy
    variables such as "${aws:PrincipalAccount}" in the values are resolved). aws:PrincipalArn is the caller's role
    when the caller is itself a role session; otherwise (the emulation's default credentials name no principal) its
    conditions are taken to hold, as the AssumeRole checks above do not look at it either. The tags given are
    remembered with the session (moto's AssumedRole, one per issued access key: `session_tags`), as the principal
    tags of the requests later made with its credentials.

    Last, the sts:AssumeRole statements' conditions must hold as IAM evaluates them (the same context, with
    sts:ExternalId and aws:PrincipalOrgID): a vault role in organization mode trusts everyone ("*") of one
    organization whose session is tagged with its own account. moto's Organizations cannot hold accounts with chosen
    ids, so the emulation's organization is `organization_of` (account -> organization id, Doubles.organization_of);
    an account not in it has no aws:PrincipalOrgID."""

    def __init__(self, organization_of: dict[str, str] | None = None) -> None:
        self._request = threading.local()  # the AssumeRole request being answered on this thread: tags, caller key
        self.organization_of = organization_of if organization_of is not None else {}

    def install(self, patches: ExitStack) -> None:
        """Over moto's TokenResponse.assume_role (which reads the request, and drops its tags) and
        STSBackend.assume_role."""
        original_response = TokenResponse.assume_role
        request = self._request

        def assume_role_response(response: TokenResponse) -> Any:
            tags = {t["Key"]: t["Value"] for t in response._get_param("Tags") or []}
            request.current = (tags, response.get_access_key())
            try:
                return original_response(response)
            finally:
                request.current = None

        patches.enter_context(patch.object(TokenResponse, "assume_role", assume_role_response))
        original = STSBackend.assume_role

        def assume_role(backend: STSBackend, region_name: str, role_session_name: str, role_arn: str, *args: Any,
                        **kwargs: Any) -> Any:  # fmt: skip
            from moto.iam.models import iam_backends

            account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
            iam = iam_backends[account][role_arn.split(":")[1]]
            role = next((r for r in iam.roles.values() if r.name == name), None)
            denied = f"{backend.account_id} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
            if role is None:
                raise STSClientError("AccessDenied", f"{denied} (no such role)")
            if not trusts_account(role.assume_role_policy_document, backend.account_id):
                raise STSClientError("AccessDenied", f"{denied} (its trust policy does not name this account)")
            required = required_external_id(role.assume_role_policy_document)
            given = kwargs.get("external_id") if "external_id" in kwargs else (args[2] if len(args) > 2 else None)
            if required is not None and given != required:
                raise STSClientError("AccessDenied", f"{denied} (wrong or missing external id)")
            tags, caller_key = getattr(request, "current", None) or ({}, None)
            if tags and not self._may_tag(role.assume_role_policy_document, backend.account_id, tags, caller_key):
                raise STSClientError(
                    "AccessDenied",
                    f"{backend.account_id} is not authorized to perform: sts:TagSession on resource: {role_arn}",
                )
            if not self._may_assume(role.assume_role_policy_document, backend.account_id, tags, caller_key, given):
                raise STSClientError("AccessDenied", f"{denied} (the trust policy's conditions do not hold)")
            assumed = original(backend, region_name, role_session_name, role_arn, *args, **kwargs)
            setattr(assumed, SESSION_TAGS, dict(tags))
            return assumed

        patches.enter_context(patch.object(STSBackend, "assume_role", assume_role))

    def _context(
        self, account: str, tags: dict[str, str], caller_key: str | None
    ) -> tuple[dict[str, str | list[str]], tuple[str, ...]]:
        """The request context of an AssumeRole call, and the keys it cannot know (taken to hold)."""
        context: dict[str, str | list[str]] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
        if tags:
            context["aws:TagKeys"] = list(tags)
        context["aws:PrincipalAccount"] = account
        if account in self.organization_of:
            context["aws:PrincipalOrgID"] = self.organization_of[account]
        caller = assumed_role(caller_key) if caller_key else None
        if caller is not None:
            context["aws:PrincipalArn"] = str(caller.role_arn)
        return context, (() if caller is not None else ("aws:PrincipalArn",))

    def _may_tag(self, trust_policy: str | dict, account: str, tags: dict[str, str], caller_key: str | None) -> bool:
        """Whether the trust policy lets a principal of `account` tag its session with `tags` (sts:TagSession)."""
        context, unknown = self._context(account, tags, caller_key)
        return trust_allows(trust_policy, "sts:TagSession", account, context, unknown_keys=unknown)

    def _may_assume(
        self, trust_policy: str | dict, account: str, tags: dict[str, str], caller_key: str | None,
        external_id: str | None,
    ) -> bool:  # fmt: skip
        """Whether an sts:AssumeRole statement of the trust policy names `account` and its conditions hold."""
        context, unknown = self._context(account, tags, caller_key)
        if external_id is not None:
            context["sts:ExternalId"] = external_id
        return trust_allows(trust_policy, "sts:AssumeRole", account, context, unknown_keys=unknown)


class AssumedRoleTagConditions:
    """IAM evaluates a role's policies, with conditions on a resource's tags: moto 5.2.5 evaluates no IAM policy.
    A target-account role protects finished replicas with conditions on their tags (target-account-role.yaml,
    ReplicaDeletion), and in organization mode holds each workload account to its own replicas and test databases
    (their tag replicator:source-account against the session's). For the RDS actions whose permission depends on
    tags, made with an assumed role's credentials, this evaluates that role's inline policies as IAM would (an
    explicit Deny wins, otherwise an Allow must match) on each resource the request names, with aws:ResourceTag/<key>
    (that resource's tags), aws:RequestTag/<key> and aws:TagKeys (the request's Tags) and aws:PrincipalTag/<key>
    (the session tags RoleTrust remembered), and refuses with AccessDenied. A request that creates a resource with
    Tags is also evaluated as rds:AddTagsToResource on it, as RDS authorizes tags given on create.

    Deleting and tagging snapshots (DeleteDBSnapshot, DeleteDBClusterSnapshot, AddTagsToResource,
    RemoveTagsFromResource) are evaluated for every role; copies, restores and the restore tests' databases
    (CopyDB*Snapshot, RestoreDB*, CreateDBInstance, DeleteDBInstance, DeleteDBCluster) for a role with a statement
    naming the action (others go unchecked). Calls made with the replicator's own credentials are not evaluated
    (the emulation runs every function with the same ones)."""

    # action -> the resources it names: (parameter, its ARN resource type; None = the parameter is an ARN)
    RESOURCES: dict[str, tuple[tuple[str, str | None], ...]] = {
        "DeleteDBSnapshot": (("DBSnapshotIdentifier", "snapshot"),),
        "DeleteDBClusterSnapshot": (("DBClusterSnapshotIdentifier", "cluster-snapshot"),),
        "AddTagsToResource": (("ResourceName", None),),
        "RemoveTagsFromResource": (("ResourceName", None),),
        "CopyDBSnapshot": (("TargetDBSnapshotIdentifier", "snapshot"),),
        "CopyDBClusterSnapshot": (("TargetDBClusterSnapshotIdentifier", "cluster-snapshot"),),
        "RestoreDBInstanceFromDBSnapshot": (("DBInstanceIdentifier", "db"), ("DBSnapshotIdentifier", "snapshot")),
        "RestoreDBClusterFromSnapshot": (
            ("DBClusterIdentifier", "cluster"),
            ("SnapshotIdentifier", "cluster-snapshot"),
        ),
        "CreateDBInstance": (("DBInstanceIdentifier", "db"), ("DBClusterIdentifier", "cluster")),
        "DeleteDBInstance": (("DBInstanceIdentifier", "db"),),
        "DeleteDBCluster": (("DBClusterIdentifier", "cluster"),),
    }
    ALWAYS = ("DeleteDBSnapshot", "DeleteDBClusterSnapshot", "AddTagsToResource", "RemoveTagsFromResource")
    # the actions that create their first resource (the one tags given with the request go on)
    CREATES = ("CopyDBSnapshot", "CopyDBClusterSnapshot", "RestoreDBInstanceFromDBSnapshot",
               "RestoreDBClusterFromSnapshot", "CreateDBInstance")  # fmt: skip

    def install(self, patches: ExitStack) -> None:
        """Every request to the emulation passes here first (moto's BaseResponse.call_action)."""
        _refuse_requests(patches, "rds", "AccessDenied", self.refusal)

    def refusal(self, response: BaseResponse) -> str | None:
        """Why IAM would refuse this RDS request made with an assumed role's credentials (None: allowed, or not
        such)."""
        action = response._get_action()
        if action not in self.RESOURCES:
            return None
        assumed = assumed_role(response.get_access_key())
        if assumed is None:
            return None
        role_arn = str(assumed.role_arn)
        from moto.iam.models import iam_backends

        account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
        role = next((r for r in iam_backends[account]["aws"].roles.values() if r.name == name), None)
        if role is None:
            return None
        if action not in self.ALWAYS and not statements_name(role.policies.values(), f"rds:{action}"):
            return None  # a role this double does not model
        requested = {t["Key"]: t["Value"] for t in (getattr(response, "params", {}) or {}).get("Tags") or []}
        request: dict[str, str | list[str]] = {f"aws:RequestTag/{k}": v for k, v in requested.items()}
        request.update({f"aws:PrincipalTag/{k}": v for k, v in session_tags(assumed).items()})
        if requested:
            request["aws:TagKeys"] = list(requested)
        for index, (parameter, resource_type) in enumerate(self.RESOURCES[action]):
            value = response._get_param(parameter) or ""
            if not value:
                continue  # not named by this request (a DB instance outside a cluster)
            resource = value if resource_type is None or value.startswith("arn:") else (
                f"arn:aws:rds:{response.region}:{account}:{resource_type}:{value}"
            )  # fmt: skip
            context = {**request, **{f"aws:ResourceTag/{k}": v for k, v in _rds_tags(resource).items()}}
            needed = [f"rds:{action}"]
            if action in self.CREATES and index == 0 and requested:
                needed.append("rds:AddTagsToResource")  # tags given on create are authorized as tagging it
            for needs in needed:
                if not statements_allow(role.policies.values(), needs, resource, context):
                    return f"User: {role_arn} is not authorized to perform: {needs} on resource: {resource}"
        return None


def _rds_tags(resource_arn: str) -> dict[str, str]:
    """The tags of an RDS snapshot, cluster snapshot, DB instance or cluster, by its ARN ({}: none, or no such)."""
    parts = resource_arn.split(":", 6)
    if len(parts) < 7:
        return {}
    region, account, kind, identifier = parts[3], parts[4], parts[5], parts[6]
    backend = rds_backends[account][region]
    collections: dict[str, Mapping[str, Any]] = {
        "snapshot": backend.database_snapshots,
        "cluster-snapshot": backend.cluster_snapshots,
        "db": backend.databases,
        "cluster": backend.clusters,
    }
    found = collections.get(kind, {}).get(identifier)
    return {t["Key"]: t["Value"] for t in (getattr(found, "tags", None) or [])}


class AssumedRoleDynamoDBConditions:
    """IAM evaluates a role's policies for DynamoDB items, with conditions on their partition keys and the session's
    tags: moto 5.2.5 evaluates no IAM policy. The vault account's role lets each workload account touch only its own
    requests of the shared copy-slot pool (target-account-role.yaml with SharedSlotPoolTableArn,
    SharedCopySlotRequests: dynamodb:LeadingKeys must be "account#${aws:PrincipalTag/replicator:source-account}").
    For GetItem, PutItem, UpdateItem, DeleteItem and Query made with an assumed role's credentials, this evaluates
    that role's inline policies as IAM would (an explicit Deny wins, otherwise an Allow must match) for the action
    on the table's ARN, with dynamodb:LeadingKeys (the partition key value the request names: Key, Item, or the
    hash key's value in KeyConditionExpression / KeyConditions, the index's hash key for a Query of an index) and
    aws:PrincipalTag/<key> (the session tags RoleTrust remembered), and refuses with AccessDeniedException.

    Limits: calls made with the emulation's own credentials are not evaluated (as AssumedRoleTagConditions); only a
    table that a statement of the role naming a dynamodb action covers with its Resource is evaluated (other tables,
    and roles that name no dynamodb action, pass unchecked: IAM would refuse them); a table that does not exist
    passes (moto answers ResourceNotFoundException); managed policies, and the batch and transaction actions, are not
    evaluated."""

    ACTIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query")

    def install(self, patches: ExitStack) -> None:
        """Every request to the emulation passes here first (moto's BaseResponse.call_action)."""
        _refuse_requests(patches, "dynamodb", "AccessDeniedException", self.refusal)

    def refusal(self, response: BaseResponse) -> str | None:
        """Why IAM would refuse this DynamoDB request made with an assumed role's credentials (None: allowed, or not
        evaluated)."""
        action = response._get_action()
        if action not in self.ACTIONS:
            return None
        assumed = assumed_role(response.get_access_key())
        if assumed is None:
            return None
        role = _role(str(assumed.role_arn))
        if role is None:
            return None
        account = str(assumed.role_arn).split(":")[4]
        name = str(response._get_param("TableName") or "").rsplit("/", 1)[-1]
        resource = f"arn:aws:dynamodb:{response.region}:{account}:table/{name}"
        if not self._names_table(role.policies.values(), resource):
            return None
        leading_keys = self._leading_keys(response, account, name)
        if leading_keys is None:
            return None
        context: dict[str, str | list[str]] = {f"aws:PrincipalTag/{k}": v for k, v in session_tags(assumed).items()}
        context["dynamodb:LeadingKeys"] = leading_keys
        if statements_allow(role.policies.values(), f"dynamodb:{action}", resource, context):
            return None
        return f"User: {assumed.arn} is not authorized to perform: dynamodb:{action} on resource: {resource}"

    @staticmethod
    def _names_table(documents: Any, resource: str) -> bool:
        """Whether a statement naming a dynamodb action covers the table with its Resource."""
        for policy in documents:
            document = json.loads(policy) if isinstance(policy, str) else policy
            for statement in as_list(document.get("Statement", [])):
                dynamodb = any(str(a).lower().startswith("dynamodb:") for a in as_list(statement.get("Action", [])))
                if dynamodb and any(fnmatch.fnmatchcase(resource, r) for r in as_list(statement.get("Resource", []))):
                    return True
        return False

    @staticmethod
    def _leading_keys(response: BaseResponse, account: str, name: str) -> list[str] | None:
        """The partition key values the request names (None: no such table)."""
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[account][response.region].tables.get(name)
        if table is None:
            return None
        hash_key = table.hash_key_attr
        index_name = response._get_param("IndexName")
        if index_name:
            index = next((i for i in table.indexes + table.global_indexes if i.name == index_name), None)
            schema = index.schema if index is not None else []
            hash_key = next((k["AttributeName"] for k in schema if k["KeyType"] == "HASH"), hash_key)
        values: list[Any] = []
        for parameter in ("Key", "Item"):
            attributes = response._get_param(parameter) or {}
            if hash_key in attributes:
                values.append(attributes[hash_key])
        conditions = response._get_param("KeyConditions") or {}
        if hash_key in conditions:
            values.extend(conditions[hash_key].get("AttributeValueList", [])[:1])
        expression = response._get_param("KeyConditionExpression")
        if expression:
            names = response._get_param("ExpressionAttributeNames") or {}
            placeholders = response._get_param("ExpressionAttributeValues") or {}
            for left, right in re.findall(r"([#:]?[\w.-]+)\s*=\s*([#:]?[\w.-]+)", expression):
                for attribute, value in ((left, right), (right, left)):
                    if names.get(attribute, attribute) == hash_key and value in placeholders:
                        values.append(placeholders[value])
        return [str(next(iter(v.values()))) for v in values if isinstance(v, dict) and v]


def _refuse_requests(
    patches: ExitStack, service: str, code: str, refusal_of: Callable[[BaseResponse], str | None]
) -> None:
    """Over moto's BaseResponse.call_action: a request to `service` that `refusal_of` says IAM would refuse fails
    with `code` and that reason instead of being carried out."""
    original = BaseResponse.call_action

    def call_action(response: BaseResponse) -> Any:
        if response.service_name == service:
            refusal = refusal_of(response)
            if refusal is not None:
                action = camelcase_to_underscores(response._get_action())

                def refused() -> None:
                    raise InjectedFault(code, refusal)

                setattr(response, action, refused)  # this request only
        return original(response)

    patches.enter_context(patch.object(BaseResponse, "call_action", call_action))
