"""A term rehearsed end to end, as people take it: README.md's and
deploy/README.md's command blocks run as written (tests/docblocks.py: taken
from the Markdown, placeholders filled, one after another in one terminal
whose PATH lacks .venv/bin), on a fresh clone, for a class of eight:

- ada      the reference answers and written answers, on time (exchange)
- bob      the reference answers, two started days late (exchange)
- carol    the reference answers in `single_channel (1).ipynb` (exchange)
- dave     a file that is neither JSON nor UTF-8 (exchange)
- mallory  a cheater: zeros and a patched numpy (exchange)
- eve      the untouched release (exchange); excused ("EX") in Canvas
- jörg     the reference answers through a Canvas download, a name with
           non-ASCII letters (`müllerjörg_…`)
- the Canvas test student ("Student, Test"), in the roster without a login

The instructor grades ada's written answers through formgrader's grading page
in chromium, generates and releases feedback, exports, regrades; the students
fetch their feedback; the class is graded again with `python -m course grade`,
locally and on a Dask scheduler and worker started as deploy/README.md says;
the Canvas CSV is checked cell by cell. The whole term takes 4-6 minutes.
"""

import csv
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import pytest

from course.flow import fill_answers, reference_answers
from course.sample_class import ZEROS_AND_PATCHED_NUMPY
from course.stages import get_stage
from tests import docblocks, pages, servers

ROOT = docblocks.ROOT
STAGE = get_stage("single_channel")
NB = STAGE.notebook
README, DEPLOY = "README.md", "deploy/README.md"

# The students' environment: the users' environment of the hub
# (deploy/jupyterhub/setup.sh user-env; .ci/run builds it)
STUDENT_ENV = Path("/opt/tljh/user/bin")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not all(shutil.which(c) for c in ("git", "make", "bwrap",
                                                                    "useradd", "runuser")),
                                 reason="needs git, make, bubblewrap, useradd and runuser"),
              pytest.mark.skipif(os.geteuid() != 0, reason="the students are Linux users: root "
                                 "makes them"),
              pytest.mark.skipif(not (STUDENT_ENV / "nbgrader").exists(),
                                 reason="no users' environment (setup.sh user-env)")]

# The roster as Canvas exports it (Grades -> Export): identity columns, then
# one column per assignment named "Name (id)", a "Points Possible" row; the
# test student has no SIS Login ID; eve is excused from stage 1.
CANVAS_ID = "4711"
COLUMN = f"{STAGE.name} ({CANVAS_ID})"
CANVAS_ROSTER = [
    ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", COLUMN,
     "output_size (4712)", "Current Score"],
    ["    Points Possible", "", "", "", "", "", "", ""],
    ["Lovelace, Ada", "201", "S201", "t17ada", "A", "", "", ""],
    ["Byron, Bob", "202", "S202", "t17bob", "A", "", "", ""],
    ["Carroll, Carol", "203", "S203", "t17carol", "A", "", "", ""],
    ["Dee, Dave", "204", "S204", "t17dave", "A", "", "", ""],
    ["Mallory, Mal", "205", "S205", "t17mallory", "A", "", "", ""],
    ["Müller, Jörg", "206", "S206", "joerg", "A", "", "", ""],
    ["Evans, Eve", "207", "S207", "t17eve", "A", "EX", "", ""],
    ["Student, Test", "208", "", "", "A", "", "", ""],
]
# the students who submit through the exchange are Linux users (prefix t17, not
# to meet the hub tests' users)
EXCHANGE_STUDENTS = ("t17ada", "t17bob", "t17carol", "t17dave", "t17mallory", "t17eve")
COMMENT = "Clear: the window slides and the kernel is not flipped."


