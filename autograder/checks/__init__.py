"""Hidden checks: one function per graded check, shared by every way of grading.

A check is a function ``check(ns, rng)``: ``ns`` maps the names a notebook
defines (``"SimpleConv1d"``, ``"output_size"``, ...) to the student's
objects, ``rng`` is a ``numpy.random.Generator`` seeded for this student and
this check. It returns nothing when the student's code is right and raises
``CheckFailed`` (an ``AssertionError``) with a student-facing message when it
is not. The same function serves a hidden-test cell, the kit's tests (with
the reference or a mutant in ``ns``) and the out-of-kernel grader.

Points and the list of checks of each stage are defined once, in
``course/stages.py``; ``CHECKS`` here maps each check id to its function.
"""

import hashlib
import importlib
import os

import numpy as np

from .common import CheckFailed

#: Used when no course secret is configured (a student's own machine).
DEFAULT_SECRET = "cnn1d-development-secret"


def stage_checks(stage):
    """{check name: function} of one stage (only that stage's module is imported,
    so a broken module of one stage cannot cost another stage anything)."""
    from course.stages import STAGE_NAMES

    if stage not in STAGE_NAMES:
        raise KeyError(f"unknown stage {stage!r}; known: {STAGE_NAMES}")
    module = importlib.import_module(f"{__name__}.{stage}")
    return {name[len("check_"):]: fn for name, fn in vars(module).items()
            if name.startswith("check_") and callable(fn)}


def derive_seed(check_id, student="", secret=None, digest=""):
    """A 64-bit seed from the course secret, the student id, the check id and the
    digest of the submission's code (autograder.grade.code_digest).

    The same submission always sees the same hidden inputs (a regrade is
    identical); different students, checks and submissions see different
    ones; without the secret the inputs cannot be predicted, and what one
    submission learns of its inputs says nothing about the next one's.
    ``secret=None`` (a hidden-test cell run in the instructor's own kernel,
    which grades nothing) falls back to $CNN1D_GRADER_SECRET, then to the
    development secret; the graders themselves always pass one.
    """
    secret = secret if secret is not None else os.environ.get("CNN1D_GRADER_SECRET",
                                                               DEFAULT_SECRET)
    text = f"{secret}\0{student}\0{check_id}" + (f"\0{digest}" if digest else "")
    # surrogateescape: a student id from a folder name that is not UTF-8 (its raw bytes)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()[:8],
                          "little")


def get_check(check_id):
    """The function of ``check_id`` ("stage.name"); KeyError names the valid ids."""
    stage, _, name = check_id.partition(".")
    checks = stage_checks(stage)
    if name not in checks:
        raise KeyError(f"unknown check {check_id!r}; checks of {stage}: {sorted(checks)}")
    return checks[name]


def run_check(check_id, ns, student=None, secret=None, digest=""):
    """Run one check on the names in ``ns`` (e.g. ``globals()`` of a notebook).

    Raises ``CheckFailed`` with the student-facing message when the check
    fails; returns None when it passes.
    """
    student = student if student is not None else os.environ.get("CNN1D_STUDENT_ID", "")
    rng = np.random.default_rng(derive_seed(check_id, student, secret, digest))
    get_check(check_id)(ns, rng)


__all__ = ["CheckFailed", "derive_seed", "get_check", "run_check", "stage_checks"]
