"""How long to wait before checking a copy again."""

from __future__ import annotations

import pytest

from replicator.waiting import next_wait_seconds

FLOOR, CEILING = 30, 900


@pytest.mark.parametrize(
    ("elapsed", "percent", "floor", "ceiling", "expected"),
    [
        # queued (no progress yet): a quarter of the time already spent, within [floor, ceiling]
        pytest.param(0, 0, FLOOR, CEILING, FLOOR, id="queued-just-started-floor"),
        pytest.param(60, 0, FLOOR, CEILING, FLOOR, id="queued-1-minute-floor"),
        pytest.param(120, 0, FLOOR, CEILING, 30, id="queued-2-minutes-exactly-floor"),
        pytest.param(400, 0, FLOOR, CEILING, 100, id="queued-400s-backs-off"),
        pytest.param(2000, 0, FLOOR, CEILING, 500, id="queued-2000s-backs-off-more"),
        pytest.param(3600, 0, FLOOR, CEILING, CEILING, id="queued-1-hour-ceiling"),
        pytest.param(36000, 0, FLOOR, CEILING, CEILING, id="queued-10-hours-ceiling"),
        pytest.param(400, -5, FLOOR, CEILING, 100, id="negative-percent-is-queued"),
        pytest.param(-10, 50, FLOOR, CEILING, FLOOR, id="negative-elapsed-floor"),
        pytest.param(0, 50, FLOOR, CEILING, FLOOR, id="progress-but-no-time-yet-floor"),
        # progress: half the estimated remaining time
        pytest.param(600, 50, FLOOR, CEILING, 300, id="half-done-after-10-min"),
        pytest.param(100, 10, FLOOR, CEILING, 450, id="10-percent-after-100s"),
        pytest.param(300, 25, FLOOR, CEILING, 450, id="25-percent-after-300s"),
        pytest.param(900, 90, FLOOR, CEILING, 50, id="90-percent-after-15-min"),
        pytest.param(99, 99, FLOOR, CEILING, FLOOR, id="almost-done-floor"),
        pytest.param(600, 1, FLOOR, CEILING, CEILING, id="slow-copy-ceiling"),
        pytest.param(123.9, 50, 5, CEILING, 61, id="fractional-seconds-truncated"),
        # done (or beyond): floor
        pytest.param(5000, 100, FLOOR, CEILING, FLOOR, id="100-percent-floor"),
        pytest.param(5000, 101, FLOOR, CEILING, FLOOR, id="over-100-percent-floor"),
        # other bounds
        pytest.param(600, 50, 5, 60, 60, id="custom-ceiling"),
        pytest.param(10, 0, 5, 60, 5, id="custom-floor"),
        pytest.param(2000, 0, 120, 120, 120, id="floor-equals-ceiling"),
        pytest.param(2000, 40, 120, 120, 120, id="floor-equals-ceiling-with-progress"),
    ],
)
def test_next_wait_seconds(elapsed: float, percent: int, floor: int, ceiling: int, expected: int) -> None:
    wait = next_wait_seconds(elapsed, percent, floor=floor, ceiling=ceiling)

    assert wait == expected
    assert isinstance(wait, int)


@pytest.mark.parametrize(
    ("floor", "ceiling"),
    [pytest.param(60, 30, id="floor-above-ceiling"), pytest.param(1, 0, id="zero-ceiling")],
)
def test_floor_above_ceiling_is_rejected(floor: int, ceiling: int) -> None:
    with pytest.raises(ValueError, match=f"floor {floor} is above ceiling {ceiling}"):
        next_wait_seconds(100, 50, floor=floor, ceiling=ceiling)


ELAPSED = [0, 1, 30, 59.5, 120, 600, 1800, 3600, 86400]
PERCENTS = [-1, 0, 1, 5, 33, 50, 75, 99, 100, 150]


@pytest.mark.parametrize("percent", PERCENTS)
def test_always_within_bounds(percent: int) -> None:
    for elapsed in ELAPSED:
        assert FLOOR <= next_wait_seconds(elapsed, percent, floor=FLOOR, ceiling=CEILING) <= CEILING


@pytest.mark.parametrize("percent", [0, 10, 50, 90])
def test_longer_elapsed_never_waits_less(percent: int) -> None:
    waits = [next_wait_seconds(e, percent, floor=FLOOR, ceiling=CEILING) for e in ELAPSED]

    assert waits == sorted(waits)


@pytest.mark.parametrize("elapsed", [60, 600, 3600])
def test_more_progress_never_waits_longer(elapsed: int) -> None:
    waits = [next_wait_seconds(elapsed, p, floor=FLOOR, ceiling=CEILING) for p in range(1, 101)]

    assert waits == sorted(waits, reverse=True)
