"""The pages the docs send a person to, driven in chromium: helpers for tests.

Debian's /usr/bin/chromium driven by Playwright (never a downloaded browser).
A test starts JupyterLab as README.md says (``.venv/bin/jupyter lab`` in the
course root), opens a page and acts in it as the instructor or the student
would::

    from tests import pages

    with pages.jupyter_lab(course_root, env) as lab, pages.chromium() as browser:
        page = pages.new_page(browser)
        pages.open_formgrader(page, lab)                   # Nbgrader -> Formgrader
        pages.grade_written_answer(page, lab, "output_size", "alice",
                                   "field_and_padding", 1.5, "Good point.")

``grade_written_answer`` goes the way an instructor does (Manual Grading ->
the assignment -> the notebook -> the student's submission), types the score
and the comment into formgrader's grading page and waits until formgrader has
saved both (its PUT requests answered 200): then they are in gradebook.db.

On a hub, ``hub_login(page, hub_url, user, password)`` logs in through its
login page and ``HubServer(f"{hub_url}/user/{user}")`` stands for ``lab``.

``xss_labels(page)`` reads what hostile payloads record: a payload sets
``window.cnn1d_xss`` (a list of labels) when its script runs, so a page where
no student markup ran has none.

Servers listen on 127.0.0.1 only, each wait is bounded, and ``jupyter_lab``
ends the server's whole process group when the ``with`` block ends.
"""

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests import servers

