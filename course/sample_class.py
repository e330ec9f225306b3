"""The sample class graded by ``make demo``: a reference submission, an
untouched release, and students with typical bugs.

A buggy submission is the reference answer with one textual change, so each
one is a realistic mistake; a change whose text is no longer found in the
reference raises, so the sample class cannot silently become correct.
"""

from course.flow import reference_answers

# student -> {stage: [(answer grade_id, reference text, buggy text, what the bug is)]}
BUGS = {
    "flipped_kernel": {
        "single_channel": [("simple_conv1d", "out[i] = x[i:i + F] @ self.w",
                            "out[i] = x[i:i + F] @ self.w[::-1]",
                            "convolution instead of cross-correlation (kernel flipped)")],
    },
    "unshared_dw": {
        "single_channel": [("simple_conv1d", "dw += g * x[i:i + F]", "dw = g * x[i:i + F]",
                            "dw keeps only the last position instead of summing "
                            "(weight sharing forgotten)")],
    },
}

STUDENTS = ("reference", "untouched", *BUGS)


def answers_for(student, stage):
    """Answer-cell code of ``student`` for ``stage`` (None: the untouched release)."""
    if student == "untouched":
        return None
    answers = reference_answers(stage)
    for grade_id, good, bad, _ in BUGS.get(student, {}).get(stage.name, []):
        if good not in answers[grade_id]:
            raise ValueError(f"sample bug of {student!r} no longer applies: {good!r} is not in "
                             f"the reference answer {grade_id!r} of {stage.name}")
        answers[grade_id] = answers[grade_id].replace(good, bad, 1)
    return answers
