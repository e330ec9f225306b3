"""`python -m course new-check` adds a check in one command, and the course
builds with it: in a temporary copy of the repository, the command writes the
stages.py entry, the failing check stub, the test cell and the test file with
its mutant; `python -m course build` then gives the test cell its points and
hidden-test call, and nbgrader's release has the cell without them."""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course.scaffold import ScaffoldError, add_to_stages, new_check

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
STAGE, NAME = "output_size", "even_padding"
SUMMARY = "an even padding keeps the parity of L - F"
IGNORE = shutil.ignore_patterns(".venv", ".git", "runs", "lab", "submitted", "autograded",
                                "feedback", "gradebook.db", "release", "solution", "tests",
                                "__pycache__", ".pytest_cache", ".ruff_cache", "docs")


def _run(args, cwd):
    proc = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{args}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    """A copy of the repository (without .venv, .git, release/ and run state),
    a check scaffolded into it, and the stage built."""
    root = tmp_path_factory.mktemp("kit") / "kit"
    shutil.copytree(ROOT, root, ignore=IGNORE, symlinks=True)
    (root / "tests").mkdir()
    out = _run(["-m", "course", "new-check", STAGE, NAME, "--points", "2", "--summary",
                SUMMARY], root).stdout
    _run(["-m", "course", "build", "--stage", STAGE], root)
    return root, out


def _cells(path, grade_id):
    return [c for c in nbformat.read(path, as_version=4).cells
            if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]


def test_the_command_writes_the_four_pieces(copy):
    root, out = copy
    assert "make build" in out
    stages = (root / "course" / "stages.py").read_text()
    assert f"Check('{NAME}', 2, '{SUMMARY}')," in stages
    checks = (root / "autograder" / "checks" / f"{STAGE}.py").read_text()
    assert f"def check_{NAME}(ns, rng):" in checks
    test = (root / "tests" / f"test_check_{STAGE}_{NAME}.py").read_text()
    assert "def test_reference_passes" in test and "def mutant_names" in test


def test_the_build_gives_the_cell_its_points_and_hidden_call(copy):
    root, _ = copy
    (cell,) = _cells(root / "source" / STAGE / f"{STAGE}.ipynb", NAME)
    assert cell.metadata.nbgrader["points"] == 2 and cell.metadata.nbgrader["locked"]
    assert f"run_check('{STAGE}.{NAME}', globals())" in cell.source
    assert cell.source.startswith('"""') and "assert" in cell.source
    (released,) = _cells(root / "release" / STAGE / f"{STAGE}.ipynb", NAME)
    assert "run_check" not in released.source and "HIDDEN" not in released.source


def test_the_stub_fails_and_the_skeleton_says_so(copy):
    root, _ = copy
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"tests/test_check_{STAGE}_{NAME}.py"], cwd=root,
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout
    assert "is not written yet" in proc.stdout  # the stub check fails the reference
    assert "write the mutant" in proc.stdout


def test_the_new_check_is_the_last_of_its_stage(copy):
    root, _ = copy
    code = (f"from course.stages import get_stage; "
            f"print([c.name for c in get_stage({STAGE!r}).checks][-1])")
    assert _run(["-c", code], root).stdout.split() == [NAME]


def test_names_and_duplicates_are_refused(tmp_path):
    with pytest.raises(ScaffoldError, match="lower-case"):
        new_check(STAGE, "Bad-Name", 1, "x", root=tmp_path)
    with pytest.raises(ScaffoldError, match="already has"):
        new_check(STAGE, "formula", 1, "x", root=ROOT)
    with pytest.raises(ScaffoldError, match="no Stage"):
        add_to_stages((ROOT / "course" / "stages.py").read_text(), "nope", "x", 1, "x")
