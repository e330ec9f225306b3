"""The instructor's pages in chromium, with JupyterLab started as README.md says
(``.venv/bin/jupyter lab`` in the course root -> Nbgrader -> Formgrader), on a
course of stage 2 with two students, ada and mallory, collected, autograded
and with feedback:

1. Formgrader opens from the Nbgrader menu; the grading page of every
   submission loads (it was HTTP 500 when the feedback template was set for
   every HTMLExporter, issue 17); a score and a comment typed into ada's
   written answer land in gradebook.db; formgrader's "Generate Feedback"
   button writes the kit's feedback page, which shows them.
2. No student markup runs (issue 18): mallory's written answer holds an
   ``<img onerror>``, a ``<script>``, ``javascript:`` links; her outputs an
   image whose ``width`` metadata is ``1 onload=...``, HTML, Markdown and
   JavaScript outputs (the HTML and JavaScript ones written into the
   autograded notebook, as an autograde that kept them would), her name in
   the gradebook an ``<img onerror>``. Each payload records a label in
   ``window.cnn1d_xss`` when it runs: none does in the grading page or the
   feedback page; with the sanitizing lines taken out of the course's
   nbgrader_config.py, the same pages run them. Nor does a crafted link to
   formgrader's Manage Students pages (a payload in an id of the URL, which
   nbgrader writes into a script) run, and without the line that escapes
   those pages it does.
3. The Assignment List (Nbgrader menu) lists the released stage.

Runtime: grading the course (stage 2, two students) and two JupyterLab
servers; 468 s measured on 2 cores at a load average of 17 (260 s of it the
grading), 153 s of it the pages themselves. Skipped without playwright or
/usr/bin/chromium; .ci/run installs both.
"""

import shutil
from urllib.parse import quote

import nbformat
import pytest
from nbformat.v4 import new_output

pytest.importorskip("playwright.sync_api")

from course import flow  # noqa: E402
from course.build import tool_env  # noqa: E402
from course.sample_class import answers_for  # noqa: E402
from course.stages import get_stage  # noqa: E402
from tests import pages  # noqa: E402

pytestmark = pytest.mark.skipif(not pages.CHROMIUM.exists(), reason="no /usr/bin/chromium "
                                "(apt-get install chromium; .ci/run does)")

STAGE = get_stage("output_size")
WRITTEN = STAGE.written[0].grade_id
# The lines of nbgrader_config.py that make student markup inert (weakened: removed)
SANITIZING = ("c.HTMLExporter.preprocessors = [SanitizeStudentContent]\n",
              'c.HTMLExporter.filters = {"markdown2html": '
              '"autograder.student_html.markdown2html"}\n',
              "escape_formgrader_pages()\n")
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5Er"
       "kJggg==")


def mark(label):
    """JavaScript that records ``label`` in window.cnn1d_xss (no quotes, no spaces)."""
    return f"(window.cnn1d_xss=window.cnn1d_xss||[]).push(/{label}/.source)"


HOSTILE_ANSWER = f"""MALLORY'S ANSWER <img src=x onerror="{mark('md-img')}">

<script>{mark('md-script')}</script>

[a markdown link](javascript:void({mark('md-link')}))
<a href="javascript:void({mark('html-link')})">a raw link</a>

Maths: $\\href{{javascript:void({mark('mathjax-href')})}}{{x+y}}$ and $\\boldsymbol{{w}}$
"""
# Shown by the templates only when both names are set
HOSTILE_NAME = f'<img src=x onerror="{mark("name")}">'
# In the grading page and, but for JavaScript, the feedback page (it has no jQuery)
RUN_WEAKENED = {"grading": {"md-img", "md-script", "png-width", "html-img", "html-script",
                            "md-output", "js-output", "name"},
                "feedback": {"md-img", "md-script", "png-width", "html-img", "html-script",
                             "md-output"}}
LINKS = {"md-link": "a markdown link", "html-link": "a raw link"}


def _plain_cell(nb):
    return next(c for c in nb.cells if c.cell_type == "code" and not c.metadata.get("nbgrader"))


def _hostile_submission(nb):
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == WRITTEN)
    cell.source = HOSTILE_ANSWER
    _plain_cell(nb).outputs = [new_output(
        "display_data", data={"image/png": PNG, "text/plain": "<Figure>"},
        metadata={"image/png": {"width": f"1 onload={mark('png-width')}"}})]


