"""Which records stay in the history's sparse unsettled index (the reconciler's reading list): a table of cases."""

from __future__ import annotations

import pytest

from replicator.history import UNSETTLED_KEY, ReplicationRecord, ReplicationStatus

# (status, cleanup errors, outcome published, in the index)
CASES = [
    ("PENDING", [], None, True),
    ("QUEUED", [], None, True),
    ("COPYING", [], None, True),
    ("CLEANING_UP", [], None, True),
    ("SUCCEEDED", [], True, False),
    ("SUCCEEDED", [], False, True),  # its outcome event is still to publish
    ("FAILED", ["delete snaprep-x-stage: AccessDenied"], True, True),  # a cleanup is left
    ("FAILED", [], True, False),
    ("SKIPPED", [], True, False),
]


@pytest.mark.parametrize(("status", "errors", "published", "indexed"), CASES)
def test_a_record_is_unsettled_while_the_reconciler_has_something_to_do(status, errors, published, indexed):
    record = ReplicationRecord(
        replication_id="r",
        status=ReplicationStatus(status),
        cleanup_errors=errors,
        outcome_published=published,
    )
    assert record.unsettled is indexed
    assert (UNSETTLED_KEY in record.to_item()) is indexed
