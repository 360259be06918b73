"""Small, named test doubles for the AWS behaviours moto 5.2.5 lacks. Each closes one gap and nothing more.

- LambdaDispatcher: moto without Docker echoes Lambda invocations; this runs the real handler of the function,
  in-process, with Lambda's error contract (FunctionError + errorType), synchronously or asynchronously (an
  asynchronous invocation that fails is retried twice, as Lambda does). For fault tests it can make an invocation
  time out after the handler ran (Sandbox.Timedout: the work is done, the result lost), or crash the function
  just before a chosen AWS call (Runtime.ExitError: the calls before it happened, the ones after did not).
- FaultInjector: moto always answers; this makes chosen API actions fail the next N times with a chosen AWS error
  (Throttling, SnapshotQuotaExceeded, KMSKeyNotAccessibleFault...).
- EventBridgeLambdaTargets: moto's EventBridge cannot deliver to Lambda targets; this invokes the target function
  asynchronously, as EventBridge does, with the event the rule matched.
- EventBridgeBusTargets: moto delivers to an event bus in another region or account, but as a new event (new id,
  its own region and account, no `resources`, where AWS Backup names the recovery point) and whatever the target's
  role may do; this delivers the event unchanged, as AWS does, and only if the target's role trusts EventBridge for
  this rule and allows events:PutEvents on that bus, which must exist; otherwise the event goes to the target's
  dead-letter queue at once (AWS retries for up to the RetryPolicy's 24 h first).
- EngineVersionCatalog: DescribeDBEngineVersions is not implemented; this answers from a catalog in which every
  engine version is offered except those declared unavailable in a region.
- SharedSnapshotCopy: a target account cannot copy a snapshot shared from another account in moto; this finds the
  snapshot in its owner's account and allows the copy only if it is shared with the caller (as AWS does).
- AwsCopyRules: moto is more lenient than AWS; this refuses what AWS refuses: encrypting an unencrypted cluster
  snapshot by copy, an encrypted cross-region or cross-account copy without KmsKeyId, and sharing automated,
  AWS Backup or aws/rds-encrypted snapshots. With `refuse_single_step` it also refuses, as older AWS text says AWS
  does, a copy of another account's shared snapshot straight into another region (InvalidParameterCombination):
  the fallback path of the plans is tested with it.
- AtomicDynamoDBWrites: moto checks a write's condition and then writes, with no lock, so two concurrent conditional
  writes can both succeed; DynamoDB's are atomic. This serializes moto's DynamoDB writes (the copy slots rely on it).
- RoleTrust: moto lets anyone assume any role, even one that does not exist; this refuses (AccessDenied) a role
  that does not exist, whose trust policy names no principal of the caller's account, or whose trust policy
  requires an sts:ExternalId other than the one given.
- AssumedRoleTagConditions: moto evaluates no IAM policy. A target-account role protects finished replicas with
  conditions on their tags (target-account-role.yaml, ReplicaDeletion): for the RDS actions whose permission depends
  on a snapshot's tags (DeleteDBSnapshot, DeleteDBClusterSnapshot, AddTagsToResource, RemoveTagsFromResource) made
  with an assumed role's credentials, this evaluates that role's inline policies as IAM would (an explicit Deny wins,
  otherwise an Allow must match, with aws:ResourceTag conditions) and refuses with AccessDenied. Calls made with
  the replicator's own credentials are not evaluated (the emulation runs every function with the same ones).
- CloudFormationNoValue: moto's CloudFormation leaves `AWS::NoValue` in a list as null (a policy statement or a
  managed policy ARN under a false condition); CloudFormation removes the element. This removes it.
- EmbeddedMetrics: the functions write their metrics as CloudWatch embedded metric format (EMF) lines, which
  CloudWatch Logs turns into metrics; moto does not. This takes each flushed metric set (instead of printing it) and
  keeps the counts, so that tests can assert what an alarm on the metric would see.
- RestoreClock: moto restores a DB instance (and adds a cluster's instance) available at once, and makes a restored
  cluster available at its first description; this keeps each restored instance and cluster `creating` for
  `restore_seconds`, then `available`, and can make chosen restores end `failed` (the database's status RDS shows
  when a restore cannot complete) or never end (a restore that outlives the test's max_minutes).
- OrderableInstanceClasses: DescribeOrderableDBInstanceOptions answers only for aurora-postgresql and neptune;
  this answers, for every engine version, the small classes AWS offers (restore_testing.INSTANCE_CLASSES and
  AURORA_CLASSES), except those declared unavailable.
- CopyClock: moto's copies are available at once and unlimited; this keeps each copy `creating` (cluster:
  `copying`) with a rising PercentProgress for a few seconds, first queued at 0 %; refuses a copy beyond the RDS
  quota of copies in flight per destination account and region (20 DB / 5 cluster: SnapshotQuotaExceeded); fails a
  copy whose source is deleted before it completes; and can make chosen copies end `failed`.
"""

from __future__ import annotations

import copy
import fnmatch
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import camelcase_to_underscores
from moto.events.models import Rule, events_backends
from moto.rds import models as rds_models
from moto.rds.exceptions import (
    DBClusterSnapshotAlreadyExistsError,
    DBClusterSnapshotNotFoundError,
    DBSnapshotAlreadyExistsError,
    DBSnapshotNotFoundFault,
    InvalidParameterCombination,
    InvalidParameterValue,
    SnapshotQuotaExceededFault,
)
from moto.rds.models import RDSBackend, rds_backends
from moto.rds.responses import RDSResponse
from moto.sts.exceptions import STSClientError
from moto.sts.models import STSBackend

from replicator.aws import sessions

from .provision import LocalFunction

_ARN_SNAPSHOT = ("snapshot", "cluster-snapshot")


# --- Lambda ----------------------------------------------------------------------------------------------------------


