"""nbgrader's own checks of a stage's solution: `generate_solution` and
`validate` pass (stage 2 here, the quickest; every stage was run by hand,
stage 5 taking minutes), and the cell timeout that nbgrader and the students'
Validate button use leaves stage 5's training room. Their output folders are
ignored by git."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

from course import flow
from course.build import tool_env
from course.stages import STAGES, get_stage

ROOT = Path(__file__).resolve().parents[1]


def test_the_cell_timeout_leaves_every_stage_its_budget():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    timeout = config.Execute.timeout
    assert timeout >= 3 * max(s.time_budget for s in STAGES)  # a busy machine: 3x slower
    # the students' Validate (make lab's user config) gets the same limit
    assert f"c.Execute.timeout = {timeout}" in (ROOT / "Makefile").read_text()


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="not a git checkout")
def test_solution_and_downloaded_are_ignored():
    for path in ("solution/training/training.ipynb", "downloaded/single_channel/x.ipynb"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0


@pytest.mark.slow
def test_generate_solution_and_validate_pass(tmp_path):
    stage = get_stage("output_size")
    course, exchange = flow.make_course(tmp_path, [stage])
    flow.nbgrader(["generate_assignment", stage.name, "--force"], course, exchange)
    flow.nbgrader(["generate_solution", stage.name, "--force"], course, exchange)
    solution = course / "solution" / stage.name / stage.notebook
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(solution)],
                          cwd=course, env=tool_env(), capture_output=True, text=True)
    assert "Success! Your notebook passes all the tests." in proc.stdout, (proc.stdout,
                                                                          proc.stderr)
