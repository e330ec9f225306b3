"""The student's side in a real browser: Debian's chromium driven by Playwright.

1. `make lab` on a temporary working copy of stage 1: open the notebook, run
   all cells and see the stub's message and the figures, each an image with
   alt text; paste the reference answer into the answer cell through the
   page, run all again and see the visible tests pass, press nbgrader's
   Validate and see success; the assignment list shows the stage and the
   instructor's formgrader is not served. The same figures, with their alt
   text, in classic Notebook 7 on the same server.
2. The feedback HTML of a failing student (nbgrader's flow, stage 1), opened in
   the browser: every check with its name, summary, points and message, no
   hidden code; the student's own printout and figure; maths typeset offline.

Screenshots go to tests/artifacts/ (ignored by git); their paths are printed
(`pytest -s` shows them). Skipped without playwright or /usr/bin/chromium;
.ci/run installs both.
"""

import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("playwright.sync_api")

from course import flow  # noqa: E402
from course.sample_class import answers_for  # noqa: E402
from course.stages import get_stage  # noqa: E402
from tests import docblocks, pages, servers  # noqa: E402
from tests.pages import TIMEOUT_MS, free_port  # noqa: E402 - any one wait; Validate gets 90 s

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
STAGE = get_stage("single_channel")

pytestmark = pytest.mark.skipif(not pages.CHROMIUM.exists(), reason="no /usr/bin/chromium "
                                "(apt-get install chromium; .ci/run does)")


def screenshot(page, name, full_page=False):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}")
    return path


