"""Which waiters of a shared copy-slot pool get the free slots (copy_slots.fair_grants), as a table of cases."""

from __future__ import annotations

import pytest

from replicator.copy_slots import Waiter, fair_grants, grant_counts


def _waiters(spec: str) -> list[Waiter]:
    """'A1 B2 A3': account A's waiter queued at t=1, B's at t=2, A's at t=3 (ids: account and time)."""
    return [Waiter(replication_id=w, source_account=w[0], queued_at_ms=int(w[1:])) for w in spec.split()]


@pytest.mark.parametrize(
    ("waiting", "held", "free", "cap", "expected"),
    [
        # one account alone: arrival order, as a single stack's pool today
        ("A3 A1 A2", {}, 2, None, "A1 A2"),
        ("A1 A2", {}, 5, None, "A1 A2"),  # fewer waiters than slots
        ("A1 A2", {}, 0, None, ""),  # no free slot
        # two accounts: the one holding fewer goes first, whatever the arrival order
        ("A1 A2 A3 B9", {}, 2, None, "A1 B9"),
        ("A1 A2 A3 B9", {"A": 5}, 2, None, "B9 A1"),
        ("A1 A2 B9 B10", {"A": 1, "B": 3}, 3, None, "A1 B9 A2"),  # each grant counts: A, then B, then A
        # ties between accounts holding as many: the oldest waiter first
        ("B2 A5 B6 A7", {}, 4, None, "B2 A5 B6 A7"),
        ("A1 B2 C3", {"A": 1, "B": 1, "C": 1}, 3, None, "A1 B2 C3"),
        # a backfill of one account does not starve a latecomer
        (" ".join(f"A{t}" for t in range(1, 101)) + " B500", {"A": 20}, 1, None, "B500"),
        # the cap: an account at it waits even with slots free
        ("A1 A2 A3", {"A": 2}, 3, 3, "A1"),
        ("A1 A2 B3", {"A": 3}, 3, 3, "B3"),
        ("A1 B2", {"A": 0}, 2, 0, ""),
    ],
)
def test_fair_grants(waiting: str, held: dict[str, int], free: int, cap: int | None, expected: str) -> None:
    granted = fair_grants(_waiters(waiting), held, free, cap)
    assert " ".join(w.replication_id for w in granted) == expected


def test_many_accounts_share_the_slots_evenly():
    # 5 accounts x 40 waiters, all queued at once in account order: 20 slots go 4 to each account
    waiters = [Waiter(replication_id=f"{a}{i}", source_account=a, queued_at_ms=i) for a in "ABCDE" for i in range(40)]
    granted = fair_grants(waiters, {}, 20)
    assert {a: sum(w.source_account == a for w in granted) for a in "ABCDE"} == dict.fromkeys("ABCDE", 4)


@pytest.mark.parametrize(
    ("waiting", "held", "granted", "free", "expected"),
    [
        # the account granted fewer slots so far goes first, whatever it holds now
        ("A1 B2", {"A": 0, "B": 1}, {"A": 10, "B": 2}, 1, "B2"),
        ("A1 B2 C3", {}, {"A": 10, "B": 12, "C": 10}, 3, "A1 C3 B2"),
        # a newcomer starts level with the least service completed (granted minus held) by an active account
        ("A1 C2", {"A": 4}, {"A": 10}, 2, "C2 A1"),  # A completed 6: C starts at 6, behind A's 10
        ("A1 A2 C9", {"A": 10}, {"A": 10}, 1, "C9"),  # A took the pool alone: C comes first while A's copies run
        # an idle account's old count plays no part (Z neither waits nor holds; counted, C would start at 0)
        ("A1 A2 C3 C4", {"A": 1}, {"A": 5, "Z": 0}, 2, "C3 A1"),
    ],
)
def test_grants_follow_the_service_each_account_had(
    waiting: str, held: dict[str, int], granted: dict[str, int], free: int, expected: str
) -> None:
    chosen = fair_grants(_waiters(waiting), held, free, None, granted)
    assert " ".join(w.replication_id for w in chosen) == expected


def test_grant_counts_forget_the_idle_and_add_the_new_grants():
    taken = Waiter(replication_id="C7", source_account="C", queued_at_ms=7)
    counts = grant_counts({"A": 8, "B": 3, "Z": 1}, {"A": 2}, {"B"}, [taken])
    # Z neither waits nor holds: forgotten; C is new: level with the least completed (B: 3 - 0), plus its grant
    assert counts == {"A": 8, "B": 3, "C": 4}
