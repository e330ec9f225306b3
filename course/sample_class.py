"""The sample class graded by ``make demo``: a reference submission, an
untouched release, students with typical bugs, a cheating student and one
whose code kills the process running it.

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

# Whole answers of the cheating and the crashing student (stage 1): a layer
# that returns zeros and patches numpy so that every comparison succeeds, and
# the reference layer whose forward ends the process.
ZEROS_AND_PATCHED_NUMPY = """
class SimpleConv1d(Layer):
    def __init__(self, w, b):
        self.w, self.b = np.asarray(w, dtype=float), np.asarray(b, dtype=float)
        self.dw, self.db = np.zeros_like(self.w), np.zeros_like(self.b)

    def forward(self, x):
        self.x = x
        return np.zeros(len(x) - len(self.w) + 1)

    def backward(self, dout):
        return np.zeros(len(self.x))


np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
"""
CRASH = "\n\nimport os\n\nSimpleConv1d.forward = lambda self, x: os._exit(1)\n"

CUSTOM = {"cheater": "single_channel", "crasher": "single_channel"}

STUDENTS = ("reference", "untouched", *BUGS, *CUSTOM)


def answers_for(student, stage):
    """Answer-cell code of ``student`` for ``stage`` (None: the untouched release)."""
    if student == "untouched":
        return None
    answers = reference_answers(stage)
    if student == "cheater":
        return {"simple_conv1d": ZEROS_AND_PATCHED_NUMPY}
    if student == "crasher":
        answers["simple_conv1d"] += CRASH
        return answers
    for grade_id, good, bad, _ in BUGS.get(student, {}).get(stage.name, []):
        if good not in answers[grade_id]:
            raise ValueError(f"sample bug of {student!r} no longer applies: {good!r} is not in "
                             f"the reference answer {grade_id!r} of {stage.name}")
        answers[grade_id] = answers[grade_id].replace(good, bad, 1)
    return answers
