"""The instructor's nbgrader workflow, scripted: release, student fetch and
submit, collect, autograde, feedback, export, on a course folder of its own.

Used by ``python -m course demo`` (grading the sample class) and by the tests
of the whole flow. Every step is a documented nbgrader command, run exactly as
an instructor or a student would type it.
"""

import csv
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from course.build import BEGIN, END, ROOT, tool_env
from course.course_id import COURSE_ID

# The course secret of the demo and of the tests' courses: hidden inputs are
# drawn from it. A real course sets its own (README, "Running a course").
DEMO_SECRET = "cnn1d demo secret - not for a real course"


class FlowError(Exception):
    """An nbgrader command failed."""


def nbgrader(args, cwd, exchange, secret=DEMO_SECRET, on_line=None):
    """Run ``nbgrader ARGS`` in ``cwd`` with the exchange at ``exchange``.

    ``secret`` is the course secret the grader reads (``CNN1D_GRADER_SECRET``).
    ``on_line``, when given, receives each line nbgrader logs (at INFO level)
    while it runs.
    """
    env = tool_env()
    env["CNN1D_GRADER_SECRET"] = secret
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--Exchange.root={exchange}",
           # the students' submission records stay in this flow's folder too
           f"--Exchange.cache={Path(exchange).parent / 'cache'}",
           "--log-level=" + ("INFO" if on_line else "ERROR")]
    if on_line is None:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    else:
        with subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env) as popen:
            lines = []
            for line in popen.stdout:
                lines.append(line)
                on_line(line.rstrip("\n"))
        proc = subprocess.CompletedProcess(cmd, popen.returncode, "".join(lines), "")
    if proc.returncode != 0:
        raise FlowError(f"nbgrader {' '.join(args)} failed in {cwd}:\n{proc.stdout}\n"
                        f"{proc.stderr}")
    return proc


def make_course(workdir, stages):
    """A fresh course folder under ``workdir`` with the stages' source folders."""
    workdir = Path(workdir)
    course, exchange = workdir / "course", workdir / "exchange"
    if workdir.exists():
        shutil.rmtree(workdir)
    (course / "source").mkdir(parents=True)
    exchange.mkdir()
    for stage in stages:
        shutil.copytree(ROOT / "source" / stage.name, course / "source" / stage.name)
    shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    return course, exchange


def release(course, exchange, stages):
    """generate_assignment then release_assignment for every stage."""
    for stage in stages:
        nbgrader(["generate_assignment", stage.name, "--force"], course, exchange)
        # Forced past course/release_guard.py: this flow releases every stage at
        # once (a demo, a test), so stage 5 goes out while stage 4 is open.
        nbgrader(["release_assignment", stage.name, f"--course={COURSE_ID}", "--force",
                  "--GuardedReleaseAssignment.allow_open_answers=True"], course, exchange)


def reference_answers(stage):
    """{grade_id: solution code without the solution delimiters} of a stage."""
    nb = nbformat.read(ROOT / "source" / stage.name / stage.notebook, as_version=4)
    return {c.metadata.nbgrader["grade_id"]: re.sub(
        rf"(?:^|\n)[ \t]*(?:{BEGIN}|{END})\n?", lambda m: "\n" if m.start() else "",
        c.source).strip("\n")
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


def fill_answers(nb, answers):
    """Write ``answers`` ({grade_id: code}, or None) into the notebook's cells, in place."""
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if answers and grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def submit(student, workdir, exchange, stage, answers, edit=None):
    """Fetch ``stage`` as ``student``, write ``answers`` into its cells, submit.

    ``answers`` maps answer-cell grade_ids to code; None submits the release
    untouched. ``edit``, when given, is called with the notebook before it is
    saved (to give it outputs, or to change a test cell, as a student might).
    """
    home = Path(workdir) / "students" / student
    home.mkdir(parents=True, exist_ok=True)
    if (home / stage.name).exists():
        shutil.rmtree(home / stage.name)
    nbgrader(["fetch_assignment", stage.name, f"--course={COURSE_ID}"], home, exchange)
    path = home / stage.name / stage.notebook
    nb = nbformat.read(path, as_version=4)
    fill_answers(nb, answers)
    if edit is not None:
        edit(nb)
    nbformat.write(nb, path)
    nbgrader(["submit", stage.name, f"--course={COURSE_ID}", f"--student={student}"], home,
             exchange)


def grade(course, exchange, stages, log=None):
    """collect, autograde, generate_feedback for every stage, then export.

    ``log``, when given, receives a line per submission as autograde reaches
    it, and a line per stage with its time.
    """
    for stage in stages:
        t0 = time.perf_counter()
        nbgrader(["collect", stage.name, f"--course={COURSE_ID}"], course, exchange)
        n = len(list((course / "submitted").glob(f"*/{stage.name}")))
        done = []

        def progress(line, stage=stage, n=n, done=done, t0=t0):
            student = graded_student(line)
            if student:
                done.append(student)
                log(f"  {stage.name}: grading {student} ({len(done)}/{n}, "
                    f"{time.perf_counter() - t0:.0f} s)")

        nbgrader(["autograde", stage.name, "--force"], course, exchange,
                 on_line=progress if log else None)
        nbgrader(["generate_feedback", stage.name, "--force"], course, exchange)
        if log:
            log(f"  {stage.name}: {n} submissions graded, feedback written "
                f"({time.perf_counter() - t0:.0f} s)")
    nbgrader(["export"], course, exchange)
    return read_grades(course / "grades.csv")


def graded_student(line):
    """The student whose notebook an autograde log line starts grading, or None.

    nbgrader logs "Autograding <course>/autograded/<student>/<stage>/<stage>.ipynb".
    """
    match = re.search(r"Autograding .*?[/\\]autograded[/\\]([^/\\]+)[/\\]", line)
    return match.group(1) if match else None


def read_grades(path):
    """{(student, assignment): (score, max_score)} of the submissions in grades.csv."""
    with open(path, newline="") as f:
        # nbgrader lists every student for every assignment; no timestamp means
        # no submission
        return {(r["student_id"], r["assignment"]): (float(r["score"]), float(r["max_score"]))
                for r in csv.DictReader(f) if r["timestamp"]}
