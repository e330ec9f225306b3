"""A generated class of 50 stage-1 submissions, graded with two workers: every
submission is graded, each gets the grade its code deserves, whatever its
neighbours do (one of them kills its own process)."""

from pathlib import Path

import nbformat
import pytest

from autograder.grade import find_submissions
from autograder.parallel import grade_all
from course.flow import fill_answers, reference_answers
from course.sample_class import CRASH
from course.stages import get_stage

STAGE = get_stage("single_channel")
RELEASE = Path(__file__).resolve().parents[1] / "release" / STAGE.name / STAGE.notebook
REFERENCE = reference_answers(STAGE)["simple_conv1d"]
KINDS = {  # kind: (answer code, expected score)
    "correct": (REFERENCE, STAGE.max_score),
    "untouched": (None, 0.0),
    "flipped": (REFERENCE.replace("x[i:i + F] @ self.w", "x[i:i + F] @ self.w[::-1]"), 0.0),
    "crash": (REFERENCE + CRASH, 0.0),
}


@pytest.mark.slow
def test_a_class_of_50_with_two_workers(tmp_path):
    kinds = list(KINDS)
    expected = {}
    for i in range(50):
        kind = kinds[i % len(kinds)]
        student = f"s{i:02d}_{kind}"
        code, expected[student] = KINDS[kind]
        nb = nbformat.read(RELEASE, as_version=4)
        fill_answers(nb, None if code is None else {"simple_conv1d": code})
        folder = tmp_path / "submitted" / student / STAGE.name
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / STAGE.notebook)
    results = grade_all(find_submissions([tmp_path / "submitted"]), secret="test-secret",
                        workers=2, progress=False)
    assert len(results) == 50
    assert {r.student: r.score for r in results} == expected
