"""EventBridge's delivery of a matched event to a Lambda function (EventBridgeLambdaTargets) and to an event bus in
another region or account (EventBridgeBusTargets)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from unittest.mock import patch

from moto.events.models import Rule, events_backends

from ._policies import statements_allow, trusts_service
from .lambda_dispatch import LambdaDispatcher


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


class EventBridgeLambdaTargets:
    """EventBridge invokes a rule's Lambda targets, asynchronously, with the event the rule matched: moto 5.2.5's
    EventBridge cannot deliver to Lambda targets. This invokes the target function through the LambdaDispatcher, as
    EventBridge does (a schedule rule gets no bus events: moto would match every event to it)."""

    def __init__(self, dispatcher: LambdaDispatcher) -> None:
        self.dispatcher = dispatcher

    @staticmethod
    def handles(rule: Rule, target_arn: str) -> bool:
        return ":lambda:" in target_arn

    def deliver(self, rule: Rule, target: dict[str, Any], event: Any) -> None:
        self.dispatcher.invoke_async(target["Arn"], json.loads(json.dumps(event, default=str)))

    def install(self, patches: ExitStack) -> None:
        """Over moto's Rule.send_to_targets."""
        replacement = _delivering_targets(Rule.send_to_targets, self.handles, self.deliver)
        patches.enter_context(patch.object(Rule, "send_to_targets", replacement))


class EventBridgeBusTargets:
    """EventBridge delivers what a rule matched to an event bus in another region or account unchanged (same id,
    source region and account, `resources`, where AWS Backup names the recovery point), and only if the target's role
    trusts EventBridge for this rule and allows events:PutEvents on that bus, which must exist; otherwise the event goes
    to the target's dead-letter queue (after retries for up to the RetryPolicy's 24 h). moto 5.2.5 delivers it as a new
    event (new id, its own region and account, no `resources`) and whatever the target's role may do. This delivers
    the event unchanged, only if the role may, else to the dead-letter queue at once."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str, str]] = []  # (rule ARN, bus ARN, event id)
        self.undelivered: list[tuple[str, str, str]] = []  # (rule ARN, bus ARN, why)
        self._lock = threading.Lock()

    def install(self, patches: ExitStack) -> None:
        """Over the Rule.send_to_targets in place (EventBridgeLambdaTargets', installed before)."""
        replacement = _delivering_targets(Rule.send_to_targets, self.handles, self.deliver)
        patches.enter_context(patch.object(Rule, "send_to_targets", replacement))

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
        if not trusts_service(role.assume_role_policy_document, "events.amazonaws.com", context):
            return f"role {role_arn} does not let EventBridge assume it for rule {rule.arn}"
        if not statements_allow(role.policies.values(), "events:PutEvents", target["Arn"], {}):
            return f"role {role_arn} may not events:PutEvents on {target['Arn']}"
        return None


class EventBridgeCrossAccountPutEvents:
    """PutEvents naming another account's bus by its ARN puts the event there, with the sender's account in the
    event, only if that bus's resource policy lets the sender's account put it (its conditions on `events:source`
    and `events:detail-type` holding); otherwise the entry fails with AccessDeniedException. moto 5.2.5 puts it on
    the sender's own bus of that name instead. (A vault's coordinator wakes a workload account's replication so.)"""

    def install(self, patches: ExitStack) -> None:
        """Over moto's EventsBackend.put_events."""
        from moto.events.models import EventsBackend

        original = EventsBackend.put_events
        deliver = self.deliver

        def put_events(backend: EventsBackend, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
            results: list[dict[str, Any]] = []
            for entry in entries:
                bus = str(entry.get("EventBusName") or "")
                parts = bus.split(":", 5)
                foreign = len(parts) == 6 and (parts[3], parts[4]) != (backend.region_name, backend.account_id)
                results += (
                    [deliver(backend, entry, parts[3], parts[4], parts[5])] if foreign else original(backend, [entry])
                )
            return results

        patches.enter_context(patch.object(EventsBackend, "put_events", put_events))

    @staticmethod
    def deliver(sender: Any, entry: dict[str, Any], region: str, account: str, resource: str) -> dict[str, Any]:
        import time
        import uuid

        bus = events_backends[account][region].event_buses.get(resource.split("/", 1)[-1])
        if bus is None:
            return {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": f"no event bus {resource} in {account}"}
        if not _bus_policy_admits(bus.policy, sender.account_id, entry):
            return {
                "ErrorCode": "AccessDeniedException",
                "ErrorMessage": f"{sender.account_id} is not authorized to put events on {bus.arn}",
            }
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": sender.account_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": region,
            "resources": entry.get("Resources", []),
            "detail": json.loads(entry["Detail"]),
        }
        for rule in list(bus.rules.values()):
            rule.send_to_targets(copy.deepcopy(event))  # type: ignore[arg-type]  # moto's TypedDict of this shape
        return {"EventId": event["id"]}


def _bus_policy_admits(policy: str | None, sender_account: str, entry: dict[str, Any]) -> bool:
    """Whether an event bus's resource policy lets `sender_account` put this entry (no policy: nobody else may)."""
    from ._policies import as_list, conditions_hold

    if not policy:
        return False
    context = {"events:source": str(entry.get("Source")), "events:detail-type": str(entry.get("DetailType"))}
    for statement in as_list(json.loads(policy).get("Statement", [])):
        principal = statement.get("Principal", {})
        principals = as_list(principal.get("AWS", [])) if isinstance(principal, dict) else as_list(principal)
        names_sender = any(p in ("*", sender_account) or f":{sender_account}:" in p for p in principals)
        if (
            statement.get("Effect") == "Allow"
            and names_sender
            and "events:PutEvents" in as_list(statement.get("Action", []))
            and conditions_hold(statement.get("Condition", {}), context)
        ):
            return True
    return False
