"""`python -m course grade ASSIGNMENT` fills nbgrader's gradebook, the
autograded notebooks and the feedback exactly as the sequential
`nbgrader autograde` + `generate_feedback` do: with local processes, and on a
real Dask cluster (a `dask scheduler` and two `dask worker` processes on
127.0.0.1), also when one worker is killed mid-run."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course.build import tool_env
from course.course_id import COURSE_ID
from course.flow import make_course, nbgrader, release, submit
from course.sample_class import answers_for
from course.stages import get_stage
from tests.servers import stop_group

ROOT = Path(__file__).resolve().parents[1]
STAGE = get_stage("single_channel")
STUDENTS = ("reference", "untouched", "cheater")
SECRET = "test-secret-grade-assignment"
ENV = dict(tool_env(), CNN1D_GRADER_SECRET=SECRET, PYTHONPATH=str(ROOT))


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A course with STAGE released, submitted by STUDENTS and collected."""
    workdir = tmp_path_factory.mktemp("class")
    course, exchange = make_course(workdir, [STAGE])
    release(course, exchange, [STAGE])
    for student in STUDENTS:
        submit(student, workdir, exchange, STAGE, answers_for(student, STAGE))
    nbgrader(["collect", STAGE.name, f"--course={COURSE_ID}"], course, exchange)
    return course


def _copy(course, dest):
    shutil.copytree(course, dest)
    return dest


def _nbgrader(args, course):
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--log-level=ERROR"],
                          cwd=course, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _grade(course, *args):
    proc = subprocess.run([sys.executable, "-m", "course", "grade", STAGE.name, "--quiet",
                           *args], cwd=course, env=ENV, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"graded {len(STUDENTS)} submissions" in proc.stdout
    assert "0 again here" in proc.stdout, proc.stdout
    return proc


def gradebook(course):
    """{(student, grade cell): (auto_score, max_score)}, and the late penalties."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        rows = {}
        for student in gb.students:
            submission = gb.find_submission(STAGE.name, student.id)
            for grade in submission.notebooks[0].grades:
                rows[student.id, grade.name] = (grade.auto_score, grade.max_score)
            rows[student.id, "late"] = submission.total_seconds_late
        return rows


def outputs(course):
    """{student: [outputs of every code cell]} of the autograded notebooks."""
    found = {}
    for student in STUDENTS:
        nb = nbformat.read(course / "autograded" / student / STAGE.name / STAGE.notebook,
                           as_version=4)
        found[student] = [c.get("outputs") for c in nb.cells if c.cell_type == "code"]
    return found


def feedback(course):
    return {student: (course / "feedback" / student / STAGE.name
                      / f"{STAGE.name}.html").read_text()
            for student in STUDENTS}


@pytest.fixture(scope="module")
def sequential(collected, tmp_path_factory):
    """The reference: nbgrader's own sequential autograde and generate_feedback."""
    course = _copy(collected, tmp_path_factory.mktemp("seq") / "course")
    _nbgrader(["autograde", STAGE.name], course)
    _nbgrader(["generate_feedback", STAGE.name], course)
    return course


def _same(course, sequential):
    expected = gradebook(sequential)
    assert gradebook(course) == expected
    assert expected["reference", "late"] == 0
    auto = {k: v for k, v in expected.items() if k[1] != "late" and v[0] is not None}
    assert {k[0] for k in auto} == set(STUDENTS)  # written answers (manual) have no auto score
    assert all(score == top for (who, _), (score, top) in auto.items() if who == "reference")
    assert sum(score for (who, _), (score, _) in auto.items() if who == "reference") > 0
    assert all(score == 0 for (who, _), (score, _) in auto.items() if who == "untouched")
    assert outputs(course) == outputs(sequential)
    assert feedback(course) == feedback(sequential)


def test_local_workers_fill_the_gradebook_as_nbgrader_autograde(collected, sequential,
                                                                 tmp_path):
    course = _copy(collected, tmp_path / "course")
    _grade(course, "--workers", "2")
    _same(course, sequential)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd, log):
    return subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.fixture
