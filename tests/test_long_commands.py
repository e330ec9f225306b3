"""README.md's commands that run for minutes (training 6000 steps, the stage 5
experiment) are run as written and stopped once they have shown that they
work: the training's progress bar has advanced, the experiment has finished
its first model and printed its line. `--help` runs to its end. Their whole
runs, shortened with their own options, are tested by tests/test_train_cli.py
and tests/test_experiment.py; this test holds the README's lines to what a
person would type (the commands, their options and their folder)."""

import os
import re
import signal
import subprocess
import time

import pytest

from tests import docblocks

ROOT = docblocks.ROOT
TRAIN = docblocks.commands(docblocks.block("README.md", "course train --dataset mnist1d"))
EXPERIMENT = docblocks.commands(docblocks.block("README.md", "course experiment"))


def env():
    keep = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    keep["PATH"] = os.pathsep.join(p for p in keep["PATH"].split(os.pathsep)
                                   if ".venv" not in p)
    return keep


def run_until(command, pattern, timeout, tmp_path):
    """Start ``command`` in the kit's root; stop it once its output matches
    ``pattern``. Returns the output seen. It must not end with an error first."""
    log = tmp_path / "out.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", "-c", command], cwd=ROOT, env=env(), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if re.search(pattern, text):
                return text
            if proc.poll() is not None:
                text = log.read_text(errors="replace")  # all it wrote before it ended
                assert proc.returncode == 0, f"{command} failed:\n{text[-3000:]}"
                return text
            time.sleep(0.5)
        raise AssertionError(f"{command}: no {pattern!r} in {timeout} s:\n{text[-3000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


@pytest.mark.parametrize("command", [c for c in TRAIN if "--help" not in c])
def test_training_as_written_starts_and_advances(command, tmp_path):
    # tqdm's bar: "training:  1%| ... | 60/6000" once steps are done
    text = run_until(command, r"\b[1-9]\d*/\d{3,}\b", 240, tmp_path)
    assert "Traceback" not in text


def test_training_help_as_written(tmp_path):
    [command] = [c for c in TRAIN if "--help" in c]
    text = run_until(command, r"(?!)", 60, tmp_path)  # a pattern never seen: to its end
    for option in ("--steps", "--seed", "--dtype", "--out", "--json", "--quiet"):
        assert option in text


def test_the_experiment_as_written_starts_and_reports_its_first_model(tmp_path):
    [command] = EXPERIMENT
    before = (ROOT / "course/data/experiment.json").read_bytes()
    text = run_until(command, r"seed \d+: val", 600, tmp_path)
    assert "Traceback" not in text
    # stopped before its end, it has not written its results
    assert (ROOT / "course/data/experiment.json").read_bytes() == before
