"""How long the state machine waits before checking a copy again (pure).

Each check costs three state transitions (Wait, CheckCopy, Choice) and a Lambda call; checking late delays the
outcome. So: wait until the copy is expected to end, and re-estimate at each check from what is known.
- Nothing known yet: the snapshot's size gives an expected duration (EXPECTED_SECONDS_PER_GB); check at half of it.
- Progress seen at two checks: the rate between them predicts the end: wait until then.
- Progress seen once: the rate since the start underestimates the speed (the copy sat queued at 0 % for a while),
  so the prediction is capped by the size's expectation.
- Still at 0 % (queued): back off with the time already waited, capped by the expectation.
Every wait is kept within [floor, ceiling].
"""

from __future__ import annotations

from dataclasses import dataclass

# Assumed copy speed when planning the first check: about 8 GB per minute (cross-region copies of a few hundred GB
# take tens of minutes); only the first wait depends on it, later ones on the copy's own progress.
EXPECTED_SECONDS_PER_GB = 7.5
EXPECTED_MINIMUM_SECONDS = 60.0
# With one progress point, wait this share of the predicted remaining time (bench/wait_bench.py chose it).
FIRST_PROGRESS_SHARE = 0.75


@dataclass(frozen=True)
class CopyProgress:
    elapsed_seconds: float  # since the copy started
    percent: int
    previous_elapsed_seconds: float | None = None  # at the check before (None: no check yet)
    previous_percent: int | None = None
    size_gb: int | None = None  # Aurora's allocated size too: a rough guide, counted the same


def expected_copy_seconds(size_gb: int | None) -> float | None:
    """The duration the size suggests (None when the size is unknown)."""
    if not size_gb:
        return None
    return max(EXPECTED_MINIMUM_SECONDS, size_gb * EXPECTED_SECONDS_PER_GB)


def next_wait_seconds(progress: CopyProgress, *, floor: int, ceiling: int) -> int:
    if floor > ceiling:
        raise ValueError(f"floor {floor} is above ceiling {ceiling}")
    elapsed, percent = progress.elapsed_seconds, progress.percent
    expected = expected_copy_seconds(progress.size_gb)
    expected_left = None if expected is None else max(0.0, expected - elapsed)
    previous = progress.previous_percent
    if percent >= 100:
        wait = 0.0
    elif previous is not None and percent > previous and elapsed > (progress.previous_elapsed_seconds or 0):
        rate = (percent - previous) / (elapsed - (progress.previous_elapsed_seconds or 0))
        wait = (100 - percent) / rate
    elif percent > 0:
        # the rate since the start counts the queue, so the end is nearer than it says: come back a little before
        # it, with a second progress point that predicts the end precisely
        by_rate = (100 - percent) * elapsed / percent
        wait = FIRST_PROGRESS_SHARE * (
            by_rate if expected_left is None else min(by_rate, max(expected_left, by_rate / 4))
        )
    elif elapsed <= 0:
        wait = (expected or 0) / 2
    else:
        wait = elapsed if expected_left is None else min(max(expected_left, elapsed / 2), elapsed * 2)
    return int(min(ceiling, max(floor, wait)))
