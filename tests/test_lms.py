"""The LMS round trip on synthetic downloads: nbgrader zip_collect reads
Canvas's and Moodle's submission file names (course.lms.LmsCollector),
release_feedback works in a class where some submissions came from the LMS
(no timestamp.txt, no submission_secret.txt), the late policy takes its share,
and the Canvas export lists every roster student with points and a late flag."""

import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from course.build import tool_env
from course.course_id import COURSE_ID
from course.flow import fill_answers, make_course, nbgrader, reference_answers, release, submit
from course.stages import get_stage

ROOT = Path(__file__).resolve().parents[1]
STAGE = get_stage("single_channel")
SECRET = "test-secret-lms"
ENV = dict(tool_env(), CNN1D_GRADER_SECRET=SECRET, PYTHONPATH=str(ROOT))
DUE = "2099-01-01 17:00:00 UTC"  # dan submits through the exchange today: on time

# Canvas's gradebook export (Grades > Export): identity columns, one "<name> (<id>)"
# column per Canvas assignment, read-only totals; the "Points Possible" row; Canvas's
# test student without SIS ids; grace excused from stage 1; joerg's name is not ASCII.
CANVAS_ROSTER = [
    ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "single_channel (4242)",
     "output_size (4243)", "Current Points", "Final Points"],
    ["    Points Possible", "", "", "", "", "33", "20", "(read only)", "(read only)"],
    ["Lovelace, Ada", "123", "S001", "ada", "A", "", "", "0", "0"],
    ["Babbage, Charles", "124", "S002", "charles", "A", "", "", "0", "0"],
    ["Hopper, Grace", "125", "S003", "grace", "A", "EX", "", "0", "0"],
    ["Dan, Dan", "126", "S004", "dan", "A", "", "", "0", "0"],
    ["Müller, Jörg", "127", "S005", "joerg", "A", "", "", "0", "0"],
    ["Nils, Nobody", "129", "S006", "nils", "A", "", "", "0", "0"],
    ["Student, Test", "128", "", "", "A", "", "", "0", "0"],
]
MOODLE_WORKSHEET = [
    ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
     "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
     "Feedback comments"],
    ["Participant 5001", "Ada Lovelace", "ada@uni.example", "Submitted", "", "12", "Yes",
     "Thursday, 19 November 2026, 3:04 PM", "-", ""],
    ["Participant 5002", "Charles Babbage", "charles@uni.example", "Submitted", "", "12", "Yes",
     "Saturday, 21 November 2026, 9:00 AM", "-", ""],
    ["Participant 5003", "Grace Hopper", "grace@uni.example", "No submission", "", "12", "Yes",
     "-", "-", ""],
]


def _solved():
    nb = nbformat.read(ROOT / "release" / STAGE.name / STAGE.notebook, as_version=4)
    return nbformat.writes(fill_answers(nb, reference_answers(STAGE)))


def _course(workdir):
    course, exchange = make_course(workdir, [STAGE])
    release(course, exchange, [STAGE])
    _nb(["db", "assignment", "add", STAGE.name, f"--duedate={DUE}"], course)
    return course, exchange


def _nb(args, course, *extra):
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args, *extra],
                          cwd=course, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _download(course, roster, files):
    folder = course / "downloaded"
    (folder / STAGE.name / "archive").mkdir(parents=True)
    with open(folder / "roster.csv", "w", newline="") as f:
        csv.writer(f).writerows(roster)
    with zipfile.ZipFile(folder / STAGE.name / "archive" / "submissions.zip", "w") as z:
        for name, text in files.items():
            z.writestr(name, text)


def _timestamp(course, student):
    path = course / "submitted" / student / STAGE.name / "timestamp.txt"
    return path.read_text() if path.exists() else None


def _export(course, name):
    _nb(["export", "--exporter=course.lms.CanvasExport", f"--to={name}",
         f"--assignment={STAGE.name}"], course)
    return list(csv.reader((course / name).open(encoding="utf-8")))


