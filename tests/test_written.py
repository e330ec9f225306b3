"""Written questions: short answers graded by hand in formgrader.

Each question of course/stages.py is a markdown cell that nbgrader marks as a
manually graded answer, with its points; its rubric sits in the source between
the solution delimiters, and the release shows an empty answer instead. After
``nbgrader generate_assignment`` the gradebook holds every written cell as a
markdown grade cell, and an assignment's max score is the checks' points plus
the written points.
"""

import shutil
from pathlib import Path

import nbformat
import pytest

from course.build import (
    BEGIN,
    END,
    RUBRIC_PARTS,
    BuildError,
    fill_notebook,
    generate_release,
    parse_rubric,
    rubric_page,
)
from course.stages import STAGES, Written, get_stage

ROOT = Path(__file__).resolve().parents[1]
WRITTEN_STAGES = [s for s in STAGES if s.written]
IDS = [s.name for s in WRITTEN_STAGES]


def _cells(top, stage):
    nb = nbformat.read(ROOT / top / stage.name / stage.notebook, as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def test_stages_one_to_four_ask_two_or_three_questions():
    for name in ("single_channel", "output_size", "multi_channel", "mini_batch"):
        stage = get_stage(name)
        assert 2 <= len(stage.written) <= 3, name
        assert all(isinstance(q, Written) and q.points > 0 for q in stage.written)
        assert stage.total_points == stage.max_score + sum(q.points for q in stage.written)


@pytest.mark.parametrize("stage", WRITTEN_STAGES, ids=IDS)
def test_source_cell_is_a_manually_graded_answer_with_a_rubric(stage):
    cells = _cells("source", stage)
    grade_ids = [c.name for c in stage.checks] + [a.grade_id for a in stage.answers]
    for question in stage.written:
        assert question.grade_id not in grade_ids, "a written id must not shadow a check"
        cell = cells[question.grade_id]
        meta = cell.metadata["nbgrader"]
        assert cell.cell_type == "markdown"
        assert meta["solution"] and meta["grade"] and not meta["locked"]
        assert meta["points"] == question.points
        rubric = parse_rubric(cell.source, question, stage)   # raises when a part is missing
        assert rubric.startswith(f"**Rubric ({question.points:g} point"), question.grade_id
        for part in RUBRIC_PARTS:
            assert part in rubric, (question.grade_id, part)


@pytest.mark.parametrize("stage", WRITTEN_STAGES, ids=IDS)
def test_the_graders_page_holds_every_rubric_and_is_current(stage):
    page = (ROOT / "docs" / "rubrics" / f"{stage.name}.md").read_text()
    nb = nbformat.read(ROOT / "source" / stage.name / stage.notebook, as_version=4)
    assert page == rubric_page(nb, stage)
    for question in stage.written:
        assert f"## `{question.grade_id}` ({question.points:g} points)" in page
    assert page.count("*Model answer.*") == len(stage.written)


def test_no_rubric_anywhere_in_the_release():
    for path in (ROOT / "release").rglob("*"):
        assert "rubric" not in path.name.lower(), path
        if path.is_file() and path.suffix in (".ipynb", ".md", ".py"):
            text = path.read_text()
            for marker in RUBRIC_PARTS + ("**Rubric (",):
                assert marker not in text, (path, marker)


@pytest.mark.parametrize("change, message", [
    (lambda r: r.replace("*Model answer.*", "Model answer:"), "lacks"),
    (lambda r: r.replace("*Accept also.*", "Also:"), "lacks"),
    (lambda r: r.replace("- half a point:", "- 1 point:", 1), "add up to"),
])
def test_the_build_refuses_a_rubric_missing_a_part_or_with_points_that_do_not_add_up(
        change, message):
    stage = get_stage("single_channel")
    nb = nbformat.read(ROOT / "source" / stage.name / stage.notebook, as_version=4)
    cell = next(c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "weight_sharing")
    cell.source = change(cell.source)
    with pytest.raises(BuildError, match=message):
        fill_notebook(nb, stage)


@pytest.mark.parametrize("stage", WRITTEN_STAGES, ids=IDS)
def test_release_strips_the_rubric(stage):
    source, release = _cells("source", stage), _cells("release", stage)
    released_text = (ROOT / "release" / stage.name / stage.notebook).read_text()
    assert "Rubric" not in released_text and BEGIN not in released_text
    for question in stage.written:
        cell = release[question.grade_id]
        assert cell.source.strip() == "YOUR ANSWER HERE"
        assert cell.metadata["nbgrader"]["points"] == question.points
        rubric = source[question.grade_id].source.split(BEGIN, 1)[1].split(END, 1)[0]
        for line in rubric.strip().splitlines():
            assert len(line) < 20 or line not in released_text, line


def test_the_build_refuses_a_written_answer_without_a_rubric():
    stage = WRITTEN_STAGES[0]
    nb = nbformat.read(ROOT / "source" / stage.name / stage.notebook, as_version=4)
    cell = next(c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == stage.written[0].grade_id)
    cell.source = "An answer with no rubric."
    with pytest.raises(BuildError, match="rubric"):
        fill_notebook(nb, stage)


def test_the_build_sets_the_points_of_stages_py():
    stage = WRITTEN_STAGES[0]
    nb = nbformat.read(ROOT / "source" / stage.name / stage.notebook, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == stage.written[0].grade_id:
            cell.metadata["nbgrader"]["points"] = 99
    fill_notebook(nb, stage)
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
              for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    assert points[stage.written[0].grade_id] == stage.written[0].points


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory):
    """The gradebook of a scratch course after nbgrader generate_assignment."""
    from nbgrader.api import Gradebook

    course = tmp_path_factory.mktemp("course")
    for stage in WRITTEN_STAGES:
        shutil.copytree(ROOT / "source" / stage.name, course / "source" / stage.name)
    shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    generate_release(course, WRITTEN_STAGES)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        yield {stage.name: gb.find_assignment(stage.name) for stage in WRITTEN_STAGES}, gb


@pytest.mark.parametrize("stage", WRITTEN_STAGES, ids=IDS)
def test_gradebook_max_score_is_checks_plus_written(gradebook, stage):
    assignments, gb = gradebook
    assignment = assignments[stage.name]
    assert assignment.max_score == pytest.approx(stage.total_points)
    assert assignment.max_code_score == pytest.approx(stage.max_score)
    assert assignment.max_written_score == pytest.approx(stage.written_points)
    manual = {c.name: c for c in gb.find_notebook(stage.name, stage.name).grade_cells
              if c.cell_type == "markdown"}
    assert set(manual) == {q.grade_id for q in stage.written}
    for question in stage.written:
        assert manual[question.grade_id].max_score == pytest.approx(question.points)
