"""The burst benchmark of the feedback service (course/bench_feedback.py): its
queue model and sizing on known inputs, and a small burst measured for real
(the full one is `make bench-feedback`). About 30 s."""

import random

import pytest

from course.bench_feedback import percentile, run_burst, simulate, sizing


def test_the_queue_model_on_known_inputs():
    rng = random.Random(0)
    # four jobs at once, 1 s each, two workers: two wait one second
    assert simulate([0.0] * 4, [1.0], 2, rng) == [1.0, 1.0, 2.0, 2.0]
    # spaced arrivals never wait
    assert simulate([0.0, 5.0, 10.0], [1.0], 1, rng) == [1.0, 1.0, 1.0]
    assert percentile([1, 2, 3, 4, 5], 0.5) == 3
    assert percentile([0, 10], 0.95) == pytest.approx(9.5)


def test_sizing_grows_with_the_grading_time():
    fast, slow = sizing([1.0], 300, 3), sizing([6.0], 300, 3)
    # all at once: 300 jobs of 1 s under 60 s at the 95th percentile needs 5 workers
    assert fast["all_at_once"]["workers"] == 5
    assert slow["all_at_once"]["workers"] > 5 * fast["all_at_once"]["workers"]
    for found in (fast, slow):
        for case in found.values():
            assert case["p95_s"] < 60


def test_a_small_burst_is_measured():
    burst = run_burst(size=6, workers=2)
    assert burst["statuses"] == ["graded"] and len(burst["grading_s"]) == 6
    assert 0 < burst["median_s"] <= burst["p95_s"] <= burst["max_s"]
    assert burst["per_min"] == pytest.approx(6 / burst["wall_s"] * 60)
