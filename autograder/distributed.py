"""Grade a whole nbgrader assignment in parallel, on local processes or on a
Dask cluster, and record it in nbgrader's gradebook exactly as
``nbgrader autograde`` does.

The expensive part, grading each submission in the sandbox
(``grade_notebook``), runs on the workers and returns plain data. The
gradebook writes stay in this (the coordinating) process: it runs nbgrader's
own Autograde converter, configured by the course's ``nbgrader_config.py``,
with ``OutOfKernelGrade`` swapped for ``PrecomputedGrade``, which takes each
notebook's result from the workers instead of grading it again. Sanitizing,
restoring the test cells, SaveAutoGrades, late penalties and the autograded
notebooks are nbgrader's code, so the gradebook holds what
``nbgrader autograde ASSIGNMENT`` would have written.

A result is used only for the notebook it was computed from: it is keyed by
the stage, the student and the answer cells (the only part of a notebook the
grader runs). When nbgrader's sanitizing leaves different answer cells (a
student who edited cell metadata), that notebook is graded again here and
the log says so.
"""

import hashlib
import json
import logging
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as local_as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course.stages import get_stage

from . import nbgrader_plugin
from .discovery import rename, resolve
from .grade import CheckResult, GraderError, SubmissionResult, answer_cells, grade_notebook
from .isolation import IsolationError

log = logging.getLogger(__name__)


def submission_key(nb, stage, student):
    """What a result depends on besides the secret: stage, student, answer cells."""
    text = json.dumps([stage.name, student, answer_cells(nb, stage)])
    return hashlib.sha256(text.encode()).hexdigest()


def grade_submission(student, assignment, nb_text, secret):
    """Grade one notebook given as text; runs on a worker. Returns (key, result dict)."""
    stage = get_stage(assignment)
    nb = nbformat.reads(nb_text, as_version=4)
    path = f"{student}/{assignment}/{stage.notebook}"
    try:
        result = grade_notebook(nb, stage, student=student, secret=secret, path=path)
    except (GraderError, IsolationError):
        raise  # the grader's own failure: the run stops and says so
    except Exception as exc:  # noqa: BLE001 - one student's notebook never stops the class
        result = SubmissionResult(
            student=student, assignment=stage.name, path=path, max_score=stage.max_score,
            checks=[CheckResult(f"{stage.name}.{c.name}", 0.0, c.points, False,
                                f"the grader could not grade this notebook "
                                f"({type(exc).__name__}: {exc}); ask your instructor")
                    for c in stage.checks])
    return submission_key(nb, stage, student), result.as_dict()


def result_from_dict(data):
    checks = [CheckResult(**check) for check in data["checks"]]
    return SubmissionResult(**{**data, "checks": checks})


@dataclass
class Submission:
    student: str
    path: Path


def find_submissions(course_root, assignment):
    """The submissions nbgrader's autograde reads: submitted/<student>/<assignment>/<notebook>.

    A renamed notebook is renamed to the stage's name first, as ``nbgrader
    autograde`` does (``autograder.discovery``); a folder with no notebook to
    grade is left to the autograde step, which gives that student a failed
    result saying why.
    """
    stage = get_stage(assignment)
    submitted = Path(course_root) / "submitted"
    folders = sorted(p for p in submitted.glob(f"*/{assignment}") if p.is_dir())
    if not folders:
        raise GraderError(f"no submission of {assignment} in {submitted} (expected "
                          f"submitted/<student>/{assignment}/{stage.notebook}; run "
                          f"`nbgrader collect {assignment}` or zip_collect first)")
    found = []
    for folder in folders:
        res = resolve(folder, stage)
        rename(res, log.warning)
        if res.notebook is not None:
            found.append(Submission(folder.parent.name, res.notebook))
    return found


def compute(submissions, assignment, secret, workers=1, scheduler=None, progress=True):
    """{key: SubmissionResult} for every submission, graded on workers.

    ``scheduler`` is a Dask scheduler address (``tcp://host:8786``); without
    it, ``workers`` local processes. A worker that dies mid-task is replaced by
    the cluster (Dask reschedules its tasks); each submission's result is
    taken once.
    """
    from tqdm.auto import tqdm

    jobs = []
    for sub in submissions:
        # resolve() has read it: a notebook, UTF-8
        jobs.append((sub.student, assignment, sub.path.read_bytes().decode("utf-8"), secret))
    bar = tqdm(total=len(jobs), desc=f"grading {assignment}", unit="submission",
               disable=not progress)
    results = {}
    try:
        if scheduler:
            from distributed import Client, as_completed

            with Client(scheduler, timeout="30s") as client:
                futures = [client.submit(grade_submission, *job, pure=False,
                                         key=f"grade-{assignment}-{job[0]}")
                           for job in jobs]
                for future in as_completed(futures):
                    try:
                        key, data = future.result()
                    except Exception as exc:  # noqa: BLE001 - the grader failed there
                        raise GraderError(
                            f"{future.key}: grading failed on the Dask cluster: {exc!r} (the "
                            "workers must run in the kit checkout, with its packages and "
                            "bubblewrap)") from exc
                    results[key] = result_from_dict(data)
                    bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(grade_submission, *job) for job in jobs]
                for future in local_as_completed(futures):
                    key, data = future.result()
                    results[key] = result_from_dict(data)
                    bar.update()
    finally:
        bar.close()
    return results


