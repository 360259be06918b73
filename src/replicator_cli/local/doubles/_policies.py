"""The part of IAM's policy evaluation the doubles need: identity policies (an explicit Deny wins, otherwise an Allow
must match, with the few condition operators the templates use) and trust policies. Used by EventBridgeBusTargets,
RoleTrust and AssumedRoleTagConditions; moto 5.2.5 evaluates no policy itself."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from typing import Any


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    """The few condition operators the templates use; an operator not understood here never holds (fail closed)."""
    for operator, keys in conditions.items():
        for key, expected in keys.items():
            given = context.get(key)
            if given is None:
                return False
            if operator in ("StringEquals", "ArnEquals"):
                matched = given in as_list(expected)
            elif operator in ("StringLike", "ArnLike"):
                matched = any(fnmatch.fnmatchcase(given, pattern) for pattern in as_list(expected))
            else:
                return False
            if not matched:
                return False
    return True


def statements_allow(documents: Iterable[str | dict], action: str, resource: str, context: dict[str, str]) -> bool:
    """Whether identity policy documents allow `action` on `resource` (an explicit Deny wins)."""
    allowed = False
    for policy in documents:
        document = json.loads(policy) if isinstance(policy, str) else policy
        for statement in as_list(document.get("Statement", [])):
            acts = any(fnmatch.fnmatch(action.lower(), a.lower()) for a in as_list(statement.get("Action", [])))
            on = any(fnmatch.fnmatchcase(resource, r) for r in as_list(statement.get("Resource", [])))
            if not (acts and on and conditions_hold(statement.get("Condition", {}), context)):
                continue
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def trusts_service(policy: str | dict, service: str, context: dict[str, str]) -> bool:
    """Whether a trust policy lets `service` assume the role, its conditions holding in `context`."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    for statement in as_list(document.get("Statement", [])):
        principal = statement.get("Principal", {})
        services = as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
        if (
            statement.get("Effect") == "Allow"
            and service in services
            and "sts:AssumeRole" in as_list(statement.get("Action", []))
            and conditions_hold(statement.get("Condition", {}), context)
        ):
            return True
    return False


def trusts_account(policy: str | dict, account: str) -> bool:
    """Whether a trust policy names a principal of `account` (or everyone)."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        principals = statement.get("Principal", {})
        aws = principals.get("AWS", []) if isinstance(principals, dict) else principals
        for principal in aws if isinstance(aws, list) else [aws]:
            if principal in ("*", account) or f":{account}:" in principal:
                return True
    return False


def required_external_id(policy: str | dict) -> str | None:
    """The sts:ExternalId a trust policy requires (None: none)."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        value = statement.get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId")
        if value is not None:
            return str(value)
    return None
