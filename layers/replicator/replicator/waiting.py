"""How long the state machine waits before checking a copy again (pure)."""

from __future__ import annotations


def next_wait_seconds(elapsed_seconds: float, percent_progress: int, *, floor: int, ceiling: int) -> int:
    """Wait about half of the estimated time left, within [floor, ceiling].

    With no progress yet (a queued copy) the estimate is unknown: back off with the time already spent, so a copy
    queued for an hour is not checked every few seconds.
    """
    if floor > ceiling:
        raise ValueError(f"floor {floor} is above ceiling {ceiling}")
    if percent_progress <= 0 or elapsed_seconds <= 0:
        wait = elapsed_seconds / 4
    elif percent_progress >= 100:
        wait = floor
    else:
        remaining = elapsed_seconds * (100 - percent_progress) / percent_progress
        wait = remaining / 2
    return int(min(ceiling, max(floor, wait)))
