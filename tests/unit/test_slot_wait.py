"""How long a replication may wait for a copy slot (copy_slots.slot_wait_problem), and the queue's sort key."""

import pytest

from replicator.aws.dynamodb.slot_pools import HandOver, hand_over_outcome
from replicator.copy_slots import slot_wait_problem, waiter_entry

HOUR_MS = 3_600_000
POOL = "111111111111#us-west-2#instance"


@pytest.mark.parametrize(
    ("waited_ms", "max_hours", "expired"),
    [
        (0, 168, False),
        (HOUR_MS, 168, False),
        (168 * HOUR_MS, 168, False),  # the limit itself is still allowed
        (168 * HOUR_MS + 1, 168, True),
        (200 * HOUR_MS, 168, True),
        (2 * HOUR_MS, 1, True),
    ],
)
def test_slot_wait_expires_after_the_limit(waited_ms, max_hours, expired):
    now = 1_800_000_000_000
    problem = slot_wait_problem(POOL, now - waited_ms, now, max_hours)
    assert (problem is not None) == expired
    if expired:
        assert POOL in problem
        assert "MAX_SLOT_WAIT_HOURS" in problem
        assert f"limit: {max_hours} h" in problem


def test_queue_entries_sort_by_arrival_whatever_the_replication_id():
    entries = [waiter_entry(t, rid) for t, rid in [(1_000, "zzz"), (999, "aaa"), (10_000_000_000_000, "mmm")]]
    assert sorted(entries) == [entries[1], entries[0], entries[2]]


@pytest.mark.parametrize(
    ("reasons", "outcome"),
    [
        (["ConditionalCheckFailed", "None"], HandOver.TAKEN),  # the waiter left the queue, or queued again
        (["ConditionalCheckFailed", "ConditionalCheckFailed"], HandOver.TAKEN),
        (["None", "ConditionalCheckFailed"], HandOver.FULL),  # no free slot
        (["None", "TransactionConflict"], None),  # another write on the pool's item: try again
        (["TransactionConflict", "None"], None),
        (["ThrottlingError", "None"], None),
    ],
)
def test_a_cancelled_hand_over_is_read_item_by_item(reasons, outcome):
    assert hand_over_outcome(reasons) is outcome
