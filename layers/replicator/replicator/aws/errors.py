"""Which AWS errors pass (retried) and which are final (recorded): one named error for everything that passes.

A throttle, a 5xx, a timeout, a connection that failed, an STS or DynamoDB hiccup that outlives botocore's own retries
is raised as TransientAwsError: the state machine retries every task on it (backoff with full jitter, bounded), and
EventBridge / Lambda retry the start function. Refusals (access denied, not found, invalid) and terminal AWS states
(a copy `failed`, a key disabled) are never transient: they become FAILED outcomes with their reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",  # Step Functions, KMS: a rate, not a quota of resources
        "TransactionConflictException",
        "TransactionInProgressException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "InternalErrorException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceFailure",
        "RequestTimeout",
        "RequestTimeoutException",
        "IDPCommunicationError",  # STS
        "KMSInternalException",
        "DependencyTimeoutException",  # KMS
        "PriorRequestNotComplete",
    }
)
_CONNECTION_ERRORS = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)


class TransientAwsError(Exception):
    """An AWS call failed for a passing reason; its name is the error the state machine retries."""


def is_transient(error: BaseException) -> bool:
    if isinstance(error, (TransientAwsError, *_CONNECTION_ERRORS)):
        return True
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code in TRANSIENT_CODES or status >= 500
    return False


def describe(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return f"{error.response.get('Error', {}).get('Code', 'ClientError')}: {error}"
    return f"{type(error).__name__}: {error}"


@contextmanager
def transient_errors_retried() -> Iterator[None]:
    """Raise a passing AWS fault as TransientAwsError (so that it is retried), anything else as it is."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:  # botocore's, that is_transient may call passing; the rest goes as is
        if is_transient(error):
            raise TransientAwsError(describe(error)) from error
        raise
