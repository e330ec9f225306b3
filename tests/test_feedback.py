"""What autograde keeps of a submission and what its feedback shows, through
nbgrader's own commands on a course of stage 2 (the quickest to grade):

- the student's outputs and figures stay in the autograded notebook and the
  feedback page (text and images; HTML and JavaScript outputs do not), a test
  cell shows only the grader's outcome;
- autograde logs nbgrader's checksum warning for a test cell the student
  changed, and for no other (nbgrader issue #1961 made it warn on every test
  cell that has hidden tests);
- the feedback's score list names each check with its summary, and its maths
  is typeset by a MathJax inlined in the page: no CDN.
"""

import base64
import re

import nbformat
import pytest
from nbformat.v4 import new_output

from course import flow
from course.sample_class import answers_for
from course.stages import get_stage

pytestmark = pytest.mark.slow

STAGE = get_stage("output_size")
# A 1x1 PNG: the student's figure
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2213b"
    "9c0000000049454e44ae426082")).decode()
STUDENT_TEXT = "my own printout: L_out = 6"


def _cells(nb, kind):
    if kind == "test":
        return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                and not c.metadata["nbgrader"].get("solution")]
    return [c for c in nb.cells if c.cell_type == "code" and not c.metadata.get("nbgrader")]


def _with_outputs(nb):
    """As if the student had run the notebook: text, a figure, an HTML table
    with a script, and a forged outcome in a test cell."""
    cell = _cells(nb, "plain")[0]
    cell.outputs = [
        new_output("stream", name="stdout", text=STUDENT_TEXT + "\n"),
        new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
        new_output("display_data", data={"text/html": "<script>alert(1)</script>",
                                         "text/plain": "a table"}),
        new_output("display_data", data={"application/javascript": "alert(2)"}),
    ]
    _cells(nb, "test")[0].outputs = [new_output("stream", name="stdout",
                                                 text="passed: 100 / 3 points\n")]


def _tamper(nb):
    test = _cells(nb, "test")[0]
    test.source = test.source.replace("assert", "assert True or", 1)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("feedback")
    course, exchange = flow.make_course(workdir, [STAGE])
    flow.release(course, exchange, [STAGE])
    reference = answers_for("reference", STAGE)
    flow.submit("shows_work", workdir, exchange, STAGE, reference, edit=_with_outputs)
    flow.submit("tamperer", workdir, exchange, STAGE, reference, edit=_tamper)
    flow.nbgrader(["collect", STAGE.name, "--course=cnn1d"], course, exchange)
    logs = {}
    for student in ("shows_work", "tamperer"):
        lines = []
        flow.nbgrader(["autograde", STAGE.name, f"--student={student}", "--force"], course,
                      exchange, on_line=lines.append)
        logs[student] = "\n".join(lines)
    flow.nbgrader(["generate_feedback", STAGE.name, "--force"], course, exchange)
    return course, logs


def _autograded(course, student):
    return nbformat.read(course / "autograded" / student / STAGE.name / STAGE.notebook,
                         as_version=4)


def _feedback(course, student):
    return (course / "feedback" / student / STAGE.name / f"{STAGE.name}.html").read_text()


def test_checksum_warning_only_for_a_changed_test_cell(course):
    _, logs = course
    assert "checksum" not in logs["shows_work"], logs["shows_work"]
    warnings = re.findall(r"Attribute 'checksum' for cell (\S+) has changed", logs["tamperer"])
    assert warnings == [_cells(_autograded(course[0], "tamperer"), "test")[0]
                        .metadata.nbgrader["grade_id"]], logs["tamperer"]


def test_a_changed_test_cell_is_put_back(course):
    nb = _autograded(course[0], "tamperer")
    assert "assert True or" not in _cells(nb, "test")[0].source


def test_the_students_outputs_stay_and_test_cells_show_the_grade(course):
    nb = _autograded(course[0], "shows_work")
    outputs = _cells(nb, "plain")[0].outputs
    assert [o.output_type for o in outputs] == ["stream", "display_data", "display_data"]
    assert outputs[0].text == STUDENT_TEXT + "\n"
    assert outputs[1].data["image/png"] == PNG
    assert dict(outputs[2].data) == {"text/plain": "a table"}  # no HTML, no script
    for cell in _cells(nb, "test"):
        (outcome,) = cell.outputs
        assert outcome.text.startswith("passed: ") and "100" not in outcome.text


def test_feedback_shows_the_students_work_and_names_the_checks(course):
    html = _feedback(course[0], "shows_work")
    assert STUDENT_TEXT in html
    assert PNG in html
    assert "alert(1)" not in html and "alert(2)" not in html
    assert "Test cell" not in html
    for check in STAGE.checks:
        summary = check.summary.replace("'", "&#39;").replace('"', "&quot;")
        assert f"<code>{check.name}</code></a>: {summary}" in html, check.name
    for question in STAGE.written:
        summary = question.summary.replace("'", "&#39;").replace('"', "&quot;")
        assert f"<code>{question.grade_id}</code>: {summary}" in html, question.grade_id


def test_feedback_typesets_maths_offline(course):
    html = _feedback(course[0], "shows_work")
    assert 'id="cnn1d-mathjax"' in html and "MathJax" in html
    assert not re.search(r"<script[^>]+src=", html), "a script loaded from elsewhere"
    page = re.sub(r'<script id="cnn1d-mathjax">.*?</script>', "", html, flags=re.S)
    assert "cdnjs" not in page and "cdn.jsdelivr" not in page


def test_autograde_progress_names_the_student():
    line = ("[AutogradeApp | INFO] Autograding /c/course/autograded/alice.b/output_size/"
            "output_size.ipynb")
    assert flow.graded_student(line) == "alice.b"
    assert flow.graded_student("[AutogradeApp | INFO] Sanitizing /c/submitted/alice/x") is None