CHROMIUM = Path("/usr/bin/chromium")
# The machine's network is closed: no background connections, no update checks.
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
TIMEOUT_MS = 30_000  # any one wait in a page
JUPYTER = Path(sys.executable).parent / "jupyter"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its base URL, token, folder and log file."""
    base: str
    token: str
    root: Path
    log: Path

    def url(self, path):
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={self.token}"


@contextlib.contextmanager
def jupyter_lab(root, env=None, start_timeout=90):
    """``jupyter lab`` started in ``root`` (README: in the course root), on a free
    loopback port with a random token; yields a ``Lab``. ``env`` is the
    server's environment (default: this process's). Its Jupyter configuration
    folder is a new empty one, so nothing of the user's own settings applies;
    the kit's environment's (formgrader and the other extensions) does.
    """
    root = Path(root)
    port, token = free_port(), secrets.token_hex(16)
    home = Path(tempfile.mkdtemp(prefix="lab-", dir=root.parent))
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # JupyterLab's first question ("get notified about Jupyter news?"): no
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env = dict(os.environ if env is None else env,
               JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    log_path = home / "lab.log"
    log = open(log_path, "w+")  # closed below
    proc = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI runs as root
        cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log_path)
    try:
        servers.wait_for_url(lab.url("api/status"), proc, log_path, start_timeout)
        yield lab
    finally:
        servers.stop_group(proc)
        log.close()


@dataclass(frozen=True)
class HubServer:
    """A user's server on a hub, as that user's logged-in browser reaches it
    (``lab.url`` of the helpers below, without a token: the hub's cookie)."""
    base: str  # the hub's URL and /user/<name>

    def url(self, path):
        return f"{self.base}/{path.lstrip('/')}"


def hub_login(page, hub_url, user, password):
    """Log in on the hub's login page as a person does; returns when the hub
    has taken the password (its home or the spawn page is shown)."""
    page.goto(f"{hub_url}/hub/login")
    page.locator("#username_input").fill(user)
    page.locator("#password_input").fill(password)
    with page.expect_navigation():
        page.locator("#login_submit").click()
    if "/hub/login" in page.url:
        raise AssertionError(f"the hub did not log {user} in: "
                             f"{page.locator('body').inner_text()[:500]}")


@contextlib.contextmanager
def chromium():
    """Debian's chromium, headless, with a new empty profile; yields the browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, width=1400, height=1000, **options):
    page = browser.new_page(viewport={"width": width, "height": height}, **options)
    page.set_default_timeout(TIMEOUT_MS)
    # what the page's scripts said, and requests that failed: for a failing wait's message
    page.console = []
    page.on("console", lambda m: page.console.append(f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda e: page.console.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: page.console.append(f"failed: {r.method} {r.url}"))
    page.on("response", lambda r: r.status >= 400 and page.console.append(
        f"HTTP {r.status}: {r.request.method} {r.url}"))
    return page


def explained(page, error):
    """``error`` (a failed wait in ``page``) with the page's address and what its
    scripts reported."""
    lines = "\n".join(getattr(page, "console", [])[-30:])
    return AssertionError(f"{error}\nat {page.url}\n{lines}")


def open_lab(page, lab):
    """JupyterLab's main page, loaded (its menu bar shows Nbgrader)."""
    page.goto(lab.url("lab"))
    page.get_by_role("menuitem", name="Nbgrader", exact=True).wait_for()


def nbgrader_menu(page, item):
    """Open ``item`` of JupyterLab's Nbgrader menu (on the page ``open_lab`` opened)."""
    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
    page.get_by_role("menuitem", name=item, exact=True).click()


def open_formgrader(page, lab):
    """Nbgrader -> Formgrader in JupyterLab; returns formgrader's frame, showing
    Manage Assignments."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    open_lab(page, lab)
    nbgrader_menu(page, "Formgrader")
    frame = page.frame_locator("iframe[src*='formgrader']")
    try:
        frame.get_by_role("heading", name="Manage Assignments").first.wait_for()
    except PlaywrightTimeout as error:
        raise explained(page, error) from None
    return frame


def open_assignment_list(page, lab):
    """Nbgrader -> Assignment List in JupyterLab; returns the page once its
    lists (``#released_assignments_list``, ``#fetched_assignments_list``,
    ``#submitted_assignments_list``) are shown."""
    open_lab(page, lab)
    nbgrader_menu(page, "Assignment List")
    page.locator("#released_assignments_list").wait_for()
    return page


def open_submission(page, lab, assignment, student, notebook=None):
    """Formgrader's Manual Grading -> ``assignment`` -> ``notebook`` -> the
    submission of ``student`` (its row shows "Submission #k": names are
    hidden; the id comes from formgrader's API): the grading page, loaded."""
    notebook = notebook or assignment
    page.goto(lab.url("formgrader/gradebook"))
    page.locator(f"a[href$='/formgrader/gradebook/{assignment}']").click()
    page.locator(f"a[href$='/formgrader/gradebook/{assignment}/{notebook}']").click()
    listed = page.request.get(lab.url(f"formgrader/api/submitted_notebooks/{assignment}/"
                                      f"{notebook}"))
    ids = [s["id"] for s in listed.json() if s["student"] == student]
    if len(ids) != 1:
        raise LookupError(f"formgrader lists {len(ids)} submissions of {student} for "
                          f"{assignment}/{notebook}")
    page.locator(f"a.name-hidden[href$='/formgrader/submissions/{ids[0]}']").click()
    page.locator("#notebook-container").first.wait_for()
    # formgrader binds its score and comment boxes once it has fetched their grades,
    # after the page's load, and MathJax's end moves the focus: typed before, a
    # score would never be saved
    page.wait_for_function(
        "() => window.formgrader && formgrader.grades && formgrader.grades.loaded"
        " && formgrader.comments && formgrader.comments.loaded"
        " && (typeof MathJax === 'undefined' || MathJax.loaded !== false)")
    return page


def grade_written_answer(page, lab, assignment, student, grade_id, score, comment,
                         notebook=None):
    """Grade one written answer (a manually graded cell) of ``student`` in
    formgrader's grading page: type ``score`` and ``comment``, and return when
    formgrader has saved both."""
    open_submission(page, lab, assignment, student, notebook)
    score_box = page.locator(f"input.score[id='{grade_id}']")
    comment_box = page.locator(f"textarea.comment[id='{grade_id}-comment']")
    score_box.scroll_into_view_if_needed()

    def saved(kind):
        return lambda r: (f"/formgrader/api/{kind}/" in r.url and r.request.method == "PUT"
                          and r.status == 200)

    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        with page.expect_response(saved("comment")):
            comment_box.fill(comment)
            comment_box.press("Tab")  # formgrader saves on change
        with page.expect_response(saved("grade")):
            score_box.fill(str(score))
            score_box.press("Tab")
    except PlaywrightTimeout as error:
        raise explained(page, error) from None
    return page


def xss_labels(page):
    """The labels hostile payloads recorded in ``window.cnn1d_xss``: [] when none ran."""
    return page.evaluate("() => window.cnn1d_xss || []")
