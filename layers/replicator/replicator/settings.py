"""Settings of the Lambda functions, read from their environment (set by template.yaml)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from .copy_slots import CopyQuotas
from .destinations import AllowedDestinations, parse_accounts
from .execution import WaitPolicy


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    mapping_table: str
    history_table: str
    account_id: str = ""  # the replicator's own account (the stack's)
    allowed_accounts: frozenset[str] = frozenset()  # AllowedTargetAccounts (the own account is always allowed)
    allowed_organization_id: str | None = None  # AllowedOrganizationId
    state_machine_arn: str = ""
    restore_test_state_machine_arn: str = ""
    event_bus_name: str = "default"
    mapping_cache_seconds: int = 60
    poll_floor_seconds: int = 30
    poll_ceiling_seconds: int = 7200
    slots_table: str = ""
    quotas: CopyQuotas = CopyQuotas()
    max_slot_wait_hours: int = 168  # a replication waiting longer than this for a copy slot fails with the reason
    slot_recheck_seconds: int = 3600
    # a vault's shared copy-slot pool (coordinator.yaml): the pools of its account are taken there, through its role
    shared_slot_pool_table_arn: str = ""
    shared_slot_pool_role_arn: str = ""

    def shares_pool(self, pool: str) -> bool:
        """Whether `pool` (account#region#kind) is the vault's shared pool, not this stack's own."""
        table = self.shared_slot_pool_table_arn
        return bool(table and self.shared_slot_pool_role_arn) and pool.split("#", 1)[0] == table.split(":")[4]

    @property
    def wait_policy(self) -> WaitPolicy:
        return WaitPolicy(floor_seconds=self.poll_floor_seconds, ceiling_seconds=self.poll_ceiling_seconds)

    @property
    def destinations(self) -> AllowedDestinations:
        return AllowedDestinations(
            own_account=self.account_id,
            accounts=self.allowed_accounts,
            organization_id=self.allowed_organization_id or None,
        )


# Where each setting comes from (template.yaml sets these variables); a variable that is absent or empty leaves the
# setting at its default above, the one place defaults are written (template tests compare the stack's parameters).
ENVIRONMENT = {
    "mapping_table": "MAPPING_TABLE_NAME",
    "history_table": "HISTORY_TABLE_NAME",
    "account_id": "REPLICATOR_ACCOUNT_ID",
    "allowed_accounts": "ALLOWED_TARGET_ACCOUNTS",
    "allowed_organization_id": "ALLOWED_ORGANIZATION_ID",
    "state_machine_arn": "STATE_MACHINE_ARN",
    "restore_test_state_machine_arn": "RESTORE_TEST_STATE_MACHINE_ARN",
    "event_bus_name": "EVENT_BUS_NAME",
    "mapping_cache_seconds": "MAPPING_CACHE_SECONDS",
    "poll_floor_seconds": "POLL_FLOOR_SECONDS",
    "poll_ceiling_seconds": "POLL_CEILING_SECONDS",
    "slots_table": "SLOTS_TABLE_NAME",
    "max_slot_wait_hours": "MAX_SLOT_WAIT_HOURS",
    "slot_recheck_seconds": "SLOT_RECHECK_SECONDS",
    "shared_slot_pool_table_arn": "SHARED_SLOT_POOL_TABLE_ARN",
    "shared_slot_pool_role_arn": "SHARED_SLOT_POOL_ROLE_ARN",
}
REQUIRED = ("mapping_table", "history_table", "account_id")
QUOTAS_ENVIRONMENT = {"instance": "INSTANCE_COPY_QUOTA", "cluster": "CLUSTER_COPY_QUOTA"}


def settings_from(env: Mapping[str, str]) -> Settings:
    """The settings a function's environment gives."""
    # the tables and the own account are required: a missing one is a deployment error, raised at once (KeyError)
    values: dict[str, object] = {field: env[ENVIRONMENT[field]] for field in REQUIRED}
    values |= {field: env[name] for field, name in ENVIRONMENT.items() if field not in REQUIRED and env.get(name)}
    if "allowed_accounts" in values:
        values["allowed_accounts"] = parse_accounts(str(values["allowed_accounts"]))
    values["quotas"] = CopyQuotas.model_validate(
        {field: env[name] for field, name in QUOTAS_ENVIRONMENT.items() if env.get(name)}
    )
    return Settings.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """This function's settings, read once per execution environment."""
    return settings_from(os.environ)
