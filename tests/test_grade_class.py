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


def test_one_student_that_breaks_the_grader_costs_only_that_student(monkeypatch, tmp_path):
    """Whatever goes wrong while one student is graded (here: an error the
    grader did not foresee), every other student is graded and the broken
    one gets a result whose checks say why."""
    import autograder.parallel as parallel
    from course.stages import get_stage

    stage = get_stage("single_channel")
    real = parallel.grade_student

    def flaky(student, paths, *args):
        if student == "broken":
            raise RuntimeError("something unforeseen")
        return real(student, paths, *args)

    monkeypatch.setattr(parallel, "grade_student", flaky)
    release = Path(__file__).resolve().parents[1] / "release" / stage.name / stage.notebook
    jobs = []
    for student in ("broken", "fine"):
        folder = tmp_path / student / stage.name
        folder.mkdir(parents=True)
        (folder / stage.notebook).write_bytes(release.read_bytes())
        jobs.append((student, folder / stage.notebook))
    with pytest.raises(RuntimeError):  # unguarded, it would end the class run
        flaky("broken", [jobs[0][1]], "test-secret", None, 1)
    broken, fine = grade_all(jobs, secret="test-secret", progress=False)
    assert len(broken.checks) == len(stage.checks) and broken.score == 0
    assert all("could not grade this notebook" in c.message for c in broken.checks)
    assert fine.student == "fine" and len(fine.checks) == len(stage.checks)
    assert all("not implemented yet" in c.message for c in fine.checks)