def _outputs_autograde_dropped(path):
    """HTML, Markdown and JavaScript outputs in the autograded notebook."""
    nb = nbformat.read(path, as_version=4)
    _plain_cell(nb).outputs += [
        new_output("display_data", data={
            "text/html": f'<img src=x onerror="{mark("html-img")}"><script>{mark("html-script")}'
                         "</script><svg><script>" + mark("svg") + "</script></svg>",
            "text/plain": "html"}),
        new_output("display_data", data={
            "text/markdown": f'<img src=x onerror="{mark("md-output")}">', "text/plain": "md"}),
        new_output("display_data", data={"application/javascript": mark("js-output"),
                                         "text/plain": "js"})]
    nbformat.write(nb, path)


def _feedback_html(course, student):
    return course / "feedback" / student / STAGE.name / f"{STAGE.name}.html"


@pytest.fixture(scope="module")
def courses(tmp_path_factory):
    """The graded course, and a copy of it with the sanitizing lines removed."""
    workdir = tmp_path_factory.mktemp("pages")
    course, exchange = flow.make_course(workdir, [STAGE])
    with open(course / "nbgrader_config.py", "a") as f:  # formgrader and the Assignment List
        f.write(f"\nc.Exchange.root = {str(exchange)!r}\n"
                f"c.Exchange.cache = {str(workdir / 'cache')!r}\n")
    flow.release(course, exchange, [STAGE])
    flow.submit("ada", workdir, exchange, STAGE, answers_for("reference", STAGE))
    flow.submit("mallory", workdir, exchange, STAGE, answers_for("reference", STAGE),
                edit=_hostile_submission)
    flow.grade(course, exchange, [STAGE])
    autograded = course / "autograded" / "mallory" / STAGE.name / STAGE.notebook
    kept = nbformat.read(autograded, as_version=4)
    assert [o.output_type for o in _plain_cell(kept).outputs] == ["display_data"]  # the PNG
    _outputs_autograde_dropped(autograded)
    flow.nbgrader(["db", "student", "add", "mallory", "--last-name=Hostile",
                   f"--first-name={HOSTILE_NAME}"], course, exchange)
    flow.nbgrader(["generate_feedback", STAGE.name, "--student=mallory", "--force"], course,
                  exchange)

    weak = workdir / "weak"
    shutil.copytree(course, weak, ignore=shutil.ignore_patterns("feedback"))
    config = (weak / "nbgrader_config.py").read_text()
    for line in SANITIZING:
        assert config.count(line) == 1, f"nbgrader_config.py no longer has {line!r}"
        config = config.replace(line, "")
    (weak / "nbgrader_config.py").write_text(config)
    flow.nbgrader(["generate_feedback", STAGE.name, "--student=mallory", "--force"], weak,
                  exchange)
    return course, weak, exchange


@pytest.fixture(scope="module")
def browser():
    with pages.chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def lab(courses):
    with pages.jupyter_lab(courses[0], env=tool_env()) as lab:
        yield lab


def ran(page, links=True):
    """The labels of the payloads that ran in ``page``, after clicking its
    ``javascript:`` links."""
    page.wait_for_load_state("load")
    if links:
        for text in LINKS.values():
            link = page.get_by_text(text, exact=True)
            assert link.count() == 1, f"{text!r} is not on the page"
            link.click(no_wait_after=True)
    page.wait_for_timeout(300)  # an image's onerror/onload after decoding
    return set(pages.xss_labels(page))


def crafted_links(lab):
    """Formgrader pages whose URL carries a payload in an id, as in a link a
    student sends an instructor: the id closes the string of the page's
    script that holds it (Manage Students and the Gradebook)."""
    def payload(label):
        return quote(f'x";(window.cnn1d_xss=window.cnn1d_xss||[]).push("{label}");"', safe="")
    return {"url-student": lab.url("formgrader/manage_students/" + payload("url-student")),
            "url-assignment": lab.url("formgrader/gradebook/" + payload("url-assignment"))}


def ran_at(page, links):
    found = set()
    for url in links.values():
        page.goto(url)
        found |= ran(page, links=False)
    return found


def test_formgrader_opens_from_the_nbgrader_menu(lab, browser):
    page = pages.new_page(browser)
    try:
        frame = pages.open_formgrader(page, lab)
        frame.get_by_role("link", name="Manual Grading").first.wait_for()
        frame.locator("td", has_text=STAGE.name).first.wait_for()
    finally:
        page.close()


