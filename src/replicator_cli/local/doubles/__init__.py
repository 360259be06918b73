"""Small, named test doubles for the AWS behaviours moto 5.2.5 lacks, one module per gap; each closes one gap and
nothing more, and its docstring says which AWS behaviour it stands for and what moto does instead. `Doubles` installs
them all with unittest.mock's patches (held by one ExitStack) and removes them again.

- LambdaDispatcher (lambda_dispatch.py): an invocation runs the function's real handler, with Lambda's error contract.
- FaultInjector (faults.py): chosen API actions fail the next N times with a chosen AWS error; it counts requests.
- EventBridgeLambdaTargets (eventbridge.py): a rule's Lambda targets are invoked asynchronously with the event.
- EventBridgeBusTargets (eventbridge.py): an event goes unchanged to a bus in another region or account, if allowed.
- EngineVersionCatalog (engine_versions.py): DescribeDBEngineVersions, every version offered unless declared not.
- SharedSnapshotCopy (rds_copies.py): a snapshot shared from another account can be copied, only if shared.
- AwsCopyRules (rds_copies.py): the copies and sharing AWS refuses are refused (and, optionally, single-step copies).
- CopyClock (rds_copies.py): copies take time, count against the RDS quota, fail if their source goes first.
- RestoreClock (rds_restores.py): restored databases stay `creating` for a while, then end available or failed.
- OrderableInstanceClasses (rds_restores.py): DescribeOrderableDBInstanceOptions for every engine.
- AtomicDynamoDBWrites (dynamodb_writes.py): DynamoDB's conditional writes are atomic.
- RoleTrust (iam.py): sts:AssumeRole only as the role's trust policy allows, with its external id.
- AssumedRoleTagConditions (iam.py): an assumed role's tag conditions on deleting and tagging RDS snapshots.
- AssumedRoleDynamoDBConditions (iam.py): an assumed role's leading-key and session-tag conditions on DynamoDB items.
- CloudFormationNoValue (cloudformation.py): `AWS::NoValue` in a list removes the element.
- CloudFormationEventBusPolicy (cloudformation.py): AWS::Events::EventBusPolicy puts its statement on the bus.
- EventBridgeCrossAccountPutEvents (eventbridge.py): PutEvents to another account's bus, as its policy allows.
- DynamoDBStreamLambdaTargets (dynamodb_streams.py): a table's stream invokes its function, batch after batch.
- EmbeddedMetrics (metrics.py): the functions' EMF metric sets are kept as CloudWatch would count them.
"""

from __future__ import annotations

from contextlib import ExitStack

from .cloudformation import CloudFormationEventBusPolicy, CloudFormationNoValue
from .dynamodb_streams import DynamoDBStreamLambdaTargets
from .dynamodb_writes import AtomicDynamoDBWrites
from .engine_versions import EngineVersionCatalog
from .eventbridge import EventBridgeBusTargets, EventBridgeCrossAccountPutEvents, EventBridgeLambdaTargets
from .faults import FaultInjector, InjectedFault
from .iam import AssumedRoleDynamoDBConditions, AssumedRoleTagConditions, RoleTrust
from .lambda_dispatch import LambdaDispatcher, LambdaProcessCrash, LocalContext
from .metrics import EmbeddedMetrics
from .rds_copies import AwsCopyRules, CopyClock, SharedSnapshotCopy
from .rds_restores import OrderableInstanceClasses, RestoreClock

__all__ = [
    "AssumedRoleDynamoDBConditions",
    "AssumedRoleTagConditions",
    "AtomicDynamoDBWrites",
    "AwsCopyRules",
    "CloudFormationEventBusPolicy",
    "CloudFormationNoValue",
    "CopyClock",
    "Doubles",
    "DynamoDBStreamLambdaTargets",
    "EmbeddedMetrics",
    "EngineVersionCatalog",
    "EventBridgeBusTargets",
    "EventBridgeCrossAccountPutEvents",
    "EventBridgeLambdaTargets",
    "FaultInjector",
    "InjectedFault",
    "LambdaDispatcher",
    "LambdaProcessCrash",
    "LocalContext",
    "OrderableInstanceClasses",
    "RestoreClock",
    "RoleTrust",
    "SharedSnapshotCopy",
    "install",
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
        self.stream_targets = DynamoDBStreamLambdaTargets(self.lambda_dispatcher)
        self.metrics = EmbeddedMetrics()
        self.organization_of: dict[str, str] = {}  # account -> its organization's id (RoleTrust's aws:PrincipalOrgID)
        self._copy_rules = AwsCopyRules()
        self._patches = ExitStack()

    @property
    def refuse_single_step(self) -> bool:
        """AwsCopyRules: refuse cross-account, cross-region copies in one step."""
        return self._copy_rules.refuse_single_step

    @refuse_single_step.setter
    def refuse_single_step(self, value: bool) -> None:
        self._copy_rules.refuse_single_step = value

    def install(self) -> Doubles:
        """Apply every double's patches. Where two patch the same thing, the later wraps the earlier: the order counts
        (FaultInjector's call_action sees a request before AssumedRoleTagConditions'; EventBridgeBusTargets takes
        the bus targets before EventBridgeLambdaTargets and moto see the rule's others)."""
        patches = self._patches
        self.lambda_dispatcher.record_calls()
        CloudFormationNoValue().install(patches)
        CloudFormationEventBusPolicy().install(patches)
        AssumedRoleTagConditions().install(patches)
        AssumedRoleDynamoDBConditions().install(patches)
        AtomicDynamoDBWrites().install(patches)
        self.faults.install(patches)
        RoleTrust(self.organization_of).install(patches)
        self.lambda_dispatcher.install(patches)
        EventBridgeLambdaTargets(self.lambda_dispatcher).install(patches)
        self.event_bus_targets.install(patches)
        EventBridgeCrossAccountPutEvents().install(patches)
        self.stream_targets.install(patches)
        self.engine_catalog.install(patches)
        SharedSnapshotCopy(self._copy_rules, self.copy_clock).install(patches)
        self.copy_clock.install(patches)
        self.restore_clock.install(patches)
        self.instance_classes.install(patches)
        self._copy_rules.install(patches)
        self.metrics.install(patches)
        # last in, first out: the dispatcher's botocore hooks come off before any patch is undone
        patches.callback(self.lambda_dispatcher.unregister_hooks)
        return self

    def uninstall(self) -> None:
        """Undo every patch, newest first, and take the dispatcher's hooks off boto3's default session."""
        self._patches.close()

    def wait_idle(self, timeout: float) -> bool:
        return self.lambda_dispatcher.wait_idle(timeout)


def install(copy_seconds: float) -> Doubles:
    return Doubles(copy_seconds).install()