@dataclass
class LocalContext:
    """The parts of a Lambda context that Powertools reads."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class LambdaProcessCrash(BaseException):
    """The emulated Lambda process died (raised from a botocore hook, so no `except Exception` in a handler sees it)."""


class LambdaDispatcher:
    """Runs the real handler of a provisioned function when moto is asked to invoke it."""

    def __init__(self) -> None:
        self.functions: dict[str, LocalFunction] = {}
        self._modules: dict[str, ModuleType] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.invocations: list[tuple[str, str]] = []  # (function logical id, "ok" | error type)
        self.async_errors: list[str] = []
        self.timeouts: dict[str, int] = {}  # function logical id -> how many invocations time out after running
        self.crashes: dict[str, int] = {}  # botocore event (e.g. before-call.sfn.StartExecution) -> how many crashes
        self._in_lambda = threading.local()
        self.async_retries = 2
        self.async_retry_delay = 0.5  # Lambda waits minutes; the emulation half a second
        # (function logical id, IAM action, made through an assumed role?) of every AWS call a handler made
        self.calls: set[tuple[str, str, bool]] = set()

    def register(self, functions: Iterable[LocalFunction]) -> None:
        for function in functions:
            self.functions[function.name] = function

    def _handler(self, function: LocalFunction) -> Callable[[dict, Any], Any]:
        with self._lock:
            module = self._modules.get(function.name)
            if module is None:
                module_file, _handler_name = function.handler.rsplit(".", 1)
                unique = f"_replicator_fn_{function.logical_id}"
                spec = importlib.util.spec_from_file_location(unique, function.code_dir / f"{module_file}.py")
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load the handler of {function.name} from {function.code_dir}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[unique] = module
                spec.loader.exec_module(module)
                self._modules[function.name] = module
        return getattr(module, function.handler.rsplit(".", 1)[1])

    def invoke(self, function_name: str, payload: Any) -> tuple[Any, str | None]:
        """(result, error type) of one invocation; an exception becomes Lambda's error payload."""
        function = self.functions[function_name.split(":function:")[-1].split(":")[0]]
        context = LocalContext(function.name, f"arn:aws:lambda:us-east-1:123456789012:function:{function.name}")
        self._in_lambda.active = True
        self._in_lambda.function = function.logical_id
        try:
            result = self._handler(function)(payload, context)
        except LambdaProcessCrash as crash:
            self.invocations.append((function.logical_id, "Runtime.ExitError"))
            return {"errorType": "Runtime.ExitError", "errorMessage": f"process exited: {crash}"}, "Runtime.ExitError"
        except Exception as error:
            self.invocations.append((function.logical_id, type(error).__name__))
            return {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error),
            }, type(error).__name__
        finally:
            self._in_lambda.active = False
        with self._lock:
            timed_out = self.timeouts.get(function.logical_id, 0) > 0
            if timed_out:
                self.timeouts[function.logical_id] -= 1
        if timed_out:
            self.invocations.append((function.logical_id, "Sandbox.Timedout"))
            message = f"{context.aws_request_id} Task timed out after 60.00 seconds"
            return {"errorType": "Sandbox.Timedout", "errorMessage": message}, "Sandbox.Timedout"
        self.invocations.append((function.logical_id, "ok"))
        return result, None

    def invoke_async(self, function_name: str, payload: Any) -> None:
        def run() -> None:
            for attempt in range(1 + self.async_retries):
                _, error = self.invoke(function_name, payload)
                if not error:
                    return
                if attempt < self.async_retries:
                    time.sleep(self.async_retry_delay)
            self.async_errors.append(f"{function_name}: {error}")

        thread = threading.Thread(target=run, name=f"lambda-{function_name}", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def record_calls(self) -> None:
        """Note each AWS call a handler makes, as the IAM action(s) it needs (least privilege is checked on them)."""
        boto3._get_default_session()._session.register("before-call", self._note_call, unique_id="record-calls")

    def unregister_hooks(self) -> None:
        """Take this dispatcher's hooks off boto3's default session (it outlives the emulation: a hook left there
        would keep a later emulation's calls going to this dispatcher, and botocore ignores a second registration
        under the same id)."""
        session = boto3._get_default_session()._session
        session.unregister("before-call", unique_id="record-calls")
        for event_name in list(self.crashes):
            session.unregister(event_name, unique_id=f"crash-{event_name}")

    def _note_call(self, model: Any, params: Any, request_signer: Any = None, **_: Any) -> None:
        if not getattr(self._in_lambda, "active", False):
            return
        credentials = getattr(request_signer, "_credentials", None)
        access_key = getattr(credentials, "access_key", None)
        assumed = access_key is not None and access_key != os.environ.get("AWS_ACCESS_KEY_ID")
        prefix = model.service_model.signing_name
        if model.name == "TransactWriteItems":  # IAM checks each item's own action
            names = {next(iter(item)) for item in params.get("TransactItems", [])}
            actions = {f"{prefix}:{'ConditionCheckItem' if n == 'ConditionCheck' else n + 'Item'}" for n in names}
        else:
            actions = {f"{prefix}:{model.name}"}
        with self._lock:
            self.calls.update((self._in_lambda.function, action, assumed) for action in actions)

    def crash_before(self, event_name: str, times: int = 1) -> None:
        """Crash a function the next `times` times it is about to make this AWS call."""
        with self._lock:
            self.crashes[event_name] = times
        sessions.reset_cache()  # a client copies the session's hooks when it is made: cached ones would miss this
        # the hook is on boto3's default session, whose clients the handlers create: it fires inside them only
        session = boto3._get_default_session()
        session._session.register(event_name, self._maybe_crash, unique_id=f"crash-{event_name}")

    def _maybe_crash(self, event_name: str, **_: Any) -> None:
        if not getattr(self._in_lambda, "active", False):
            return
        with self._lock:
            if self.crashes.get(event_name, 0) <= 0:
                return
            self.crashes[event_name] -= 1
        raise LambdaProcessCrash(f"crashed before {event_name}")

    def knows(self, function_name: str) -> bool:
        return function_name.split(":function:")[-1].split(":")[0] in self.functions

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
                self._threads = alive
            if not alive:
                return True
            if time.monotonic() > deadline:
                return False
            alive[0].join(timeout=0.05)


# --- EventBridge -----------------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    """The few condition operators the templates use; an operator not understood here never holds (fail closed)."""
    for operator, keys in conditions.items():
        for key, expected in keys.items():
            given = context.get(key)
            if given is None:
                return False
            if operator in ("StringEquals", "ArnEquals"):
                matched = given in _as_list(expected)
            elif operator in ("StringLike", "ArnLike"):
                matched = any(fnmatch.fnmatchcase(given, pattern) for pattern in _as_list(expected))
            else:
                return False
            if not matched:
                return False
    return True


def _statements_allow(documents: Iterable[str | dict], action: str, resource: str, context: dict[str, str]) -> bool:
    """Whether identity policy documents allow `action` on `resource` (an explicit Deny wins)."""
    allowed = False
    for policy in documents:
        document = json.loads(policy) if isinstance(policy, str) else policy
        for statement in _as_list(document.get("Statement", [])):
            acts = any(fnmatch.fnmatch(action.lower(), a.lower()) for a in _as_list(statement.get("Action", [])))
            on = any(fnmatch.fnmatchcase(resource, r) for r in _as_list(statement.get("Resource", [])))
            if not (acts and on and _conditions_hold(statement.get("Condition", {}), context)):
                continue
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _trusts_service(policy: str | dict, service: str, context: dict[str, str]) -> bool:
    document = json.loads(policy) if isinstance(policy, str) else policy
    for statement in _as_list(document.get("Statement", [])):
        principal = statement.get("Principal", {})
        services = _as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
        if (
            statement.get("Effect") == "Allow"
            and service in services
            and "sts:AssumeRole" in _as_list(statement.get("Action", []))
            and _conditions_hold(statement.get("Condition", {}), context)
        ):
            return True
    return False


class EventBridgeBusTargets:
    """Delivers what a rule matched to an event bus in another region or account, unchanged, as AWS does."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str, str]] = []  # (rule ARN, bus ARN, event id)
        self.undelivered: list[tuple[str, str, str]] = []  # (rule ARN, bus ARN, why)
        self._lock = threading.Lock()

    @staticmethod
    def handles(rule: Rule, target_arn: str) -> bool:
        parts = target_arn.split(":", 5)
        if len(parts) < 6 or parts[2] != "events" or not parts[5].startswith("event-bus/"):
            return False
        return (parts[3], parts[4]) != (rule.region_name, rule.account_id)

    def deliver(self, rule: Rule, target: dict[str, Any], event: Any) -> None:
        bus_arn = target["Arn"]
        _, _, _, region, account, resource = bus_arn.split(":", 5)
        bus = events_backends[account][region].event_buses.get(resource.split("/", 1)[1])
        problem = self._refusal(rule, target)
        if bus is None or problem is not None:
            problem = problem or f"event bus {bus_arn} does not exist"
            with self._lock:
                self.undelivered.append((rule.arn, bus_arn, problem))
            dead_letter_arn = target.get("DeadLetterConfig", {}).get("Arn")
            if dead_letter_arn:  # the DLQ is in the rule's account and region (AWS requires it)
                rule._send_to_sqs_queue(dead_letter_arn.rsplit(":", 1)[1], copy.deepcopy(event))
            return
        with self._lock:
            self.delivered.append((rule.arn, bus_arn, str(event.get("id"))))
        for home_rule in list(bus.rules.values()):
            home_rule.send_to_targets(copy.deepcopy(event))  # each rule its own copy: targets rewrite `time`

    @staticmethod
    def _refusal(rule: Rule, target: dict[str, Any]) -> str | None:
        """Why EventBridge could not put the event on the bus with the target's role (None: it can)."""
        from moto.iam.models import iam_backends

        role_arn = target.get("RoleArn")
        if not role_arn:
            return "the target names no role (EventBridge needs one to reach a bus in another region or account)"
        name = role_arn.rsplit("/", 1)[-1]
        role = next((r for r in iam_backends[rule.account_id]["aws"].roles.values() if r.name == name), None)
        if role is None:
            return f"role {role_arn} does not exist"
        context = {"aws:SourceArn": rule.arn, "aws:SourceAccount": rule.account_id}
        if not _trusts_service(role.assume_role_policy_document, "events.amazonaws.com", context):
            return f"role {role_arn} does not let EventBridge assume it for rule {rule.arn}"
        if not _statements_allow(role.policies.values(), "events:PutEvents", target["Arn"], {}):
            return f"role {role_arn} may not events:PutEvents on {target['Arn']}"
        return None


# --- RDS -------------------------------------------------------------------------------------------------------------


@dataclass
class _CopyInFlight:
    snapshot: Any
    started: float
    duration: float
    fails: bool
    in_progress_status: str
    pool: tuple[str, str, bool]  # (account, destination region, cluster?)
    source_exists: Callable[[], bool]


class CopyClock:
    """Copies stay in progress for `copy_seconds` (the first fifth queued at 0 %), then become available or failed."""

    def __init__(self, copy_seconds: float) -> None:
        self.copy_seconds = copy_seconds
        self.fail_identifiers: set[str] = set()  # copies whose source or target identifier is here end `failed`
        self.in_flight: dict[int, _CopyInFlight] = {}
        self.started: list[str] = []  # ARN of every copy started, in order (a copy made twice shows twice)
        self.quota = {False: 20, True: 5}  # copies in flight per destination account and region: DB, cluster
        self.quota_refusals = 0
        self.max_in_flight: dict[tuple[str, str, bool], int] = {}  # per (account, region, cluster?)
        self._lock = threading.Lock()

    @property
    def max_in_flight_seen(self) -> int:
        return max(self.max_in_flight.values(), default=0)

    def admit(self, account: str, region: str, cluster: bool) -> None:
        """Refuse a copy as RDS does when the destination's copies in flight are at the quota."""
        self.tick()
        pool = (account, region, cluster)
        with self._lock:
            if sum(1 for c in self.in_flight.values() if c.pool == pool) >= self.quota[cluster]:
                self.quota_refusals += 1
                raise SnapshotQuotaExceededFault()

    def start(self, snapshot: Any, source_identifier: str, cluster: bool, source_exists: Callable[[], bool]) -> None:
        identifier = _identifier(snapshot)
        arn = snapshot.db_cluster_snapshot_arn if cluster else snapshot.db_snapshot_arn
        fails = bool({identifier, source_identifier} & self.fail_identifiers)
        status = "copying" if cluster else "creating"
        snapshot.status = status
        snapshot.percent_progress = 0
        pool = (arn.split(":")[4], arn.split(":")[3], cluster)
        with self._lock:
            self.in_flight[id(snapshot)] = _CopyInFlight(
                snapshot, time.monotonic(), self.copy_seconds, fails, status, pool, source_exists
            )
            self.started.append(arn)
            count = sum(1 for c in self.in_flight.values() if c.pool == pool)
            self.max_in_flight[pool] = max(self.max_in_flight.get(pool, 0), count)

    def tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            for key, copy in list(self.in_flight.items()):
                elapsed = now - copy.started
                if not copy.source_exists():  # AWS: deleting the source of a copy in progress fails the copy
                    copy.snapshot.status = "failed"
                    del self.in_flight[key]
                elif elapsed >= copy.duration:
                    copy.snapshot.status = "failed" if copy.fails else "available"
                    copy.snapshot.percent_progress = 0 if copy.fails else 100
                    del self.in_flight[key]
                else:
                    queued = copy.duration / 5
                    done = max(0.0, (elapsed - queued) / (copy.duration - queued))
                    copy.snapshot.percent_progress = int(done * 99)


@dataclass
class _RestoreInFlight:
    resource: Any
    cluster: bool
    started: float
    ends: str  # available | failed | never


class RestoreClock:
    """Restored databases stay `creating` for `restore_seconds`, then become available (or failed, or never end)."""

    def __init__(self, restore_seconds: float) -> None:
        self.restore_seconds = restore_seconds
        self.failing: set[str] = set()  # source databases whose test restores end `failed`
        self.stuck: set[str] = set()  # source databases whose test restores never end
        self.in_flight: dict[int, _RestoreInFlight] = {}
        self.restored: list[str] = []  # identifier of every database restored (or added to a restored cluster)
        self._lock = threading.Lock()

    def _ending(self, identifier: str) -> str:
        for database in self.failing | self.stuck:
            if identifier.startswith(f"snaptest-{database}-"):
                return "failed" if database in self.failing else "never"
        return "available"

    def start(self, resource: Any, identifier: str, cluster: bool) -> None:
        with self._lock:
            self.in_flight[id(resource)] = _RestoreInFlight(
                resource, cluster, time.monotonic(), self._ending(identifier)
            )
            self.restored.append(identifier)
        self._set(resource, cluster, "creating")

    @staticmethod
    def _set(resource: Any, cluster: bool, status: str) -> None:
        if cluster:
            resource._status = status  # moto's DBCluster.status turns `creating` into `available` when read
        else:
            resource.status = status

    def tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            for key, restore in list(self.in_flight.items()):
                if (
                    getattr(restore.resource, "status", None) == "deleting"
                    or getattr(restore.resource, "_status", None) == "deleting"
                ):
                    del self.in_flight[key]
                elif restore.ends != "never" and now - restore.started >= self.restore_seconds:
                    self._set(restore.resource, restore.cluster, restore.ends)
                    del self.in_flight[key]
                else:
                    self._set(restore.resource, restore.cluster, "creating")


class OrderableInstanceClasses:
    """The small DB instance classes offered for every engine version, except those declared unavailable."""

    def __init__(self) -> None:
        self.unavailable: set[tuple[str, str]] = set()  # (region, engine) offering none of the small classes

    def offered(self, region: str, engine: str) -> list[str]:
        from replicator.restore_testing import AURORA_CLASSES, INSTANCE_CLASSES

        if (region, engine) in self.unavailable:
            return []
        return list(AURORA_CLASSES if engine.startswith("aurora") else INSTANCE_CLASSES)


class EngineVersionCatalog:
    """Every engine version is offered, except those declared unavailable in a region."""

    def __init__(self) -> None:
        self.unavailable: set[tuple[str, str, str]] = set()  # (region, engine, version)

    def offered(self, region: str, engine: str | None, version: str | None) -> bool:
        return (region, engine or "", version or "") not in self.unavailable


def _trusts_account(policy: str | dict, account: str) -> bool:
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


def _required_external_id(policy: str | dict) -> str | None:
    document = json.loads(policy) if isinstance(policy, str) else policy
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        value = statement.get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId")
        if value is not None:
            return str(value)
    return None


def _identifier(snapshot: Any) -> str:
    return getattr(snapshot, "db_cluster_snapshot_identifier", None) or snapshot.db_snapshot_identifier


def _snapshot_kind_of(source_arn_or_id: str) -> tuple[str | None, str | None, str]:
    """(account, region, identifier) of a snapshot ARN, or (None, None, identifier)."""
    if source_arn_or_id.startswith("arn:"):
        parts = source_arn_or_id.split(":", 6)
        if parts[5] in _ARN_SNAPSHOT:
            return parts[4], parts[3], parts[6]
    return None, None, source_arn_or_id


_TAG_CONDITIONED = {  # action -> (parameter naming the snapshot, its ARN resource type; None = the parameter is an ARN)
    "DeleteDBSnapshot": ("DBSnapshotIdentifier", "snapshot"),
    "DeleteDBClusterSnapshot": ("DBClusterSnapshotIdentifier", "cluster-snapshot"),
    "AddTagsToResource": ("ResourceName", None),
    "RemoveTagsFromResource": ("ResourceName", None),
}


def _assumed_role_of(access_key: str) -> str | None:
    from moto.sts.models import sts_backends

    for partitions in list(sts_backends.values()):
        for backend in list(partitions.values()):
            assumed = backend.get_assumed_role_from_access_key(access_key)
            if assumed is not None:
                return str(assumed.role_arn)
    return None


def _tag_condition_refusal(response: BaseResponse) -> str | None:
    """Why IAM would refuse this RDS request made with an assumed role's credentials (None: allowed, or not such)."""
    action = response._get_action()
    if action not in _TAG_CONDITIONED:
        return None
    role_arn = _assumed_role_of(response.get_access_key())
    if role_arn is None:
        return None
    from moto.iam.models import iam_backends

    account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
    role = next((r for r in iam_backends[account]["aws"].roles.values() if r.name == name), None)
    if role is None:
        return None
    parameter, resource_type = _TAG_CONDITIONED[action]
    value = response._get_param(parameter) or ""
    resource = value if resource_type is None else f"arn:aws:rds:{response.region}:{account}:{resource_type}:{value}"
    owner, region, identifier = _snapshot_kind_of(resource)
    backend = rds_backends[owner or account][region or response.region]
    snapshot = backend.database_snapshots.get(identifier) or backend.cluster_snapshots.get(identifier)
    tags = {t["Key"]: t["Value"] for t in (snapshot.tags or [])} if snapshot is not None else {}
    context = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
    if _statements_allow(role.policies.values(), f"rds:{action}", resource, context):
        return None
    return f"User: {role_arn} is not authorized to perform: rds:{action} on resource: {resource}"


class InjectedFault(ServiceException):
    """An AWS error made by the FaultInjector (defined outside moto, so that moto serializes it for any service)."""


@dataclass
class _Fault:
    code: str
    message: str
    remaining: int
    skip: int


def _delivering_targets(
    previous: Callable[..., None],
    takes: Callable[[Rule, str], bool],
    deliver: Callable[[Rule, dict[str, Any], Any], None],
) -> Callable[..., None]:
    """A Rule.send_to_targets that delivers the targets `takes` itself, when the rule matches the event, and leaves
    the rule's other targets to `previous` (moto's own, or the double installed before)."""

    def send_to_targets(rule: Rule, original_event: Any, transform_input: bool = True) -> None:
        if rule.scheduled_expression:
            return  # a schedule rule has no pattern, and moto would match every event to it; AWS sends it none
        mine = [t for t in rule.targets if takes(rule, t["Arn"])]
        if mine and rule.event_pattern.matches_event(original_event):
            for target in mine:
                deliver(rule, target, original_event)
        others = [t for t in rule.targets if t not in mine]
        if others:
            saved, rule.targets = rule.targets, others
            try:
                previous(rule, original_event, transform_input)
            finally:
                rule.targets = saved

    return send_to_targets


class FaultInjector:
    """Makes (service, action) fail: `fail("rds", "copy_db_snapshot", "Throttling", times=2, skip=1)`.

    It sees every request made to the emulation, so it also counts them (`requests`, for bench/replication_cost.py).
    """

    def __init__(self) -> None:
        self.faults: dict[tuple[str, str], _Fault] = {}
        self.injected: list[tuple[str, str, str]] = []  # (service, action, code) of every failure made
        self.requests: Counter[tuple[str, str]] = Counter()  # (service, action) -> requests seen
        self._lock = threading.Lock()

    def fail(self, service: str, action: str, code: str, times: int = 1, skip: int = 0, message: str = "") -> None:
        with self._lock:
            self.faults[(service, action)] = _Fault(code, message or f"injected {code}", times, skip)

    def take(self, service: str, action: str) -> _Fault | None:
        with self._lock:
            self.requests[(service, action)] += 1
            fault = self.faults.get((service, action))
            if fault is None or fault.remaining <= 0:
                return None
            if fault.skip > 0:
                fault.skip -= 1
                return None
            fault.remaining -= 1
            self.injected.append((service, action, fault.code))
            return fault


class EmbeddedMetrics:
    """The metrics the functions emitted (their EMF metric sets), summed per metric name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.totals: Counter[str] = Counter()
        # every datum as emitted: (namespace, name, its dimensions, value)
        self.data: list[tuple[str, str, dict[str, str], float]] = []

    def record(self, metric_set: dict[str, Any]) -> None:
        with self._lock:
            for directive in metric_set.get("_aws", {}).get("CloudWatchMetrics", []):
                dimension_names = [name for group in directive.get("Dimensions", []) for name in group]
                dimensions = {name: str(metric_set.get(name)) for name in dimension_names}
                for metric in directive["Metrics"]:
                    name = metric["Name"]
                    values = metric_set.get(name, [])
                    for value in values if isinstance(values, list) else [values]:
                        self.totals[name] += value
                        self.data.append((directive.get("Namespace", ""), name, dimensions, value))

    def count(self, name: str) -> float:
        with self._lock:
            return self.totals[name]

    def values(self, name: str, **dimensions: str) -> list[float]:
        """The values of `name` emitted with exactly these dimensions besides `service`, oldest first."""
        with self._lock:
            return [
                value
                for _, emitted, dims, value in self.data
                if emitted == name and {k: v for k, v in dims.items() if k != "service"} == dimensions
            ]


class Doubles:
    """Installs and removes every double; holds their state for tests and the demo."""

    def __init__(self, copy_seconds: float) -> None:
        self.faults = FaultInjector()
        self.lambda_dispatcher = LambdaDispatcher()
        self.copy_clock = CopyClock(copy_seconds)
        self.restore_clock = RestoreClock(max(copy_seconds, 0.5))
        self.instance_classes = OrderableInstanceClasses()
        self.engine_catalog = EngineVersionCatalog()
        self.event_bus_targets = EventBridgeBusTargets()
        self.metrics = EmbeddedMetrics()
        self.refuse_single_step = False  # AwsCopyRules: refuse cross-account, cross-region copies in one step
        self._originals: list[tuple[Any, str, Any]] = []

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._originals.append((owner, name, owner.__dict__.get(name)))
        setattr(owner, name, replacement)

    def uninstall(self) -> None:
        self.lambda_dispatcher.unregister_hooks()
        for owner, name, original in reversed(self._originals):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._originals.clear()

    def wait_idle(self, timeout: float) -> bool:
        return self.lambda_dispatcher.wait_idle(timeout)

    # ---- installation ----

    def install(self) -> Doubles:
        self.lambda_dispatcher.record_calls()
        self._install_cloudformation_novalue()
        self._install_assumed_role_tag_conditions()
        self._install_atomic_dynamodb_writes()
        self._install_faults()
        self._install_role_trust()
        self._install_lambda()
        self._install_eventbridge()
        self._install_event_bus_targets()
        self._install_engine_versions()
        self._install_copies()
        self._install_restores()
        self._install_sharing_rules()
        self._install_embedded_metrics()
        return self

    def _install_assumed_role_tag_conditions(self) -> None:
        original = BaseResponse.call_action

        def call_action(response: BaseResponse) -> Any:
            if response.service_name == "rds":
                refusal = _tag_condition_refusal(response)
                if refusal is not None:
                    action = camelcase_to_underscores(response._get_action())

                    def refused() -> None:
                        raise InjectedFault("AccessDenied", refusal)

                    setattr(response, action, refused)  # this request only
            return original(response)

        self._patch(BaseResponse, "call_action", call_action)

    def _install_cloudformation_novalue(self) -> None:
        from moto.cloudformation import parsing

        original = parsing.clean_json

        def clean_json(resource_json: Any, resources_map: Any) -> Any:
            if isinstance(resource_json, list):
                cleaned = [clean_json(value, resources_map) for value in resource_json]
                return [value for value in cleaned if value is not None]
            return original(resource_json, resources_map)  # its recursion comes back here (a module global)

        self._patch(parsing, "clean_json", clean_json)

    def _install_embedded_metrics(self) -> None:
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

        recorder = self.metrics

        def flush_metrics(provider: AmazonCloudWatchEMFProvider, raise_on_empty_metrics: bool = False) -> None:
            if provider.metric_set:
                recorder.record(dict(provider.serialize_metric_set()))
            provider.clear_metrics()

        self._patch(AmazonCloudWatchEMFProvider, "flush_metrics", flush_metrics)

    def _install_atomic_dynamodb_writes(self) -> None:
        from moto.dynamodb.models import DynamoDBBackend

        lock = threading.RLock()

        def atomic(original: Callable) -> Callable:
            def write(*args: Any, **kwargs: Any) -> Any:
                with lock:
                    return original(*args, **kwargs)

            return write

        for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
            self._patch(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))

    def _install_faults(self) -> None:
        faults = self.faults
        original = BaseResponse.call_action

        def call_action(response: BaseResponse) -> Any:
            action = camelcase_to_underscores(response._get_action())
            fault = faults.take(response.service_name or "", action)
            if fault is not None:

                def failing() -> None:
                    raise InjectedFault(fault.code, fault.message)

                setattr(response, action, failing)  # this request only: the instance shadows the class's method
            return original(response)

        self._patch(BaseResponse, "call_action", call_action)

    def _install_role_trust(self) -> None:
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
            if not _trusts_account(role.assume_role_policy_document, backend.account_id):
                raise STSClientError("AccessDenied", f"{denied} (its trust policy does not name this account)")
            required = _required_external_id(role.assume_role_policy_document)
            given = kwargs.get("external_id") if "external_id" in kwargs else (args[2] if len(args) > 2 else None)
            if required is not None and given != required:
                raise STSClientError("AccessDenied", f"{denied} (wrong or missing external id)")
            return original(backend, region_name, role_session_name, role_arn, *args, **kwargs)

        self._patch(STSBackend, "assume_role", assume_role)

    def _install_lambda(self) -> None:
        dispatcher = self.lambda_dispatcher
        original = LambdaSimpleBackend.invoke

        def invoke(backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any):
            if not dispatcher.knows(function_name):
                return original(backend, function_name, qualifier, body, headers, response_headers)
            payload = json.loads(body) if body else {}
            if headers.get("X-Amz-Invocation-Type") == "Event":
                dispatcher.invoke_async(function_name, payload)
                return b""
            result, error = dispatcher.invoke(function_name, payload)
            if error:
                response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(result, default=str).encode()

        self._patch(LambdaSimpleBackend, "invoke", invoke)

    def _install_eventbridge(self) -> None:
        dispatcher = self.lambda_dispatcher

        def invoke(rule: Rule, target: dict[str, Any], event: Any) -> None:
            dispatcher.invoke_async(target["Arn"], json.loads(json.dumps(event, default=str)))

        def takes(rule: Rule, target_arn: str) -> bool:
            return ":lambda:" in target_arn

        self._patch(Rule, "send_to_targets", _delivering_targets(Rule.send_to_targets, takes, invoke))

    def _install_event_bus_targets(self) -> None:
        buses = self.event_bus_targets
        # over the Lambda targets' double, already in place
        self._patch(Rule, "send_to_targets", _delivering_targets(Rule.send_to_targets, buses.handles, buses.deliver))

    def _install_engine_versions(self) -> None:
        catalog = self.engine_catalog

        def describe_db_engine_versions(response: RDSResponse) -> ActionResult:
            engine = response.params.get("Engine")
            version = response.params.get("EngineVersion")
            found = []
            if catalog.offered(response.region, engine, version):
                found.append({"Engine": engine, "EngineVersion": version, "DBEngineDescription": f"{engine} (local)"})
            return ActionResult({"DBEngineVersions": found})

        self._patch(RDSResponse, "describe_db_engine_versions", describe_db_engine_versions)

    def _install_copies(self) -> None:
        clock = self.copy_clock

        def find_source(backend: RDSBackend, source: str, cluster: bool) -> Any:
            account, region, identifier = _snapshot_kind_of(source)
            owner = rds_backends[account or backend.account_id][region or backend.region_name]
            snapshots = owner.cluster_snapshots if cluster else owner.database_snapshots
            snapshot = snapshots.get(identifier)
            not_found = DBClusterSnapshotNotFoundError if cluster else DBSnapshotNotFoundFault
            if snapshot is None:
                raise not_found(source)
            if owner.account_id != backend.account_id:
                shared_with = snapshot.attributes.get("restore", [])
                if backend.account_id not in shared_with and "all" not in shared_with:
                    raise not_found(source)  # AWS: a snapshot not shared with you does not exist for you
            return owner, snapshot

        doubles = self

        def check_copy_rules(
            owner: RDSBackend, backend: RDSBackend, snapshot: Any, kms_key_id: str | None, cluster: bool
        ):
            if (
                doubles.refuse_single_step
                and owner.account_id != backend.account_id
                and owner.region_name != backend.region_name
            ):
                raise InvalidParameterCombination(
                    "a shared snapshot can only be copied in its own region: copy it there first"
                )
            encrypted = bool(snapshot.storage_encrypted if cluster else snapshot.encrypted)
            moves = owner.region_name != backend.region_name or owner.account_id != backend.account_id
            if encrypted and moves and not kms_key_id:
                raise InvalidParameterCombination(
                    "KmsKeyId is required to copy an encrypted snapshot to another region or from another account"
                )
            if cluster and not encrypted and kms_key_id:
                raise InvalidParameterCombination(
                    "an unencrypted DB cluster snapshot cannot be encrypted by copying it"
                )

        def begin_copy(
            backend: RDSBackend,
            source_identifier: str,
            target_identifier: str,
            kms_key_id: str | None,
            tags: list | None,
            copy_tags: bool | None,
            cluster: bool,
        ) -> tuple[RDSBackend, Any, str | None, list | None]:
            """What AWS checks and resolves before either copy starts: (source's backend, source, key, tags)."""
            owner, source = find_source(backend, source_identifier, cluster=cluster)
            check_copy_rules(owner, backend, source, kms_key_id, cluster=cluster)
            if target_identifier in (backend.cluster_snapshots if cluster else backend.database_snapshots):
                exists = DBClusterSnapshotAlreadyExistsError if cluster else DBSnapshotAlreadyExistsError
                raise exists(target_identifier)
            clock.admit(backend.account_id, backend.region_name, cluster=cluster)
            if kms_key_id is not None:
                kms_key_id = backend._validate_kms_key(kms_key_id)
            if copy_tags and not tags:
                tags = source.tags or []
            return owner, source, kms_key_id, tags

        def start_copy(backend: RDSBackend, owner: RDSBackend, source: Any, copy: Any, cluster: bool) -> Any:
            (backend.cluster_snapshots if cluster else backend.database_snapshots)[_identifier(copy)] = copy
            source_id = _identifier(source)
            sources = owner.cluster_snapshots if cluster else owner.database_snapshots
            clock.start(copy, source_id, cluster=cluster, source_exists=lambda: source_id in sources)
            return copy

        def copy_db_snapshot(
            backend: RDSBackend,
            source_db_snapshot_identifier: str,
            target_db_snapshot_identifier: str,
            kms_key_id: str | None = None,
            tags: list | None = None,
            copy_tags: bool | None = False,
            **_: Any,
        ) -> Any:
            owner, source, kms_key_id, tags = begin_copy(
                backend,
                source_db_snapshot_identifier,
                target_db_snapshot_identifier,
                kms_key_id,
                tags,
                copy_tags,
                False,
            )
            copy = rds_models.DBSnapshot(
                backend,
                source.database,
                target_db_snapshot_identifier,
                tags=tags,
                kms_key_id=kms_key_id or source.kms_key_id,
                original_created_at=source.original_snapshot_create_time,
            )
            copy.encrypted = copy.storage_encrypted = bool(kms_key_id) or source.encrypted
            return start_copy(backend, owner, source, copy, cluster=False)

        def copy_db_cluster_snapshot(
            backend: RDSBackend,
            source_db_cluster_snapshot_identifier: str,
            target_db_cluster_snapshot_identifier: str,
            kms_key_id: str | None = None,
            copy_tags: bool = False,
            tags: list | None = None,
            **_: Any,
        ) -> Any:
            owner, source, kms_key_id, tags = begin_copy(
                backend,
                source_db_cluster_snapshot_identifier,
                target_db_cluster_snapshot_identifier,
                kms_key_id,
                tags,
                copy_tags,
                True,
            )
            # copy the cluster object too: moto would otherwise mark the *source* cluster encrypted
            cluster = rds_models.copy.copy(source.cluster)
            copy = rds_models.DBClusterSnapshot(
                backend, cluster, target_db_cluster_snapshot_identifier, tags=tags, kms_key_id=kms_key_id
            )
            if not kms_key_id:
                copy.kms_key_id = source.kms_key_id
                copy.encrypted = copy.storage_encrypted = source.storage_encrypted
            return start_copy(backend, owner, source, copy, cluster=True)

        def ticking(original: Callable) -> Callable:
            def describe(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
                clock.tick()
                return original(backend, *args, **kwargs)

            return describe

        self._patch(RDSBackend, "copy_db_snapshot", copy_db_snapshot)
        self._patch(RDSBackend, "copy_db_cluster_snapshot", copy_db_cluster_snapshot)
        self._patch(RDSBackend, "describe_db_snapshots", ticking(RDSBackend.describe_db_snapshots))
        self._patch(RDSBackend, "describe_db_cluster_snapshots", ticking(RDSBackend.describe_db_cluster_snapshots))

    def _install_restores(self) -> None:
        clock = self.restore_clock
        classes = self.instance_classes
        restore_instance = RDSBackend.restore_db_instance_from_db_snapshot
        restore_cluster = RDSBackend.restore_db_cluster_from_snapshot
        create_instance = RDSBackend.create_db_instance

        def restore_db_instance_from_db_snapshot(backend: RDSBackend, from_snapshot_id: str, overrides: dict) -> Any:
            database = restore_instance(backend, from_snapshot_id, overrides)
            # moto drops a False override (PubliclyAccessible=False): RDS applies it
            if overrides.get("publicly_accessible") is False:
                database.publicly_accessible = False
            clock.start(database, overrides["db_instance_identifier"], cluster=False)
            return database

        def restore_db_cluster_from_snapshot(backend: RDSBackend, from_snapshot_id: str, overrides: dict) -> Any:
            cluster = restore_cluster(backend, from_snapshot_id, overrides)
            clock.start(cluster, overrides["db_cluster_identifier"], cluster=True)
            return cluster

        def create_db_instance(backend: RDSBackend, db_kwargs: dict) -> Any:
            database = create_instance(backend, db_kwargs)
            identifier = str(db_kwargs.get("db_instance_identifier", ""))
            if db_kwargs.get("db_cluster_identifier") and identifier.startswith("snaptest-"):
                clock.start(database, identifier, cluster=False)  # a restored cluster's instance
            return database

        def ticking(original: Callable) -> Callable:
            def describe(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
                clock.tick()
                return original(backend, *args, **kwargs)

            return describe

        def describe_orderable_db_instance_options(response: RDSResponse) -> ActionResult:
            engine = response.params.get("Engine") or ""
            version = response.params.get("EngineVersion") or ""
            options = [
                {"Engine": engine, "EngineVersion": version, "DBInstanceClass": name, "Vpc": True}
                for name in classes.offered(response.region, engine)
            ]
            return ActionResult({"OrderableDBInstanceOptions": options})

        self._patch(RDSBackend, "restore_db_instance_from_db_snapshot", restore_db_instance_from_db_snapshot)
        self._patch(RDSBackend, "restore_db_cluster_from_snapshot", restore_db_cluster_from_snapshot)
        self._patch(RDSBackend, "create_db_instance", create_db_instance)
        self._patch(RDSBackend, "describe_db_instances", ticking(RDSBackend.describe_db_instances))
        self._patch(RDSBackend, "describe_db_clusters", ticking(RDSBackend.describe_db_clusters))
        self._patch(RDSResponse, "describe_orderable_db_instance_options", describe_orderable_db_instance_options)

    def _install_sharing_rules(self) -> None:
        def refuse_unshareable(backend: RDSBackend, snapshot: Any, values_to_add: list[str] | None) -> None:
            if not values_to_add:
                return
            if snapshot.snapshot_type != "manual":
                raise InvalidParameterValue(f"{snapshot.snapshot_type} snapshots cannot be shared; copy them first")
            if snapshot.kms_key_id and (snapshot.encrypted or getattr(snapshot, "storage_encrypted", False)):
                key_id = snapshot.kms_key_id
                try:
                    key = backend.kms.describe_key(key_id)
                except KeyError:
                    return
                if key.key_manager == "AWS":
                    raise InvalidParameterValue("snapshots encrypted with the default aws/rds key cannot be shared")

        original_instance = RDSBackend.modify_db_snapshot_attribute
        original_cluster = RDSBackend.modify_db_cluster_snapshot_attribute

        def modify_db_snapshot_attribute(
            backend: RDSBackend,
            db_snapshot_identifier: str,
            attribute_name: str,
            values_to_add: list[str] | None = None,
            values_to_remove: list[str] | None = None,
        ) -> Any:
            snapshot = backend.database_snapshots.get(db_snapshot_identifier)
            if snapshot is not None:
                refuse_unshareable(backend, snapshot, values_to_add)
            return original_instance(backend, db_snapshot_identifier, attribute_name, values_to_add, values_to_remove)

        def modify_db_cluster_snapshot_attribute(
            backend: RDSBackend,
            db_cluster_snapshot_identifier: str,
            attribute_name: str,
            values_to_add: list[str] | None = None,
            values_to_remove: list[str] | None = None,
        ) -> Any:
            snapshot = backend.cluster_snapshots.get(db_cluster_snapshot_identifier)
            if snapshot is not None:
                refuse_unshareable(backend, snapshot, values_to_add)
            return original_cluster(
                backend, db_cluster_snapshot_identifier, attribute_name, values_to_add, values_to_remove
            )

        self._patch(RDSBackend, "modify_db_snapshot_attribute", modify_db_snapshot_attribute)
        self._patch(RDSBackend, "modify_db_cluster_snapshot_attribute", modify_db_cluster_snapshot_attribute)


def install(copy_seconds: float) -> Doubles:
    return Doubles(copy_seconds).install()
