"""Tests of the training command line: python -m course train."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course.__main__ import main
from course.train import PRESETS, train

ROOT = Path(__file__).resolve().parents[1]


def test_short_run_writes_metrics_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist1d", "--steps", "40", "--quiet",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "published" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "mnist1d" and metrics["steps"] == 40
    assert (metrics["n_train"], metrics["n_test"]) == (4000, 1000)
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["peak_rss_mb"] > 0 and metrics["train_seconds"] > 0
    assert len(metrics["history"]["val_acc"]) == len(metrics["history"]["step"]) >= 1
    png = (out / "learning_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_json_output_on_the_mnist_subset(tmp_path, capsys):
    assert main(["train", "--dataset", "mnist", "--steps", "5", "--quiet", "--json",
                 "--out", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["dataset"] == "mnist" and "history" not in printed
    assert (printed["n_train"], printed["n_test"]) == (4000, 1000)


@pytest.mark.parametrize("args", [["train", "--dataset", "cifar"], ["train", "--steps", "0"],
                                  ["train", "--steps", "many"], ["fly"]])
def test_usage_errors_exit_2(args):
    proc = subprocess.run([sys.executable, "-m", "course", *args], cwd=ROOT,
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=""))
    assert proc.returncode == 2
    assert "usage:" in proc.stderr


def test_unknown_dataset_in_the_api():
    with pytest.raises(ValueError, match="dataset must be one of"):
        train("cifar")


@pytest.mark.slow
@pytest.mark.parametrize("dataset", sorted(PRESETS))
def test_full_training_meets_the_target(dataset, tmp_path):
    """The presets reach their accuracy targets on the held-out test split, in a
    process of their own so that the peak memory is the training run's."""
    proc = subprocess.run([sys.executable, "-m", "course", "train", "--dataset", dataset,
                           "--quiet", "--json", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert metrics["test_accuracy"] >= PRESETS[dataset]["target"], metrics["test_accuracy"]
    assert metrics["meets_target"]
    assert metrics["peak_rss_mb"] < 500, metrics["peak_rss_mb"]