def canvas_download(kit):
    """downloaded/roster.csv and the submissions zip as Canvas gives them:
    `<name>_<user id>_<submission id>_<file name>`, the name in lower case
    with Unicode letters kept."""
    folder = kit / "downloaded"
    (folder / STAGE.name / "archive").mkdir(parents=True)
    with open(folder / "roster.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(CANVAS_ROSTER)
    solved = nbformat.writes(fill_answers(release_nb(kit), reference_answers(STAGE)))
    with zipfile.ZipFile(folder / STAGE.name / "archive" / "submissions.zip", "w") as z:
        z.writestr(f"müllerjörg_206_9006_{NB}", solved)
        z.writestr(f"studenttest_208_9008_{NB}", nbformat.writes(release_nb(kit)))


def release_nb(kit):
    return nbformat.read(kit / "release" / STAGE.name / NB, as_version=4)


def with_written_answers(nb, text):
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "markdown":
            cell.source = text
    return nb


def gradebook(kit):
    """{student: (score, late penalty)} of stage 1 in gradebook.db (nbgrader's score
    is before the penalty)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{kit / 'gradebook.db'}") as gb:
        out = {}
        for sub in gb.assignment_submissions(STAGE.name):
            out[sub.student_id] = (round(sub.score, 6), round(sub.late_submission_penalty, 6))
        return out


def manual_grades(kit, student):
    """{written answer: (manual score, comment)} of ``student`` in gradebook.db."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{kit / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(STAGE.name, Path(NB).stem, student)
        comments = {c.name: c.manual_comment for c in nb.comments}
        return {g.name: (g.manual_score, comments.get(g.name)) for g in nb.grades
                if g.name in {q.grade_id for q in STAGE.written}}


class Term:
    """The term's state: the clone, the instructor's terminal, and what was seen."""

    def __init__(self, tmp, shared):
        self.tmp, self.shared = tmp, shared
        self.kit, self.home = tmp / "kit", tmp / "home"
        self.exchange = shared / "exchange"
        env = {k: v for k, v in os.environ.items()
               if k not in ("VIRTUAL_ENV", "CNN1D_GRADER_SECRET", "JUPYTER_CONFIG_DIR",
                            "PYTHONPATH", "MAKEFLAGS", "MAKELEVEL", "CNN1D_KIT")}
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(
            os.pathsep) if ".venv" not in p)
        env["HOME"] = str(self.home)
        self.instructor = docblocks.Shell(self.kit, env)
        self.seen = {}

    def student(self, name):
        """The student's terminal, as the Linux user ``name``: their home folder,
        the users' environment first on PATH, the exchange in their Jupyter
        settings (README: students need the same setting)."""
        home = self.shared / "home" / name
        env = {"HOME": str(home), "USER": name, "LOGNAME": name, "LANG": "C.UTF-8",
               "PATH": f"{STUDENT_ENV}{os.pathsep}/usr/bin:/bin"}
        return docblocks.Shell(home, env, user=name)

    def add_student(self, name):
        home = self.shared / "home" / name
        subprocess.run(["userdel", name], capture_output=True)  # left by a killed run
        subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home),
                        "--shell", "/bin/bash", name], check=True)
        self.users.append(name)
        (home / ".jupyter").mkdir(parents=True)
        (home / ".jupyter" / "nbgrader_config.py").write_text(
            f"c = get_config()\nc.Exchange.root = {str(self.exchange)!r}\n")
        subprocess.run(["chown", "-R", f"{name}:", str(home)], check=True)


