"""IAM: who may assume a role (RoleTrust) and an assumed role's tag conditions on RDS snapshots
(AssumedRoleTagConditions)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any
from unittest.mock import patch

from moto.core.responses import BaseResponse
from moto.core.utils import camelcase_to_underscores
from moto.rds.models import rds_backends
from moto.sts.exceptions import STSClientError
from moto.sts.models import STSBackend

from ._policies import required_external_id, statements_allow, trusts_account
from ._snapshots import snapshot_kind_of
from .faults import InjectedFault


class RoleTrust:
    """STS's AssumeRole succeeds only for a role that exists and whose trust policy lets the caller assume it (with
    the sts:ExternalId it requires): moto 5.2.5 lets anyone assume any role, even one that does not exist. This
    refuses (AccessDenied) a role that does not exist, whose trust policy names no principal of the caller's account,
    or whose trust policy requires an sts:ExternalId other than the one given."""

    def install(self, patches: ExitStack) -> None:
        """Over moto's STSBackend.assume_role."""
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
            return original(backend, region_name, role_session_name, role_arn, *args, **kwargs)

        patches.enter_context(patch.object(STSBackend, "assume_role", assume_role))


class AssumedRoleTagConditions:
    """IAM evaluates a role's policies, with conditions on a resource's tags: moto 5.2.5 evaluates no IAM policy.
    A target-account role protects finished replicas with conditions on their tags (target-account-role.yaml,
    ReplicaDeletion): for the RDS actions whose permission depends on a snapshot's tags (DeleteDBSnapshot,
    DeleteDBClusterSnapshot, AddTagsToResource, RemoveTagsFromResource) made with an assumed role's credentials, this
    evaluates that role's inline policies as IAM would (an explicit Deny wins, otherwise an Allow must match, with
    aws:ResourceTag conditions) and refuses with AccessDenied. Calls made with the replicator's own credentials are
    not evaluated (the emulation runs every function with the same ones)."""

    # action -> (parameter naming the snapshot, its ARN resource type; None = the parameter is an ARN)
    TAG_CONDITIONED = {
        "DeleteDBSnapshot": ("DBSnapshotIdentifier", "snapshot"),
        "DeleteDBClusterSnapshot": ("DBClusterSnapshotIdentifier", "cluster-snapshot"),
        "AddTagsToResource": ("ResourceName", None),
        "RemoveTagsFromResource": ("ResourceName", None),
    }

    def install(self, patches: ExitStack) -> None:
        """Every request to the emulation passes here first (moto's BaseResponse.call_action)."""
        original = BaseResponse.call_action
        refusal_of = self.refusal

        def call_action(response: BaseResponse) -> Any:
            if response.service_name == "rds":
                refusal = refusal_of(response)
                if refusal is not None:
                    action = camelcase_to_underscores(response._get_action())

                    def refused() -> None:
                        raise InjectedFault("AccessDenied", refusal)

                    setattr(response, action, refused)  # this request only
            return original(response)

        patches.enter_context(patch.object(BaseResponse, "call_action", call_action))

    @staticmethod
    def _assumed_role_of(access_key: str) -> str | None:
        from moto.sts.models import sts_backends

        for partitions in list(sts_backends.values()):
            for backend in list(partitions.values()):
                assumed = backend.get_assumed_role_from_access_key(access_key)
                if assumed is not None:
                    return str(assumed.role_arn)
        return None

    def refusal(self, response: BaseResponse) -> str | None:
        """Why IAM would refuse this RDS request made with an assumed role's credentials (None: allowed, or not
        such)."""
        action = response._get_action()
        if action not in self.TAG_CONDITIONED:
            return None
        role_arn = self._assumed_role_of(response.get_access_key())
        if role_arn is None:
            return None
        from moto.iam.models import iam_backends

        account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
        role = next((r for r in iam_backends[account]["aws"].roles.values() if r.name == name), None)
        if role is None:
            return None
        parameter, resource_type = self.TAG_CONDITIONED[action]
        value = response._get_param(parameter) or ""
        resource = (
            value if resource_type is None else f"arn:aws:rds:{response.region}:{account}:{resource_type}:{value}"
        )
        owner, region, identifier = snapshot_kind_of(resource)
        backend = rds_backends[owner or account][region or response.region]
        snapshot = backend.database_snapshots.get(identifier) or backend.cluster_snapshots.get(identifier)
        tags = {t["Key"]: t["Value"] for t in (snapshot.tags or [])} if snapshot is not None else {}
        context = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
        if statements_allow(role.policies.values(), f"rds:{action}", resource, context):
            return None
        return f"User: {role_arn} is not authorized to perform: rds:{action} on resource: {resource}"
