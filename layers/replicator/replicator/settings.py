"""Settings of the Lambda functions, read from their environment (set by template.yaml)."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from .destinations import AllowedDestinations, parse_accounts
from .execution import WaitPolicy
from .scheduling import CopyQuotas


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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        mapping_table=env["MAPPING_TABLE_NAME"],
        history_table=env["HISTORY_TABLE_NAME"],
        account_id=env["REPLICATOR_ACCOUNT_ID"],
        allowed_accounts=parse_accounts(env.get("ALLOWED_TARGET_ACCOUNTS", "")),
        allowed_organization_id=env.get("ALLOWED_ORGANIZATION_ID") or None,
        state_machine_arn=env.get("STATE_MACHINE_ARN", ""),
        restore_test_state_machine_arn=env.get("RESTORE_TEST_STATE_MACHINE_ARN", ""),
        event_bus_name=env.get("EVENT_BUS_NAME", "default"),
        mapping_cache_seconds=int(env.get("MAPPING_CACHE_SECONDS", "60")),
        poll_floor_seconds=int(env.get("POLL_FLOOR_SECONDS", "30")),
        poll_ceiling_seconds=int(env.get("POLL_CEILING_SECONDS", "7200")),
        slots_table=env.get("SLOTS_TABLE_NAME", ""),
        max_slot_wait_hours=int(env.get("MAX_SLOT_WAIT_HOURS", "168")),
        slot_recheck_seconds=int(env.get("SLOT_RECHECK_SECONDS", "3600")),
        quotas=CopyQuotas(
            instance=int(env.get("INSTANCE_COPY_QUOTA", "20")), cluster=int(env.get("CLUSTER_COPY_QUOTA", "5"))
        ),
    )
