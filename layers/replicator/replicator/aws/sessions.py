"""boto3 clients for a region, with the replicator's own credentials or an assumed target-account role."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .errors import TransientAwsError, describe, is_transient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
_SESSION_NAME = "rds-snapshot-replicator"
SOURCE_ACCOUNT_TAG = "replicator:source-account"  # session tag naming the workload account (every target role)
_lock = threading.Lock()
_role_credentials: dict[tuple[str, str], dict[str, Any]] = {}
_operator_account: str | None = None
_clients: dict[tuple[str, str, str | None], Any] = {}
_generation = 0  # bumped by reset_cache, so that every thread drops its cached DynamoDB resource
_per_thread = threading.local()
_T = TypeVar("_T")


class RoleNotAssumable(Exception):
    """The mapping's role cannot be assumed (missing, trust policy, or permissions)."""


def own_account() -> str:
    """The replicator's account (the stack's REPLICATOR_ACCOUNT_ID; from the CLI, the operator's, asked once)."""
    global _operator_account
    account = os.environ.get("REPLICATOR_ACCOUNT_ID")
    if account:
        return account
    if _operator_account is None:
        _operator_account = caller_account()
    return _operator_account


def _credentials_for(role_arn: str, source_account: str | None = None) -> dict[str, Any]:
    """Credentials of `role_arn`, in a session tagged `replicator:source-account` with `source_account` (default:
    this account). A target role's trust policy lets the tag name only the caller's own account
    (`${aws:PrincipalAccount}`), so it proves which workload account acts: a vault role in organization mode requires
    it and holds each workload account to its own replicas and its own requests of the shared copy-slot pool."""
    account = source_account or own_account()
    with _lock:
        cached = _role_credentials.get((role_arn, account))
        if cached and cached["Expiration"] - datetime.now(UTC) > timedelta(minutes=5):
            return cached
    kwargs: dict[str, Any] = {"ExternalId": os.environ["EXTERNAL_ID"]} if os.environ.get("EXTERNAL_ID") else {}
    try:
        response = boto3.client("sts", config=_CONFIG).assume_role(
            RoleArn=role_arn,
            RoleSessionName=_SESSION_NAME,
            Tags=[{"Key": SOURCE_ACCOUNT_TAG, "Value": account}],
            **kwargs,
        )
    except (ClientError, BotoCoreError) as error:
        if is_transient(error):
            raise TransientAwsError(f"assuming role {role_arn}: {describe(error)}") from error
        raise RoleNotAssumable(f"cannot assume role {role_arn}: {error}") from error
    credentials = response["Credentials"]
    with _lock:
        _role_credentials[(role_arn, account)] = credentials
    return credentials


def client(service: str, region: str, role_arn: str | None = None) -> Any:
    """A client in `region`, acting as `role_arn` when given (cached credentials, renewed before expiry).

    Clients are cached per service, region and credentials: creating one costs more than most calls made with it.
    """
    credentials = _credentials_for(role_arn) if role_arn else None
    key = (service, region, credentials["AccessKeyId"] if credentials else None)
    with _lock:
        cached = _clients.get(key)
    if cached is not None:
        return cached
    kwargs: dict[str, Any] = {}
    if credentials:
        kwargs = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    new_client = boto3.client(service, region_name=region, config=_CONFIG, **kwargs)
    with _lock:
        _clients[key] = new_client
    return new_client


def home_region() -> str:
    """The replicator's own region: the CLI's (--region, profile), else the Lambda's or the environment's."""
    default = boto3.DEFAULT_SESSION.region_name if boto3.DEFAULT_SESSION else None
    region = default or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise RuntimeError("no AWS region: set AWS_REGION or pass --region")
    return region


def home_client(service: str) -> Any:
    """A client of the replicator's own account and region (cached, like every client here)."""
    return client(service, home_region())


def use_defaults(profile: str | None, region: str | None) -> None:
    """Make `profile` and `region` the default of every client made here (the CLI's --profile and --region)."""
    boto3.setup_default_session(profile_name=profile, region_name=region)


def configured_region() -> str | None:
    """The region a new session finds (AWS_REGION / AWS_DEFAULT_REGION, the profile's); None where none is set."""
    region: str | None = boto3.session.Session().region_name
    return region


def default_client(service: str) -> Any:
    """A client of the default session, in its region (the CLI's --region, else the environment's or profile's):
    made on each call, so that no region or no credentials is botocore's error (NoRegionError...) of this call."""
    return boto3.client(service, config=_CONFIG)


def caller_account() -> str:
    """The account of the credentials in use (the replicator's, from the CLI: the operator's)."""
    return str(default_client("sts").get_caller_identity()["Account"])


def assumed_account(role_arn: str, region: str) -> str:
    """The account `role_arn` acts in, as STS sees it once assumed: RoleNotAssumable when it cannot be."""
    return str(client("sts", region, role_arn).get_caller_identity()["Account"])


def endpoint_client(service: str, region: str, credentials: dict[str, str], endpoint_url: str) -> Any:
    """A client of an explicit endpoint and credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN), outside the default session: the local cloud's, read from where its server wrote them."""
    session = boto3.session.Session(
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
        region_name=region,
    )
    return session.client(service, endpoint_url=endpoint_url)


def dynamodb_table(table_name: str) -> Any:
    """A DynamoDB Table of the replicator's own account and region.

    boto3 resources are not thread-safe, so the resource is cached per thread: a Lambda runs one invocation at a
    time, so each execution environment creates it once instead of on every call.
    """
    cached = getattr(_per_thread, "dynamodb", None)
    if cached is None or cached[0] != _generation:
        cached = (_generation, boto3.resource("dynamodb", config=_CONFIG))
        _per_thread.dynamodb = cached
    return cached[1].Table(table_name)


def role_dynamodb_table(table_arn: str, role_arn: str, source_account: str | None = None) -> Any:
    """A DynamoDB Table of another account (the vault's shared copy-slot pool), reached through `role_arn` there, in
    a session tagged with `source_account` (default: this account).

    Cached per thread and credentials, like dynamodb_table (boto3 resources are not thread-safe)."""
    credentials = _credentials_for(role_arn, source_account)
    region, name = table_arn.split(":")[3], table_arn.rsplit("/", 1)[-1]
    key = (_generation, credentials["AccessKeyId"], region)
    cached = getattr(_per_thread, "role_dynamodb", None)
    if cached is None or cached[0] != key:
        resource = boto3.resource(
            "dynamodb",
            region_name=region,
            config=_CONFIG,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        cached = (key, resource)
        _per_thread.role_dynamodb = cached
    return cached[1].Table(name)


def pages(read: Callable[..., dict[str, Any]], **request: Any) -> Iterator[dict[str, Any]]:
    """The pages of a DynamoDB Query or Scan (`read` = a Table's query or scan), each fetched as the caller gets to
    it: the request again from each page's LastEvaluatedKey until there is none."""
    while True:
        page = read(**request)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def reset_cache() -> None:
    """Forget cached clients and credentials (used when the endpoint or account changes, e.g. in local runs)."""
    global _generation, _operator_account
    with _lock:
        _clients.clear()
        _role_credentials.clear()
        _operator_account = None
        _generation += 1


def conditionally(write: Callable[[], _T]) -> _T | None:
    """Run a DynamoDB write that has a condition: its response, or None when the condition did not hold (any other
    error is raised)."""
    try:
        return write()
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return None
        raise


def conditional_write(write: Callable[[], Any]) -> bool:
    """Run a DynamoDB write that has a condition: False when the condition did not hold, True when it was made."""
    return conditionally(write) is not None


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