@pytest.fixture(scope="module")
def browser():
    with pages.chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make lab` on a temporary LAB folder with stage 1; yields (base URL, token, folder)."""
    folder = tmp_path_factory.mktemp("student") / "lab"
    # The student's answer to JupyterLab's first question ("get notified about
    # Jupyter news?"): no, so that its pop-up covers nothing in the screenshots.
    settings = folder / ".jupyter/lab/user-settings/@jupyterlab/apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = free_port(), secrets.token_hex(16)
    args = (f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
            f"--IdentityProvider.token={token} --LabApp.news_url=None "
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
    # README's block as written; make takes LAB, LAB_STAGES and LAB_ARGS from
    # the environment (they are `?=` variables)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MAKEFLAGS")}
    env.update(LAB=str(folder), LAB_STAGES=STAGE.name, LAB_ARGS=args)
    log = open(folder.parent / "lab.log", "w+")  # closed below
    proc = subprocess.Popen(
        ["bash", "-c", docblocks.block("README.md", "make lab")], cwd=ROOT,
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        servers.wait_for_url(f"{base}/api/status?token={token}", proc, log.name)
        yield base, token, folder
    finally:
        servers.stop_group(proc)  # make, its shell and jupyter: one process group
        log.close()


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def test_lab_serves_the_student_extensions_only(lab):
    base, token, folder = lab
    assert (folder / STAGE.name / STAGE.notebook).exists()
    assert (folder / STAGE.name / "cnn1d_helpers.py").exists()
    listing = get_json(f"{base}/assignments?course_id=cnn1d&token={token}")
    assert listing["success"], listing
    fetched = [a for a in listing["value"] if a["status"] == "fetched"]
    assert [a["assignment_id"] for a in fetched] == [STAGE.name]
    # the student's own exchange and cache: no one else's submissions
    assert not [a for a in listing["value"] if a["status"] == "submitted"]
    with pytest.raises(urllib.error.HTTPError) as err:  # the instructor's formgrader
        urllib.request.urlopen(f"{base}/formgrader?token={token}", timeout=30)
    assert err.value.code == 404


def run_all(page):
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()


FIGURES = 2  # stage 1 draws two figures, both above the answer cell


def rendered_figures(page, expected=FIGURES):
    """Wait for ``expected`` figures in the outputs; return [(alt, mime type, width)].

    Each must be an <img> rendered from the text/html of the figure's bundle:
    JupyterLab's own image/png renderer would give it no alt text.
    """
    images = page.locator(".jp-OutputArea-output img")
    images.nth(expected - 1).wait_for()
    for i in range(images.count()):
        images.nth(i).scroll_into_view_if_needed()
        images.nth(i).evaluate("e => e.decode()")  # loaded and decoded
    return images.evaluate_all(
        "es => es.map(e => [e.getAttribute('alt'), "
        "e.closest('.jp-OutputArea-output').dataset.mimeType, e.naturalWidth])")


def assert_figures_have_alt_text(figures):
    assert len(figures) == FIGURES, figures
    for alt, mime, width in figures:
        assert alt and len(alt.strip()) > 60, f"an image without alt text: {alt!r}"
        assert mime == "text/html" and width > 100, (alt[:40], mime, width)
    assert figures[0][0].startswith("Bar chart of an input x of 4 samples")


def test_student_runs_fixes_validates_and_submits_stage_1(lab, browser):
    base, token, folder = lab
    # The short written answers (markdown cells) are already written: Validate
    # reports an unanswered one as a failure, and they are not what this tests.
    path = folder / STAGE.name / STAGE.notebook
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "My answer, in my own words."
    nbformat.write(nb, path)
    t0 = time.perf_counter()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(f"{base}/lab/tree/{STAGE.name}/{STAGE.notebook}?token={token}")
        page.locator(".jp-NotebookPanel .jp-Notebook").wait_for()
        page.locator(".jp-StatusBar-TextItem", has_text="| Idle").wait_for()  # kernel up
        validate = page.locator(".jp-NotebookPanel-toolbar .validate-button")
        validate.wait_for()
        screenshot(page, "lab_1_opened")

        # Run all: the stub of the answer cell stops the first test cell
        run_all(page)
        stub_error = page.locator(".jp-OutputArea-output", has_text="not written yet").first
        stub_error.wait_for()
        stub_error.scroll_into_view_if_needed()
        # text_content: JupyterLab may not have laid out a cell it scrolled to yet
        assert "NotImplementedError" in stub_error.text_content()
        screenshot(page, "lab_2_stub_error")

        # The figures above the answer cell: images with alt text, then their captions
        assert_figures_have_alt_text(rendered_figures(page))
        figure = page.locator(".jp-OutputArea-output img").nth(1)
        figure.scroll_into_view_if_needed()
        caption = page.locator(".jp-MarkdownCell", has_text="the filter finds the pattern")
        assert caption.is_visible()
        screenshot(page, "lab_2b_figure_and_caption")

        # The answer cell: select its editor, select all, paste the reference answer
        answer = flow.reference_answers(STAGE)["simple_conv1d"]
        cell = page.locator(".jp-CodeCell").filter(
            has=page.locator(".cm-content", has_text="class SimpleConv1d(Layer)"))
        editor = cell.locator(".cm-content")
        editor.scroll_into_view_if_needed()
        editor.click()
        page.keyboard.press("Control+a")
        page.evaluate("text => navigator.clipboard.writeText(text)", answer)
        page.keyboard.press("Control+v")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-CodeCell .cm-content')]"
            ".some(e => e.innerText.includes('out[i] = x[i:i + F] @ self.w'))")
        assert "not written yet" not in editor.inner_text()
        page.keyboard.press("Escape")

        # Run all again: the visible tests pass and the last cell checks gradients
        run_all(page)
        grad = page.locator(".jp-OutputArea-output", has_text="dw relative error")
        grad.wait_for()
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for()
        errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.'
                              'stderr"]')
        assert errors.count() == 0, errors.all_inner_texts()
        rel_errors = [float(m) for m in re.findall(r"relative error: (\S+)", grad.inner_text())]
        assert len(rel_errors) == 2 and max(rel_errors) < 1e-6, grad.inner_text()
        tests = page.locator(".jp-CodeCell").filter(
            has=page.locator(".cm-content", has_text="SimpleConv1d.forward on the worked "
                             "example"))
        tests.scroll_into_view_if_needed()
        prompt = tests.locator(".jp-InputPrompt").text_content()
        assert re.search(r"\[\d+\]", prompt), f"the first test cell did not run: {prompt!r}"
        screenshot(page, "lab_3_tests_pass")

        # Validate (nbgrader saves the notebook, then runs it in a new kernel)
        validate.click()
        dialog = page.locator(".jp-Dialog", has_text="Validation Results")
        dialog.wait_for(timeout=90_000)
        assert dialog.locator(".validation-success").count() == 1, dialog.inner_text()
        assert "Success! Your notebook passes all the tests." in dialog.inner_text()
        screenshot(page, "lab_4_validate_success")
        dialog.get_by_role("button", name="Ok").click()

        # The assignment list (nbgrader menu): stage 1 fetched; submit it
        page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
        page.locator('.lm-Menu-item', has_text="Assignment List").click()
        fetched = page.locator("#fetched_assignments_list", has_text=STAGE.name)
        fetched.wait_for()
        fetched.get_by_role("button", name="Submit").click()
        page.locator("#submitted_assignments_list", has_text=STAGE.name).wait_for()
        screenshot(page, "lab_5_assignment_list_submitted")
        assert list((folder / ".exchange/cnn1d/inbound").glob(f"*+{STAGE.name}+*"))
    finally:
        context.close()
    print(f"student session in the browser: {time.perf_counter() - t0:.1f} s")


def test_figures_have_alt_text_in_notebook_7(lab, browser):
    """Classic Notebook 7 on the same server: clear the outputs, run all, same figures."""
    base, token, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(f"{base}/notebooks/{STAGE.name}/{STAGE.notebook}?token={token}")
        page.locator(".jp-NotebookPanel .jp-Notebook").wait_for()
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for()
        page.get_by_role("menuitem", name="Edit", exact=True).click()
        page.locator('.lm-Menu-item[data-command="editmenu:clear-all"]').click()
        assert page.locator(".jp-OutputArea-output img").count() == 0
        run_all(page)
        assert_figures_have_alt_text(rendered_figures(page))
        screenshot(page, "notebook7_figure")
    finally:
        page.close()


STUDENT_PRINT = "my forward on [1, 2, 3, 4]: [3. 5. 7.]"


def _student_figure(nb):
    """The outputs a student's run leaves in the first plain code cell: a
    printout and a matplotlib figure (PNG)."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from nbformat.v4 import new_output

    fig, ax = plt.subplots(figsize=(4, 2))
    ax.plot([0, 1, 2, 3], [3, 5, 7, 9], marker="o")
    ax.set_title("my own figure")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    plt.close(fig)
    cell = next(c for c in nb.cells if c.cell_type == "code" and not c.metadata.get("nbgrader"))
    cell.outputs = [new_output("stream", name="stdout", text=STUDENT_PRINT + "\n"),
                    new_output("display_data", data={
                        "image/png": base64.b64encode(buf.getvalue()).decode(),
                        "text/plain": "<Figure size 400x200>"})]


@pytest.fixture(scope="module")
def feedback(tmp_path_factory):
    """nbgrader's flow for one failing student of stage 1 (the flipped kernel):
    the path of the feedback HTML and the autograded scores."""
    workdir = tmp_path_factory.mktemp("flow")
    course, exchange = flow.make_course(workdir, [STAGE])
    flow.release(course, exchange, [STAGE])
    flow.submit("unshared_dw", workdir, exchange, STAGE, answers_for("unshared_dw", STAGE),
                edit=_student_figure)
    grades = flow.grade(course, exchange, [STAGE])
    html = course / "feedback" / "unshared_dw" / STAGE.name / f"{STAGE.name}.html"
    return html, grades["unshared_dw", STAGE.name]


def test_feedback_shows_each_check_its_points_and_message(feedback, browser):
    html, (score, max_score) = feedback
    assert 0 < score < max_score
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto(html.as_uri())
        page.locator("#toc").wait_for()
        screenshot(page, "feedback_1_top")
        screenshot(page, "feedback_2_full", full_page=True)
        text = page.locator("body").inner_text()
        flat = " ".join(text.split())  # messages are wrapped to fit their box
        assert f"(Score: {score} / {max_score})" in text
        failed = 0
        for check in STAGE.checks:
            heading = page.locator(".panel-heading", has_text=f"Grade cell: {check.name}")
            assert heading.count() == 1, f"no grade cell {check.name} in the feedback"
            assert f"/ {float(check.points)}" in heading.inner_text()
            m = re.search(rf"Check {STAGE.name}\.{check.name} failed \(0 / {check.points:g} "
                          r"points\): (.+?)(?: Grade cell| In \[|$)", flat)
            if m:
                failed += 1
                assert "expected" in m.group(1) and "got" in m.group(1), m.group(1)
            else:
                assert f"passed: {check.points:g} / {check.points:g} points" in text
        assert failed >= 1
        assert "weight sharing: dw[k] sums" in flat  # the hint for this bug
        source = page.content()
        for hidden in ("BEGIN HIDDEN", "run_check", "autograder"):
            assert hidden.lower() not in source.lower(), f"{hidden!r} in the feedback"
    finally:
        page.close()


def test_feedback_names_checks_keeps_student_figures_and_typesets_maths(feedback, browser):
    """The score list names each check with its summary; the student's printout
    and figure are there; maths is typeset by the inlined MathJax (SVG), with
    the network closed to the page."""
    html, _ = feedback
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(html.as_uri())
        toc = " ".join(page.locator("#toc").inner_text().split())
        for check in STAGE.checks:
            assert f"{check.name}: {' '.join(check.summary.split())}" in toc, toc
        assert "Test cell" not in toc
        assert STUDENT_PRINT in page.locator("body").inner_text()
        figure = page.locator(".output_png img").first
        assert figure.is_visible()
        assert figure.evaluate("e => e.naturalWidth") > 100
        page.locator("mjx-container svg").first.wait_for()
        assert page.locator("mjx-container").count() >= 5
        maths = page.locator("mjx-container").first
        maths.scroll_into_view_if_needed()
        screenshot(page, "feedback_3_maths_and_student_figure")
        figure.scroll_into_view_if_needed()
        screenshot(page, "feedback_4_student_figure")
        assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    finally:
        page.close()


def test_feedback_messages_fit_their_box(feedback, browser):
    html, _ = feedback
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto(html.as_uri())
        boxes = page.locator(".output_error pre")
        assert boxes.count() >= 1
        widths = boxes.evaluate_all("es => es.map(e => [e.scrollWidth, e.clientWidth])")
        assert all(scroll <= client for scroll, client in widths), widths
    finally:
        page.close()


def test_artifacts_are_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("tests/artifacts/x.png", "lab/single_channel/x.ipynb"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0, path
