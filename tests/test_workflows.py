"""The ready-to-copy GitHub Actions workflows parse, and the commands they call
work: the student's visible checks pass on a solved notebook and fail on the
untouched release; the instructor's grading step writes the grade files."""

import csv
import json
import os
import shutil
import subprocess
import sys
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
    assert job["runs-on"].startswith("ubuntu-") and job["timeout-minutes"] <= 90
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


def _instructor_copy(tmp):
    """The instructor's private repository, a copy of the kit: the workflow's
    steps run in it as written (relative paths and all)."""
    course = tmp / "course"
    course.mkdir()
    for name in ("autograder", "course", "solutions", "release", "source", "nbgrader_config.py",
                 "pyproject.toml", ".venv"):
        (course / name).symlink_to(ROOT / name)
    return course


def _run(script, cwd, **env):
    proc = subprocess.run(["bash", "-e", "-c", script], cwd=cwd, capture_output=True,
                          text=True, env=dict(os.environ, **env), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.skipif(os.getuid() != 0, reason="the grading step runs the grader through sudo, "
                                             "which asks a normal user for a password")
def test_classroom_class_collected_graded_late_and_told(tmp_path):
    """GitHub Classroom end to end, each command as the workflow and
    docs/classroom.md write it: collect six students' clones (on time, late,
    a backdated commit pushed late, a renamed notebook, two unnamed copies,
    an empty repository), grade as root in bubblewrap through sudo, apply the
    late penalty, post each student's feedback as an issue and post it again
    (about 1 min)."""
    from tests import docblocks
    from tests.github_fake import ORG, FakeGitHub
    from tests.test_classroom import DUE, SLUG, make_class

    if not shutil.which("sudo"):
        pytest.fail("sudo is not installed: .ci/run installs it (apt-get install sudo)")
    workflow = _workflow("instructor-grade.yml")
    grade, deliver = workflow["jobs"]["grade"], workflow["jobs"]["deliver"]
    course = _instructor_copy(tmp_path)
    bin_dir = tmp_path / "bin"  # `gh auth token`, as on the instructor's machine
    bin_dir.mkdir()
    (bin_dir / "gh").write_text('#!/bin/sh\n[ "$1 $2" = "auth token" ] && echo test-token\n')
    (bin_dir / "gh").chmod(0o755)
    summary = tmp_path / "summary.md"
    with FakeGitHub(token="test-token") as fake:
        clones, _ = make_class(tmp_path, fake)
        collect = docblocks.fill(docblocks.block("docs/classroom.md", "classroom collect"),
                                 clones=clones, due_date=DUE)
        _run(collect, course, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
             GITHUB_API_URL=fake.url)

        step = _step(grade, "Grade every submission with the hidden checks")
        assert step["env"]["CNN1D_GRADER_SECRET"] == "${{ secrets.CNN1D_GRADER_SECRET }}"
        assert step["env"]["CNN1D_SANDBOX"] == "bwrap"
        assert step["run"].startswith("sudo --preserve-env=CNN1D_GRADER_SECRET,CNN1D_SANDBOX ")
        # sudo resets the environment: the secret reaches the grader only
        # through --preserve-env; without it grading refuses (exit 2)
        dropped = subprocess.run(
            ["bash", "-e", "-c", step["run"].replace("=CNN1D_GRADER_SECRET,", "=")],
            cwd=course, capture_output=True, text=True,
            env=dict(os.environ, CNN1D_GRADER_SECRET="test-secret", CNN1D_SANDBOX="bwrap"))
        assert dropped.returncode == 2 and "CNN1D_GRADER_SECRET" in dropped.stderr, \
            dropped.stderr
        _run(step["run"], course, CNN1D_GRADER_SECRET="test-secret", CNN1D_SANDBOX="bwrap")
        for name in ("Per-student feedback and a short summary",
                     "Late policy and feedback of GitHub Classroom assignments"):
            _run(_step(grade, name)["run"], course, GITHUB_STEP_SUMMARY=str(summary))

        posted = _step(deliver, "Post each student's feedback as an issue in their repository")
        assert posted["env"] == {"GH_TOKEN": "${{ secrets.CLASSROOM_FEEDBACK_TOKEN }}"}
        # -S: no site-packages, as on a runner's bare python3: the standard library only
        script = posted["run"].replace("python3 ", f"{sys.executable} -S ")
        first = _run(script, course, GH_TOKEN="test-token", GITHUB_API_URL=fake.url)
        issues_once = json.loads(json.dumps(fake.issues))
        again = _run(script, course, GH_TOKEN="test-token", GITHUB_API_URL=fake.url)

    graded = json.loads((course / "grades" / "grades.json").read_text())["submissions"]
    assert sorted(s["student"] for s in graded) == ["ada", "bob", "carol", "mallory"]
    assert all(s["score"] == STAGE.max_score for s in graded)  # all four hand in the reference
    assert "4 submissions" in summary.read_text()
    rows = {r["login"]: r for r in csv.DictReader(
        (course / "grades" / "classroom" / f"{STAGE.name}.csv").open())}
    full = STAGE.max_score
    expected = {"ada": ("collected", full, 0), "carol": ("collected", full, 0),
                "bob": ("collected", full, 0.1 * full),      # 16 h late: one started day
                "mallory": ("collected", full, 0.2 * full),  # backdated, pushed 44 h late
                "frank": ("ambiguous", 0, 0), "dave": ("empty", 0, 0)}
    assert {k: (r["status"], r["score"], r["late_penalty"]) for k, r in rows.items()} == \
        {k: (status, f"{score:g}", f"{penalty:g}") for k, (status, score, penalty)
         in expected.items()}
    assert rows["mallory"]["final"] == f"{0.8 * full:g}"

    # one issue per student, in the student's own repository, with their own feedback
    assert sorted(fake.issues) == sorted(f"{ORG}/{SLUG}-{k}" for k in expected)
    for login in expected:
        (issue,) = issues_once[f"{ORG}/{SLUG}-{login}"]
        assert issue["title"] == f"Feedback: {STAGE.name}"
        others = [k for k in expected if k != login]
        assert not any(f"Feedback for {k}" in issue["body"] for k in others)
    body = issues_once[f"{ORG}/{SLUG}-mallory"][0]["body"]
    assert "at 2026-12-09T13:00:00Z, 2 started day(s) after the deadline" in body
    assert "own date (2026-12-06T12:00:00Z) is not used" in body
    assert body.startswith(f"# Feedback on {STAGE.name}: {0.8 * full:g} / {full:g} points\n")
    assert f"Late penalty: {0.2 * full:g} of {full:g} points." in body
    assert f"## {STAGE.name}: {full:g} / {full:g}" in body  # the checks, before the penalty
    assert "Feedback for" not in body
    assert "renamed single_channel (1).ipynb" in issues_once[f"{ORG}/{SLUG}-carol"][0]["body"]
    assert "single_channel_v1.ipynb, single_channel_v2.ipynb" in \
        issues_once[f"{ORG}/{SLUG}-frank"][0]["body"]
    assert "has no commit" in issues_once[f"{ORG}/{SLUG}-dave"][0]["body"]
    # the second delivery edited the same six issues
    assert "opened" in first.stdout and "opened" not in again.stdout
    assert all(len(v) == 1 for v in fake.issues.values())
    assert [m for m, _ in fake.calls].count("PATCH") == 6


def test_deliver_needs_a_token_and_the_reports(tmp_path):
    """No token, or no report to deliver: exit 2 naming what to do; a student's
    repository that refuses the issue is named, the others still get theirs."""
    from course.classroom import deliver
    from tests.github_fake import FakeGitHub

    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    (tmp_path / "classroom" / STAGE.name).mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "course", "classroom", "deliver",
                           str(tmp_path / "classroom")], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "run `python -m course classroom report` first" in \
        proc.stderr
    manifest = {"assignment": STAGE.name, "students": [
        {"login": "ada", "repository": "cnn1d-class/a-ada", "feedback": "ada.md"},
        {"login": "bob", "repository": "elsewhere/a-bob", "feedback": "bob.md"}]}
    folder = tmp_path / "classroom" / STAGE.name
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "ada.md").write_text("feedback of ada " + "x" * 70000)  # GitHub caps at 65,536
    (folder / "bob.md").write_text("feedback of bob")
    proc = subprocess.run([sys.executable, "-m", "course", "classroom", "deliver",
                           str(tmp_path / "classroom")], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "no GitHub token: set GH_TOKEN" in proc.stderr
    with FakeGitHub() as fake:
        original = fake.route
        fake.route = lambda m, p, q, b: (410, {"message": "Issues are disabled"}, None) \
            if "/elsewhere/" in p else original(m, p, q, b)
        from course.classroom import GitHub

        failures = deliver(tmp_path / "classroom", GitHub(fake.url, fake.token),
                           log=lambda _: None)
    (posted,) = [i["body"] for i in fake.issues["cnn1d-class/a-ada"]]
    assert posted.startswith("feedback of ada x") and len(posted) < 65536
    assert posted.endswith("an issue holds no more. Ask your instructor for the rest.)\n")
    assert len(failures) == 1 and failures[0].startswith("bob (elsewhere/a-bob)")
    assert "410" in failures[0] and "Issues are disabled" in failures[0]


def test_instructor_workflow_is_locked_down():
    """It triggers on a path git keeps, reads with a read-only token that is not
    left behind, grades in bubblewrap (installed, as root: Ubuntu 24.04's
    AppArmor stops an unprivileged one) and only the grading step sees the
    course secret; the job that writes to the students' repositories reads
    its own repository only, runs in an environment, and only its one step
    sees its token."""
    workflow = _workflow("instructor-grade.yml")
    on = workflow[True]  # YAML 1.1 reads `on` as True
    assert "workflow_dispatch" in on
    gitignored = subprocess.run(["git", "check-ignore", "-q", "--no-index",
                                 on["push"]["paths"][0].replace("**", "x/y/z.ipynb")], cwd=ROOT)
    assert gitignored.returncode == 1, "the workflow watches a path .gitignore ignores"
    assert workflow["permissions"] == {"contents": "read"}
    assert "env" not in workflow
    grade, deliver = workflow["jobs"]["grade"], workflow["jobs"]["deliver"]
    assert "env" not in grade and "permissions" not in grade
    for job in (grade, deliver):
        assert job["runs-on"] == "ubuntu-24.04"
        checkout = next(s for s in job["steps"] if s.get("uses", "").startswith(
            "actions/checkout"))
        assert checkout["with"]["persist-credentials"] is False
    names = [s.get("name") for s in grade["steps"]]
    assert names.index("Install bubblewrap") < names.index(
        "Grade every submission with the hidden checks")
    assert "apt-get install" in _step(grade, "Install bubblewrap")["run"] and \
        "bubblewrap" in _step(grade, "Install bubblewrap")["run"]
    secret_steps = [s for s in grade["steps"] if "secrets." in json.dumps(s)]
    assert [s["name"] for s in secret_steps] == ["Grade every submission with the hidden checks"]
    python = next(s for s in grade["steps"] if s.get("uses", "").startswith(
        "actions/setup-python"))
    assert python["with"]["cache"] == "pip"

    # checkout of the private repository needs contents: read, and nothing more
    assert deliver["permissions"] == {"contents": "read"} and deliver["needs"] == "grade"
    assert deliver["environment"] == "classroom-feedback"
    assert deliver["if"] == "github.event_name == 'workflow_dispatch' && inputs.deliver"
    assert on["workflow_dispatch"]["inputs"]["deliver"]["default"] is False
    secret_steps = [s for s in deliver["steps"] if "secrets." in json.dumps(s)]
    assert [s.get("uses") for s in secret_steps] == [None]
    assert not any("make venv" in s.get("run", "") or "pip" in s.get("run", "")
                   for s in deliver["steps"])


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
