"""Temporary alias (moved to dynamodb/restore_test_records.py); removed once every caller imports it there."""

import sys

from .dynamodb import restore_test_records

sys.modules[__name__] = restore_test_records
