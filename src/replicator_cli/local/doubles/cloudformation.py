"""CloudFormation's `AWS::NoValue` in a list (CloudFormationNoValue)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any
from unittest.mock import patch


class CloudFormationNoValue:
    """CloudFormation removes an element of a list that resolves to `AWS::NoValue` (a policy statement or a managed
    policy ARN under a false condition): moto 5.2.5's CloudFormation leaves it in the list as null. This removes it."""

    def install(self, patches: ExitStack) -> None:
        """Over moto's cloudformation.parsing.clean_json."""
        from moto.cloudformation import parsing

        original = parsing.clean_json

        def clean_json(resource_json: Any, resources_map: Any) -> Any:
            if isinstance(resource_json, list):
                cleaned = [clean_json(value, resources_map) for value in resource_json]
                return [value for value in cleaned if value is not None]
            return original(resource_json, resources_map)  # its recursion comes back here (a module global)

        patches.enter_context(patch.object(parsing, "clean_json", clean_json))


class CloudFormationEventBusPolicy:
    """CloudFormation's AWS::Events::EventBusPolicy puts a statement on an event bus's resource policy (with
    `Statement`, the form template.yaml uses): moto 5.2.5's CloudFormation skips the resource. This creates it through
    moto's EventBridge, with the statement CloudFormation resolved."""

    def install(self, patches: ExitStack) -> None:
        """Over moto's cloudformation.parsing.resource_class_from_type, for this one resource type."""
        from moto.cloudformation import parsing

        original = parsing.resource_class_from_type

        def resource_class_from_type(resource_type: str) -> Any:
            if resource_type == "AWS::Events::EventBusPolicy":
                return _EventBusPolicy
            return original(resource_type)

        patches.enter_context(patch.object(parsing, "resource_class_from_type", resource_class_from_type))


class _EventBusPolicy:
    """What moto's CloudFormation needs of a resource: made from its resolved properties, with a physical id."""

    def __init__(self, statement_id: str) -> None:
        self.physical_resource_id = statement_id

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **_: Any
    ) -> _EventBusPolicy:
        import json

        from moto.events.models import events_backends

        properties = cloudformation_json["Properties"]
        statement = {**properties["Statement"], "Sid": properties["StatementId"]}
        events_backends[account_id][region_name].put_permission(
            event_bus_name=properties.get("EventBusName", "default"),
            action="",
            principal="",
            statement_id="",
            condition={},
            policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
        return cls(properties["StatementId"])
