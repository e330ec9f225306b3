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
from pathlib import Path

import nbformat

from course.build import BEGIN, END, ROOT, tool_env


class FlowError(Exception):
    """An nbgrader command failed."""


def nbgrader(args, cwd, exchange):
    """Run ``nbgrader ARGS`` in ``cwd`` with the exchange at ``exchange``."""
    env = tool_env()
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--Exchange.root={exchange}",
           # the students' submission records stay in this flow's folder too
           f"--Exchange.cache={Path(exchange).parent / 'cache'}", "--log-level=ERROR"]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
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
        nbgrader(["release_assignment", stage.name, "--course=cnn1d", "--force"], course,
                 exchange)


def reference_answers(stage):
    """{grade_id: solution code without the solution delimiters} of a stage."""
    nb = nbformat.read(ROOT / "source" / stage.name / stage.notebook, as_version=4)
    return {c.metadata.nbgrader["grade_id"]: re.sub(rf"\n[ \t]*(?:{BEGIN}|{END})", "", c.source)
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


def fill_answers(nb, answers):
    """Write ``answers`` ({grade_id: code}, or None) into the notebook's cells, in place."""
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if answers and grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def submit(student, workdir, exchange, stage, answers):
    """Fetch ``stage`` as ``student``, write ``answers`` into its cells, submit.

    ``answers`` maps answer-cell grade_ids to code; None submits the release
    untouched.
    """
    home = Path(workdir) / "students" / student
    home.mkdir(parents=True, exist_ok=True)
    if (home / stage.name).exists():
        shutil.rmtree(home / stage.name)
    nbgrader(["fetch_assignment", stage.name, "--course=cnn1d"], home, exchange)
    path = home / stage.name / stage.notebook
    nb = nbformat.read(path, as_version=4)
    fill_answers(nb, answers)
    nbformat.write(nb, path)
    nbgrader(["submit", stage.name, "--course=cnn1d", f"--student={student}"], home, exchange)


def grade(course, exchange, stages):
    """collect, autograde, generate_feedback for every stage, then export."""
    for stage in stages:
        nbgrader(["collect", stage.name, "--course=cnn1d"], course, exchange)
        nbgrader(["autograde", stage.name, "--force"], course, exchange)
        nbgrader(["generate_feedback", stage.name, "--force"], course, exchange)
    nbgrader(["export"], course, exchange)
    return read_grades(course / "grades.csv")


def read_grades(path):
    """{(student, assignment): (score, max_score)} of the submissions in grades.csv."""
    with open(path, newline="") as f:
        # nbgrader lists every student for every assignment; no timestamp means
        # no submission
        return {(r["student_id"], r["assignment"]): (float(r["score"]), float(r["max_score"]))
                for r in csv.DictReader(f) if r["timestamp"]}
