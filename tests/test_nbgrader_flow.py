"""`make demo` as README.md writes it (tests/docblocks.py): the whole nbgrader
flow on the demo's own course folder (runs/demo/course), as nbgrader documents
it: generate_assignment -> release_assignment to a local exchange ->
fetch_assignment and submit as students -> collect -> autograde ->
generate_feedback -> export, then the grade table.

For every stage the reference scores full marks and the untouched release
scores 0, every failed test of the release showing the stub's message rather
than a grader crash; the buggy students lose points where their bug is."""

import os
import subprocess
from pathlib import Path

import nbformat
import pytest

from autograder.grade import find_submissions
from autograder.parallel import grade_all
from course.demo import format_table
from course.flow import DEMO_SECRET, read_grades
from course.sample_class import BUGS
from course.stages import STAGES
from tests import docblocks

ROOT = docblocks.ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo():
    """The output of README's `make demo`, run as written in the kit's root with a
    PATH that lacks .venv/bin."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    proc = subprocess.run(["bash", "-c", docblocks.block("README.md", "make demo")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def graded(demo):
    course = ROOT / "runs" / "demo" / "course"
    return read_grades(course / "grades.csv"), course


@pytest.mark.parametrize("stage", STAGES, ids=[s.name for s in STAGES])
def test_reference_full_marks_untouched_zero(graded, stage):
    grades, _ = graded
    score, max_score = grades["reference", stage.name]
    # the gradebook's max counts the written answers, which wait for a person
    assert max_score == stage.total_points
    assert score == stage.max_score, format_table(grades)
    assert grades["untouched", stage.name] == (0.0, stage.total_points)


@pytest.mark.parametrize("stage", STAGES, ids=[s.name for s in STAGES])
def test_written_answers_wait_for_manual_grading(graded, stage):
    """formgrader lists the reference for manual grading, with each written answer
    ungraded at its points; an untouched answer scores 0 without a person."""
    from nbgrader.api import Gradebook

    _, course = graded
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        for student, needs_person in (("reference", bool(stage.written)), ("untouched", False)):
            nb = gb.find_submission_notebook(stage.name, stage.name, student)
            assert nb.needs_manual_grade == needs_person, student
            written = {g.name: g for g in nb.grades if g.cell.cell_type == "markdown"}
            assert set(written) == {q.grade_id for q in stage.written}
            for question in stage.written:
                grade = written[question.grade_id]
                assert grade.max_score == question.points
                assert grade.auto_score == (None if student == "reference" else 0.0)


@pytest.mark.parametrize("stage", STAGES, ids=[s.name for s in STAGES])
def test_untouched_feedback_shows_the_stub_message(graded, stage):
    _, course = graded
    nb = nbformat.read(Path(course) / "autograded" / "untouched" / stage.name / stage.notebook,
                       as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
             and c.cell_type == "code"]  # markdown ones are written answers
    assert len(tests) == len(stage.checks)
    for cell in tests:
        (error,) = [o for o in cell.outputs if o.output_type == "error"]
        assert "not written yet" in error.evalue, error.evalue
        for crash in ("ModuleNotFoundError", "ImportError", "NameError", "SandboxError"):
            assert crash not in error.evalue
    html = (Path(course) / "feedback" / "untouched" / stage.name
            / f"{stage.name}.html").read_text()
    assert html.count("not written yet") >= len(stage.checks)
    assert "run_check" not in html, "hidden test code must not reach the feedback"


@pytest.mark.parametrize(("student", "stage_name"),
                         [(s, st) for s, stages in BUGS.items() for st in stages])
def test_buggy_students_lose_points(graded, student, stage_name):
    grades, _ = graded
    score, max_score = grades[student, stage_name]
    assert 0 < max_score and score < max_score


def test_export_lists_every_submission(graded):
    grades, course = graded
    assert (Path(course) / "grades.csv").exists()
    assert {s for s, _ in grades} >= {"reference", "untouched", *BUGS}


def test_cheater_and_crasher_are_graded_and_earn_nothing(graded):
    grades, course = graded
    assert grades["cheater", "single_channel"][0] == 0
    assert grades["crasher", "single_channel"][0] == 0
    html = (Path(course) / "feedback" / "crasher" / "single_channel" /
            "single_channel.html").read_text()
    assert "exit code" in html


def test_the_command_line_gives_the_same_grades_as_nbgrader(graded):
    grades, course = graded
    results = grade_all(find_submissions([Path(course) / "submitted"]), secret=DEMO_SECRET,
                        progress=False)
    written = {s.name: s.written_points for s in STAGES}  # graded by a person, in nbgrader
    assert {(r.student, r.assignment): (r.score, r.max_score + written[r.assignment])
            for r in results} == grades


def test_the_demo_table_counts_the_checks_and_says_the_written_answers_wait(demo):
    table = demo
    [reference] = [line for line in table.splitlines() if line.startswith("| reference |")]
    for stage in STAGES:
        assert f"| {stage.max_score:g} / {stage.max_score:g} |" in reference
    written = sum(s.written_points for s in STAGES)
    assert f"written answers ({written:g} points in all) are graded by hand" in table
