"""nbgrader's ``autograde`` step, done out of kernel.

nbgrader normally executes the submission in a Jupyter kernel and scores a
test cell by whether it raised: the submission's code and the tests share one
process, so the submission can patch the tests. This preprocessor replaces
that step (``Execute``) in ``nbgrader_config.py``: it grades the sanitized
notebook (nbgrader has already restored the test cells from the gradebook)
with ``autograder.grade.grade_notebook``, the same function the command line
uses, and writes each check's outcome into its test cell's output: a line
for a pass, an error carrying the check's message for a failure. The other
cells keep the student's own outputs. nbgrader's
own SaveAutoGrades then stores the points in the gradebook, and
generate_feedback shows the messages.
"""

import os
import textwrap

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor

from course.stages import get_stage

from .discovery import UNRESOLVED_KEY
from .grade import CheckResult, SubmissionResult, grade_notebook, read_secret


class OutOfKernelGrade(NbGraderPreprocessor):
    """Grade every check of the assignment in the sandbox and record the outcomes."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        path = os.path.join(resources.get("metadata", {}).get("path", ""),
                            f"{info['notebook']}.ipynb")
        reason = (nb.metadata or {}).get(UNRESOLVED_KEY)
        if reason:  # autograder.discovery's stand-in: no notebook could be graded
            result = unresolved_result(info["student"], info["assignment"], path, reason)
        else:
            result = grade_notebook(nb, info["assignment"], student=info["student"],
                                    secret=read_secret(), path=path)
        outcomes = {check.id.split(".", 1)[1]: check for check in result.checks}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            # the student's own outputs stay (autograder.nbgrader_cells.KeepStudentOutputs
            # kept text and images); a test cell shows its check's outcome only
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            cell.outputs = []
            outcome = outcomes.get(meta.get("grade_id"))
            if outcome is None:
                continue
            if outcome.passed:
                cell.outputs = [new_output("stream", name="stdout",
                                           text=f"passed: {outcome.points:g} / "
                                                f"{outcome.max_points:g} points\n")]
            else:
                cell.outputs = [new_output("error", ename="AssertionError",
                                           evalue=outcome.message,
                                           traceback=[f"Check {outcome.id} failed "
                                                      f"(0 / {outcome.max_points:g} points):",
                                                      *_readable(outcome.message)])]
        return nb, resources


def unresolved_result(student, assignment, path, reason):
    """Every check of the stage failed with ``reason`` (nothing was run)."""
    stage = get_stage(assignment)
    return SubmissionResult(student=student, assignment=stage.name, path=str(path),
                            max_score=stage.max_score,
                            checks=[CheckResult(f"{stage.name}.{c.name}", 0.0, c.points, False,
                                                str(reason)[:4000]) for c in stage.checks])


def _readable(message, width=96):
    """The message's lines, the hint on a line of its own, wrapped to fit the
    feedback page's output box (tracebacks render as preformatted text)."""
    lines = []
    for line in message.replace(". Hint: ", ".\nHint: ").splitlines():
        lines += textwrap.wrap(line, width, subsequent_indent="  ") or [""]
    return lines
