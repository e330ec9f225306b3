"""The ready-to-copy GitHub Actions workflows parse, and the commands they call
work: the student's visible checks pass on a solved notebook and fail on the
untouched release; the instructor's grading step writes the grade files."""

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from course.flow import fill_answers, reference_answers
from course.stages import get_stage

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / "docs" / "workflows"
STAGE = get_stage("single_channel")
VENV_BIN = str(Path(os.sys.executable).parent)


def _load(name):
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert data[True] if True in data else data["on"]  # YAML 1.1 reads `on` as True
    (job,) = data["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest" and job["timeout-minutes"] <= 90
    return job


def _step(job, name):
    return next(s for s in job["steps"] if s.get("name") == name)


def _student_repo(tmp, answers):
    repo = tmp / "student"
    shutil.copytree(ROOT / "release" / STAGE.name, repo / STAGE.name)
    path = repo / STAGE.name / STAGE.notebook
    nb = nbformat.read(path, as_version=4)
    fill_answers(nb, answers)
    nbformat.write(nb, path)
    return repo


@pytest.mark.parametrize(("answers", "code"), [("reference", 0), (None, 1)])
def test_student_workflow_runs_the_visible_checks(tmp_path, answers, code):
    job = _load("student-visible-checks.yml")
    script = _step(job, "Run the visible tests of every stage")["run"]
    repo = _student_repo(tmp_path, reference_answers(STAGE) if answers else None)
    summary = tmp_path / "summary.md"
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ["PATH"],
               GITHUB_STEP_SUMMARY=str(summary), PYTHONPATH="")
    proc = subprocess.run(["bash", "-e", "-c", script], cwd=repo, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == code, proc.stdout + proc.stderr
    n = len(STAGE.checks)
    expected = f"{n} passed, 0 failed" if code == 0 else f"0 passed, {n} failed"
    assert expected in summary.read_text()


def test_instructor_workflow_grades_and_publishes(tmp_path):
    job = _load("instructor-grade.yml")
    assert job["env"]["CNN1D_GRADER_SECRET"] == "${{ secrets.CNN1D_GRADER_SECRET }}"
    command = _step(job, "Grade every submission with the hidden checks")["run"]
    repo = _student_repo(tmp_path, reference_answers(STAGE))
    submitted = tmp_path / "submitted" / "ada"
    shutil.copytree(repo, submitted)
    command = command.replace(" submitted ", f" {tmp_path / 'submitted'} ")
    command = command.replace("grades/", f"{tmp_path}/grades/")
    proc = subprocess.run(["bash", "-e", "-c", command], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, CNN1D_GRADER_SECRET="test-secret"))
    assert proc.returncode == 0, proc.stderr
    grades = tmp_path / "grades"
    rows = list(csv.DictReader((grades / "grades.csv").open()))
    assert rows == [{"student": "ada", "assignment": STAGE.name,
                     "score": f"{STAGE.max_score:g}", "max_score": f"{STAGE.max_score:g}"}]
    assert json.loads((grades / "grades.json").read_text())["submissions"][0]["score"] == \
        STAGE.max_score
    assert (grades / "grades.xml").exists() and (grades / "grades.md").exists()
    uploaded = next(s for s in job["steps"] if s.get("uses", "").startswith(
        "actions/upload-artifact"))
    assert uploaded["with"]["path"] == "grades/"
