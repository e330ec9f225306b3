"""Tests of course/bench.py: the benchmark machinery on tiny configurations.

Nothing here asserts a speed (the machine is shared and noisy): only that the
measurements are made, agree with PyTorch numerically, and are written out.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from course import bench  # noqa: E402
from course.__main__ import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert main(["bench", "--quick", "--json", str(out / "bench.json"),
                 "--out", str(out / "docs")]) == 0
    return out, json.loads((out / "bench.json").read_text())


@pytest.mark.parametrize("part", ["headline", "single_thread"])
def test_quick_run_json_structure(quick_run, part):
    _, results = quick_run
    assert results["meta"]["quick"] is True and len(results["meta"]["load_average"]) == 2
    assert "training" not in results
    n_threads = bench.THREADS if part == "headline" else 1
    if part == "single_thread":
        results = results["single_thread"]
    assert set(results) >= {"peak_matmul_gflops", "conv", "pool", "summary"}
    # Both libraries got the same threads, in a process of their own.
    assert results["torch_threads"] == n_threads
    assert results["openblas_threads"] in (n_threads, None)  # None: not readable
    assert set(results["peak_matmul_gflops"]) == set(bench.DTYPES)
    scaling = results["thread_scaling"]
    assert set(scaling["speedup"]) == {"copy_add", "sin"}
    assert all(0 < v < 4 for v in scaling["speedup"].values())  # two threads, not more
    n_conv, n_pool = len(bench.QUICK["conv"]), len(bench.QUICK["pool"])
    assert len(results["conv"]) == n_conv * len(bench.DTYPES)
    assert len(results["pool"]) == n_pool * len(bench.DTYPES)
    for r in results["conv"] + results["pool"]:
        assert r["dtype"] in bench.DTYPES
        assert r["reference_ms"] > 0 and r["pytorch_ms"] > 0
        assert r["ratio"] == pytest.approx(r["reference_ms"] / r["pytorch_ms"])
        assert r["reference_peak_mb"] > 0
        # The two sides compute the same thing (float32 to its precision).
        assert r["max_rel_err"] < (1e-10 if r["dtype"] == "float64" else 1e-4), r
    for r in results["conv"]:
        assert set(r["shape"]) == {"N", "C_in", "L", "C_out", "F", "stride", "padding"}
        assert r["reference_gflops"] > 0 and r["matmul_gflops"] > 0
        assert r["products_over_pytorch"] == pytest.approx(r["products_ms"] / r["pytorch_ms"])
    s = results["summary"]
    ratios = [r["ratio"] for r in results["conv"]]
    assert s["conv_geomean_ratio"] == pytest.approx(float(np.exp(np.mean(np.log(ratios)))))
    assert s["conv_max_ratio"] == max(ratios)
    assert isinstance(s["target_met"], bool)


def test_quick_run_writes_markdown_and_png(quick_run):
    out, results = quick_run
    md = (out / "docs" / "benchmark.md").read_text()
    assert "| shape | dtype | reference ms | PyTorch ms | ratio |" in md
    assert f"**{results['summary']['conv_geomean_ratio']:.2f}**" in md
    assert md.count("| float32 |") == len(results["conv"]) // 2 + len(results["pool"]) // 2
    assert "![ratios](benchmark.png)" in md
    png = (out / "docs" / "benchmark.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_interleaved_medians_calls_every_function():
    calls = {"a": 0, "b": 0}

    def count(name):
        calls[name] += 1

    t = bench.interleaved_medians({"a": lambda: count("a"), "b": lambda: count("b")},
                                  repeats=3, min_sample=0.0, settle=0.0)
    assert set(t) == {"a", "b"} and all(v >= 0 for v in t.values())
    assert calls == {"a": 8, "b": 8}  # warm-up, calibration, 3 x (untimed call + sample)


def test_interleaved_medians_lets_the_other_library_settle(monkeypatch):
    """Every sample waits `settle` seconds, then makes one untimed call, and only
    then starts the clock: the previous function's spinning threads do not
    share the cores with it, and the wait is not in the time."""
    events = []
    monkeypatch.setattr(bench.time, "sleep", lambda s: events.append(("sleep", s)))

    def fn(name):
        def call():
            events.append(("call", name))
        return call

    clock = iter(range(1000))
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock) * 1.0)
    bench.interleaved_medians({"a": fn("a"), "b": fn("b")}, repeats=2, min_sample=0.0,
                              settle=0.25)
    timed = events[4:]  # after each function's warm-up and calibration calls
    assert timed == [("sleep", 0.25), ("call", "a"), ("call", "a"),
                     ("sleep", 0.25), ("call", "b"), ("call", "b"),
                     ("sleep", 0.25), ("call", "b"), ("call", "b"),
                     ("sleep", 0.25), ("call", "a"), ("call", "a")]
    assert bench.SETTLE_S >= 0.15  # OpenBLAS spins about 0.1 s after a call


@pytest.mark.parametrize("dataset", ["mnist1d", "mnist"])
def test_pytorch_twin_replays_the_reference(dataset):
    """Same initial weights, batches and optimiser: after a few steps both
    implementations predict (almost) the same labels."""
    ref = bench.train_once("reference", dataset, "float64", steps=8)
    twin = bench.train_once("pytorch", dataset, "float64", steps=8)
    for r in (ref, twin):
        assert r["steps"] == 8 and r["dataset"] == dataset and r["wall_s"] > 0
        assert r["peak_rss_mb"] > 0 and 0 <= r["test_accuracy"] <= 1
    assert abs(ref["test_accuracy"] - twin["test_accuracy"]) <= 0.002


def test_twin_refuses_what_it_cannot_copy():
    from solutions import Conv1d

    layer = Conv1d(np.ones((2, 1, 3)), np.zeros(2), padding=1, padding_mode="symmetric")
    with pytest.raises(ValueError, match="no PyTorch twin"):
        bench._twin_module(layer, torch)


def test_worker_runs_in_its_own_process():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "course.bench", "--train", "reference",
                           "mnist1d", "float32", "3"], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=True)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (r["impl"], r["dtype"], r["steps"]) == ("reference", "float32", 3)
    assert r["peak_rss_mb"] > 0


def test_markdown_names_the_cases_numpy_products_alone_cannot_win():
    def case(n, ratio):
        return {"shape": {"N": n, "C_in": 1, "L": 8, "C_out": 2, "F": 3, "stride": 1,
                          "padding": 0}, "dtype": "float32", "products_over_pytorch": ratio}

    results = {"conv": [case(1, 1.3), case(2, 0.4)],
               "single_thread": {"conv": [case(1, 0.9), case(2, 0.5)]}}
    (text,) = [line for line in bench._products_floor_text(results) if line]
    assert "1 of 2 with two threads each ((1, 1, 8, 2, 3, 1, 0) float32)" in text
    assert "0 of 2 with one thread each." in text
    assert bench._products_floor_text({"conv": [{"dtype": "float64"}]}) == []  # older JSON


def test_markdown_reports_the_thread_scaling_when_measured():
    results = {"thread_scaling": {"half_mb": 4, "speedup": {"copy_add": 1.04, "sin": 1.93}}}
    (text,) = [line for line in bench._scaling_text(results) if line]
    assert "4 MB half" in text and "copy-and-add ran 1.04x" in text and "`np.sin` 1.93x" in text
    assert bench._scaling_text({}) == []  # older JSON
