"""`make build` warns when it changes the points or checks of an assignment
that already has grades in the gradebook, and says what to re-run."""

import os
import sys

import pytest
from nbgrader.api import Gradebook

from course.regrade import graded_changes
from course.stages import get_stage

STAGE = get_stage("single_channel")


@pytest.fixture(autouse=True)
def _alembic_on_path(monkeypatch):
    """nbgrader creates a gradebook with the `alembic` command of this interpreter."""
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable),
                                                os.environ.get("PATH", "")]))


def _gradebook(path, points, submissions=1):
    """A gradebook as nbgrader leaves it after autograding ``STAGE`` with
    ``points`` ({check: max_score}) for ``submissions`` students."""
    with Gradebook(f"sqlite:///{path}") as gb:
        gb.add_assignment(STAGE.name)
        gb.add_notebook(STAGE.name, STAGE.name)
        for name, max_score in points.items():
            gb.add_grade_cell(name, STAGE.name, STAGE.name, max_score=max_score,
                              cell_type="code")
        for i in range(submissions):
            gb.add_student(f"s{i}")
            gb.add_submission(STAGE.name, f"s{i}")
    return path


def _points():
    """Every graded cell the stage declares: checks and written answers."""
    return {**{c.name: c.points for c in STAGE.checks},
            **{q.grade_id: q.points for q in STAGE.written}}


def test_no_gradebook_no_warning(tmp_path):
    assert graded_changes([STAGE], tmp_path / "gradebook.db") == []


def test_unchanged_points_no_warning(tmp_path):
    db = _gradebook(tmp_path / "gradebook.db", _points())
    assert graded_changes([STAGE], db) == []


def test_no_submission_no_warning(tmp_path):
    points = {**_points(), STAGE.checks[0].name: 99}
    db = _gradebook(tmp_path / "gradebook.db", points, submissions=0)
    assert graded_changes([STAGE], db) == []


def test_changed_points_name_the_check_and_the_regrade(tmp_path):
    check = STAGE.checks[0]
    db = _gradebook(tmp_path / "gradebook.db", {**_points(), check.name: check.points + 1},
                    submissions=2)
    (message,) = graded_changes([STAGE], db)
    assert f"{STAGE.name} has 2 graded submissions" in message
    assert f"{check.name}: {check.points + 1:g} -> {check.points:g} points" in message
    assert f"nbgrader autograde {STAGE.name} --force" in message
    assert f"nbgrader generate_feedback {STAGE.name} --force" in message


@pytest.mark.parametrize("change", ["added", "removed"])
def test_added_or_removed_checks_say_nbgrader_cannot_and_what_to_do(tmp_path, change):
    points = _points()
    if change == "added":
        gone = STAGE.checks[-1].name  # the gradebook does not have it yet
        del points[gone]
        expected = f"new check {gone}"
    else:
        points["old_check"] = 2
        expected = "check old_check removed"
    (message,) = graded_changes([STAGE], _gradebook(tmp_path / "gradebook.db", points))
    assert expected in message
    assert "cannot add or remove" in message
    assert f"nbgrader db assignment remove {STAGE.name}" in message


def test_the_late_penalty_is_taken_from_the_score_as_it_is_now(tmp_path):
    """Autograde stored a penalty on the autograded points; a written answer
    graded since then is penalised too in the export (as generate_feedback
    recomputes it), so a regrade, which recomputes it, moves nothing."""
    import csv
    import subprocess
    from datetime import datetime
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "nbgrader_config.py").write_text(
        (root / "nbgrader_config.py").read_text().replace(
            "KIT = os.path.dirname(os.path.abspath(__file__))", f"KIT = {str(root)!r}"))
    with open(tmp_path / "roster.csv", "w", newline="") as f:
        csv.writer(f).writerows([["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                                  f"{STAGE.name} (7)"], ["Babbage, Charles", "124", "S2", "s0",
                                                         "A", ""]])
    written = STAGE.written[0]
    db = _gradebook(tmp_path / "gradebook.db", _points())
    with Gradebook(f"sqlite:///{db}") as gb:
        assignment = gb.find_assignment(STAGE.name)
        assignment.duedate = datetime(2026, 12, 1, 12)
        sub = gb.find_submission(STAGE.name, "s0")
        sub.timestamp = datetime(2026, 12, 1, 13)  # an hour late: 10 % off
        for check in STAGE.checks:
            gb.find_grade(check.name, STAGE.name, STAGE.name, "s0").auto_score = check.points
        nb = gb.find_submission_notebook(STAGE.name, STAGE.name, "s0")
        nb.late_submission_penalty = 0.1 * STAGE.max_score  # autograde's, before formgrader
        gb.find_grade(written.grade_id, STAGE.name, STAGE.name, "s0").manual_score = written.points
        gb.db.commit()
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export",
                           "--exporter=course.lms.CanvasExport", "--to=out.csv",
                           f"--assignment={STAGE.name}", "--CanvasExport.roster=roster.csv"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, CNN1D_GRADER_SECRET="x", PYTHONPATH=str(root)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = list(csv.reader((tmp_path / "out.csv").open()))
    total = STAGE.max_score + written.points
    assert float(rows[2][5]) == pytest.approx(0.9 * total)
