"""Tests of the build: solution cells come from solutions/, helper copies are
identical, release/ is what nbgrader generates and holds no solution or
hidden test, and course/stages.py agrees with the notebooks and the checks."""

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.checks import get_check
from course.build import (
    BEGIN,
    END,
    BuildError,
    answer_source,
    build,
    build_source,
    mark_solution_regions,
)
from course.stages import STAGES, Answer

ROOT = Path(__file__).resolve().parents[1]
STAGE_IDS = [s.name for s in STAGES]


def _cells(path):
    return nbformat.read(path, as_version=4).cells


def test_mark_solution_regions_keeps_signature_and_docstring():
    src = 'def f(x):\n    """Doc."""\n    # why\n    y = x + 1\n    return y'
    marked = mark_solution_regions(src)
    assert marked.splitlines() == ['def f(x):', '    """Doc."""', f"    {BEGIN}", "    # why",
                                   "    y = x + 1", "    return y", f"    {END}"]


def test_mark_solution_regions_only_listed_methods():
    src = ("class A:\n    k = 1\n\n    def given(self):\n        return 1\n\n"
           "    def todo(self):\n        return 2\n")
    marked = mark_solution_regions(src, implement=("todo",))
    assert marked.count(BEGIN) == 1
    assert marked.index(BEGIN) > marked.index("def todo")
    assert "        return 1" in marked.split(BEGIN)[0]
    with pytest.raises(BuildError, match="missing"):
        mark_solution_regions(src, implement=("missing",))


def test_answer_source_is_the_reference_code():
    code = answer_source(Answer("x", ("solutions.conv:output_size",)))
    assert code.startswith("def output_size(")
    exec(compile(code.replace(BEGIN, "").replace(END, ""), "<answer>", "exec"),
         {"check_int": lambda name, v, minimum=None: v})


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_source_and_release_are_up_to_date(stage):
    """The committed notebooks, helper copies and release equal a fresh build."""
    assert build(check=True, stage_names=[stage.name]) == []


def test_drift_in_a_solution_cell_is_detected(tmp_path):
    stage = STAGES[0]
    shutil.copytree(ROOT / "source" / stage.name, tmp_path / "source" / stage.name)
    path = tmp_path / "source" / stage.name / stage.notebook
    nb = nbformat.read(path, as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
                  and c.cell_type == "code" and "+ 1" in c.source)
    answer.source = answer.source.replace("+ 1", "+ 2", 1)
    nbformat.write(nb, path)
    assert build_source(root=tmp_path, check=True, stages=[stage]) == [path]
    build_source(root=tmp_path, stages=[stage])  # and the build repairs it
    assert build_source(root=tmp_path, check=True, stages=[stage]) == []


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_helper_copies_are_identical(stage):
    for asset in stage.assets:
        canonical = (ROOT / "course" / asset).read_bytes()
        for top in ("source", "release"):
            copy = ROOT / top / stage.name / Path(asset).name
            assert copy.read_bytes() == canonical, f"{copy} differs from course/{asset}"


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_release_holds_no_solution_and_no_hidden_test(stage):
    source_cells = _cells(ROOT / "source" / stage.name / stage.notebook)
    release_text = (ROOT / "release" / stage.name / stage.notebook).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "run_check",
                   "autograder"):
        assert marker not in release_text
    # no line of any solution region survives (short or generic lines, and lines
    # that the given code outside the regions also has, excepted)
    for cell in source_cells:
        given = re.sub(rf"{BEGIN}\n.*?\n\s*{END}", "", cell.source, flags=re.S)
        for region in re.findall(rf"{BEGIN}\n(.*?)\n\s*{END}", cell.source, re.S):
            for line in region.splitlines():
                line = line.strip()
                if (len(line) > 25 and not line.startswith(("#", "return", "raise"))
                        and line not in given):
                    assert line not in release_text, f"solution line in release: {line}"


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_notebook_points_and_checks_agree_with_stages(stage):
    cells = _cells(ROOT / "source" / stage.name / stage.notebook)
    points = {(c.cell_type, c.metadata.nbgrader["grade_id"]): c.metadata.nbgrader["points"]
              for c in cells if c.metadata.get("nbgrader", {}).get("grade")}
    # test cells (code) carry the checks' points, written answers (markdown) theirs
    assert points == ({("code", c.name): c.points for c in stage.checks}
                      | {("markdown", q.grade_id): q.points for q in stage.written})
    for check_id in stage.check_ids():
        assert callable(get_check(check_id))


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_every_test_cell_explains_itself_and_asserts_visibly(stage):
    cells = _cells(ROOT / "release" / stage.name / stage.notebook)
    tests = [c for c in cells if c.metadata.get("nbgrader", {}).get("grade")
             and c.cell_type == "code"]  # markdown ones are written answers
    assert len(tests) == len(stage.checks)
    for cell in tests:
        assert cell.source.lstrip().startswith('"""'), "test cell must open with a docstring"
        assert re.search(r"\bassert\b|np\.testing\.assert_", cell.source), cell.source


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_notebooks_are_committed_without_outputs(stage):
    for top in ("source", "release"):
        for cell in _cells(ROOT / top / stage.name / stage.notebook):
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None
