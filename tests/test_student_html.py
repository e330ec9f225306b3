"""Student markup made inert (autograder/student_html.py), without a browser:
a hostile notebook rendered by formgrader's exporter (nbgrader's formgrade
template) and by generate_feedback's (the kit's page), each built from the
kit's nbgrader_config.py as nbgrader builds it, keeps the student's text,
figures and tables and loses every script, event handler and ``javascript:``
URL; with the two sanitizing lines taken out, they are in the page.
tests/test_pages.py shows the same in chromium. About 3 s.
"""

import re
from pathlib import Path

import nbgrader.server_extensions.formgrader.handlers as formgrader
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder.nbgrader_cells import FeedbackExporter
from autograder.student_html import clean, safe_output

ROOT = Path(__file__).resolve().parents[1]
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5Er"
       "kJggg==")
ANSWER = """## My answer

The field is *65* samples: $L_{out} = L - F + 1$.

<img src=x onerror="alert('md-img')"> <script>alert('md-script')</script>
[a markdown link](javascript:alert('md-link')) <a href="javascript:alert('html-link')">raw</a>
<iframe src="javascript:alert('iframe')"></iframe> <svg onload="alert('svg')"></svg>
<div class="score" style="position:fixed">not formgrader's own</div>

| F | L_out |
|---|---|
| 3 | 6 |
"""


def live(html):
    """The payloads that would run in ``html``, parsed as a browser would: a
    script, an event handler or a ``javascript:`` URL that calls alert, an
    iframe, a borrowed formgrader class."""
    from bs4 import BeautifulSoup

    found = []
    for tag in BeautifulSoup(html, "html.parser").find_all(True):
        if tag.name == "script" and "alert(" in tag.get_text():
            found.append(tag.get_text().strip())
        if tag.name in ("iframe", "object", "embed"):
            found.append(str(tag)[:80])
        for name, value in tag.attrs.items():
            value = " ".join(value) if isinstance(value, list) else str(value)
            if (name.startswith("on") and "alert(" in value) or \
                    value.strip().lower().startswith("javascript:"):
                found.append(f"{tag.name} {name}={value[:60]}")
        if tag.name == "div" and "score" in tag.get("class", []):
            found.append(str(tag)[:80])
    return found


def _hostile_notebook():
    written = new_markdown_cell(ANSWER, metadata={"nbgrader": {
        "solution": True, "grade": True, "grade_id": "field", "points": 2, "locked": False,
        "schema_version": 3, "score": 1, "comment": "<img src=x onerror=\"alert('comment')\">"}})
    code = new_code_cell("plot()", outputs=[
        new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"},
                   metadata={"image/png": {"width": "1 onload=alert('png-width')",
                                           "height": 40}}),
        new_output("display_data", data={
            "text/html": "<table><tr><td>html table</td></tr></table>"
                         "<img src=x onerror=\"alert('html-img')\">", "text/plain": "table"}),
        new_output("display_data", data={"application/javascript": "alert('js-output')"}),
        new_output("display_data", data={
            "image/svg+xml": "<svg onload=\"alert('svg-output')\"></svg>"})])
    return new_notebook(cells=[written, code])


def _config(weakened):
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    if weakened:
        del config.HTMLExporter["preprocessors"], config.HTMLExporter["filters"]
    return config


def _formgrader_page(weakened=False):
    """The grading page as formgrader renders it: its own settings, then the file's."""
    from nbconvert.exporters import HTMLExporter

    config = Config()
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [formgrader.template_path]
    config.merge(_config(weakened))
    resources = {"base_url": "", "notebook_id": "nb", "assignment_id": "a", "index": 0,
                 "total": 1, "student": "mallory", "submission_id": "s",
                 "last_name": "Hostile", "first_name": "<img src=x onerror=\"alert('name')\">",
                 "notebook_path": "autograded/mallory/a/nb.ipynb"}
    html, _ = HTMLExporter(config=config).from_notebook_node(_hostile_notebook(), resources)
    return html


def _feedback_page(weakened=False):
    """The page generate_feedback writes (its own settings added as nbgrader adds them)."""
    config = _config(weakened)
    config.HTMLExporter.extra_template_paths = [str(
        formgrader.static_path + "/node_modules/bootstrap/dist/css")]
    resources = {"nbgrader": {"notebook": "nb", "score": 1, "max_score": 2,
                              "late_penalty": 0}, "cnn1d": {"checks": {}}}
    html, _ = FeedbackExporter(config=config).from_notebook_node(_hostile_notebook(),
                                                                  resources)
    return re.sub(r'<script id="cnn1d-mathjax">.*?</script>', "", html, flags=re.S)


@pytest.mark.parametrize("render", [_formgrader_page, _feedback_page])
def test_the_students_work_stays_and_nothing_of_it_runs(render):
    html = render()
    assert live(html) == []
    assert "<h2>My answer" in html and "<em>65</em>" in html  # Markdown rendered
    assert "$L_{out} = L - F + 1$" in html  # left for MathJax
    assert "<th>F</th>" in html and "<td>html table</td>" in html
    assert f'src="data:image/png;base64,{PNG}"' in html
    assert "height=40" in html.replace('"', "")


@pytest.mark.parametrize("render", [_formgrader_page, _feedback_page])
def test_without_the_sanitizing_lines_the_payloads_are_in_the_page(render):
    found = " ".join(live(render(weakened=True)))
    for payload in ("md-img", "md-script", "html-link", "md-link", "png-width", "html-img",
                    "js-output", "iframe"):
        assert payload in found, payload


def test_the_formgrader_page_keeps_nbgraders_template():
    """Issue 17: the feedback template set for every HTMLExporter broke it."""
    html = _formgrader_page()
    assert '<textarea class="comment tabbable" id="field-comment">' in html
    assert 'id="cnn1d-mathjax"' not in html


@pytest.mark.parametrize("width, kept", [(320, 320), ("320", 320), ("1 onload=x", None),
                                         (True, None), (-5, None), ("50%", None)])
def test_image_sizes_are_plain_numbers(width, kept):
    output = new_output("display_data", data={"image/png": PNG},
                        metadata={"image/png": {"width": width, "filenames": "x"}})
    assert safe_output(output).metadata["image/png"].get("width") == kept
    assert "filenames" not in output.metadata["image/png"]


def test_clean_keeps_inline_images_only():
    inline = '<img src="data:image/png;base64,AAAA">'
    assert clean(inline) == inline
    assert clean('<img src="https://example.org/x.png">') == "<img>"
    assert clean('<a href="data:text/html,x">x</a>') == "<a>x</a>"
