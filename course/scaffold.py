"""``python -m course new-check STAGE NAME --points P --summary TEXT``: the
five places a new graded check lives, written in one go (docs/authoring.md).

1. ``course/stages.py``: ``Check(NAME, P, TEXT)`` at the end of the stage's
   checks;
2. ``autograder/checks/<stage>.py``: ``check_<NAME>(ns, rng)``, a stub that
   fails every submission until it is written;
3. ``source/<stage>/<stage>.ipynb``: a test cell (nbgrader grade cell
   ``NAME``, locked) after the stage's last one, with a docstring and a
   visible assert to replace; the build adds its points and hidden-test call;
4. ``tests/test_check_<stage>_<NAME>.py``: the reference must pass, a mutant
   (a plausible bug, to write) must fail.

Then ``make build`` writes the points and the hidden block and regenerates
the release. Nothing is overwritten: an existing check, function or test file
of that name stops the command before it writes anything.
"""

import ast
import keyword
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parents[1]


class ScaffoldError(Exception):
    """The check cannot be added as asked (exit code 2)."""


def _stage_checks_node(tree, stage_name):
    """The Tuple node of ``checks=`` in the ``Stage(...)`` call of ``stage_name``."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Stage"
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == stage_name):
            for kw in node.keywords:
                if kw.arg == "checks" and isinstance(kw.value, ast.Tuple):
                    return kw.value
    raise ScaffoldError(f"course/stages.py has no Stage {stage_name!r} with a checks=(...) tuple")


def add_to_stages(text, stage_name, name, points, summary):
    """stages.py's text with ``Check(name, points, summary)`` after the stage's last check."""
    checks = _stage_checks_node(ast.parse(text), stage_name)
    if not checks.elts:
        raise ScaffoldError(f"stage {stage_name} has no check to put the new one after")
    lines = text.splitlines(keepends=True)
    indent = " " * checks.elts[0].col_offset
    entry = f"{indent}Check({name!r}, {points:g}, {summary!r}),\n"
    last = checks.elts[-1]
    # after the line that ends the last check (with its comma)
    lines.insert(last.end_lineno, entry)
    return "".join(lines)


def check_stub(stage_name, name, summary):
    return f'''

def check_{name}(ns, rng):
    """{summary}."""
    # Scaffolded by `python -m course new-check`: write the check (docs/authoring.md).
    # Take the student's objects from ns (e.g. ns["Conv1d"]), draw the hidden
    # inputs from rng, compare with the reference of solutions/, and raise
    # CheckFailed with what was tested, expected against got, and a hint.
    from .common import CheckFailed

    raise CheckFailed("the check {stage_name}.{name} is not written yet "
                      "(autograder/checks/{stage_name}.py)")
'''


def test_cell(template, name, points, summary):
    """A locked nbgrader test cell like ``template`` (another test cell of the stage)."""
    meta = dict(template.metadata.get("nbgrader", {}))
    meta.update(grade=True, solution=False, locked=True, grade_id=name, points=points)
    cell = new_code_cell(
        source=f'"""{summary} (a first example; the hidden tests check more)."""\n'
               f'# TODO (author): a visible example the student can check by hand\n'
               f'assert True, "replace with a visible assert about {name}"',
        metadata={"nbgrader": meta})
    cell.id = "test-" + name.replace("_", "-")
    return cell


def test_file(stage, name):
    answers = ", ".join(repr(spec) for answer in stage.answers for spec in answer.objects)
    return f'''"""Check {stage.name}.{name}: passes on the reference solution, fails on a
plausible student bug (a mutant). Scaffolded by `python -m course new-check`;
write the check and the mutant, then both tests pass (docs/authoring.md)."""

import importlib

import numpy as np
import pytest

from autograder.checks import derive_seed, get_check
from autograder.checks.common import CheckFailed

CHECK = "{stage.name}.{name}"
# What the stage's answer cells define, "module:qualname" (course/stages.py)
ANSWERS = ({answers},)
STUDENTS = ["", "alice", "bob"]


def reference_names():
    """{{name: object}} as the reference notebook defines them."""
    names = {{}}
    for spec in ANSWERS:
        module, _, qualname = spec.partition(":")
        names[qualname] = getattr(importlib.import_module(module), qualname)
    return names


def mutant_names():
    """The reference with one plausible bug. TODO (author): write it, e.g.

    class Flipped(names["SimpleConv1d"]):
        def forward(self, x):
            return super().forward(x[::-1])
    names["SimpleConv1d"] = Flipped
    """
    names = reference_names()
    raise NotImplementedError("write the mutant of {stage.name}.{name}")
    return names


def run(names, student=""):
    rng = np.random.default_rng(derive_seed(CHECK, student))
    get_check(CHECK)(names, rng)


@pytest.mark.parametrize("student", STUDENTS)
def test_reference_passes(student):
    run(reference_names(), student)


@pytest.mark.parametrize("student", STUDENTS)
def test_mutant_fails(student):
    with pytest.raises(CheckFailed):
        run(mutant_names(), student)
'''


def new_check(stage_name, name, points, summary, root=ROOT):
    """Write the four pieces of a new check; returns the paths written."""
    from course.stages import get_stage

    stage = get_stage(stage_name)
    if not name.isidentifier() or keyword.iskeyword(name) or not re.fullmatch(r"[a-z0-9_]+",
                                                                                 name):
        raise ScaffoldError(f"the check name must be a lower-case Python identifier, got "
                            f"{name!r}")
    if points <= 0:
        raise ScaffoldError(f"points must be positive, got {points}")
    summary = summary.strip().rstrip(".")
    if not summary:
        raise ScaffoldError("the summary must say what the check tests")
    root = Path(root)
    stages_py = root / "course" / "stages.py"
    checks_py = root / "autograder" / "checks" / f"{stage.name}.py"
    notebook = root / "source" / stage.name / stage.notebook
    tests_py = root / "tests" / f"test_check_{stage.name}_{name}.py"
    taken = {c.name for c in stage.checks} | {q.grade_id for q in getattr(stage, "written", ())}
    taken |= {a.grade_id for a in stage.answers}
    if name in taken:
        raise ScaffoldError(f"stage {stage.name} already has a cell or check {name!r}")
    if re.search(rf"^def check_{name}\(", checks_py.read_text(), re.M):
        raise ScaffoldError(f"{checks_py} already defines check_{name}")
    if tests_py.exists():
        raise ScaffoldError(f"{tests_py} exists")
    nb = nbformat.read(notebook, as_version=4)
    tests = [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata["nbgrader"].get("solution")]
    if not tests:
        raise ScaffoldError(f"{notebook} has no test cell to put the new one after")
    # all checked: now write
    stages_py.write_text(add_to_stages(stages_py.read_text(), stage.name, name, points,
                                       summary))
    with open(checks_py, "a") as f:
        f.write(check_stub(stage.name, name, summary))
    nb.cells.insert(tests[-1] + 1, test_cell(nb.cells[tests[-1]], name, points, summary))
    nbformat.write(nb, notebook)
    tests_py.write_text(test_file(stage, name))
    readme = root / "tests" / "README.md"
    if readme.exists():  # every file of tests/ is described there
        with open(readme, "a") as f:
            f.write(f"| `{tests_py.name}` | the check {stage.name}.{name}: the reference "
                    "passes, a mutant fails |\n")
    return [stages_py, checks_py, notebook, tests_py]
