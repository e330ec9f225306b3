"""The LMS round trip on synthetic downloads: nbgrader zip_collect reads
Canvas's and Moodle's submission file names (course.lms.LmsCollector),
release_feedback works in a class where some submissions came from the LMS
(no timestamp.txt, no submission_secret.txt), the late policy takes its share,
and the Canvas export lists every roster student with points and a late flag."""

import csv
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

CANVAS_ROSTER = [
    ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"],
    ["    Points Possible", "", "", "", ""],
    ["Lovelace, Ada", "123", "S001", "ada", "A"],
    ["Babbage, Charles", "124", "S002", "charles", "A"],
    ["Hopper, Grace", "125", "S003", "grace", "A"],
    ["Dan, Dan", "126", "S004", "dan", "A"],
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


@pytest.mark.slow
def test_canvas_round_trip(tmp_path):
    course, exchange = _course(tmp_path / "canvas")
    # dan submits through the exchange (JupyterHub); the others through Canvas
    submit("dan", tmp_path / "canvas", exchange, STAGE, reference_answers(STAGE))
    nbgrader(["collect", STAGE.name, f"--course={COURSE_ID}"], course, exchange)
    solved = _solved()
    _download(course, CANVAS_ROSTER, {
        "lovelaceada_123_9001_single_channel.ipynb": solved,
        "babbagecharles_LATE_124_9002_single_channel-1.ipynb": solved,
        "notes_readme.txt": "not a submission",
    })
    _nb(["zip_collect", STAGE.name], course)
    for student in ("ada", "charles", "dan"):
        assert (course / "submitted" / student / STAGE.name / STAGE.notebook).exists()
    assert not (course / "submitted" / "grace").exists()
    assert _timestamp(course, "ada").startswith("2099-01-01 17:00:00")
    assert _timestamp(course, "charles").startswith("2099-01-01 17:00:01")

    proc = subprocess.run([sys.executable, "-m", "course", "grade", STAGE.name, "--quiet",
                           "--workers", "2"], cwd=course, env=ENV, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exchange_args = [f"--Exchange.root={exchange}", f"--Exchange.cache={exchange.parent}/cache"]
    proc = _nb(["release_feedback", STAGE.name, f"--course={COURSE_ID}"], course, *exchange_args)
    assert "collected from an LMS" in proc.stderr and "ada, charles" in proc.stderr
    dan = tmp_path / "canvas" / "students" / "dan"
    _nb(["fetch_feedback", STAGE.name, f"--course={COURSE_ID}"], dan, *exchange_args)
    assert list((dan / STAGE.name / "feedback").rglob("*.html"))

    _nb(["export", "--exporter=course.lms.CanvasExport", "--to=canvas.csv"], course)
    rows = list(csv.reader((course / "canvas.csv").open()))
    assert rows[0] == [*CANVAS_ROSTER[0], STAGE.name, f"{STAGE.name} late"]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        possible = gb.find_assignment(STAGE.name).max_score  # written answers included
    assert rows[1][0] == "Points Possible" and rows[1][5] == f"{possible:g}"
    full = STAGE.max_score  # the autograded points; the written answers wait for formgrader
    by_login = {r[3]: r for r in rows[2:]}
    assert set(by_login) == {"ada", "charles", "grace", "dan"}
    assert by_login["ada"][5:] == [f"{full:g}", "on time"]
    assert by_login["charles"][5:] == [f"{full * 0.9:g}", "late"]  # LatePenalty: 10 % a day
    assert by_login["grace"][5:] == ["0", "missing"]
    assert by_login["dan"][5:] == [f"{full:g}", "on time"]
    assert by_login["ada"][:5] == CANVAS_ROSTER[2]


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
