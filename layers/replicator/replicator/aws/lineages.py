"""Temporary alias (the module moved to dynamodb/lineage_bases.py); removed once every caller imports it there."""

import sys

from .dynamodb import lineage_bases

sys.modules[__name__] = lineage_bases
