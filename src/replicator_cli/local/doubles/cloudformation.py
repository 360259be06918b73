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