def _submit_renamed_on_the_hub(workdir, exchange):
    """The students' role config on the hub refuses a folder whose notebook was
    renamed and says what it expected; without it, nbgrader only warns."""
    home = workdir / "students" / "rita"
    home.mkdir(parents=True)
    args = [f"--course={COURSE_ID}", f"--Exchange.root={exchange}",
            f"--Exchange.cache={exchange.parent}/cache"]
    _nb(["fetch_assignment", STAGE.name, *args], home)
    notebook = home / STAGE.name / STAGE.notebook
    notebook.rename(notebook.with_name("single_channel (1).ipynb"))
    # as the hub's spawner sets it (deploy/jupyterhub/jupyterhub_config.py)
    env = dict(ENV, CNN1D_COURSE_ID=COURSE_ID, CNN1D_EXCHANGE=str(exchange),
               JUPYTER_CONFIG_PATH=str(ROOT / "deploy" / "jupyterhub" / "roles" / "student"))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "submit", STAGE.name, *args],
                          cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert f"{STAGE.notebook}: MISSING" in out and "single_channel (1).ipynb: EXTRA" in out
    proc = _nb(["submit", STAGE.name, *args], home)  # nbgrader's default: a warning only
    assert "EXTRA" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_canvas_round_trip(tmp_path):
    """zip_collect of a Canvas download (a non-ASCII name, a renamed file, the
    test student), grading, written answers graded after it, feedback as the
    README runs it, release, the export Canvas imports; a regrade changes
    nothing."""
    course, exchange = _course(tmp_path / "canvas")
    _submit_renamed_on_the_hub(tmp_path / "canvas", exchange)
    # dan submits through the exchange (JupyterHub); the others through Canvas
    submit("dan", tmp_path / "canvas", exchange, STAGE, reference_answers(STAGE))
    nbgrader(["collect", STAGE.name, f"--course={COURSE_ID}"], course, exchange)
    solved = _solved()
    _download(course, CANVAS_ROSTER, {
        "lovelaceada_123_9001_single_channel.ipynb": solved,
        "babbagecharles_LATE_124_9002_single_channel-1.ipynb": solved,
        "müllerjörg_127_9003_single_channel (1).ipynb": solved,
        "studenttest_128_9004_single_channel.ipynb": solved,
        "notes_readme.txt": "not a submission",
    })
    proc = _nb(["zip_collect", STAGE.name], course)
    assert "Student, Test" in proc.stdout + proc.stderr  # named, not collected
    for student in ("ada", "charles", "dan", "joerg"):
        assert list((course / "submitted" / student / STAGE.name).glob("*.ipynb"))
    assert not (course / "submitted" / "grace").exists()
    assert _timestamp(course, "ada").startswith("2099-01-01 17:00:00")
    assert _timestamp(course, "charles").startswith("2099-01-01 17:00:01")

    proc = subprocess.run([sys.executable, "-m", "course", "grade", STAGE.name, "--quiet",
                           "--workers", "2"], cwd=course, env=ENV, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "renamed" in proc.stderr  # joerg's "single_channel (1).ipynb"
    # the written answers are graded in formgrader after the autograded points
    from nbgrader.api import Gradebook

    written = STAGE.written[0]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in ("ada", "charles", "dan", "joerg"):
            gb.find_grade(written.grade_id, STAGE.name, STAGE.name,
                          student).manual_score = written.points
        gb.db.commit()
        possible = gb.find_assignment(STAGE.name).max_score  # written answers included
    _nb(["generate_feedback", STAGE.name], course)  # as README.md has it: no --force
    full = STAGE.max_score + written.points
    page = (course / "feedback" / "charles" / STAGE.name / f"{STAGE.name}.html").read_text()
    # the written points are there, and the late penalty is taken on all of them
    assert f"Score: {full * 0.9:.1f} / {possible:.1f}" in page
    assert f"Late submission penalty (Score: -{full * 0.1:.1f})" in page
    exchange_args = [f"--Exchange.root={exchange}", f"--Exchange.cache={exchange.parent}/cache"]
    proc = _nb(["release_feedback", STAGE.name, f"--course={COURSE_ID}"], course, *exchange_args)
    assert "collected from an LMS" in proc.stderr and "ada, charles, joerg" in proc.stderr
    dan = tmp_path / "canvas" / "students" / "dan"
    _nb(["fetch_feedback", STAGE.name, f"--course={COURSE_ID}"], dan, *exchange_args)
    (released,) = (dan / STAGE.name / "feedback").rglob("*.html")
    assert f"Score: {full:.1f} / {possible:.1f}" in released.read_text()

    rows = _export(course, "canvas.csv")
    column = "single_channel (4242)"  # Canvas's own column: the grades land on its assignment
    assert rows[0] == [*CANVAS_ROSTER[0][:5], column]
    assert rows[1] == ["Points Possible", "", "", "", "", f"{possible:g}"]
    by_login = {r[3]: r for r in rows[2:]}
    assert set(by_login) == {"ada", "charles", "grace", "dan", "joerg", "nils", ""}
    assert by_login[""] == [*CANVAS_ROSTER[-1][:6]]  # the test student's row: no change
    assert by_login["ada"] == [*CANVAS_ROSTER[2][:5], f"{full:g}"]
    assert by_login["charles"][5] == f"{full * 0.9:g}"  # LatePenalty: 10 % a started day
    assert by_login["grace"][5] == "EX"  # excused in Canvas stays excused
    assert by_login["dan"][5] == f"{full:g}" and by_login["joerg"][5] == f"{full:g}"
    assert by_login["joerg"][0] == "Müller, Jörg"
    assert by_login["nils"][5] == "0"
    late = {(r[1], r[2]): r[3:] for r in csv.reader((course / "canvas_late.csv").open())}
    assert late["charles", STAGE.name] == ["late", "1", f"{full * 0.1:g}"]
    assert late["nils", STAGE.name][0] == "missing" and late["grace", STAGE.name][0] == "excused"

    # an unchanged regrade after the written answers were graded moves nothing
    proc = subprocess.run([sys.executable, "-m", "course", "grade", STAGE.name, "--quiet",
                           "--force", "--workers", "2"], cwd=course, env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _nb(["generate_feedback", STAGE.name], course)
    assert _export(course, "again.csv") == rows
    again = (course / "feedback" / "charles" / STAGE.name / f"{STAGE.name}.html").read_text()
    assert f"Late submission penalty (Score: -{full * 0.1:.1f})" in again


def test_export_without_assignment_skips_what_has_no_submission(tmp_path):
    """No column, and no 0s, for a stage nobody has submitted yet; a stage
    without a Canvas column is an error naming what to do."""
    course, _ = _course(tmp_path / "c")
    _download(course, CANVAS_ROSTER, {})
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.add_assignment("output_size")
        gb.add_student("ada")
        gb.add_submission(STAGE.name, "ada")
    _nb(["export", "--exporter=course.lms.CanvasExport", "--to=all.csv"], course)
    rows = list(csv.reader((course / "all.csv").open(encoding="utf-8")))
    assert rows[0][5:] == ["single_channel (4242)"]
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export",
                           "--exporter=course.lms.CanvasExport", "--to=x.csv",
                           "--assignment=output_size"],
                          cwd=course, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr  # output_size (4243): everyone 0 but grace
    rows = list(csv.reader((course / "x.csv").open(encoding="utf-8")))
    assert rows[0][5:] == ["output_size (4243)"]
    assert {r[5] for r in rows[2:] if r[3]} == {"0"}  # the test student's row unchanged


def test_moodle_downloads_are_collected(tmp_path):
    course, exchange = make_course(tmp_path / "moodle", [STAGE])
    _nb(["generate_assignment", STAGE.name], course)
    solved = _solved()
    _download(course, MOODLE_WORKSHEET, {
        # "Download submissions in folders", and the flat download
        "Ada Lovelace_5001_assignsubmission_file_/single_channel.ipynb": solved,
        "Charles Babbage_5002_assignsubmission_file_single_channel.ipynb": solved,
    })
    _nb(["zip_collect", STAGE.name], course, "--LmsCollector.lms=moodle")
    for student in ("ada", "charles"):
        assert (course / "submitted" / student / STAGE.name / STAGE.notebook).read_text() == solved
    assert _timestamp(course, "ada").startswith("2026-11-19 15:04:00")
    assert _timestamp(course, "charles").startswith("2026-11-21 09:00:00")


def test_a_download_missing_from_the_roster_fails_loudly(tmp_path):
    course, _ = make_course(tmp_path / "c", [STAGE])
    _nb(["generate_assignment", STAGE.name], course)
    _download(course, CANVAS_ROSTER[:3], {"stranger_999_1_single_channel.ipynb": _solved()})
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "zip_collect", STAGE.name],
                          cwd=course, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "999 is not in the roster" in proc.stdout + proc.stderr


