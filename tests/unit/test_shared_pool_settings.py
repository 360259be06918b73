"""Which copy-slot pools a stack takes from a vault's shared pool (Settings.shares_pool)."""

import pytest

from replicator.copy_slots import is_pool
from replicator.settings import Settings

VAULT = "210987654321"
TABLE = f"arn:aws:dynamodb:us-east-1:{VAULT}:table/rds-snapshot-replicator-coordinator-SharedSlotPoolTable-X"
ROLE = f"arn:aws:iam::{VAULT}:role/rds-snapshot-replicator-target"


@pytest.mark.parametrize(
    ("table", "role", "pool", "shared"),
    [
        (TABLE, ROLE, f"{VAULT}#eu-west-1#instance", True),  # any region of the vault
        (TABLE, ROLE, f"{VAULT}#us-west-2#cluster", True),  # and both kinds
        (TABLE, ROLE, "123456789012#us-west-2#instance", False),  # another destination: the stack's own pool
        ("", "", f"{VAULT}#eu-west-1#instance", False),  # no shared pool configured: today's behaviour
        (TABLE, "", f"{VAULT}#eu-west-1#instance", False),  # a table but no role to reach it: the stack's own
    ],
)
def test_a_pool_is_shared_only_when_it_is_the_vaults(table, role, pool, shared):
    settings = Settings(
        mapping_table="m",
        history_table="h",
        account_id="123456789012",
        shared_slot_pool_table_arn=table,
        shared_slot_pool_role_arn=role,
    )
    assert settings.shares_pool(pool) is shared


@pytest.mark.parametrize(
    ("name", "pool"),
    [
        ("123456789012#us-east-1#instance", True),
        ("123456789012#us-gov-west-1#cluster", True),
        ("123456789012#eu-west-1#everything", False),
        ("12345#us-east-1#instance", False),
        ("123456789012#us-east-1", False),
        ("share#arn:aws:rds:us-east-1:123456789012:snapshot:x", False),
        ("", False),
    ],
)
def test_a_pool_name_is_account_region_kind(name, pool):
    assert is_pool(name) is pool
