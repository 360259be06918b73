"""Temporary alias (the module moved to dynamodb/slot_pools.py); removed once every caller imports it there."""

import sys

from .dynamodb import slot_pools

sys.modules[__name__] = slot_pools