def set_late(exchange, student, when):
    """The submission's time in the exchange (what nbgrader's collect reads)."""
    inbound = exchange / "cnn1d" / "inbound"  # nbgrader's folder name: student+stage+time+id
    [folder] = [p for p in inbound.iterdir() if p.name.startswith(f"{student}+")]
    (folder / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("term")
    # what the students reach (their homes, the exchange) lies outside pytest's
    # folder, which only root can enter
    shared = Path(tempfile.mkdtemp(prefix="cnn1d-term-"))
    shared.chmod(0o755)
    t = Term(tmp, shared)
    t.users = []
    try:
        yield run_term(t)
    finally:
        for name in t.users:
            subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(shared, ignore_errors=True)


def run_term(t):
    tmp = t.tmp
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(t.kit)], check=True)
    docblocks.link_venv(ROOT / ".venv", t.kit / ".venv")
    os.utime(t.kit / "pyproject.toml", (0, 0))  # the linked .venv is up to date
    t.exchange.mkdir()
    t.exchange.chmod(0o777)  # README: writable by everyone (sudo chmod ugo+rwx)
    # The instructor's own Jupyter settings: the exchange (README, "The
    # exchange"), and a server that a test can reach (port, token; root in CI)
    jupyter = t.home / ".jupyter"
    jupyter.mkdir(parents=True)
    (jupyter / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.Exchange.root = {str(t.exchange)!r}\n")
    port, token = pages.free_port(), "term-token"
    (jupyter / "jupyter_server_config.py").write_text(
        "c = get_config()\n"
        f"c.ServerApp.ip = '127.0.0.1'\nc.ServerApp.port = {port}\n"
        "c.ServerApp.port_retries = 0\nc.ServerApp.allow_root = True\n"
        f"c.IdentityProvider.token = {token!r}\nc.LabApp.news_url = None\n"
        "c.LabApp.check_for_updates_class = 'jupyterlab.NeverCheckForUpdate'\n")
    (t.kit / "roster.csv").write_text(
        "id,first_name,last_name,email\n"
        + "".join(f"{s},{s.title()},Doe,{s}@uni.example\n" for s in EXCHANGE_STUDENTS))
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    t.due = due

    sh = t.instructor
    # 1. once a term; 2. the stage: build, due date, release
    t.seen["setup"] = sh.run(docblocks.block("README.md", "db student import"))
    sh.run(docblocks.block("README.md", "release_assignment single_channel"),
           due_date=due.strftime("%Y-%m-%d %H:%M:%S UTC"))

    # the students fetch, work and submit
    for name in EXCHANGE_STUDENTS:
        t.add_student(name)
        student = t.student(name)
        fetch, submit = docblocks.block("README.md", "nbgrader submit").split("\n", 1)
        student.run(fetch)
        path = Path(student.cwd) / STAGE.name / NB
        nb = nbformat.read(path, as_version=4)
        if name in ("t17ada", "t17bob", "t17carol"):
            nb = with_written_answers(fill_answers(nb, reference_answers(STAGE)),
                                      "The kernel slides along x; no flip.")
        elif name == "t17mallory":
            nb = fill_answers(nb, {"simple_conv1d": ZEROS_AND_PATCHED_NUMPY})
        if name == "t17dave":
            path.write_bytes(b"\xff\xfe not a notebook {")
        elif name == "t17carol":
            path.unlink()
            nbformat.write(nb, path.with_name(f"{STAGE.name} (1).ipynb"))
        else:
            nbformat.write(nb, path)
        if name in ("t17ada", "t17eve"):  # a student checks their notebook first
            folder = docblocks.Shell(Path(student.cwd) / STAGE.name, student.env, user=name)
            t.seen[f"check {name}"] = checked(folder, docblocks.block(
                "README.md", "python cnn1d_helpers.py check"))
        t.seen[f"submit {name}"] = student.run(submit)
    set_late(t.exchange, "t17bob", due + timedelta(days=1, hours=2))  # 2 started days

    # the Canvas students: zip_collect of the LMS download
    canvas_download(t.kit)
    t.seen["zip_collect"] = sh.run(docblocks.block("deploy/README.md", "zip_collect"))

    # 3. collect and autograde
    t.seen["autograde"] = sh.run(
        docblocks.block("README.md", "nbgrader autograde single_channel\n"))
    t.seen["after autograde"] = gradebook(t.kit)
    # CI's command on the same submissions, and the kit's own check
    sh.run(docblocks.block("README.md", "autograder grade submitted/"))
    t.seen["ci"] = json.loads((t.kit / "results.json").read_text())
    t.seen["kit check"] = checked(sh, docblocks.block("README.md", "autograder check <notebook>"),
                                  notebook=f"submitted/t17ada/{STAGE.name}/{NB}")

    # written answers in formgrader's grading page, in chromium
    log = open(tmp / "lab.log", "w+")
    lab_proc = sh.start(docblocks.block("README.md", "jupyter lab --no-browser"), log)
    try:
        lab = pages.Lab(f"http://127.0.0.1:{port}", token, t.kit, Path(log.name))
        servers.wait_for_url(lab.url("api/status"), lab_proc, lab.log)
        with pages.chromium() as browser:
            page = pages.new_page(browser)
            pages.open_formgrader(page, lab)
            for q in STAGE.written:
                pages.grade_written_answer(page, lab, STAGE.name, "t17ada", q.grade_id,
                                           q.points, COMMENT)
            t.seen["xss"] = pages.xss_labels(page)
    finally:
        servers.stop_group(lab_proc)
        log.close()
    t.seen["after formgrader"] = gradebook(t.kit)

    # feedback, export, clean; the students fetch their feedback
    sh.run(docblocks.block("README.md", "nbgrader release_feedback single_channel"))
    t.seen["feedback"] = {
        name: t.student(name).run(docblocks.block("README.md", "fetch_feedback"))
        for name in ("t17ada", "t17bob")}
    # a regrade keeps the written answers' grades and the late penalty
    sh.run(docblocks.block("README.md", "nbgrader autograde single_channel --force"))
    t.seen["after regrade"] = gradebook(t.kit)
    t.seen["canvas"] = sh.run(docblocks.block("deploy/README.md", "CanvasExport"))
    # the whole class again, in parallel: nothing changes
    t.seen["course grade"] = sh.run(
        docblocks.block("README.md", "course grade single_channel --workers 8"))
    t.seen["after course grade"] = gradebook(t.kit)

    # a course folder outside the kit, in a terminal of its own
    outside = t.tmp / "outside"
    shutil.copytree(t.kit / "source" / STAGE.name, outside / "source" / STAGE.name)
    shutil.copy(t.kit / "nbgrader_config.py", outside)
    shutil.copytree(t.kit / "submitted" / "t17ada", outside / "submitted" / "t17ada")
    other = docblocks.Shell(t.tmp, dict(sh.env))
    other.run(docblocks.block("README.md", "<course folder>"), kit=t.kit,
              course_folder=outside)
    t.seen["outside"] = gradebook(outside)
    return t


def checked(shell, block, **placeholders):
    """The exit code and output of a check (1: a visible test failed)."""
    try:
        return 0, shell.run(block, **placeholders).stdout
    except AssertionError as failed:
        return (1 if "(exit 1)" in str(failed) else None), str(failed)


def full_marks():
    return float(STAGE.max_score)


def test_every_student_has_a_grade_and_the_reference_full_marks(term):
    grades = term.seen["after autograde"]
    assert set(grades) >= {*EXCHANGE_STUDENTS, "joerg"}
    assert grades["t17ada"] == (full_marks(), 0)
    assert grades["t17carol"][0] == full_marks(), "the renamed notebook was graded as stage 1"
    assert grades["joerg"][0] == full_marks(), "the Canvas student with a non-ASCII name"
    assert grades["t17dave"][0] == 0 and grades["t17eve"][0] == 0
    assert grades["t17mallory"][0] < full_marks() / 2


def test_the_late_student_loses_the_policys_share_and_keeps_it_on_a_regrade(term):
    score, penalty = term.seen["after autograde"]["t17bob"]
    assert score == full_marks()
    assert penalty == pytest.approx(0.2 * full_marks())  # 10 % a started day, 2 days
    assert term.seen["after regrade"]["t17bob"] == term.seen["after formgrader"]["t17bob"]


def test_written_answers_graded_in_formgrader_land_in_the_gradebook_and_stay(term):
    written = sum(q.points for q in STAGE.written)
    assert term.seen["after formgrader"]["t17ada"][0] == pytest.approx(full_marks() + written)
    assert term.seen["after regrade"]["t17ada"] == term.seen["after formgrader"]["t17ada"]
    grades = manual_grades(term.kit, "t17ada")
    assert {q.grade_id for q in STAGE.written} <= set(grades)
    assert all(comment == COMMENT for _, comment in grades.values())
    assert term.seen["xss"] == []


def test_released_feedback_is_current(term):
    page = next((term.shared / "home" / "t17ada" / STAGE.name / "feedback").rglob("*.html"))
    html = page.read_text()
    assert COMMENT in html, "the feedback released after formgrader lacks the comment"
    total = full_marks() + sum(q.points for q in STAGE.written)
    assert f"{total:g}" in html


def test_the_canvas_csv_lands_on_canvas_s_columns_cell_by_cell(term):
    rows = list(csv.reader(io.StringIO((term.kit / "canvas.csv").read_text("utf-8-sig"))))
    header, points = rows[0], rows[1]
    assert header[:5] == CANVAS_ROSTER[0][:5]
    assert COLUMN in header and f"{STAGE.name} late" not in header
    assert "output_size (4712)" not in header, "only the assignment asked for"
    col = header.index(COLUMN)
    assert points[0].strip() == "Points Possible"
    by_login = {r[3] or r[0]: r for r in rows[2:]}
    grades = term.seen["after regrade"]
    for login in ("t17ada", "t17bob", "t17carol", "t17dave", "t17mallory", "joerg"):
        score, penalty = grades[login]
        assert float(by_login[login][col]) == pytest.approx(score - penalty), login
    assert float(by_login["t17bob"][col]) == pytest.approx(0.8 * full_marks())
    # lateness beside the import, never a column of it
    late = {r["login"]: r for r in csv.DictReader(
        io.StringIO((term.kit / "canvas_late.csv").read_text("utf-8-sig")))}
    assert late["t17bob"]["status"] == "late" and late["t17ada"]["status"] == "on time"
    assert late["t17eve"]["status"] == "excused"
    assert by_login["t17eve"][col] == "EX"
    assert "Student, Test" in by_login


def test_a_student_checks_their_notebook_before_submitting(term):
    assert term.seen["check t17ada"][0] == 0, term.seen["check t17ada"][1]
    code, output = term.seen["check t17eve"]
    assert code == 1, output  # the untouched release fails its visible tests
    assert term.seen["kit check"][0] == 0, term.seen["kit check"][1]


def test_ci_grades_the_same_submissions_to_the_same_points(term):
    by_student = {s["student"]: s for s in term.seen["ci"]["submissions"]}
    grades = term.seen["after autograde"]
    for student in ("t17ada", "t17carol", "t17mallory", "t17eve", "joerg"):
        assert by_student[student]["score"] == pytest.approx(grades[student][0]), student
    dave = by_student["t17dave"]
    assert dave["score"] == 0 and dave["checks"], "the broken file has a result that says so"
    assert any(not c["passed"] and c["message"] for c in dave["checks"])
    assert (term.kit / "results.xml").exists() and (term.kit / "results.md").exists()


def test_grading_the_class_again_in_parallel_changes_nothing(term):
    # every submission graded again on the workers and written to the gradebook
    # again, with the same scores (ada's with her written answers' points) and penalties
    # (a student whose folder holds no notebook has a gradebook row, not a submission)
    done = re.search(rf"graded (\d+) submissions of {STAGE.name} \((\d+) on the workers, "
                     r"0 again here\)", term.seen["course grade"].stdout)
    assert done and int(done[1]) == int(done[2]) >= len(EXCHANGE_STUDENTS), (
        term.seen["course grade"].stdout)
    assert term.seen["after course grade"] == term.seen["after regrade"]


def test_a_course_folder_outside_the_kit_grades_with_the_kit(term):
    assert term.seen["outside"]["t17ada"][0] == full_marks()
