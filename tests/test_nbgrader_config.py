"""nbgrader_config.py fails loudly: a copy of it in a course folder outside the
kit, with no CNN1D_KIT, stops nbgrader (non-zero exit, a message saying what
to set) instead of letting it fall back to grading inside the kernel."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBGRADER = [sys.executable, "-m", "nbgrader"]


def _run(course, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("CNN1D_KIT", "PYTHONPATH")}
    return subprocess.run([*NBGRADER, "db", "student", "list"], cwd=course, capture_output=True,
                          text=True, env={**base, **env}, timeout=300)


def test_a_copy_outside_the_kit_needs_cnn1d_kit(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    lost = _run(tmp_path)
    assert lost.returncode != 0
    assert "CNN1D_KIT" in lost.stdout + lost.stderr
    wrong = _run(tmp_path, CNN1D_KIT=str(tmp_path))
    assert wrong.returncode != 0 and "no autograder/ folder" in wrong.stdout + wrong.stderr
    found = _run(tmp_path, CNN1D_KIT=str(ROOT))
    assert found.returncode == 0, found.stdout + found.stderr