def test_every_grading_page_loads(lab, browser):
    page = pages.new_page(browser)
    try:
        for student in ("ada", "mallory"):
            pages.open_submission(page, lab, STAGE.name, student)
            assert page.locator(f"input.score[id='{WRITTEN}']").count() == 1
            response = page.goto(page.url)
            assert response.status == 200, (student, response.status)
    finally:
        page.close()


def test_a_written_answer_graded_in_formgrader_lands_in_the_gradebook(lab, browser, courses):
    from nbgrader.api import Gradebook

    course = courses[0]
    comment = "Right about the field; say why padding cannot add a sample."
    page = pages.new_page(browser)
    try:
        pages.grade_written_answer(page, lab, STAGE.name, "ada", WRITTEN, 1.5, comment)
    finally:
        page.close()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grade = gb.find_grade(WRITTEN, STAGE.notebook[:-len(".ipynb")], STAGE.name, "ada")
        assert grade.manual_score == 1.5
        remark = gb.find_comment(WRITTEN, STAGE.notebook[:-len(".ipynb")], STAGE.name, "ada")
        assert remark.manual_comment == comment


def test_generate_feedback_button_writes_the_kits_page(lab, browser, courses):
    """Formgrader's Manage Assignments -> Generate Feedback: the kit's page
    (check summaries, inlined MathJax) with the grade and comment given above."""
    course = courses[0]
    html = _feedback_html(course, "ada")
    html.unlink()
    page = pages.new_page(browser)
    try:
        page.goto(lab.url("formgrader/manage_assignments"))
        row = page.locator("tr", has=page.locator("td", has_text=STAGE.name)).first
        with page.expect_response(lambda r: r.url.endswith(
                f"/formgrader/api/assignment/{STAGE.name}/generate_feedback")) as answer:
            row.locator("td.generate-feedback a").click()
        assert answer.value.json()["success"], answer.value.json()
        text = html.read_text()
        assert 'id="cnn1d-mathjax"' in text
        assert STAGE.checks[0].name in text and "Test cell" not in text
        page.goto(html.as_uri())
        body = " ".join(page.locator("body").inner_text().split())
        assert "Right about the field; say why padding cannot add a sample." in body
        assert f"(Score: 1.5 / {float(STAGE.written[0].points)})" in body
    finally:
        page.close()


def test_no_student_markup_runs_in_the_grading_page(lab, browser):
    page = pages.new_page(browser)
    try:
        pages.open_submission(page, lab, STAGE.name, "mallory")
        assert "MALLORY'S ANSWER" in page.locator("body").inner_text()
        assert page.locator(".output_png img").count() == 1
        assert ran(page) == set()
    finally:
        page.close()


def test_no_crafted_link_runs_in_formgraders_pages(lab, browser):
    page = pages.new_page(browser)
    try:
        assert ran_at(page, crafted_links(lab)) == set()
        # the id is shown as it was given
        page.goto(crafted_links(lab)["url-student"])
        assert 'x";(window' in page.locator(".breadcrumb").inner_text()
    finally:
        page.close()


def test_no_student_markup_runs_in_the_feedback_page(browser, courses):
    """Nor does a link in her maths: the page's MathJax typesets her answer
    (an extension's macro, which it would fetch, stopped every formula) and
    makes no link of \\href."""
    page = pages.new_page(browser)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(_feedback_html(courses[0], "mallory").as_uri())
        answer = page.locator(".text_cell_render", has_text="MALLORY'S ANSWER")
        answer.locator("mjx-container").nth(1).wait_for()
        assert answer.locator("mjx-container a, mjx-container [href^='javascript']").count() == 0
        assert ran(page) == set()
        assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    finally:
        page.close()


def test_the_same_pages_run_it_without_the_sanitizing_lines(browser, courses):
    """The weakened configuration: the payloads above are live."""
    _, weak, _ = courses
    page = pages.new_page(browser)
    try:
        page.goto(_feedback_html(weak, "mallory").as_uri())
        assert ran(page) >= RUN_WEAKENED["feedback"] | set(LINKS)
        with pages.jupyter_lab(weak, env=tool_env()) as weak_lab:
            pages.open_submission(page, weak_lab, STAGE.name, "mallory")
            assert ran(page) >= RUN_WEAKENED["grading"] | set(LINKS)
            assert ran_at(page, crafted_links(weak_lab)) == {"url-student", "url-assignment"}
    finally:
        page.close()


def test_the_assignment_list_lists_the_released_stage(lab, browser):
    page = pages.new_page(browser)
    try:
        pages.open_assignment_list(page, lab)
        page.locator("#released_assignments_list .list_item", has_text=STAGE.name).wait_for()
    finally:
        page.close()
