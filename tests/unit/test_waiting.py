"""next_wait_seconds: the wait before the next check of a copy, as a table."""

import pytest

from replicator.waiting import EXPECTED_SECONDS_PER_GB, CopyProgress, expected_copy_seconds, next_wait_seconds

FLOOR, CEILING = 30, 3600
P = CopyProgress

CASES = [
    # nothing known: the size's expectation, half of it first
    pytest.param(P(0, 0, size_gb=400), 1500, id="first-check-half-the-expected-3000s"),
    pytest.param(P(0, 0, size_gb=2), 30, id="first-check-small-snapshot-floor"),
    pytest.param(P(0, 0), 30, id="first-check-size-unknown-floor"),
    pytest.param(P(0, 0, size_gb=10_000), 3600, id="first-check-huge-snapshot-ceiling"),
    # still queued at 0 %: back off with the time waited, capped by the expectation
    pytest.param(P(1500, 0, 0, 0, size_gb=400), 1500, id="queued-expected-left-1500"),
    pytest.param(P(2900, 0, 1500, 0, size_gb=400), 1450, id="queued-past-expectation-half-elapsed"),
    pytest.param(P(5000, 0, 2900, 0, size_gb=400), 2500, id="queued-long-half-elapsed"),
    pytest.param(P(9000, 0, 5000, 0, size_gb=400), 3600, id="queued-very-long-ceiling"),
    pytest.param(P(600, 0, 300, 0), 600, id="queued-size-unknown-doubles"),
    # progress seen once: 3/4 of the rate since the start (queue included), capped by the expectation
    pytest.param(P(1500, 50, size_gb=400), 1125, id="first-progress-rate-and-expectation-agree"),
    pytest.param(P(1500, 20, size_gb=400), 1125, id="first-progress-slow-capped-by-expectation"),
    pytest.param(P(2000, 20, size_gb=400), 1500, id="first-progress-past-expectation-quarter-of-rate"),
    pytest.param(P(1000, 50), 750, id="first-progress-size-unknown-rate"),
    # progress seen twice: the rate between the checks predicts the end
    pytest.param(P(1500, 50, 1000, 25, size_gb=400), 1000, id="two-points-linear"),
    pytest.param(P(1500, 90, 1000, 60, size_gb=400), 166, id="two-points-fast"),
    pytest.param(P(1500, 99, 1400, 90, size_gb=400), 30, id="two-points-almost-done-floor"),
    pytest.param(P(1500, 50, 1000, 50, size_gb=400), 1125, id="two-points-stalled-falls-back-to-one-point"),
    pytest.param(P(100, 100), 30, id="done-floor"),
]


@pytest.mark.parametrize(("progress", "expected"), CASES)
def test_next_wait_seconds(progress: CopyProgress, expected: int) -> None:
    assert next_wait_seconds(progress, floor=FLOOR, ceiling=CEILING) == expected


@pytest.mark.parametrize("progress", [c.values[0] for c in CASES], ids=[c.id for c in CASES])
def test_waits_stay_within_floor_and_ceiling(progress: CopyProgress) -> None:
    for floor, ceiling in [(1, 2), (30, 30), (60, 900)]:
        assert floor <= next_wait_seconds(progress, floor=floor, ceiling=ceiling) <= ceiling


def test_floor_above_ceiling_is_refused() -> None:
    with pytest.raises(ValueError, match="floor 60 is above ceiling 30"):
        next_wait_seconds(P(0, 0), floor=60, ceiling=30)


@pytest.mark.parametrize(
    ("size_gb", "expected"),
    [(None, None), (0, None), (1, 60.0), (100, 100 * EXPECTED_SECONDS_PER_GB), (3840, 3840 * EXPECTED_SECONDS_PER_GB)],
)
def test_expected_copy_seconds(size_gb: int | None, expected: float | None) -> None:
    assert expected_copy_seconds(size_gb) == expected


def test_a_linear_copy_is_checked_at_its_predicted_end() -> None:
    # 20 % done at 600 s and 60 % at 1400 s: 0.05 %/s, so 800 s more
    assert next_wait_seconds(P(1400, 60, 600, 20), floor=FLOOR, ceiling=CEILING) == 800
