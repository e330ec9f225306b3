"""A catalogue of cheating submissions: each earns no point that the same
code without the cheat would not earn, is graded in bounded time, and leaves
the rest of the class unaffected (DESIGN.md, grading requirements 2-4).

The cheats are written on stage 1. The honest baseline is a submission whose
layer returns zeros: the cheat is that code plus the cheating lines."""

import time
from pathlib import Path

import nbformat
import pytest

from autograder.grade import grade_notebook
from course.flow import reference_answers
from course.stages import get_stage

ROOT = Path(__file__).resolve().parents[1]
STAGE = get_stage("single_channel")
RELEASE = ROOT / "release" / STAGE.name / STAGE.notebook
SECRET = "test-secret"


def grade(nb, student=""):
    return grade_notebook(nb, STAGE, student=student, secret=SECRET)

ZEROS = '''
class SimpleConv1d(Layer):
    def __init__(self, w, b):
        self.w = np.asarray(w, dtype=float)
        self.b = np.asarray(b, dtype=float)
        self.dw = np.zeros_like(self.w)
        self.db = np.zeros_like(self.b)

    def forward(self, x):
        self.x = x
        return np.zeros(len(x) - len(self.w) + 1)

    def backward(self, dout):
        return np.zeros(len(self.x))
'''

CHEATS = {
    "patch_numpy": "np.allclose = lambda *a, **k: True\n"
                   "np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), bool)\n"
                   "np.testing.assert_allclose = lambda *a, **k: None\n"
                   "np.array_equal = lambda *a, **k: True",
    "patch_builtins": "import builtins\n"
                      "builtins.AssertionError = type('Quiet', (Exception,), {})\n"
                      "builtins.isinstance = lambda *a: True\nbuiltins.abs = lambda v: 0 * v",
    "ipython_hooks": "try:\n    ip = get_ipython()\n"
                     "    ip.events.register('post_run_cell', lambda r: None)\n"
                     "    ip.showtraceback = lambda *a, **k: None\n"
                     "    ip.set_custom_exc((Exception,), lambda *a, **k: None)\n"
                     "except NameError:\n    pass",
    "caller_frames": "import sys\n_orig = SimpleConv1d.forward\n"
                     "def forward(self, x):\n"
                     "    for f in (sys._getframe(1), sys._getframe(2)):\n"
                     "        for v in f.f_locals.values():\n"
                     "            n = len(x) - len(self.w) + 1\n"
                     "            if hasattr(v, 'shape') and v.shape == (n,):\n"
                     "                return v\n"
                     "    return _orig(self, x)\nSimpleConv1d.forward = forward",
    "gc_objects": "import gc\n_orig = SimpleConv1d.forward\n"
                  "def forward(self, x):\n"
                  "    n = len(x) - len(self.w) + 1\n"
                  "    for o in gc.get_objects():\n"
                  "        if type(o).__name__ == 'ndarray' and o.shape == (n,) and o is not x:\n"
                  "            return o\n"
                  "    return _orig(self, x)\nSimpleConv1d.forward = forward",
    "import_reference": "from solutions import SimpleConv1d",
    "import_grader": "import autograder.checks as ag\nag.run_check = lambda *a, **k: None",
    "read_hidden_files": f"src = open({str(ROOT / 'source' / STAGE.name / STAGE.notebook)!r})"
                         ".read()",
    "write_gradebook": f"open({str(ROOT / 'gradebook.db')!r}, 'a').write('x')",
    "sys_exit": "import sys\nSimpleConv1d.forward = lambda self, x: sys.exit(0)",
    "os_exit": "import os\nSimpleConv1d.forward = lambda self, x: os._exit(0)",
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
    "infinite_loop": "def _spin(self, x):\n    while True:\n        pass\n"
                     "SimpleConv1d.forward = _spin",
    "memory_bomb": "SimpleConv1d.forward = lambda self, x: np.ones((10**6, 10**6))",
    "fake_output": "print('All tests passed. Score: 10 / 10')",
}


def _notebook(answer, extra_cells=(), test_cells="keep"):
    nb = nbformat.read(RELEASE, as_version=4)
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = answer
        if meta.get("grade") and test_cells == "delete":
            continue
        if meta.get("grade") and test_cells == "edit":
            cell.source = "pass"
        cells.append(cell)
    if test_cells == "reorder":
        cells.reverse()
    if test_cells == "duplicate":
        cells += [c for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
    cells += [nbformat.v4.new_code_cell(src) for src in extra_cells]
    nb.cells = cells
    return nb


@pytest.fixture(scope="module")
def baseline():
    return grade(_notebook(ZEROS), student="honest").score


@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_cheat_earns_nothing(cheat, baseline):
    t0 = time.perf_counter()
    result = grade(_notebook(ZEROS + "\n\n" + CHEATS[cheat]), student="cheater")
    assert result.score <= baseline, [c.message for c in result.checks if c.passed]
    assert time.perf_counter() - t0 < 4 * 60  # bounded, whatever the cheat
    assert len(result.checks) == len(STAGE.checks)


@pytest.mark.parametrize("mode", ["delete", "edit", "reorder", "duplicate"])
def test_tampering_with_test_cells_changes_nothing(mode, baseline):
    cheat = grade(_notebook(ZEROS, test_cells=mode), student="cheater")
    assert cheat.score <= baseline
    answers = reference_answers(STAGE)["simple_conv1d"]
    honest = grade(_notebook(answers, test_cells=mode), student="honest")
    assert honest.score == STAGE.max_score  # correct code keeps its points


def test_extra_cells_with_fake_results_are_ignored(baseline):
    nb = _notebook(ZEROS, extra_cells=["print('10 / 10 points')",
                                       "raise SystemExit('graded')"])
    assert grade(nb, student="cheater").score <= baseline


def test_warnings_and_stderr_never_cost_a_correct_answer():
    code = reference_answers(STAGE)["simple_conv1d"]
    code += ("\n\nimport sys, warnings\n_f = SimpleConv1d.forward\n"
             "def forward(self, x):\n    warnings.warn('careful')\n"
             "    print('debug', file=sys.stderr)\n    return _f(self, x)\n"
             "SimpleConv1d.forward = forward\n")
    assert grade(_notebook(code)).score == STAGE.max_score


def test_a_late_error_in_a_cell_costs_nothing_else():
    """nbgrader zeroes every test after an early NameError; here the class is
    defined before the error, so every check still runs on it."""
    code = reference_answers(STAGE)["simple_conv1d"] + "\n\nundefined_name + 1\n"
    result = grade(_notebook(code))
    assert result.score == STAGE.max_score


def test_a_crashing_student_leaves_the_class_unaffected():
    from autograder.parallel import grade_all

    crash = _notebook(ZEROS + "\n\n" + CHEATS["os_exit"])
    good = _notebook(reference_answers(STAGE)["simple_conv1d"])
    paths = []
    for name, nb in (("crash", crash), ("good", good)):
        folder = ROOT / ".pytest_cache" / "cheating" / name / STAGE.name
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / STAGE.notebook)
        paths.append((name, folder / STAGE.notebook))
    results = grade_all(paths, secret=SECRET, workers=2, progress=False)
    assert results[1].score == STAGE.max_score
    assert all("os._exit" in c.message or "exit code" in c.message
               for c in results[0].checks if c.id.endswith("forward"))
