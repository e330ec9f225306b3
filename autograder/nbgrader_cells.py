"""nbgrader preprocessors around the out-of-kernel grade: what autograde keeps
of a submission, and what the feedback page shows.

``nbgrader_config.py`` puts them in place of nbgrader's own:

- ``KeepStudentOutputs`` replaces ``ClearOutput`` in autograde's sanitize
  step: the student's outputs and figures stay in the autograded notebook (so
  in the feedback and in formgrader's manual grading), limited to plain text
  and images; test cells lose theirs, the grade writes them.
- ``OverwriteReleasedCells`` replaces ``OverwriteCells``: a test cell exactly
  as it was released (its hidden tests stripped) is put back silently; only a
  test cell the student changed logs nbgrader's checksum warning. nbgrader
  stores the checksum of the cell *with* its hidden tests, so it warns on every
  test cell otherwise (nbgrader issue #1961).
- ``FeedbackExporter`` is generate_feedback's exporter (command line and
  formgrader's button alike): the kit's feedback page
  (``templates/cnn1d_feedback/``), while formgrader's own pages keep
  nbgrader's templates. ``FeedbackResources`` hands that page the check
  summaries of ``course/stages.py``; ``mathjax_script`` gives it an offline
  MathJax.
"""

import copy
import functools
from pathlib import Path

import nbgrader
from nbconvert.exporters import HTMLExporter
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor, OverwriteCells

from course.stages import get_stage

# Where the feedback template and the nbgrader template it extends live.
TEMPLATES = (Path(__file__).resolve().parent / "templates",
             Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader"
             / "templates")

# What a student's output may carry into the autograded notebook and the
# feedback page: text and raster images. HTML, SVG and JavaScript outputs
# would run in the instructor's formgrader page; their text/plain form stays.
SAFE_MIME_TYPES = ("text/plain", "image/png", "image/jpeg", "image/gif")


def _is_test_cell(cell):
    return utils.is_grade(cell) and not utils.is_solution(cell)


def safe_outputs(outputs):
    """The outputs with only plain text and raster images left in them."""
    kept = []
    for output in outputs:
        if output.get("output_type") in ("display_data", "execute_result"):
            data = {k: v for k, v in output.get("data", {}).items() if k in SAFE_MIME_TYPES}
            if not data:
                continue
            output = copy.deepcopy(output)
            output["data"] = data
            output["metadata"] = {k: v for k, v in output.get("metadata", {}).items()
                                  if k in SAFE_MIME_TYPES}
        elif output.get("output_type") not in ("stream", "error"):
            continue
        kept.append(output)
    return kept


class KeepStudentOutputs(NbGraderPreprocessor):
    """Keep the student's own outputs (text and images); clear the test cells'."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.outputs = [] if _is_test_cell(cell) else safe_outputs(cell.get("outputs", []))
        return cell, resources


class OverwriteReleasedCells(OverwriteCells):
    """nbgrader's OverwriteCells, without the false checksum warnings of #1961."""

    def preprocess_cell(self, cell, resources, index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and utils.is_locked(cell):
            try:
                source_cell = self.gradebook.find_source_cell(grade_id, self.notebook_id,
                                                              self.assignment_id)
            except MissingEntry:
                source_cell = None  # OverwriteCells reports it
            if source_cell is not None and cell.source == self.released(source_cell):
                cell.source = source_cell.source  # as released: restore the hidden tests
        return super().preprocess_cell(cell, resources, index)

    def released(self, source_cell):
        """The source of a gradebook cell as the students received it."""
        cell = NotebookNode(cell_type=source_cell.cell_type, source=source_cell.source,
                                  metadata={})
        ClearHiddenTests(parent=self)._remove_hidden_test_region(cell)
        return cell.source


@functools.cache
def mathjax_script(component="tex-svg.js"):
    """A MathJax 3 component from the django-static-mathjax package (MathJax's
    own build as files; Django is not needed), to inline in the feedback page.
    The feedback template calls it as the Jinja filter ``cnn1d_mathjax``.

    tex-svg.js (TeX input, SVG output) carries its glyphs: nothing else is
    fetched, so a feedback page renders its maths offline (about 2 MB each).
    """
    import mathjax

    path = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5" / component
    return path.read_text(encoding="utf-8").replace("</script", "<\\/script")


class FeedbackExporter(HTMLExporter):
    """HTMLExporter for generate_feedback only. Configured as
    ``c.FeedbackExporter`` (template, template folders): settings of
    ``c.HTMLExporter`` would reach formgrader's grading page too, and a
    subclass's section wins over the ``HTMLExporter.template_name = "feedback"``
    nbgrader's API sets for formgrader's "Generate Feedback" button."""

    def default_filters(self):
        yield from super().default_filters()
        yield ("cnn1d_mathjax", mathjax_script)


class FeedbackResources(NbGraderPreprocessor):
    """Names and summaries of the checks and written questions, for the
    feedback template's score list."""

    def preprocess(self, nb, resources):
        assignment = resources.get("nbgrader", {}).get("assignment")
        try:
            stage = get_stage(assignment)
            checks = {c.name: c.summary for c in stage.checks}
            checks.update({q.grade_id: q.summary for q in getattr(stage, "written", ())})
        except ValueError:
            checks = {}
        resources["cnn1d"] = {"checks": checks}
        return nb, resources