def cluster(tmp_path):
    """A dask scheduler and two single-threaded workers on 127.0.0.1."""
    pytest.importorskip("distributed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    log = open(tmp_path / "cluster.log", "w")
    procs = [_start([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                     str(port), "--dashboard-address", ":0", "--no-show"], log)]
    workers = []
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        for name in ("w1", "w2"):
            workers.append(_start([str(bin_dir / "dask"), "worker", address, "--nthreads", "1",
                                   "--name", name, "--no-nanny", "--no-dashboard",
                                   "--local-directory", str(tmp_path / name)], log))
        procs += workers
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
        yield address, workers
    finally:
        for proc in reversed(procs):
            stop_group(proc, timeout=10)
        log.close()


def test_dask_cluster_fills_the_gradebook_as_nbgrader_autograde(collected, sequential,
                                                                tmp_path, cluster):
    address, workers = cluster
    course = _copy(collected, tmp_path / "course")
    _grade(course, "--scheduler", address)
    _same(course, sequential)


def _worker_grading(address, workers, timeout=120):
    """The worker process that is grading a submission right now."""
    from distributed import Client

    with Client(address, timeout="30s") as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = client.scheduler_info(n_workers=-1)["workers"]
            for addr, keys in client.processing().items():
                if addr in info and any(str(k).startswith("grade-") for k in keys):
                    name = info[addr]["name"]
                    return workers[int(name[1:]) - 1]
            time.sleep(0.05)
    raise AssertionError("no worker started grading")


def test_dask_survives_a_worker_killed_mid_run(collected, sequential, tmp_path, cluster):
    address, workers = cluster
    course = _copy(collected, tmp_path / "course")
    grading = subprocess.Popen([sys.executable, "-m", "course", "grade", STAGE.name, "--quiet",
                                "--scheduler", address], cwd=course, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        victim = _worker_grading(address, workers)
        assert grading.poll() is None, "grading ended before a worker could be killed"
        os.killpg(victim.pid, signal.SIGKILL)
        out, err = grading.communicate(timeout=600)
    finally:
        if grading.poll() is None:
            grading.kill()
    assert grading.returncode == 0, out + err
    assert f"graded {len(STUDENTS)} submissions" in out and "0 again here" in out, out
    _same(course, sequential)


def _messy_files(course):
    """Four more students whose files are not as released: a renamed notebook
    beside an empty scratch.ipynb (gina), a notebook that is not UTF-8 (eve) and
    one that is not JSON (finn), two copies that differ and neither named as
    released (dora). (tests/test_autograder_cli.py and tests/test_lms.py have
    more names.)"""
    submitted = course / "submitted"
    solved = (submitted / "reference" / STAGE.name / STAGE.notebook).read_bytes()
    blank = (submitted / "untouched" / STAGE.name / STAGE.notebook).read_bytes()
    files = {"gina": {"single_channel_gina.ipynb": solved, "scratch.ipynb": b""},
             "eve": {STAGE.notebook: b"\xff\xfe\x00 not UTF-8"},
             "finn": {STAGE.notebook: b'{"cells": [ truncated'},
             "dora": {"single_channel (1).ipynb": solved, "single_channel (2).ipynb": blank}}
    for student, named in files.items():
        folder = submitted / student / STAGE.name
        folder.mkdir(parents=True)
        for name, data in named.items():
            (folder / name).write_bytes(data)
    return course


MESSY = (*STUDENTS, "gina", "eve", "finn", "dora")


@pytest.fixture(scope="module")
def messy(collected, tmp_path_factory):
    """The collected class and the four students above, graded by nbgrader autograde."""
    course = _messy_files(_copy(collected, tmp_path_factory.mktemp("messy") / "course"))
    graded = _copy(course, tmp_path_factory.mktemp("messy-seq") / "course")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", STAGE.name],
                          cwd=graded, env=ENV, capture_output=True, text=True, timeout=900)
    return course, graded, proc


def _totals(course):
    rows = {k: v for k, v in gradebook(course).items() if k[1] != "late"}
    return {student: sum(score for (who, _), (score, _) in rows.items()
                         if who == student and score is not None)
            for student in MESSY}


def test_renamed_and_broken_notebooks_each_affect_their_student_only(messy):
    _, graded, proc = messy
    assert proc.returncode == 0, proc.stdout + proc.stderr
    full = STAGE.max_score
    totals = _totals(graded)
    assert totals == {**{s: totals[s] for s in STUDENTS}, "gina": full, "eve": 0, "finn": 0,
                      "dora": 0}
    assert totals["reference"] == full
    log = proc.stdout + proc.stderr
    assert "renamed" in log and "single_channel_gina.ipynb" in log
    assert (graded / "submitted" / "gina" / STAGE.name / STAGE.notebook).exists()
    reasons = {s: (graded / "autograded" / s / STAGE.name / STAGE.notebook).read_text()
               for s in ("eve", "finn", "dora")}
    assert "not UTF-8" in reasons["eve"] and "not a notebook" in reasons["finn"]
    assert "single_channel (1).ipynb, single_channel (2).ipynb" in reasons["dora"]


def test_course_grade_gives_the_messy_class_what_nbgrader_autograde_gives(messy, tmp_path):
    course, graded, _ = messy
    course = _copy(course, tmp_path / "course")
    proc = subprocess.run([sys.executable, "-m", "course", "grade", STAGE.name, "--quiet",
                           "--workers", "2"], cwd=course, env=ENV, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert gradebook(course) == gradebook(graded)
    for student in MESSY:  # feedback for everyone, the students with broken files too
        assert (course / "feedback" / student / STAGE.name / f"{STAGE.name}.html").exists()


def test_dask_grades_the_messy_class_as_nbgrader_autograde(messy, tmp_path, cluster):
    address, _ = cluster
    course, graded, _ = messy
    course = _copy(course, tmp_path / "course")
    proc = subprocess.run([sys.executable, "-m", "course", "grade", STAGE.name, "--quiet",
                           "--no-feedback", "--scheduler", address], cwd=course, env=ENV,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert gradebook(course) == gradebook(graded)