def test_moodle_grading_worksheet_gets_the_grades(tmp_path, monkeypatch):
    """nbgrader export --exporter=course.lms.MoodleExport writes Moodle's own
    worksheet back, the Grade column filled (late penalty taken, 0 for no
    submission), every other cell as Moodle wrote it."""
    from datetime import datetime

    from nbgrader.api import Gradebook

    course, _ = make_course(tmp_path / "m", [STAGE])
    (course / "downloaded").mkdir()
    with open(course / "downloaded" / "roster.csv", "w", newline="") as f:
        csv.writer(f).writerows(MOODLE_WORKSHEET)
    # nbgrader creates the gradebook with the `alembic` command of this interpreter
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.add_assignment(STAGE.name, duedate=datetime(2026, 11, 20, 12))
        gb.add_notebook(STAGE.name, STAGE.name)
        gb.add_grade_cell("forward", STAGE.name, STAGE.name, max_score=12, cell_type="code")
        for login, when in (("ada", (19, 15)), ("charles", (21, 10))):  # charles: 22 h late
            gb.add_student(login)
            gb.add_submission(STAGE.name, login, timestamp=datetime(2026, 11, *when))
            gb.find_grade("forward", STAGE.name, STAGE.name, login).auto_score = 12
        gb.db.commit()
    _nb(["export", "--exporter=course.lms.MoodleExport", "--to=moodle.csv",
         f"--assignment={STAGE.name}"], course)
    rows = list(csv.reader((course / "moodle.csv").open(encoding="utf-8")))
    assert rows[0] == MOODLE_WORKSHEET[0]
    grade = MOODLE_WORKSHEET[0].index("Grade")
    assert [r[grade] for r in rows[1:]] == ["12", "10.8", "0"]
    for got, sent in zip(rows[1:], MOODLE_WORKSHEET[1:], strict=True):
        assert got[:grade] + got[grade + 1:] == sent[:grade] + sent[grade + 1:]
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export",
                           "--exporter=course.lms.MoodleExport"], cwd=course, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "--assignment" in proc.stdout + proc.stderr
