"""Grades do not depend on how busy the grading machine is (issue 14, item 10).

The two checks that time the submission (stage 4's speed check and stage
5's training budget) compare CPU time, not wall-clock time: the sandbox's
cgroup CPU time against the yardstick's CPU time on the grading thread. A
regrade with the other core fully busy gives the same points, for a fast
submission and for one that loops over the samples (which must fail the
speed check both times, and only it).
"""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.grade import grade_notebook
from autograder.isolation import bwrap_works
from course.stages import get_stage
from tests.test_checks_mini_batch import LOOP_OVER_N_CELL

ROOT = Path(__file__).resolve().parents[1]
STAGE = get_stage("mini_batch")

pytestmark = pytest.mark.skipif(bool(bwrap_works()), reason=f"no sandbox: {bwrap_works()}")


def _submissions():
    source = nbformat.read(ROOT / "source" / STAGE.name / STAGE.notebook, as_version=4)
    looped = nbformat.from_dict(source)
    for cell in looped.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "conv1d":
            cell.source += "\n" + LOOP_OVER_N_CELL
    return {"fast": source, "looped": looped}


def _points(notebooks):
    return {name: {c.id: c.points for c in grade_notebook(
        nb, STAGE, student="load", secret="test-secret").checks}
        for name, nb in notebooks.items()}


def test_a_regrade_with_the_other_core_busy_gives_the_same_points():
    notebooks = _submissions()
    quiet = _points(notebooks)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy = _points(notebooks)
    finally:
        spinner.kill()
        spinner.wait()
    assert busy == quiet
    assert sum(quiet["fast"].values()) == STAGE.max_score
    lost = {check for check, points in quiet["looped"].items() if points == 0}
    assert lost == {"mini_batch.vectorised"}