class PrecomputedGrade(nbgrader_plugin.OutOfKernelGrade):
    """OutOfKernelGrade with the grading done beforehand, on the workers."""

    results = {}  # {key: SubmissionResult}, set by autograde()
    regraded = []  # [(student, assignment)] graded here because no result matched

    def preprocess(self, nb, resources):
        with _precomputed(type(self)):
            return super().preprocess(nb, resources)


@contextmanager
def _precomputed(cls):
    """The plugin's grade_notebook, looking the result up first."""
    real = nbgrader_plugin.grade_notebook

    def lookup(nb, stage, student="", secret=None, path=""):
        stage_obj = get_stage(stage) if isinstance(stage, str) else stage
        result = cls.results.get(submission_key(nb, stage_obj, student))
        if result is None:
            log.warning("%s/%s: no precomputed result matches the sanitized notebook; "
                        "grading it here", student, stage_obj.name)
            cls.regraded.append((student, stage_obj.name))
            return real(nb, stage, student=student, secret=secret, path=path)
        return result

    nbgrader_plugin.grade_notebook = lookup
    try:
        yield
    finally:
        nbgrader_plugin.grade_notebook = real


@contextmanager
def _cwd(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def autograde(course_root, assignment, results, force=False):
    """nbgrader's ``autograde ASSIGNMENT`` with the grades taken from ``results``."""
    from nbgrader.apps import AutogradeApp
    from nbgrader.converters import Autograde

    with _cwd(course_root):
        app = AutogradeApp()
        app.initialize([assignment, *(["--force"] if force else [])])
        app.coursedir.assignment_id = assignment
        pre = list(app.config.Autograde.autograde_preprocessors)
        if nbgrader_plugin.OutOfKernelGrade not in pre:
            raise GraderError(f"{Path(course_root) / 'nbgrader_config.py'} does not grade with "
                              "autograder.nbgrader_plugin.OutOfKernelGrade: refusing to "
                              "fill the gradebook with another grader's points")
        pre[pre.index(nbgrader_plugin.OutOfKernelGrade)] = PrecomputedGrade
        # which notebook is the submission, as the kit's nbgrader_config.py says
        # (a copy of an older one may not say it)
        app.config.Autograde.pre_convert_hook = "autograder.discovery.nbgrader_hook"
        app.config.Autograde.exporter_class = "autograder.discovery.SubmissionExporter"
        app.config.Autograde.autograde_preprocessors = pre
        PrecomputedGrade.results, PrecomputedGrade.regraded = results, []
        converter = Autograde(coursedir=app.coursedir, parent=app)
        try:
            converter.start()
        except Exception as exc:  # nbgrader's NbGraderException: it logged the reasons
            raise GraderError(f"nbgrader autograde {assignment} failed: {exc}") from exc
        finally:
            PrecomputedGrade.results = {}
    return list(PrecomputedGrade.regraded)


def generate_feedback(course_root, assignment):
    """``nbgrader generate_feedback ASSIGNMENT --force`` in the course root."""
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", assignment,
                           "--force"], cwd=course_root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GraderError(f"nbgrader generate_feedback {assignment} failed:\n{proc.stderr}")


def grade_assignment(course_root, assignment, secret, workers=1, scheduler=None, force=False,
                     feedback=True, progress=True):
    """Grade every submission of ``assignment``, fill the gradebook, write feedback.

    Returns {"submissions": n, "graded_on_workers": n, "regraded_here": [...]}.
    """
    if not secret:
        raise GraderError("no course secret: set CNN1D_GRADER_SECRET or pass --secret-file")
    submissions = find_submissions(course_root, assignment)
    results = compute(submissions, assignment, secret, workers=workers, scheduler=scheduler,
                      progress=progress)
    try:
        regraded = autograde(course_root, assignment, results, force=force)
    except GraderError:
        if feedback:  # the students nbgrader did grade get their feedback all the same
            generate_feedback(course_root, assignment)
        raise
    if feedback:
        generate_feedback(course_root, assignment)
    return {"submissions": len(submissions), "graded_on_workers": len(results),
            "regraded_here": regraded}
