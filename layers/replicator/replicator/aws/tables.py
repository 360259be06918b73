"""Temporary alias (split into dynamodb/region_mappings.py and dynamodb/replication_records.py); removed once every
caller imports those."""

from .dynamodb.region_mappings import *  # noqa: F403
from .dynamodb.replication_records import *  # noqa: F403
from .dynamodb.replication_records import ReadUsage, _item_size  # noqa: F401
