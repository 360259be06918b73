"""The part of IAM's policy evaluation the doubles need: identity policies (an explicit Deny wins, otherwise an Allow
must match, with the few condition operators the templates use) and trust policies. Used by EventBridgeBusTargets,
RoleTrust, AssumedRoleTagConditions and AssumedRoleDynamoDBConditions; moto 5.2.5 evaluates no policy itself.

A request context maps a condition key to its value, or to a list of values for a multivalued key (aws:TagKeys,
dynamodb:LeadingKeys)."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

Context = Mapping[str, "str | list[str]"]

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL_CHARACTERS = {"*": "*", "?": "?", "$": "$"}  # ${*}, ${?}, ${$}: the character itself


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resolved(value: Any, context: Context) -> Any:
    """A condition value with its policy variables (`${aws:PrincipalAccount}`, `${aws:PrincipalTag/<key>}`...)
    replaced by their values in `context`; None when one names a key the context lacks (or has several values of):
    IAM then matches nothing with that value. A value that is not a string is kept as it is."""
    if not isinstance(value, str) or "${" not in value:
        return value
    missing = False

    def variable(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name in _SPECIAL_CHARACTERS:
            return _SPECIAL_CHARACTERS[name]
        given = context.get(name)
        if not isinstance(given, str):
            missing = True
            return ""
        return given

    text = _VARIABLE.sub(variable, value)
    return None if missing else text


_SINGLE_VALUED = ("StringEquals", "ArnEquals", "StringLike", "ArnLike")  # the operators understood here


def _matches(operator: str, given: str, expected: list[Any]) -> bool:
    """Whether a single-valued operator holds for `given` (never for an operator not understood here)."""
    if operator in ("StringEquals", "ArnEquals"):
        return given in expected
    if operator in ("StringLike", "ArnLike"):
        return any(isinstance(pattern, str) and fnmatch.fnmatchcase(given, pattern) for pattern in expected)
    return False


def _condition_holds(operator: str, key: str, expected: list[Any], context: Context) -> bool:
    given = context.get(key)
    if operator == "Null":
        # "true": the key is absent from the request; "false": it is there
        absent = given is None or given == []
        return any(str(value).lower() == ("true" if absent else "false") for value in expected)
    values = [value for value in (resolved(e, context) for e in expected) if value is not None]
    if operator.startswith("ForAllValues:"):
        # every value of the key among the allowed ones; as in IAM, this also holds when the key is absent or empty
        base = operator.split(":", 1)[1]
        givens = [] if given is None else as_list(given)
        return base in _SINGLE_VALUED and all(_matches(base, str(g), values) for g in givens)
    if operator == "StringNotEquals":
        # as in IAM, a negated operator holds when the key is absent (a Deny on "not this account" covers no tag)
        return given is None or (isinstance(given, str) and given not in values)
    if given is None or not isinstance(given, str):
        return False
    return _matches(operator, given, values)


def conditions_hold(conditions: dict[str, Any], context: Context) -> bool:
    """The few condition operators the templates use (StringEquals, StringNotEquals, StringLike, ArnEquals,
    ArnLike, their ForAllValues: forms, Null), with policy variables in the values resolved from `context`; an
    operator not understood here never holds (fail closed), nor does a single-valued operator on a key that is absent
    or has several values (StringNotEquals, as IAM's negated operators, holds on an absent key)."""
    for operator, keys in conditions.items():
        for key, expected in keys.items():
            if not _condition_holds(operator, key, as_list(expected), context):
                return False
    return True


def statements_allow(documents: Iterable[str | dict], action: str, resource: str, context: Context) -> bool:
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


def statements_name(documents: Iterable[str | dict], action: str) -> bool:
    """Whether any statement of the policy documents names `action` (whatever its effect, resource, conditions)."""
    for policy in documents:
        document = json.loads(policy) if isinstance(policy, str) else policy
        for statement in as_list(document.get("Statement", [])):
            if any(fnmatch.fnmatch(action.lower(), a.lower()) for a in as_list(statement.get("Action", []))):
                return True
    return False


def trusts_service(policy: str | dict, service: str, context: Context) -> bool:
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


def _names_account(statement: dict[str, Any], account: str) -> bool:
    """Whether a statement's Principal names a principal of `account` (or everyone)."""
    principals = statement.get("Principal", {})
    aws = principals.get("AWS", []) if isinstance(principals, dict) else principals
    for principal in aws if isinstance(aws, list) else [aws]:
        if principal in ("*", account) or f":{account}:" in principal:
            return True
    return False


def trusts_account(policy: str | dict, account: str) -> bool:
    """Whether a trust policy names a principal of `account` (or everyone)."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") == "Allow" and _names_account(statement, account):
            return True
    return False


def trust_allows(
    policy: str | dict, action: str, account: str, context: Context, unknown_keys: Collection[str] = ()
) -> bool:
    """Whether a trust policy has an Allow statement for `action` (sts:TagSession...) naming a principal of
    `account`, its conditions holding in `context`. Conditions on `unknown_keys` (keys the caller cannot give, such
    as an aws:PrincipalArn it does not know) are taken to hold."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    for statement in as_list(document.get("Statement", [])):
        acts = any(fnmatch.fnmatch(action.lower(), a.lower()) for a in as_list(statement.get("Action", [])))
        if statement.get("Effect") != "Allow" or not acts or not _names_account(statement, account):
            continue
        conditions = {
            operator: {key: value for key, value in keys.items() if key not in unknown_keys}
            for operator, keys in statement.get("Condition", {}).items()
        }
        if conditions_hold(conditions, context):
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
