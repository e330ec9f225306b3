"""Red team, issue 19: what still worked around the sandbox.

As in tests/test_redteam.py, each attack runs against a deliberately WEAKENED
grader, where it must win (the attack is real and the test can see it), and
against the REAL one, where it must lose. The helpers (``notebook``,
``only``, ``loot``) are that file's. Runtimes on the kit's two shared cores
are in each test's docstring.
"""

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_redteam import SECRET, WHY_NO_BWRAP, loot, needs_bwrap, notebook, only

import autograder.grade as grade
import autograder.sandbox as sandbox
from course.stages import get_stage

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


# --------------------------------------------------------------------------
# 1. Cross-stage assets: stage 5's reference layers beside stage 3
# --------------------------------------------------------------------------

# Five lines that take stage 5's reference Conv1d for the student's own: its
# file lies in the sandbox only when a training notebook is graded there too.
BORROWED_CONV1D = '''
import glob as _glob, sys as _sys
_sys.path[:0] = _glob.glob("/opt/grader/assets/*") + _glob.glob("/home/student/*") + ["../training"]
from cnn1d_reference import Conv1d
'''


def _stray_training_folder(tmp_path):
    """A student's multi_channel/ folder with the answer above and a stray
    training.ipynb (the released stage 5 notebook) beside it."""
    folder = tmp_path / "submitted" / "mallory" / "multi_channel"
    folder.mkdir(parents=True)
    stage3 = get_stage("multi_channel")
    nbformat.write(notebook(BORROWED_CONV1D, stage3), folder / "multi_channel.ipynb")
    shutil.copy(ROOT / "source" / "training" / "training.ipynb", folder / "training.ipynb")
    return folder


def _graded_on(monkeypatch, checks):
    """Every stage graded on the named checks only (the attack needs no more)."""
    real = grade.detect_stage

    def detect(path, nb):
        stage = real(path, nb)
        return only(*checks[stage.name], stage=stage)

    monkeypatch.setattr(grade, "detect_stage", detect)


@needs_bwrap
def test_a_stray_training_notebook_lends_stage_3_nothing(tmp_path, monkeypatch):
    """Weakened: one sandbox carries every stage's files (the grader before
    issue 19), and the 5-line answer passes stage 3's forward check with stage
    5's Conv1d. Real: a sandbox holds one stage's files, so the same folder
    scores 0 there, and the stray notebook is graded as what it is (stage 5).
    About 10 s."""
    folder = _stray_training_folder(tmp_path)
    _graded_on(monkeypatch, {"multi_channel": ("forward",), "training": ("flatten",)})
    stage3, stage5 = get_stage("multi_channel"), get_stage("training")

    # weakened: both stages' files in one sandbox
    monkeypatch.setattr(sandbox.Sandbox, "__init__", _one_sandbox_for_all(sandbox.Sandbox.__init__))
    box = grade.open_sandbox([stage3, stage5], path=folder / "multi_channel.ipynb")
    try:
        weak = grade.grade_path("mallory", folder / "multi_channel.ipynb", SECRET, box=box)
    finally:
        box.close()
    assert weak.score == weak.max_score > 0, weak.checks
    monkeypatch.undo()

    _graded_on(monkeypatch, {"multi_channel": ("forward",), "training": ("flatten",)})
    paths = sorted(folder.glob("*.ipynb"))
    real = dict(zip(map(str, paths), grade.grade_student("mallory", paths, SECRET), strict=True))
    stage3_result = real[str(folder / "multi_channel.ipynb")]
    assert stage3_result.score == 0, stage3_result.checks
    assert "ModuleNotFoundError" in stage3_result.checks[0].message
    assert real[str(folder / "training.ipynb")].assignment == "training"


def _one_sandbox_for_all(init):
    def weakened(self, assets, *args, **kwargs):
        union = sorted({str(p) for files in assets.values() for p in files})
        init(self, {stage: union for stage in assets}, *args, **kwargs)
    return weakened


def test_a_sandbox_refuses_stages_with_different_files():
    stage3, stage5 = get_stage("multi_channel"), get_stage("training")
    with pytest.raises(ValueError, match="different files"):
        sandbox.Sandbox({s.name: grade.stage_assets(s) for s in (stage3, stage5)})
