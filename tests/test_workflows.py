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


def _workflow(name):
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_instructor_workflow_grades_and_publishes(tmp_path):
    job = _load("instructor-grade.yml")
    grading = _step(job, "Grade every submission with the hidden checks")
    assert grading["env"]["CNN1D_GRADER_SECRET"] == "${{ secrets.CNN1D_GRADER_SECRET }}"
    command = grading["run"]
    repo = _student_repo(tmp_path, reference_answers(STAGE))
    submitted = tmp_path / "submissions" / "ada"
    shutil.copytree(repo, submitted)
    command = command.replace(" submissions ", f" {tmp_path / 'submissions'} ")
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

    summary = tmp_path / "summary.md"
    script = _step(job, "Per-student feedback and a short summary")["run"]
    script = script.replace("grades/", f"{tmp_path}/grades/")
    proc = subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, GITHUB_STEP_SUMMARY=str(summary)))
    assert proc.returncode == 0, proc.stderr
    assert f"{STAGE.max_score:g} / {STAGE.max_score:g}" in (
        grades / "feedback" / "ada.md").read_text()
    assert "1 submissions" in summary.read_text()
    uploaded = next(s for s in job["steps"] if s.get("uses", "").startswith(
        "actions/upload-artifact"))
    assert uploaded["with"]["path"] == "grades/"


def test_instructor_workflow_is_locked_down():
    """It triggers on a path git keeps, reads with a read-only token that is not
    left behind, and only the grading step sees the secret."""
    workflow = _workflow("instructor-grade.yml")
    on = workflow[True]  # YAML 1.1 reads `on` as True
    assert "workflow_dispatch" in on
    gitignored = subprocess.run(["git", "check-ignore", "-q", "--no-index",
                                 on["push"]["paths"][0].replace("**", "x/y/z.ipynb")], cwd=ROOT)
    assert gitignored.returncode == 1, "the workflow watches a path .gitignore ignores"
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    assert "env" not in job and "env" not in workflow
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["persist-credentials"] is False
    secret_steps = [s for s in job["steps"] if "secrets." in json.dumps(s)]
    assert [s["name"] for s in secret_steps] == ["Grade every submission with the hidden checks"]
    python = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["cache"] == "pip"


def test_summary_stays_small_for_any_class_size(tmp_path):
    from autograder.ci_summary import summary_markdown

    sub = {"student": "s", "assignment": STAGE.name, "score": 3.0, "max_score": 10.0,
           "checks": []}
    small = summary_markdown([dict(sub, student="a")])
    large = summary_markdown([dict(sub, student=f"s{i}") for i in range(3000)])
    assert len(large) < len(small) + 20 < 2000


def _tool(name):
    path = Path(VENV_BIN) / name
    if not path.exists():
        pytest.fail(f"{name} is not installed: `make venv` installs the dev dependencies")
    return str(path)


@pytest.mark.parametrize("name", ["instructor-grade.yml", "student-visible-checks.yml"])
def test_workflows_pass_actionlint_and_zizmor(name):
    path = WORKFLOWS / name
    lint = subprocess.run([_tool("actionlint"), "-no-color", str(path)], capture_output=True,
                          text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    audit = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", str(path)],
                           capture_output=True, text=True)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_the_linters_catch_a_broken_workflow(tmp_path):
    """Proof the two checks above can fail: an unknown key, a token left in
    .git/config and an unpinned action."""
    broken = tmp_path / "broken.yml"
    broken.write_text((WORKFLOWS / "instructor-grade.yml").read_text()
                      .replace("        with:\n          # no token left in .git/config while "
                               "student code runs\n          persist-credentials: false\n", "")
                      .replace("timeout-minutes: 90", "timeout-minute: 90")
                      .replace("actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97",
                               "someone/setup-python@main"))
    lint = subprocess.run([_tool("actionlint"), "-no-color", str(broken)], capture_output=True,
                          text=True)
    assert lint.returncode != 0 and "timeout-minute" in lint.stdout
    audit = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", str(broken)],
                           capture_output=True, text=True)
    assert audit.returncode != 0
    assert "artipacked" in audit.stdout and "unpinned-uses" in audit.stdout
