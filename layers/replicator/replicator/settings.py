"""Settings of the Lambda functions, read from their environment (set by template.yaml)."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from .execution import WaitPolicy
from .scheduling import CopyQuotas


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    mapping_table: str
    history_table: str
    state_machine_arn: str = ""
    event_bus_name: str = "default"
    mapping_cache_seconds: int = 60
    poll_floor_seconds: int = 30
    poll_ceiling_seconds: int = 900
    slots_table: str = ""
    quotas: CopyQuotas = CopyQuotas()
    max_slot_wait_hours: int = 168  # a replication waiting longer than this for a copy slot fails with the reason
    slot_recheck_seconds: int = 3600

    @property
    def wait_policy(self) -> WaitPolicy:
        return WaitPolicy(floor_seconds=self.poll_floor_seconds, ceiling_seconds=self.poll_ceiling_seconds)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        mapping_table=env["MAPPING_TABLE_NAME"],
        history_table=env["HISTORY_TABLE_NAME"],
        state_machine_arn=env.get("STATE_MACHINE_ARN", ""),
        event_bus_name=env.get("EVENT_BUS_NAME", "default"),
        mapping_cache_seconds=int(env.get("MAPPING_CACHE_SECONDS", "60")),
        poll_floor_seconds=int(env.get("POLL_FLOOR_SECONDS", "30")),
        poll_ceiling_seconds=int(env.get("POLL_CEILING_SECONDS", "900")),
        slots_table=env.get("SLOTS_TABLE_NAME", ""),
        max_slot_wait_hours=int(env.get("MAX_SLOT_WAIT_HOURS", "168")),
        slot_recheck_seconds=int(env.get("SLOT_RECHECK_SECONDS", "3600")),
        quotas=CopyQuotas(
            instance=int(env.get("INSTANCE_COPY_QUOTA", "20")), cluster=int(env.get("CLUSTER_COPY_QUOTA", "5"))
        ),
    )
