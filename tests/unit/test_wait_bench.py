"""The waiting targets, checked on the bench's replayed copies (counts on a simulated clock, not a timing)."""

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import wait_bench


def test_adaptive_waiting_meets_the_transition_and_delay_targets():
    results = wait_bench.run(runs=15, seed=11)
    medians = []
    for label, duration in wait_bench.DURATIONS.items():
        adaptive = results[(label, "adaptive")]
        delay = statistics.median(r.delay for r in adaptive)
        assert 0 <= delay <= max(30.0, 0.05 * duration), label
        medians.append(statistics.median(r.transitions for r in adaptive))
    assert statistics.median(medians) <= wait_bench.TARGET_TRANSITIONS


def test_adaptive_waiting_costs_far_less_than_a_fixed_30_second_poll():
    results = wait_bench.run(runs=15, seed=11)
    adaptive = statistics.median(r.transitions for r in results[("8 h", "adaptive")])
    fixed = statistics.median(r.transitions for r in results[("8 h", "fixed 30 s")])
    assert adaptive * 50 < fixed
